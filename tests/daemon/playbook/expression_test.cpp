#include "daemon/playbook/expression.h"

#include <string>
#include <string_view>
#include <utility>

#include <gtest/gtest.h>

namespace firebreak::playbook {
namespace {

using core::ErrorCode;

const Json& scope() {
  static const Json kScope = Json::parse(R"({
    "alert": {
      "name": "HighErrorRate",
      "labels": {"app": "api", "severity": "critical", "pod": "api-7f9c", "count": " 42 ",
                 "empty": "", "a.b": "dotted"},
      "value": 3.5,
      "hosts": ["web-1", "web-2"],
      "firing": true
    },
    "params": {"function": "checkout", "limit": 10, "ratio": 0.5, "tags": ["a", "b"],
               "key": "app", "nums": [1, 2.5, "x"], "objs": [{"n": 1}], "empty_list": [],
               "big": 9223372036854775807},
    "steps": {"revoke": {"status": "ok", "output": {"ids": [1, 2, 3]}}},
    "run": {"id": "r-1"},
    "env": {}
  })");
  return kScope;
}

Json evalOk(std::string_view text, const EvalLimits& limits = {}) {
  auto e = Expression::parse(text, limits);
  if (!e) {
    ADD_FAILURE() << "parse of '" << text << "' failed: " << e.error().message();
    return Json("<parse error>");
  }
  auto v = e->eval(scope());
  if (!v) {
    ADD_FAILURE() << "eval of '" << text << "' failed: " << v.error().message();
    return Json("<eval error>");
  }
  return *v;
}

// The message of an evaluation error (the expression must parse).
std::string evalError(std::string_view text, const EvalLimits& limits = {}) {
  auto e = Expression::parse(text, limits);
  if (!e) {
    ADD_FAILURE() << "parse of '" << text << "' failed: " << e.error().message();
    return "<parse error>";
  }
  auto v = e->eval(scope());
  if (v) {
    ADD_FAILURE() << "eval of '" << text << "' succeeded: " << v->dump();
    return "<no error>";
  }
  EXPECT_EQ(v.error().code(), ErrorCode::kInvalidArgument);
  return v.error().message();
}

struct ParseError {
  std::string message;
  int column = 0;
};

ParseError parseError(std::string_view text, const EvalLimits& limits = {}) {
  auto e = Expression::parse(text, limits);
  if (e) {
    ADD_FAILURE() << "parse of '" << text << "' succeeded";
    return {"<no error>", 0};
  }
  EXPECT_EQ(e.error().code(), ErrorCode::kInvalidArgument);
  return {e.error().message(), e.error().loc().column};
}

ParseError templateError(std::string_view text, const EvalLimits& limits = {}) {
  auto t = Template::parse(text, limits);
  if (t) {
    ADD_FAILURE() << "template parse of '" << text << "' succeeded";
    return {"<no error>", 0};
  }
  EXPECT_EQ(t.error().code(), ErrorCode::kInvalidArgument);
  return {t.error().message(), t.error().loc().column};
}

Json renderOk(std::string_view text) {
  auto t = Template::parse(text);
  if (!t) {
    ADD_FAILURE() << "template parse of '" << text << "' failed: " << t.error().message();
    return Json("<parse error>");
  }
  auto v = t->render(scope());
  if (!v) {
    ADD_FAILURE() << "render of '" << text << "' failed: " << v.error().message();
    return Json("<render error>");
  }
  return *v;
}

std::string renderError(std::string_view text, const EvalLimits& limits = {}) {
  auto t = Template::parse(text, limits);
  if (!t) {
    ADD_FAILURE() << "template parse of '" << text << "' failed: " << t.error().message();
    return "<parse error>";
  }
  auto v = t->render(scope());
  if (v) {
    ADD_FAILURE() << "render of '" << text << "' succeeded: " << v->dump();
    return "<no error>";
  }
  EXPECT_EQ(v.error().code(), ErrorCode::kInvalidArgument);
  return v.error().message();
}

// --- literals and paths ----------------------------------------------------------------------

TEST(ExpressionTest, Literals) {
  EXPECT_EQ(evalOk("42"), Json(42));
  EXPECT_TRUE(evalOk("42").is_number_integer());
  EXPECT_EQ(evalOk("2.5"), Json(2.5));
  EXPECT_EQ(evalOk("1e3"), Json(1000.0));
  EXPECT_EQ(evalOk("-7"), Json(-7));
  EXPECT_EQ(evalOk("'single'"), Json("single"));
  EXPECT_EQ(evalOk(R"("dou\"ble")"), Json("dou\"ble"));
  EXPECT_EQ(evalOk(R"('a\nb\tc\\d\'e')"), Json("a\nb\tc\\d'e"));
  EXPECT_EQ(evalOk(R"('\d+')"), Json("\\d+"));  // unknown escapes stay as written
  EXPECT_EQ(evalOk("true"), Json(true));
  EXPECT_EQ(evalOk("false"), Json(false));
  EXPECT_EQ(evalOk("null"), Json());
  EXPECT_EQ(evalOk("[1, 'a', [true], []]"), Json::parse(R"([1, "a", [true], []])"));
  EXPECT_EQ(evalOk("  ( 1 )  "), Json(1));
}

TEST(ExpressionTest, PathsReadTheScope) {
  EXPECT_EQ(evalOk("alert.name"), Json("HighErrorRate"));
  EXPECT_EQ(evalOk("alert.labels.app"), Json("api"));
  EXPECT_EQ(evalOk("alert.labels"), scope()["alert"]["labels"]);
  EXPECT_EQ(evalOk("steps.revoke.output.ids[1]"), Json(2));
  EXPECT_EQ(evalOk("alert.hosts[0]"), Json("web-1"));
  EXPECT_EQ(evalOk("alert['labels'][\"severity\"]"), Json("critical"));
  EXPECT_EQ(evalOk("alert.labels[params.key]"), Json("api"));
  EXPECT_EQ(evalOk("alert.labels['a.b']"), Json("dotted"));
  EXPECT_EQ(evalOk("params.objs[0].n"), Json(1));
  EXPECT_EQ(evalOk("alert.hosts[1 + 0]"), Json("web-2"));
}

TEST(ExpressionTest, MissingReadsAsNull) {
  EXPECT_EQ(evalOk("nosuchroot"), Json());
  EXPECT_EQ(evalOk("alert.labels.missing"), Json());
  EXPECT_EQ(evalOk("alert.labels.missing.deeper.still"), Json());
  EXPECT_EQ(evalOk("incident.id"), Json());  // root absent from the scope
  EXPECT_EQ(evalOk("alert.hosts[2]"), Json());
  EXPECT_EQ(evalOk("alert.hosts[-1]"), Json());
  EXPECT_EQ(evalOk("alert.labels['nope']"), Json());
  EXPECT_EQ(evalOk("alert.labels.missing[0]"), Json());
}

TEST(ExpressionTest, KeywordsAsFieldNames) {
  auto e = Expression::parse("x.in.not.matches.null");
  ASSERT_TRUE(e) << e.error().message();
  Json s = Json::parse(R"({"x": {"in": {"not": {"matches": {"null": 5}}}}})");
  EXPECT_EQ(*e->eval(s), Json(5));
}

TEST(ExpressionTest, PathErrors) {
  EXPECT_EQ(evalError("alert.name.first"),
            "alert.name is a string, not an object (reading 'first')");
  EXPECT_EQ(evalError("alert.hosts.x"), "alert.hosts is a list, not an object (reading 'x')");
  EXPECT_EQ(evalError("alert.value[0]"), "alert.value is a number and cannot be indexed");
  EXPECT_EQ(evalError("alert.hosts['a']"), "a list index must be a whole number, got string");
  EXPECT_EQ(evalError("alert.hosts[0.5]"), "a list index must be a whole number, got number");
  EXPECT_EQ(evalError("alert.labels[1]"), "an object key must be a string, got number");
  EXPECT_EQ(evalError("alert.labels[params.missing]"), "params.missing is null");
}

TEST(ExpressionTest, NonObjectScopeReadsNull) {
  auto e = Expression::parse("alert.name");
  ASSERT_TRUE(e);
  EXPECT_EQ(*e->eval(Json()), Json());
  EXPECT_EQ(*e->eval(Json::array({1})), Json());
}

// --- operators -------------------------------------------------------------------------------

TEST(ExpressionTest, Equality) {
  EXPECT_EQ(evalOk("alert.labels.app == 'api'"), Json(true));
  EXPECT_EQ(evalOk("alert.labels.app != 'api'"), Json(false));
  EXPECT_EQ(evalOk("1 == 1.0"), Json(true));
  EXPECT_EQ(evalOk("params.limit == 10.0"), Json(true));
  EXPECT_EQ(evalOk("'1' == 1"), Json(false));
  EXPECT_EQ(evalOk("null == null"), Json(true));
  EXPECT_EQ(evalOk("alert.labels.missing == null"), Json(true));
  EXPECT_EQ(evalOk("alert.labels.missing != null"), Json(false));
  EXPECT_EQ(evalOk("alert.hosts == ['web-1', 'web-2']"), Json(true));
  EXPECT_EQ(evalOk("alert.hosts == ['web-2', 'web-1']"), Json(false));
  EXPECT_EQ(evalOk("steps.revoke.output == steps['revoke'].output"), Json(true));
  EXPECT_EQ(evalOk("[1, [2]] == [1.0, [2.0]]"), Json(true));
  EXPECT_EQ(evalOk("true == 1"), Json(false));
}

TEST(ExpressionTest, Ordering) {
  EXPECT_EQ(evalOk("1 < 2"), Json(true));
  EXPECT_EQ(evalOk("2 <= 2"), Json(true));
  EXPECT_EQ(evalOk("2 > 2"), Json(false));
  EXPECT_EQ(evalOk("2 >= 2.5"), Json(false));
  EXPECT_EQ(evalOk("alert.value > 3"), Json(true));
  EXPECT_EQ(evalOk("params.big > 1"), Json(true));
  EXPECT_EQ(evalOk("'abc' < 'abd'"), Json(true));
  EXPECT_EQ(evalOk("'b' >= 'a'"), Json(true));
  EXPECT_EQ(evalError("1 < 'a'"), "'<' needs two numbers or two strings, got number and string");
  EXPECT_EQ(evalError("true >= false"),
            "'>=' needs two numbers or two strings, got boolean and boolean");
  EXPECT_EQ(evalError("alert.hosts > 1"),
            "'>' needs two numbers or two strings, got list and number");
  EXPECT_EQ(evalError("alert.labels.missing <= 3"), "alert.labels.missing is null");
  EXPECT_EQ(evalError("3 < params.nope"), "params.nope is null");
}

TEST(ExpressionTest, Logic) {
  EXPECT_EQ(evalOk("true && true"), Json(true));
  EXPECT_EQ(evalOk("true && false"), Json(false));
  EXPECT_EQ(evalOk("false || true"), Json(true));
  EXPECT_EQ(evalOk("false || false || false"), Json(false));
  EXPECT_EQ(evalOk("!false"), Json(true));
  EXPECT_EQ(evalOk("!!true"), Json(true));
  EXPECT_EQ(evalOk("!(1 == 2)"), Json(true));
  // && binds tighter than ||.
  EXPECT_EQ(evalOk("true || false && false"), Json(true));
  EXPECT_EQ(evalOk("alert.firing && alert.labels.severity == 'critical'"), Json(true));
  // Short-circuit: the right side is never evaluated.
  EXPECT_EQ(evalOk("false && (1 < 'a')"), Json(false));
  EXPECT_EQ(evalOk("true || lower(alert.labels.missing) == 'x'"), Json(true));
  EXPECT_EQ(evalError("'yes' && true"), "'&&' needs booleans, got string");
  EXPECT_EQ(evalError("true && 1"), "'&&' needs booleans, got number");
  EXPECT_EQ(evalError("false || []"), "'||' needs booleans, got list");
  EXPECT_EQ(evalError("!'x'"), "'!' needs a boolean, got string");
  EXPECT_EQ(evalError("true && alert.labels.flag"), "alert.labels.flag is null");
  EXPECT_EQ(evalError("!alert.labels.flag"), "alert.labels.flag is null");
}

TEST(ExpressionTest, In) {
  EXPECT_EQ(evalOk("'web-1' in alert.hosts"), Json(true));
  EXPECT_EQ(evalOk("'web-3' in alert.hosts"), Json(false));
  EXPECT_EQ(evalOk("'web-3' not in alert.hosts"), Json(true));
  EXPECT_EQ(evalOk("2 in [1, 2.0]"), Json(true));
  EXPECT_EQ(evalOk("null in [1, null]"), Json(true));
  EXPECT_EQ(evalOk("'rror' in alert.name"), Json(true));
  EXPECT_EQ(evalOk("'xyz' not in alert.name"), Json(true));
  EXPECT_EQ(evalOk("'app' in alert.labels"), Json(true));
  EXPECT_EQ(evalOk("'api' in alert.labels"), Json(false));  // keys, not values
  EXPECT_EQ(evalOk("alert.labels.severity in ['critical', 'page']"), Json(true));
  EXPECT_EQ(evalError("1 in alert.name"),
            "'in' needs a string to look for in a string, got number");
  EXPECT_EQ(evalError("1 not in alert.labels"),
            "'not in' needs a string to look for in an object, got number");
  EXPECT_EQ(evalError("1 in 5"), "'in' needs a list, string or object to look in, got number");
  EXPECT_EQ(evalError("'a' in alert.labels.missing"), "alert.labels.missing is null");
  EXPECT_EQ(evalError("params.nope in alert.name"), "params.nope is null");
}

TEST(ExpressionTest, Matches) {
  EXPECT_EQ(evalOk("alert.labels.pod matches '^api-[0-9a-f]+$'"), Json(true));
  EXPECT_EQ(evalOk("alert.labels.pod matches '7f'"), Json(true));  // partial match
  EXPECT_EQ(evalOk("alert.labels.pod matches '^7f'"), Json(false));
  EXPECT_EQ(evalOk(R"(alert.labels.count matches '\d+')"), Json(true));
  EXPECT_EQ(evalOk("alert.name matches '(?i)higherror'"), Json(true));
  EXPECT_EQ(evalOk("alert.labels.app matches ('^' + params.key + '$')"), Json(false));
  EXPECT_EQ(evalOk("alert.labels.app matches ('^' + alert.labels.app + '$')"), Json(true));
  EXPECT_EQ(evalError("alert.value matches 'x'"),
            "'matches' needs a string on the left, got number");
  EXPECT_EQ(evalError("alert.labels.nope matches 'x'"), "alert.labels.nope is null");
  EXPECT_EQ(evalError("'a' matches params.limit"),
            "'matches' needs a string pattern on the right, got number");
  EXPECT_EQ(evalError("'a' matches params.nope"), "params.nope is null");
}

TEST(ExpressionTest, MatchesBadRegex) {
  // A literal pattern fails at parse time, pointing at the pattern.
  auto p = parseError("alert.name matches '(unclosed'");
  EXPECT_EQ(p.message, "invalid regular expression '(unclosed': missing ): (unclosed");
  EXPECT_EQ(p.column, 20);
  p = parseError("alert.name matches 'a**'");
  EXPECT_EQ(p.message, "invalid regular expression 'a**': bad repetition operator: **");
  // A computed pattern fails when evaluated.
  EXPECT_EQ(evalError("alert.name matches ('(' + 'x')"),
            "invalid regular expression '(x': missing ): (x");
}

TEST(ExpressionTest, PlusAndMinus) {
  EXPECT_EQ(evalOk("1 + 2"), Json(3));
  EXPECT_TRUE(evalOk("1 + 2").is_number_integer());
  EXPECT_EQ(evalOk("1 + 2.5"), Json(3.5));
  EXPECT_EQ(evalOk("10 - 3 - 2"), Json(5));
  EXPECT_EQ(evalOk("params.limit - params.ratio"), Json(9.5));
  EXPECT_EQ(evalOk("'a' + 'b' + alert.labels.app"), Json("abapi"));
  EXPECT_EQ(evalOk("- params.limit"), Json(-10));
  EXPECT_EQ(evalOk("-(-2.5)"), Json(2.5));
  EXPECT_EQ(evalOk("1 + 2 == 3"), Json(true));
  EXPECT_EQ(evalError("'a' + 1"), "'+' needs two numbers or two strings, got string and number");
  EXPECT_EQ(evalError("1 - 'a'"), "'-' needs two numbers, got number and string");
  EXPECT_EQ(evalError("'a' - 'b'"), "'-' needs two numbers, got string and string");
  EXPECT_EQ(evalError("alert.labels.x + 'a'"), "alert.labels.x is null");
  EXPECT_EQ(evalError("'a' + alert.labels.x"), "alert.labels.x is null");
  EXPECT_EQ(evalError("-'a'"), "'-' needs a number, got string");
  EXPECT_EQ(evalError("-alert.labels.x"), "alert.labels.x is null");
  EXPECT_EQ(evalError("params.big + 1"), "integer overflow in '+'");
  EXPECT_EQ(evalError("-params.big - 2"), "integer overflow in '-'");
  EXPECT_EQ(evalError("1e308 + 1e308"), "the result of '+' is not a finite number");
}

// --- functions -------------------------------------------------------------------------------

TEST(ExpressionTest, StringFunctions) {
  EXPECT_EQ(evalOk("lower('MiXeD 1')"), Json("mixed 1"));
  EXPECT_EQ(evalOk("upper(alert.labels.app)"), Json("API"));
  EXPECT_EQ(evalOk("trim(alert.labels.count)"), Json("42"));
  EXPECT_EQ(evalOk("trim('\\t x \\n')"), Json("x"));
  EXPECT_EQ(evalOk("startswith(alert.labels.pod, 'api-')"), Json(true));
  EXPECT_EQ(evalOk("startswith(alert.labels.pod, 'web')"), Json(false));
  EXPECT_EQ(evalOk("endswith(alert.labels.pod, '9c')"), Json(true));
  EXPECT_EQ(evalOk("endswith(alert.labels.pod, 'x')"), Json(false));
  EXPECT_EQ(evalOk("split('a,b,,c', ',')"), Json::parse(R"(["a", "b", "", "c"])"));
  EXPECT_EQ(evalOk("split('abc', '::')"), Json::parse(R"(["abc"])"));
  EXPECT_EQ(evalOk("split('', ',')"), Json::parse(R"([""])"));
  EXPECT_EQ(evalOk("join(alert.hosts, ', ')"), Json("web-1, web-2"));
  EXPECT_EQ(evalOk("join(params.nums, '|')"), Json("1|2.5|x"));
  EXPECT_EQ(evalOk("join([], '|')"), Json(""));
  EXPECT_EQ(evalOk("join([[1], first(params.objs)], ' ')"), Json("[1] {\"n\":1}"));
  EXPECT_EQ(evalOk("replace('a-b-c', '-', '+')"), Json("a+b+c"));
  EXPECT_EQ(evalOk("replace('aaa', 'aa', 'b')"), Json("ba"));
  EXPECT_EQ(evalOk("replace('abc', 'x', 'y')"), Json("abc"));
}

TEST(ExpressionTest, ListAndObjectFunctions) {
  EXPECT_EQ(evalOk("len(alert.name)"), Json(13));
  EXPECT_EQ(evalOk("len(alert.hosts)"), Json(2));
  EXPECT_EQ(evalOk("len(alert.labels)"), Json(6));
  EXPECT_EQ(evalOk("len('')"), Json(0));
  EXPECT_EQ(evalOk("contains(alert.hosts, 'web-2')"), Json(true));
  EXPECT_EQ(evalOk("contains(alert.name, 'Rate')"), Json(true));
  EXPECT_EQ(evalOk("contains(alert.labels, 'pod')"), Json(true));
  EXPECT_EQ(evalOk("contains(alert.labels, 'nope')"), Json(false));
  EXPECT_EQ(evalOk("first(alert.hosts)"), Json("web-1"));
  EXPECT_EQ(evalOk("last(alert.hosts)"), Json("web-2"));
  EXPECT_EQ(evalOk("first(params.empty_list)"), Json());
  EXPECT_EQ(evalOk("last(split('a.b.c', '.'))"), Json("c"));
  EXPECT_EQ(evalOk("keys(steps.revoke)"), Json::parse(R"(["output", "status"])"));
  EXPECT_EQ(evalOk("keys(env)"), Json::array());
  EXPECT_EQ(evalOk("split('x=1', '=')[1]"), Json("1"));
  EXPECT_EQ(evalOk("first(params.objs).n"), Json(1));
}

TEST(ExpressionTest, ConversionFunctions) {
  EXPECT_EQ(evalOk("default(alert.labels.missing, 'none')"), Json("none"));
  EXPECT_EQ(evalOk("default(alert.labels.empty, 'none')"), Json("none"));
  EXPECT_EQ(evalOk("default(alert.labels.app, 'none')"), Json("api"));
  EXPECT_EQ(evalOk("default(0, 5)"), Json(0));
  EXPECT_EQ(evalOk("default(false, true)"), Json(false));
  // The fallback is evaluated only when needed.
  EXPECT_EQ(evalOk("default('x', lower(alert.labels.missing))"), Json("x"));
  EXPECT_EQ(evalOk("string(42)"), Json("42"));
  EXPECT_EQ(evalOk("string(2.5)"), Json("2.5"));
  EXPECT_EQ(evalOk("string(true)"), Json("true"));
  EXPECT_EQ(evalOk("string('s')"), Json("s"));
  EXPECT_EQ(evalOk("string(alert.hosts)"), Json(R"(["web-1","web-2"])"));
  EXPECT_EQ(evalOk("string(steps.revoke.output)"), Json(R"({"ids":[1,2,3]})"));
  EXPECT_EQ(evalOk("'n=' + string(params.limit)"), Json("n=10"));
  EXPECT_EQ(evalOk("int('42')"), Json(42));
  EXPECT_EQ(evalOk("int(alert.labels.count)"), Json(42));
  EXPECT_EQ(evalOk("int('-7')"), Json(-7));
  EXPECT_EQ(evalOk("int('3.9')"), Json(3));
  EXPECT_EQ(evalOk("int(3.9)"), Json(3));
  EXPECT_EQ(evalOk("int(-3.9)"), Json(-3));
  EXPECT_EQ(evalOk("int(12)"), Json(12));
  EXPECT_TRUE(evalOk("int('1e2')").is_number_integer());
  EXPECT_EQ(evalOk("int(alert.labels.count) + 1"), Json(43));
}

TEST(ExpressionTest, FunctionErrors) {
  EXPECT_EQ(evalError("lower(alert.labels.fn)"), "alert.labels.fn is null");
  EXPECT_EQ(evalError("upper(1)"), "upper() needs a string, got number");
  EXPECT_EQ(evalError("trim([])"), "trim() needs a string, got list");
  EXPECT_EQ(evalError("len(1)"), "len() needs a string, list or object, got number");
  EXPECT_EQ(evalError("len(params.none)"), "params.none is null");
  EXPECT_EQ(evalError("startswith(alert.name, 1)"),
            "startswith() needs a string as argument 2, got number");
  EXPECT_EQ(evalError("endswith(params.none, 'x')"), "params.none is null");
  EXPECT_EQ(evalError("split(alert.name, '')"), "split() needs a non-empty separator");
  EXPECT_EQ(evalError("split(1, ',')"), "split() needs a string as argument 1, got number");
  EXPECT_EQ(evalError("join('abc', ',')"), "join() needs a list as argument 1, got string");
  EXPECT_EQ(evalError("join(['a', null], ',')"), "['a', null][1] is null");
  EXPECT_EQ(evalError("join(alert.hosts, params.none)"), "params.none is null");
  EXPECT_EQ(evalError("replace('abc', '', 'x')"),
            "replace() needs a non-empty string to replace");
  EXPECT_EQ(evalError("replace('abc', 'a', null)"), "null is null");
  EXPECT_EQ(evalError("string(alert.labels.gone)"), "alert.labels.gone is null");
  EXPECT_EQ(evalError("int('abc')"), "int(): 'abc' is not a number");
  EXPECT_EQ(evalError("int('')"), "int(): '' is not a number");
  EXPECT_EQ(evalError("int('nan')"), "int(): 'nan' is not a number");
  EXPECT_EQ(evalError("int('99999999999999999999')"),
            "int(): '99999999999999999999' is out of range");
  EXPECT_EQ(evalError("int(1e300)"), "int(): 1e+300 is out of range");
  EXPECT_EQ(evalError("int(true)"), "int() needs a string or number, got boolean");
  EXPECT_EQ(evalError("int(params.none)"), "params.none is null");
  EXPECT_EQ(evalError("first('abc')"), "first() needs a list, got string");
  EXPECT_EQ(evalError("last(params.none)"), "params.none is null");
  EXPECT_EQ(evalError("keys(alert.hosts)"), "keys() needs an object, got list");
  EXPECT_EQ(evalError("contains(5, 'a')"),
            "contains() needs a list, string or object to look in, got number");
}

TEST(ExpressionTest, UnknownFunctionAndArity) {
  auto p = parseError("lowr(alert.name)");
  EXPECT_EQ(p.message, "unknown function 'lowr' (did you mean 'lower'?)");
  EXPECT_EQ(p.column, 1);
  p = parseError("x == frobnicate(1)");
  EXPECT_EQ(p.message, "unknown function 'frobnicate'");
  EXPECT_EQ(p.column, 6);
  p = parseError("lower(alert.name, 'x')");
  EXPECT_EQ(p.message, "lower() takes 1 argument, got 2");
  EXPECT_EQ(p.column, 1);
  p = parseError("1 + replace('a')");
  EXPECT_EQ(p.message, "replace() takes 3 arguments, got 1");
  EXPECT_EQ(p.column, 5);
  p = parseError("default()");
  EXPECT_EQ(p.message, "default() takes 2 arguments, got 0");
  p = parseError("alert.lower(x)");
  EXPECT_EQ(p.message, "only functions can be called");
  EXPECT_EQ(p.column, 12);
}

// --- parse errors ----------------------------------------------------------------------------

TEST(ExpressionTest, ParseErrorsCarryColumns) {
  struct Case {
    const char* text;
    const char* message;
    int column;
  };
  const Case cases[] = {
      {"alert.name == #", "unexpected character '#'", 15},
      {"lower(alert.name", "expected ')' after arguments", 17},
      {"lower(alert.name x)", "expected ')' after arguments", 18},
      {"(1 + 2", "expected ')'", 7},
      {"alert.", "expected a field name after '.'", 7},
      {"alert.1", "expected a field name after '.'", 7},
      {"alert.hosts[0", "expected ']' after index", 14},
      {"[1, 2", "expected ']' after list items", 6},
      {"'abc", "unterminated string", 1},
      {"x == 'abc", "unterminated string", 6},
      {"a = b", "unexpected character '=' (did you mean '=='?)", 3},
      {"a & b", "unexpected character '&' (did you mean '&&'?)", 3},
      {"a | b", "unexpected character '|' (did you mean '||'?)", 3},
      {"a b", "unexpected 'b'", 3},
      {"1 == 2 == 3", "unexpected '=='", 8},
      {"", "expected an expression", 1},
      {"   ", "expected an expression", 4},
      {"1 +", "expected an expression", 4},
      {"not x", "expected an expression", 1},
      {"x not y", "expected 'in' after 'not'", 7},
      {"99999999999999999999", "number out of range", 1},
      {"1e999", "number out of range", 1},
      {"x == \x01", "unexpected character '\\x01'", 6},
      {"(a))", "unexpected ')'", 4},
  };
  for (const auto& c : cases) {
    auto p = parseError(c.text);
    EXPECT_EQ(p.message, c.message) << c.text;
    EXPECT_EQ(p.column, c.column) << c.text;
  }
}

TEST(ExpressionTest, DepthLimit) {
  for (char open : {'(', '['}) {
    auto p = parseError(std::string(100000, open));
    EXPECT_EQ(p.message, "expression is nested too deeply (more than 64 levels)") << open;
    EXPECT_EQ(p.column, 65) << open;
  }
  // A million parentheses: an error, not a stack overflow.
  auto p = parseError(std::string(1000000, '('));
  EXPECT_EQ(p.message, "expression is nested too deeply (more than 64 levels)");
  p = parseError(std::string(100000, '!') + "true");
  EXPECT_EQ(p.message, "expression is nested too deeply (more than 64 levels)");
  p = parseError(std::string(100000, '-') + "1");
  EXPECT_EQ(p.message, "expression is nested too deeply (more than 64 levels)");
  p = parseError("lower(lower(lower(lower('x'))))", {.max_depth = 3});
  EXPECT_EQ(p.message, "expression is nested too deeply (more than 3 levels)");
  EXPECT_EQ(p.column, 19);
  EXPECT_EQ(evalOk("lower(lower('X'))", {.max_depth = 3}), Json("x"));
  // Nesting just under the limit works.
  EXPECT_EQ(evalOk(std::string(63, '(') + "1" + std::string(63, ')')), Json(1));
}

TEST(ExpressionTest, LongChainsAreNotDeep) {
  // Chains are n-ary, so long flat expressions need no nesting budget.
  std::string sum = "0";
  for (int i = 0; i < 1000; ++i) sum += " + 1";
  EXPECT_EQ(evalOk(sum), Json(1000));
  std::string path = "alert";
  for (int i = 0; i < 1000; ++i) path += ".x";
  EXPECT_EQ(evalOk(path), Json());
  std::string ands = "true";
  for (int i = 0; i < 1000; ++i) ands += " && true";
  EXPECT_EQ(evalOk(ands), Json(true));
}

TEST(ExpressionTest, StepLimit) {
  std::string sum = "0";
  for (int i = 0; i < 100; ++i) sum += " + 1";
  EXPECT_EQ(evalError(sum, {.max_steps = 50}), "expression needs more than 50 evaluation steps");
  EXPECT_EQ(evalOk(sum, {.max_steps = 500}), Json(100));
  // Work inside functions counts too.
  EXPECT_EQ(evalError("len(split('a,b,c,d,e,f,g,h,i,j', ','))", {.max_steps = 8}),
            "expression needs more than 8 evaluation steps");
}

TEST(ExpressionTest, OutputLimit) {
  EvalLimits small{.max_output = 8};
  EXPECT_EQ(evalOk("'abcd' + 'efgh'", small), Json("abcdefgh"));
  EXPECT_EQ(evalError("'abcd' + 'efghi'", small), "string longer than the limit of 8 bytes");
  EXPECT_EQ(evalError("replace('aaaa', 'a', 'xyz')", small),
            "string longer than the limit of 8 bytes");
  EXPECT_EQ(evalError("join(['abcde', 'fghij'], '')", small),
            "string longer than the limit of 8 bytes");
  EXPECT_EQ(evalError("string([1, 2, 3, 4, 5])", small), "string longer than the limit of 8 bytes");
  EXPECT_EQ(evalError("upper('abcdefghi')", small), "string longer than the limit of 8 bytes");
  // Doubling a string stops at the default 64 KiB limit instead of growing without bound.
  std::string grow = "replace('aa', 'a', 'aa')";
  for (int i = 0; i < 20; ++i) grow = "replace(" + grow + ", 'a', 'aa')";
  EXPECT_EQ(evalError(grow, {.max_steps = 1'000'000}),
            "string longer than the limit of 65536 bytes");
}

TEST(ExpressionTest, Test) {
  auto e = Expression::parse("alert.labels.severity == 'critical'");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->test(scope()), true);
  e = Expression::parse("alert.labels.severity == 'warning'");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->test(scope()), false);
  e = Expression::parse("alert.labels.app");
  ASSERT_TRUE(e);
  auto r = e->test(scope());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "a condition must be true or false, got string");
  e = Expression::parse(" alert.labels.flag ");
  ASSERT_TRUE(e);
  r = e->test(scope());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "alert.labels.flag is null");
  e = Expression::parse("lower(alert.labels.fn) == 'x'");
  ASSERT_TRUE(e);
  r = e->test(scope());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "alert.labels.fn is null");
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
}

TEST(ExpressionTest, CopiesShareTheParsedTree) {
  auto e = Expression::parse("alert.labels.pod matches '^api'");
  ASSERT_TRUE(e);
  Expression copy = *e;
  e = Expression::parse("1");
  EXPECT_EQ(copy.test(scope()), true);
  EXPECT_EQ(copy.text(), "alert.labels.pod matches '^api'");
}

TEST(ExpressionTest, InvalidUtf8NeverThrows) {
  Json s = {{"x", std::string("\xff\xfe")}};
  auto e = Expression::parse("string([x])");
  ASSERT_TRUE(e);
  auto v = e->eval(s);
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_EQ(*v, Json("[\"\xEF\xBF\xBD\xEF\xBF\xBD\"]"));  // replaced, not thrown
}

TEST(ExpressionTest, References) {
  auto refs = [](std::string_view text) {
    auto e = Expression::parse(text);
    EXPECT_TRUE(e) << text;
    return e ? e->references() : std::vector<std::string>{};
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(refs("steps.revoke.status == 'ok'"), V({"steps.revoke.status"}));
  EXPECT_EQ(refs("lower(params.function) in alert.labels"),
            V({"params.function", "alert.labels"}));
  EXPECT_EQ(refs("steps['revoke'].output.ids[0]"), V({"steps.revoke.output.ids"}));
  EXPECT_EQ(refs("alert.labels[params.key].x"), V({"alert.labels", "params.key"}));
  EXPECT_EQ(refs("alert.labels['a.b']"), V({"alert.labels"}));
  EXPECT_EQ(refs("alert"), V({"alert"}));
  EXPECT_EQ(refs("run.id + run.id + env.HOME"), V({"run.id", "env.HOME"}));
  EXPECT_EQ(refs("first(steps.a.output).name"), V({"steps.a.output"}));
  EXPECT_EQ(refs("default(params.x, 'y') == 'z' && !incident.open"),
            V({"params.x", "incident.open"}));
  EXPECT_EQ(refs("[1, 'a'] == [2]"), V({}));
}

// --- templates -------------------------------------------------------------------------------

TEST(TemplateTest, LiteralText) {
  auto t = Template::parse("no braces here } {");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->isLiteral());
  EXPECT_EQ(*t->render(scope()), Json("no braces here } {"));
  EXPECT_EQ(t->references(), std::vector<std::string>{});
  auto empty = Template::parse("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->isLiteral());
  EXPECT_EQ(*empty->render(scope()), Json(""));
}

TEST(TemplateTest, WholeTemplateKeepsItsType) {
  EXPECT_EQ(renderOk("{{ alert.hosts }}"), Json::parse(R"(["web-1", "web-2"])"));
  EXPECT_TRUE(renderOk("{{alert.hosts}}").is_array());
  EXPECT_EQ(renderOk("{{ params.limit }}"), Json(10));
  EXPECT_EQ(renderOk("{{ alert.firing }}"), Json(true));
  EXPECT_EQ(renderOk("{{ steps.revoke.output }}"), Json::parse(R"({"ids": [1, 2, 3]})"));
  EXPECT_EQ(renderOk("{{  alert.labels.missing  }}"), Json());
  EXPECT_EQ(renderOk("{{ params.limit + 1 }}"), Json(11));
  auto t = Template::parse("{{ alert.name }}");
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->isLiteral());
}

TEST(TemplateTest, MixedRendering) {
  EXPECT_EQ(renderOk("{{ alert.name }} on {{ alert.labels.app }}"), Json("HighErrorRate on api"));
  EXPECT_EQ(renderOk("limit={{ params.limit }} ratio={{ params.ratio }} firing={{ alert.firing }}"),
            Json("limit=10 ratio=0.5 firing=true"));
  EXPECT_EQ(renderOk("hosts: {{ alert.hosts }}"), Json(R"(hosts: ["web-1","web-2"])"));
  EXPECT_EQ(renderOk("out: {{ steps.revoke.output }}"), Json(R"(out: {"ids":[1,2,3]})"));
  EXPECT_EQ(renderOk(" {{ params.limit }}"), Json(" 10"));  // text around: a string
  EXPECT_EQ(renderOk("{{ params.limit }}{{ params.limit }}"), Json("1010"));
  EXPECT_EQ(renderOk("fn={{ default(params.fn, 'none') }}"), Json("fn=none"));
  EXPECT_EQ(renderOk("{{ '}}' }} and {{ \"{{\" }}"), Json("}} and {{"));
  EXPECT_EQ(renderError("x={{ alert.labels.x }}"), "'{{ alert.labels.x }}' is null");
  EXPECT_EQ(renderError("x={{ lower(alert.labels.fn) }}"), "alert.labels.fn is null");
}

TEST(TemplateTest, ParseErrorsUseTemplateColumns) {
  auto p = templateError("abc {{ alert.name");
  EXPECT_EQ(p.message, "'{{' without '}}'");
  EXPECT_EQ(p.column, 5);
  p = templateError("{{ a }} and {{ b ");
  EXPECT_EQ(p.message, "'{{' without '}}'");
  EXPECT_EQ(p.column, 13);
  p = templateError("ab {{ # }}");
  EXPECT_EQ(p.message, "unexpected character '#'");
  EXPECT_EQ(p.column, 7);
  p = templateError("x {{ 'open }}");
  EXPECT_EQ(p.message, "unterminated string");
  EXPECT_EQ(p.column, 6);
  p = templateError("{{ lowr(x) }}");
  EXPECT_EQ(p.message, "unknown function 'lowr' (did you mean 'lower'?)");
  EXPECT_EQ(p.column, 4);
  p = templateError("a {{ }}");
  EXPECT_EQ(p.message, "expected an expression");
  EXPECT_EQ(p.column, 6);
  p = templateError("{{ x matches '(' }}");
  EXPECT_EQ(p.message, "invalid regular expression '(': missing ): (");
  EXPECT_EQ(p.column, 14);
}

TEST(TemplateTest, OutputLimit) {
  EvalLimits small{.max_output = 10};
  EXPECT_EQ(renderError("{{ alert.name }} and more", small),
            "rendered template longer than the limit of 10 bytes");
  auto t = Template::parse("{{ alert.labels.app }}-ok", small);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t->render(scope()), Json("api-ok"));
}

TEST(TemplateTest, References) {
  auto t = Template::parse(
      "{{ steps.revoke.status }} {{ params.function }} {{ steps.revoke.status }}");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->references(), (std::vector<std::string>{"steps.revoke.status", "params.function"}));
}

TEST(RenderValueTest, NestedJson) {
  Json value = Json::parse(R"({
    "argv": ["revoke", "{{ params.function }}", "--count={{ len(alert.hosts) }}"],
    "hosts": "{{ alert.hosts }}",
    "{{ keys.stay }}": {"limit": "{{ params.limit }}", "n": 5, "b": true, "z": null},
    "plain": "text"
  })");
  auto r = renderValue(value, scope());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, Json::parse(R"({
    "argv": ["revoke", "checkout", "--count=2"],
    "hosts": ["web-1", "web-2"],
    "{{ keys.stay }}": {"limit": 10, "n": 5, "b": true, "z": null},
    "plain": "text"
  })"));
  EXPECT_EQ(*renderValue(Json(3), scope()), Json(3));
  EXPECT_EQ(*renderValue(Json("{{ run.id }}"), scope()), Json("r-1"));
}

TEST(RenderValueTest, Errors) {
  auto r = renderValue(Json::parse(R"({"a": ["ok", "x {{ alert.labels.none }}"]})"), scope());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "'{{ alert.labels.none }}' is null");
  r = renderValue(Json::parse(R"({"a": "{{ nope("})"), scope());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "'{{' without '}}'");
  EXPECT_EQ(r.error().loc().column, 1);
}

}  // namespace
}  // namespace firebreak::playbook
