// The expression and template language of expression.h: a lazy lexer, a recursive-descent parser
// that bounds its own depth, and a tree evaluator that counts steps and bytes. Errors are values;
// exceptions from nlohmann or the allocator are caught at the public entry points.
#include "daemon/playbook/expression.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <compare>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <utility>

#include <re2/re2.h>

#include "daemon/core/action.h"

// Returns the error of a Status-like expression from a function returning Result<T>.
#define FB_RETURN_IF_ERROR(expr)                                        \
  do {                                                                  \
    if (auto fb_status_ = (expr); !fb_status_)                          \
      return tl::unexpected<core::Error>(std::move(fb_status_.error())); \
  } while (false)

namespace firebreak::playbook {

using core::Error;
using core::ErrorCode;
using core::SourceLoc;

namespace {

// Snippets of source quoted in messages are cut here so a huge input cannot make a huge message.
constexpr size_t kMaxSnippet = 80;

const Json& nullJson() {
  static const Json kNull;
  return kNull;
}

std::string typeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return "number";
    case Json::value_t::string: return "string";
    case Json::value_t::array: return "list";
    case Json::value_t::object: return "object";
    case Json::value_t::binary: return "binary";
    case Json::value_t::discarded: return "discarded";
  }
  return "value";
}

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool isIdentChar(char c) { return isIdentStart(c) || isDigit(c); }

std::string_view trimView(std::string_view s) {
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string shorten(std::string_view s) {
  if (s.size() <= kMaxSnippet) return std::string(s);
  return std::string(s.substr(0, kMaxSnippet)) + "...";
}

// Never throws: invalid UTF-8 in a string is replaced rather than rejected.
std::string compactJson(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The text form of a value inside a larger string; the caller handles null.
std::string toText(const Json& j) {
  if (j.is_string()) return j.get_ref<const std::string&>();
  return compactJson(j);
}

Error invalid(std::string message, int column = 0) {
  return Error(ErrorCode::kInvalidArgument, std::move(message), SourceLoc{"", 0, column});
}

tl::unexpected<Error> internalError(const std::exception& e) {
  return core::fail(ErrorCode::kInternal, std::string("expression failed: ") + e.what());
}

// ---------------------------------------------------------------------------------------------
// Lexer

enum class Tok {
  kEnd, kError, kNumber, kString, kIdent, kTrue, kFalse, kNull, kNot, kIn, kMatches,
  kEq, kNe, kLt, kLe, kGt, kGe, kAnd, kOr, kBang, kPlus, kMinus,
  kDot, kComma, kLParen, kRParen, kLBracket, kRBracket,
};

struct Token {
  Tok kind = Tok::kEnd;
  size_t begin = 0;
  size_t end = 0;
  std::string text;  // the name of an identifier or keyword, the decoded value of a string
  Json number;
};

std::string describeChar(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("'\\x") + kHex[u >> 4] + kHex[u & 15] + "'";
}

// Produces one token at a time so that a huge input is never tokenized past the first error.
class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  // On a bad character returns kError (again on every later call); the message is in error().
  Token next();
  const std::optional<Error>& error() const { return error_; }

 private:
  Token make(Tok kind, size_t begin, size_t end) {
    pos_ = end;
    Token t;
    t.kind = kind;
    t.begin = begin;
    t.end = end;
    return t;
  }
  Token failAt(size_t at, std::string message) {
    error_ = invalid(std::move(message), static_cast<int>(at + 1));
    Token t;
    t.kind = Tok::kError;
    t.begin = at;
    t.end = at;
    return t;
  }
  Token word(size_t begin);
  Token number(size_t begin);
  Token string(size_t begin);

  std::string_view text_;
  size_t pos_ = 0;
  std::optional<Error> error_;
};

Token Lexer::next() {
  if (error_) return failAt(static_cast<size_t>(error_->loc().column - 1), error_->message());
  while (pos_ < text_.size() && isSpace(text_[pos_])) ++pos_;
  size_t b = pos_;
  if (b >= text_.size()) return make(Tok::kEnd, b, b);
  char c = text_[b];
  char d = b + 1 < text_.size() ? text_[b + 1] : '\0';
  if (isIdentStart(c)) return word(b);
  if (isDigit(c)) return number(b);
  if (c == '"' || c == '\'') return string(b);
  if (c == '=' && d == '=') return make(Tok::kEq, b, b + 2);
  if (c == '!' && d == '=') return make(Tok::kNe, b, b + 2);
  if (c == '<' && d == '=') return make(Tok::kLe, b, b + 2);
  if (c == '>' && d == '=') return make(Tok::kGe, b, b + 2);
  if (c == '&' && d == '&') return make(Tok::kAnd, b, b + 2);
  if (c == '|' && d == '|') return make(Tok::kOr, b, b + 2);
  switch (c) {
    case '<': return make(Tok::kLt, b, b + 1);
    case '>': return make(Tok::kGt, b, b + 1);
    case '!': return make(Tok::kBang, b, b + 1);
    case '+': return make(Tok::kPlus, b, b + 1);
    case '-': return make(Tok::kMinus, b, b + 1);
    case '.': return make(Tok::kDot, b, b + 1);
    case ',': return make(Tok::kComma, b, b + 1);
    case '(': return make(Tok::kLParen, b, b + 1);
    case ')': return make(Tok::kRParen, b, b + 1);
    case '[': return make(Tok::kLBracket, b, b + 1);
    case ']': return make(Tok::kRBracket, b, b + 1);
    case '=': return failAt(b, "unexpected character '=' (did you mean '=='?)");
    case '&': return failAt(b, "unexpected character '&' (did you mean '&&'?)");
    case '|': return failAt(b, "unexpected character '|' (did you mean '||'?)");
    default: return failAt(b, "unexpected character " + describeChar(c));
  }
}

Token Lexer::word(size_t b) {
  size_t e = b;
  while (e < text_.size() && isIdentChar(text_[e])) ++e;
  std::string_view w = text_.substr(b, e - b);
  Tok kind = Tok::kIdent;
  if (w == "true") kind = Tok::kTrue;
  else if (w == "false") kind = Tok::kFalse;
  else if (w == "null") kind = Tok::kNull;
  else if (w == "not") kind = Tok::kNot;
  else if (w == "in") kind = Tok::kIn;
  else if (w == "matches") kind = Tok::kMatches;
  Token t = make(kind, b, e);
  t.text = std::string(w);
  return t;
}

Token Lexer::number(size_t b) {
  size_t e = b;
  bool is_float = false;
  while (e < text_.size() && isDigit(text_[e])) ++e;
  // "1.x" is the number 1 followed by a field access; a fraction needs a digit after the dot.
  if (e + 1 < text_.size() && text_[e] == '.' && isDigit(text_[e + 1])) {
    is_float = true;
    e += 1;
    while (e < text_.size() && isDigit(text_[e])) ++e;
  }
  if (e < text_.size() && (text_[e] == 'e' || text_[e] == 'E')) {
    size_t x = e + 1;
    if (x < text_.size() && (text_[x] == '+' || text_[x] == '-')) ++x;
    if (x < text_.size() && isDigit(text_[x])) {
      is_float = true;
      e = x;
      while (e < text_.size() && isDigit(text_[e])) ++e;
    }
  }
  const char* first = text_.data() + b;
  const char* last = text_.data() + e;
  Json value;
  if (is_float) {
    double d = 0;
    auto r = std::from_chars(first, last, d);
    if (r.ec != std::errc() || r.ptr != last || !std::isfinite(d)) {
      return failAt(b, "number out of range");
    }
    value = d;
  } else {
    int64_t i = 0;
    auto r = std::from_chars(first, last, i);
    if (r.ec != std::errc() || r.ptr != last) return failAt(b, "number out of range");
    value = i;
  }
  Token t = make(Tok::kNumber, b, e);
  t.number = std::move(value);
  return t;
}

// Escapes: \\ \' \" \n \t \r. Any other backslash is kept as written, so regular expressions
// such as '\d+' read naturally.
Token Lexer::string(size_t b) {
  char quote = text_[b];
  std::string out;
  size_t p = b + 1;
  while (p < text_.size()) {
    char c = text_[p];
    if (c == quote) {
      Token t = make(Tok::kString, b, p + 1);
      t.text = std::move(out);
      return t;
    }
    if (c == '\\' && p + 1 < text_.size()) {
      char e = text_[p + 1];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        default:
          out += '\\';
          out += e;
      }
      p += 2;
      continue;
    }
    out += c;
    ++p;
  }
  return failAt(b, "unterminated string");
}

// ---------------------------------------------------------------------------------------------
// The tree

enum class NodeKind { kLiteral, kList, kRoot, kPath, kCall, kNot, kNeg, kAnd, kOr, kCompare, kSum };
enum class CmpOp { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn, kMatches };

const char* cmpName(CmpOp op) {
  switch (op) {
    case CmpOp::kEq: return "==";
    case CmpOp::kNe: return "!=";
    case CmpOp::kLt: return "<";
    case CmpOp::kLe: return "<=";
    case CmpOp::kGt: return ">";
    case CmpOp::kGe: return ">=";
    case CmpOp::kIn: return "in";
    case CmpOp::kNotIn: return "not in";
    case CmpOp::kMatches: return "matches";
  }
  return "?";
}

struct Function;

}  // namespace

using NodePtr = std::shared_ptr<const ExprNode>;

// One node of a parsed expression. Chains (a.b[c], a + b - c, a && b && c) are one n-ary node
// each, so the tree is only as deep as the nesting the parser already bounded.
class ExprNode {
 public:
  struct Segment {
    std::string field;  // ".field" when index is null
    NodePtr index;      // "[index]"
    size_t end = 0;     // where the segment ends in the source
  };

  NodeKind kind = NodeKind::kLiteral;
  size_t begin = 0;  // the source span, for messages
  size_t end = 0;
  Json value;                        // kLiteral
  std::string name;                  // kRoot: scope key; kCall: function name
  const Function* fn = nullptr;      // kCall
  CmpOp op = CmpOp::kEq;             // kCompare
  std::vector<char> signs;           // kSum: '+' or '-' before kids[1...]
  std::vector<NodePtr> kids;         // operands, arguments, list items; kPath: kids[0] is the base
  std::vector<Segment> segments;     // kPath
  std::shared_ptr<const RE2> regex;  // kCompare kMatches with a literal pattern
};

namespace {

RE2::Options regexOptions() {
  RE2::Options options;
  options.set_log_errors(false);  // errors are returned, not printed
  return options;
}

std::string regexError(const std::string& pattern, const RE2& re) {
  return "invalid regular expression '" + shorten(pattern) + "': " + re.error();
}

// ---------------------------------------------------------------------------------------------
// Values during evaluation: a pointer into the scope or the tree when possible, so that reading
// alert.labels.x does not copy the alert.

class Val {
 public:
  Val() = default;
  static Val ref(const Json& j) {
    Val v;
    v.ref_ = &j;
    return v;
  }
  static Val own(Json j) {
    Val v;
    v.ref_ = nullptr;
    v.owned_ = std::move(j);
    return v;
  }
  const Json& get() const { return ref_ ? *ref_ : owned_; }
  Json take() && { return ref_ ? *ref_ : std::move(owned_); }
  // A part of this value: still a pointer when this is one, else a copy of the part.
  Val child(const Json& part) const { return ref_ ? ref(part) : own(part); }
  // The owned value, to be changed in place (a string being appended to).
  Json* mutableOwned() { return ref_ ? nullptr : &owned_; }

 private:
  const Json* ref_ = &nullJson();
  Json owned_;
};

class Evaluator;
using FunctionImpl = Result<Val> (*)(Evaluator&, const ExprNode& call, std::vector<Val>& args);

struct Function {
  const char* name;
  size_t arity;
  FunctionImpl impl;  // null for default(), which is evaluated lazily
};

const Function* findFunction(std::string_view name);
std::vector<std::string> functionNames();

// Numbers as the operators see them: integers while they fit int64, else doubles.
struct Num {
  bool is_int = false;
  int64_t i = 0;
  double d = 0;
};

Num toNum(const Json& j) {
  Num n;
  if (j.is_number_unsigned()) {
    auto u = j.get<uint64_t>();
    if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      n.is_int = true;
      n.i = static_cast<int64_t>(u);
    }
    n.d = static_cast<double>(u);
  } else if (j.is_number_integer()) {
    n.is_int = true;
    n.i = j.get<int64_t>();
    n.d = static_cast<double>(n.i);
  } else {
    n.d = j.get<double>();
  }
  return n;
}

std::partial_ordering compareNumbers(const Json& a, const Json& b) {
  if (a.is_number_float() || b.is_number_float()) return a.get<double>() <=> b.get<double>();
  // Both integers, possibly one unsigned beyond int64.
  if (a.is_number_unsigned() && b.is_number_unsigned()) {
    return a.get<uint64_t>() <=> b.get<uint64_t>();
  }
  if (a.is_number_unsigned()) {
    int64_t y = b.get<int64_t>();
    if (y < 0) return std::partial_ordering::greater;
    return a.get<uint64_t>() <=> static_cast<uint64_t>(y);
  }
  if (b.is_number_unsigned()) {
    int64_t x = a.get<int64_t>();
    if (x < 0) return std::partial_ordering::less;
    return static_cast<uint64_t>(x) <=> b.get<uint64_t>();
  }
  return a.get<int64_t>() <=> b.get<int64_t>();
}

// Doubles that convert to int64 without undefined behaviour.
bool fitsInt64(double d) {
  return std::isfinite(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0;
}

class Evaluator {
 public:
  Evaluator(const Json& scope, std::string_view text, const EvalLimits& limits)
      : scope_(scope), text_(text), limits_(limits) {}

  Result<Val> eval(const ExprNode& n);

  std::string src(const ExprNode& n) const { return src(n.begin, n.end); }
  std::string src(size_t begin, size_t end) const {
    if (begin > text_.size() || end < begin) return "";
    return shorten(trimView(text_.substr(begin, end - begin)));
  }
  static tl::unexpected<Error> fail(std::string message) {
    return tl::unexpected<Error>(invalid(std::move(message)));
  }
  tl::unexpected<Error> nullError(const ExprNode& n) const { return fail(src(n) + " is null"); }

  core::Status step(size_t n = 1) {
    steps_ += n;
    if (steps_ > limits_.max_steps) {
      return fail("expression needs more than " + std::to_string(limits_.max_steps) +
                  " evaluation steps");
    }
    return {};
  }
  core::Status checkSize(size_t bytes) const {
    if (bytes > limits_.max_output) {
      return fail("string longer than the limit of " + std::to_string(limits_.max_output) +
                  " bytes");
    }
    return {};
  }

  // Argument i of a function call as a string, or the error naming what was wrong with it.
  Result<const std::string*> stringArg(const ExprNode& call, std::vector<Val>& args, size_t i) {
    const Json& j = args[i].get();
    if (j.is_string()) return &j.get_ref<const std::string&>();
    if (j.is_null()) return nullError(*call.kids[i]);
    return fail(needs(call, i, "a string", j));
  }
  static std::string needs(const ExprNode& call, size_t i, const char* what, const Json& got) {
    std::string msg = call.name + "() needs " + what;
    if (call.kids.size() > 1) msg += " as argument " + std::to_string(i + 1);
    return msg + ", got " + typeName(got);
  }

  // `needle in haystack` and contains(haystack, needle); `what` names the operator in messages.
  Result<bool> contains(const Val& hay, const ExprNode& hay_node, const Val& needle,
                        const ExprNode& needle_node, const std::string& what);

 private:
  Result<Val> evalPath(const ExprNode& n);
  Result<Val> evalCall(const ExprNode& n);
  Result<Val> evalLogic(const ExprNode& n);
  Result<Val> evalCompare(const ExprNode& n);
  Result<Val> evalSum(const ExprNode& n);
  Result<Val> evalNeg(const ExprNode& n);

  const Json& scope_;
  std::string_view text_;
  const EvalLimits& limits_;
  size_t steps_ = 0;
};

Result<Val> Evaluator::eval(const ExprNode& n) {
  FB_RETURN_IF_ERROR(step());
  switch (n.kind) {
    case NodeKind::kLiteral: return Val::ref(n.value);
    case NodeKind::kList: {
      Json list = Json::array();
      for (const auto& kid : n.kids) {
        auto v = eval(*kid);
        if (!v) return v;
        list.push_back(std::move(*v).take());
      }
      return Val::own(std::move(list));
    }
    case NodeKind::kRoot: {
      if (!scope_.is_object()) return Val();
      auto it = scope_.find(n.name);
      return it == scope_.end() ? Val() : Val::ref(*it);
    }
    case NodeKind::kPath: return evalPath(n);
    case NodeKind::kCall: return evalCall(n);
    case NodeKind::kNot: {
      auto v = eval(*n.kids[0]);
      if (!v) return v;
      const Json& j = v->get();
      if (j.is_boolean()) return Val::own(!j.get<bool>());
      if (j.is_null()) return nullError(*n.kids[0]);
      return fail("'!' needs a boolean, got " + typeName(j));
    }
    case NodeKind::kNeg: return evalNeg(n);
    case NodeKind::kAnd:
    case NodeKind::kOr: return evalLogic(n);
    case NodeKind::kCompare: return evalCompare(n);
    case NodeKind::kSum: return evalSum(n);
  }
  return fail("unknown expression node");
}

Result<Val> Evaluator::evalPath(const ExprNode& n) {
  auto base = eval(*n.kids[0]);
  if (!base) return base;
  Val cur = std::move(*base);
  size_t prev_end = n.kids[0]->end;
  for (const auto& seg : n.segments) {
    FB_RETURN_IF_ERROR(step());
    const Json& j = cur.get();
    // Missing chains read as null: alert.labels.a.b with no `a` is null, not an error.
    if (j.is_null()) {
      prev_end = seg.end;
      continue;
    }
    if (!seg.index) {
      if (!j.is_object()) {
        return fail(src(n.begin, prev_end) + " is a " + typeName(j) + ", not an object (reading '" +
                    shorten(seg.field) + "')");
      }
      auto it = j.find(seg.field);
      cur = it == j.end() ? Val() : cur.child(*it);
    } else {
      auto idx = eval(*seg.index);
      if (!idx) return idx;
      const Json& k = idx->get();
      if (k.is_null()) return nullError(*seg.index);
      if (j.is_array()) {
        if (!k.is_number_integer()) {
          return fail("a list index must be a whole number, got " + typeName(k));
        }
        Num i = toNum(k);
        if (!i.is_int || i.i < 0 || static_cast<uint64_t>(i.i) >= j.size()) {
          cur = Val();  // out of range reads as null, like a missing field
        } else {
          cur = cur.child(j[static_cast<size_t>(i.i)]);
        }
      } else if (j.is_object()) {
        if (!k.is_string()) return fail("an object key must be a string, got " + typeName(k));
        auto it = j.find(k.get_ref<const std::string&>());
        cur = it == j.end() ? Val() : cur.child(*it);
      } else {
        return fail(src(n.begin, prev_end) + " is a " + typeName(j) + " and cannot be indexed");
      }
    }
    prev_end = seg.end;
  }
  return cur;
}

Result<Val> Evaluator::evalCall(const ExprNode& n) {
  // default(x, d): d only when x is null or "", and d is evaluated only then.
  if (!n.fn->impl) {
    auto x = eval(*n.kids[0]);
    if (!x) return x;
    const Json& j = x->get();
    if (!j.is_null() && !(j.is_string() && j.get_ref<const std::string&>().empty())) return x;
    return eval(*n.kids[1]);
  }
  std::vector<Val> args;
  args.reserve(n.kids.size());
  for (const auto& kid : n.kids) {
    auto v = eval(*kid);
    if (!v) return v;
    args.push_back(std::move(*v));
  }
  return n.fn->impl(*this, n, args);
}

Result<Val> Evaluator::evalLogic(const ExprNode& n) {
  bool is_and = n.kind == NodeKind::kAnd;
  for (const auto& kid : n.kids) {
    auto v = eval(*kid);
    if (!v) return v;
    const Json& j = v->get();
    if (!j.is_boolean()) {
      if (j.is_null()) return nullError(*kid);
      return fail(std::string(is_and ? "'&&'" : "'||'") + " needs booleans, got " + typeName(j));
    }
    bool b = j.get<bool>();
    if (is_and && !b) return Val::own(false);
    if (!is_and && b) return Val::own(true);
  }
  return Val::own(is_and);
}

Result<bool> Evaluator::contains(const Val& hay, const ExprNode& hay_node, const Val& needle,
                                 const ExprNode& needle_node, const std::string& what) {
  const Json& h = hay.get();
  const Json& x = needle.get();
  if (h.is_array()) {
    FB_RETURN_IF_ERROR(step(h.size()));
    return std::find(h.begin(), h.end(), x) != h.end();
  }
  if (h.is_string() || h.is_object()) {
    if (x.is_null()) return nullError(needle_node);
    if (!x.is_string()) {
      return fail(what + " needs a string to look for in " +
                  (h.is_string() ? "a string" : "an object") + ", got " + typeName(x));
    }
    const auto& s = x.get_ref<const std::string&>();
    if (h.is_object()) return h.contains(s);
    return h.get_ref<const std::string&>().find(s) != std::string::npos;
  }
  if (h.is_null()) return nullError(hay_node);
  return fail(what + " needs a list, string or object to look in, got " + typeName(h));
}

Result<Val> Evaluator::evalCompare(const ExprNode& n) {
  auto l = eval(*n.kids[0]);
  if (!l) return l;
  // A literal pattern was compiled by the parser; only a computed one is compiled here.
  auto r = eval(*n.kids[1]);
  if (!r) return r;
  const Json& a = l->get();
  const Json& b = r->get();
  switch (n.op) {
    case CmpOp::kEq: return Val::own(a == b);
    case CmpOp::kNe: return Val::own(a != b);
    case CmpOp::kIn:
    case CmpOp::kNotIn: {
      auto found = contains(*r, *n.kids[1], *l, *n.kids[0], std::string("'") + cmpName(n.op) + "'");
      if (!found) return tl::unexpected<Error>(std::move(found.error()));
      return Val::own(n.op == CmpOp::kIn ? *found : !*found);
    }
    case CmpOp::kMatches: {
      if (a.is_null()) return nullError(*n.kids[0]);
      if (!a.is_string()) return fail("'matches' needs a string on the left, got " + typeName(a));
      const auto& s = a.get_ref<const std::string&>();
      if (n.regex) return Val::own(RE2::PartialMatch(s, *n.regex));
      if (b.is_null()) return nullError(*n.kids[1]);
      if (!b.is_string()) {
        return fail("'matches' needs a string pattern on the right, got " + typeName(b));
      }
      const auto& pattern = b.get_ref<const std::string&>();
      FB_RETURN_IF_ERROR(step(pattern.size() / 16));
      RE2 re(pattern, regexOptions());
      if (!re.ok()) return fail(regexError(pattern, re));
      return Val::own(RE2::PartialMatch(s, re));
    }
    case CmpOp::kLt:
    case CmpOp::kLe:
    case CmpOp::kGt:
    case CmpOp::kGe: {
      std::partial_ordering order = std::partial_ordering::unordered;
      if (a.is_number() && b.is_number()) {
        order = compareNumbers(a, b);
      } else if (a.is_string() && b.is_string()) {
        order = a.get_ref<const std::string&>() <=> b.get_ref<const std::string&>();
      } else if (a.is_null()) {
        return nullError(*n.kids[0]);
      } else if (b.is_null()) {
        return nullError(*n.kids[1]);
      } else {
        return fail(std::string("'") + cmpName(n.op) + "' needs two numbers or two strings, got " +
                    typeName(a) + " and " + typeName(b));
      }
      bool result = false;
      if (n.op == CmpOp::kLt) result = order < 0;
      if (n.op == CmpOp::kLe) result = order <= 0;
      if (n.op == CmpOp::kGt) result = order > 0;
      if (n.op == CmpOp::kGe) result = order >= 0;
      return Val::own(result);
    }
  }
  return fail("unknown operator");
}

Result<Json> arithmetic(char sign, const Json& a, const Json& b) {
  Num x = toNum(a);
  Num y = toNum(b);
  if (x.is_int && y.is_int) {
    int64_t r = 0;
    bool overflow = sign == '+' ? __builtin_add_overflow(x.i, y.i, &r)
                                : __builtin_sub_overflow(x.i, y.i, &r);
    if (overflow) return Evaluator::fail(std::string("integer overflow in '") + sign + "'");
    return Json(r);
  }
  double r = sign == '+' ? x.d + y.d : x.d - y.d;
  if (!std::isfinite(r)) {
    return Evaluator::fail(std::string("the result of '") + sign + "' is not a finite number");
  }
  return Json(r);
}

Result<Val> Evaluator::evalSum(const ExprNode& n) {
  auto first = eval(*n.kids[0]);
  if (!first) return first;
  Val acc = std::move(*first);
  for (size_t i = 1; i < n.kids.size(); ++i) {
    auto rhs = eval(*n.kids[i]);
    if (!rhs) return rhs;
    char sign = n.signs[i - 1];
    const Json& a = acc.get();
    const Json& b = rhs->get();
    if (sign == '+' && a.is_string() && b.is_string()) {
      const auto& bs = b.get_ref<const std::string&>();
      FB_RETURN_IF_ERROR(checkSize(a.get_ref<const std::string&>().size() + bs.size()));
      if (Json* owned = acc.mutableOwned()) {
        owned->get_ref<std::string&>() += bs;  // appending in place keeps a + b + c linear
      } else {
        acc = Val::own(a.get_ref<const std::string&>() + bs);
      }
      continue;
    }
    if (a.is_number() && b.is_number()) {
      auto r = arithmetic(sign, a, b);
      if (!r) return tl::unexpected<Error>(std::move(r.error()));
      acc = Val::own(std::move(*r));
      continue;
    }
    // Only the first operand can be null here: every later result is a string or number.
    if (a.is_null()) return nullError(*n.kids[0]);
    if (b.is_null()) return nullError(*n.kids[i]);
    if (sign == '+') {
      return fail("'+' needs two numbers or two strings, got " + typeName(a) + " and " +
                  typeName(b));
    }
    return fail("'-' needs two numbers, got " + typeName(a) + " and " + typeName(b));
  }
  return acc;
}

Result<Val> Evaluator::evalNeg(const ExprNode& n) {
  auto v = eval(*n.kids[0]);
  if (!v) return v;
  const Json& j = v->get();
  if (j.is_null()) return nullError(*n.kids[0]);
  if (!j.is_number()) return fail("'-' needs a number, got " + typeName(j));
  Num x = toNum(j);
  if (x.is_int) {
    if (x.i == std::numeric_limits<int64_t>::min()) return fail("integer overflow in '-'");
    return Val::own(-x.i);
  }
  return Val::own(-x.d);
}

// ---------------------------------------------------------------------------------------------
// Functions

Result<Val> fnCase(Evaluator& ev, const ExprNode& call, std::vector<Val>& args, bool upper) {
  auto s = ev.stringArg(call, args, 0);
  if (!s) return tl::unexpected<Error>(std::move(s.error()));
  FB_RETURN_IF_ERROR(ev.checkSize((*s)->size()));
  std::string out = **s;
  for (char& c : out) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return Val::own(std::move(out));
}

Result<Val> fnLower(Evaluator& ev, const ExprNode& call, std::vector<Val>& args) {
  return fnCase(ev, call, args, false);
}

Result<Val> fnUpper(Evaluator& ev, const ExprNode& call, std::vector<Val>& args) {
  return fnCase(ev, call, args, true);
}

Result<Val> fnTrim(Evaluator& ev, const ExprNode& call, std::vector<Val>& args) {
  auto s = ev.stringArg(call, args, 0);
  if (!s) return tl::unexpected<Error>(std::move(s.error()));
  return Val::own(std::string(trimView(**s)));
}

Result<Val> fnLen(Evaluator& ev, const ExprNode& call, std::vector<Val>& args) {
  const Json& j = args[0].get();
  if (j.is_string()) return Val::own(static_cast<int64_t>(j.get_ref<const std::string&>().size()));
  if (j.is_array() || j.is_object()) return Val::own(static_cast<int64_t>(j.size()));
  if (j.is_null()) return ev.nullError(*call.kids[0]);
  return ev.fail(Evaluator::needs(call, 0, "a string, list or object", j));
}

Result<Val> fnContains(Evaluator& ev, const ExprNode& call, std::vector<Val>& args) {
  auto found = ev.contains(args[0], *call.kids[0], args[1], *call.kids[1], "contains()");
  if (!found) return tl::unexpected<Error>(std::move(found.error()));
  return Val::own(*found);
}

Result<Val> fnAffix(Evaluator& ev, const ExprNode& call, std::vector<Val>& args, bool start) {
  auto s = ev.stringArg(call, args, 0);
  if (!s) return tl::unexpected<Error>(std::move(s.error()));
  auto a = ev.stringArg(call, args, 1);
  if (!a) return tl::unexpected<Error>(std::move(a.error()));
  std::string_view text = **s;
  return Val::own(start ? text.starts_with(**a) : text.ends_with(**a));
}

Result<Val> fnStartsWith(Evaluator& ev, const ExprNode& call, std::vector<Val>& args) {
  return fnAffix(ev, call, args, true);
}

Result<Val> fnEndsWith(Evaluator& ev, const ExprNode& call, std::vector<Val>& args) {
  return fnAffix(ev, call, args, false);
}

Result<Val> fnSplit(Evaluator& ev, const ExprNode& call, std::vector<Val>& args) {
  auto s = ev.stringArg(call, args, 0);
  if (!s) return tl::unexpected<Error>(std::move(s.error()));
  auto sep = ev.stringArg(call, args, 1);
  if (!sep) return tl::unexpected<Error>(std::move(sep.error()));
  if ((*sep)->empty()) return ev.fail("split() needs a non-empty separator");
  std::string_view text = **s;
  Json out = Json::array();
  while (true) {
    FB_RETURN_IF_ERROR(ev.step());
    size_t at = text.find(**sep);
    out.push_back(std::string(text.substr(0, at)));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + (*sep)->size());
  }
  return Val::own(std::move(out));
}

Result<Val> fnJoin(Evaluator& ev, const ExprNode& call, std::vector<Val>& args) {
  const Json& list = args[0].get();
  if (list.is_null()) return ev.nullError(*call.kids[0]);
  if (!list.is_array()) return ev.fail(Evaluator::needs(call, 0, "a list", list));
  auto sep = ev.stringArg(call, args, 1);
  if (!sep) return tl::unexpected<Error>(std::move(sep.error()));
  std::string out;
  for (size_t i = 0; i < list.size(); ++i) {
    FB_RETURN_IF_ERROR(ev.step());
    const Json& item = list[i];
    if (item.is_null()) {
      return ev.fail(ev.src(*call.kids[0]) + "[" + std::to_string(i) + "] is null");
    }
    std::string text = toText(item);
    size_t extra = (i > 0 ? (*sep)->size() : 0) + text.size();
    FB_RETURN_IF_ERROR(ev.checkSize(out.size() + extra));
    if (i > 0) out += **sep;
    out += text;
  }
  return Val::own(std::move(out));
}

Result<Val> fnReplace(Evaluator& ev, const ExprNode& call, std::vector<Val>& args) {
  auto s = ev.stringArg(call, args, 0);
  if (!s) return tl::unexpected<Error>(std::move(s.error()));
  auto from = ev.stringArg(call, args, 1);
  if (!from) return tl::unexpected<Error>(std::move(from.error()));
  auto to = ev.stringArg(call, args, 2);
  if (!to) return tl::unexpected<Error>(std::move(to.error()));
  if ((*from)->empty()) return ev.fail("replace() needs a non-empty string to replace");
  std::string_view text = **s;
  std::string out;
  while (true) {
    FB_RETURN_IF_ERROR(ev.step());
    size_t at = text.find(**from);
    size_t keep = at == std::string_view::npos ? text.size() : at;
    size_t extra = keep + (at == std::string_view::npos ? 0 : (*to)->size());
    // Checked before appending: "a" -> 64 KiB over a 64 KiB string must not build 4 GiB first.
    FB_RETURN_IF_ERROR(ev.checkSize(out.size() + extra));
    out.append(text.substr(0, keep));
    if (at == std::string_view::npos) break;
    out += **to;
    text.remove_prefix(at + (*from)->size());
  }
  return Val::own(std::move(out));
}

Result<Val> fnString(Evaluator& ev, const ExprNode& call, std::vector<Val>& args) {
  const Json& j = args[0].get();
  if (j.is_null()) return ev.nullError(*call.kids[0]);
  if (j.is_string()) return std::move(args[0]);
  std::string text = toText(j);
  FB_RETURN_IF_ERROR(ev.checkSize(text.size()));
  return Val::own(std::move(text));
}

Result<Val> truncateToInt(Evaluator& ev, double d, const std::string& what) {
  if (!fitsInt64(d)) return ev.fail("int(): " + what + " is out of range");
  return Val::own(static_cast<int64_t>(std::trunc(d)));
}

Result<Val> fnInt(Evaluator& ev, const ExprNode& call, std::vector<Val>& args) {
  const Json& j = args[0].get();
  if (j.is_number_integer()) return std::move(args[0]);
  if (j.is_number_float()) return truncateToInt(ev, j.get<double>(), compactJson(j));
  if (j.is_null()) return ev.nullError(*call.kids[0]);
  if (!j.is_string()) return ev.fail(Evaluator::needs(call, 0, "a string or number", j));
  const auto& s = j.get_ref<const std::string&>();
  std::string quoted = "'" + shorten(s) + "'";
  std::string_view text = trimView(s);
  const char* first = text.data();
  const char* last = text.data() + text.size();
  int64_t i = 0;
  auto r = std::from_chars(first, last, i);
  if (r.ec == std::errc() && r.ptr == last) return Val::own(i);
  if (r.ec == std::errc::result_out_of_range && r.ptr == last) {
    return ev.fail("int(): " + quoted + " is out of range");
  }
  double d = 0;
  auto rd = std::from_chars(first, last, d);
  // from_chars also reads "inf" and "nan", which are not numbers a person means here.
  if (!text.empty() && rd.ec == std::errc() && rd.ptr == last && std::isfinite(d)) {
    return truncateToInt(ev, d, quoted);
  }
  return ev.fail("int(): " + quoted + " is not a number");
}

Result<Val> fnEnd(Evaluator& ev, const ExprNode& call, std::vector<Val>& args, bool first) {
  const Json& j = args[0].get();
  if (j.is_null()) return ev.nullError(*call.kids[0]);
  if (!j.is_array()) return ev.fail(Evaluator::needs(call, 0, "a list", j));
  if (j.empty()) return Val();
  return args[0].child(first ? j.front() : j.back());
}

Result<Val> fnFirst(Evaluator& ev, const ExprNode& call, std::vector<Val>& args) {
  return fnEnd(ev, call, args, true);
}

Result<Val> fnLast(Evaluator& ev, const ExprNode& call, std::vector<Val>& args) {
  return fnEnd(ev, call, args, false);
}

Result<Val> fnKeys(Evaluator& ev, const ExprNode& call, std::vector<Val>& args) {
  const Json& j = args[0].get();
  if (j.is_null()) return ev.nullError(*call.kids[0]);
  if (!j.is_object()) return ev.fail(Evaluator::needs(call, 0, "an object", j));
  FB_RETURN_IF_ERROR(ev.step(j.size()));
  Json out = Json::array();
  for (const auto& [key, value] : j.items()) out.push_back(key);
  return Val::own(std::move(out));
}

constexpr Function kFunctions[] = {
    {"lower", 1, fnLower},
    {"upper", 1, fnUpper},
    {"trim", 1, fnTrim},
    {"len", 1, fnLen},
    {"contains", 2, fnContains},
    {"startswith", 2, fnStartsWith},
    {"endswith", 2, fnEndsWith},
    {"split", 2, fnSplit},
    {"join", 2, fnJoin},
    {"replace", 3, fnReplace},
    {"default", 2, nullptr},
    {"string", 1, fnString},
    {"int", 1, fnInt},
    {"first", 1, fnFirst},
    {"last", 1, fnLast},
    {"keys", 1, fnKeys},
};

const Function* findFunction(std::string_view name) {
  for (const auto& f : kFunctions)
    if (name == f.name) return &f;
  return nullptr;
}

std::vector<std::string> functionNames() {
  std::vector<std::string> names;
  for (const auto& f : kFunctions) names.emplace_back(f.name);
  return names;
}

// ---------------------------------------------------------------------------------------------
// Parser

using MutableNode = std::shared_ptr<ExprNode>;

class Parser {
 public:
  Parser(std::string_view text, const EvalLimits& limits)
      : text_(text), lexer_(text), limits_(limits) {}

  Result<NodePtr> parse() {
    advance();
    auto root = parseExpr();
    if (!root) return root;
    if (tok_.kind != Tok::kEnd) return errorHere("unexpected " + quoteToken());
    return root;
  }

 private:
  // Counts one level of nesting for as long as it lives.
  class DepthGuard {
   public:
    explicit DepthGuard(size_t& depth) : depth_(depth) { ++depth_; }
    ~DepthGuard() { --depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    size_t& depth_;
  };

  void advance() { tok_ = lexer_.next(); }

  tl::unexpected<Error> errorAt(size_t offset, std::string message) const {
    return tl::unexpected<Error>(invalid(std::move(message), static_cast<int>(offset + 1)));
  }
  // An error at the current token; a bad character there is the real problem, so it wins.
  tl::unexpected<Error> errorHere(std::string message) const {
    if (tok_.kind == Tok::kError && lexer_.error()) return tl::unexpected<Error>(*lexer_.error());
    return errorAt(tok_.begin, std::move(message));
  }
  std::string quoteToken() const {
    return "'" + shorten(text_.substr(tok_.begin, tok_.end - tok_.begin)) + "'";
  }
  Result<NodePtr> tooDeep() const {
    return errorAt(tok_.begin, "expression is nested too deeply (more than " +
                                   std::to_string(limits_.max_depth) + " levels)");
  }

  Result<NodePtr> parseExpr();
  Result<NodePtr> parseChain(Tok op, NodeKind kind, Result<NodePtr> (Parser::*operand)());
  Result<NodePtr> parseOr() { return parseChain(Tok::kOr, NodeKind::kOr, &Parser::parseAnd); }
  Result<NodePtr> parseAnd() { return parseChain(Tok::kAnd, NodeKind::kAnd, &Parser::parseNot); }
  Result<NodePtr> parseNot();
  Result<NodePtr> parseCmp();
  Result<NodePtr> parseSum();
  Result<NodePtr> parseUnary();
  Result<NodePtr> parsePostfix();
  Result<NodePtr> parseCall(const Token& name);
  Result<NodePtr> parsePrimary();

  std::string_view text_;
  Lexer lexer_;
  const EvalLimits& limits_;
  Token tok_;
  size_t depth_ = 0;
};

Result<NodePtr> Parser::parseExpr() {
  DepthGuard guard(depth_);
  if (depth_ > limits_.max_depth) return tooDeep();
  return parseOr();
}

Result<NodePtr> Parser::parseChain(Tok op, NodeKind kind, Result<NodePtr> (Parser::*operand)()) {
  auto first = (this->*operand)();
  if (!first || tok_.kind != op) return first;
  auto node = std::make_shared<ExprNode>();
  node->kind = kind;
  node->kids.push_back(*first);
  while (tok_.kind == op) {
    advance();
    auto next = (this->*operand)();
    if (!next) return next;
    node->kids.push_back(*next);
  }
  node->begin = node->kids.front()->begin;
  node->end = node->kids.back()->end;
  return NodePtr(node);
}

Result<NodePtr> Parser::parseNot() {
  if (tok_.kind != Tok::kBang) return parseCmp();
  DepthGuard guard(depth_);
  if (depth_ > limits_.max_depth) return tooDeep();
  size_t begin = tok_.begin;
  advance();
  auto operand = parseNot();
  if (!operand) return operand;
  auto node = std::make_shared<ExprNode>();
  node->kind = NodeKind::kNot;
  node->begin = begin;
  node->end = (*operand)->end;
  node->kids.push_back(*operand);
  return NodePtr(node);
}

Result<NodePtr> Parser::parseCmp() {
  auto left = parseSum();
  if (!left) return left;
  CmpOp op;
  switch (tok_.kind) {
    case Tok::kEq: op = CmpOp::kEq; break;
    case Tok::kNe: op = CmpOp::kNe; break;
    case Tok::kLt: op = CmpOp::kLt; break;
    case Tok::kLe: op = CmpOp::kLe; break;
    case Tok::kGt: op = CmpOp::kGt; break;
    case Tok::kGe: op = CmpOp::kGe; break;
    case Tok::kIn: op = CmpOp::kIn; break;
    case Tok::kMatches: op = CmpOp::kMatches; break;
    case Tok::kNot:
      advance();
      if (tok_.kind != Tok::kIn) return errorHere("expected 'in' after 'not'");
      op = CmpOp::kNotIn;
      break;
    default: return left;
  }
  advance();
  auto right = parseSum();
  if (!right) return right;
  auto node = std::make_shared<ExprNode>();
  node->kind = NodeKind::kCompare;
  node->op = op;
  node->begin = (*left)->begin;
  node->end = (*right)->end;
  node->kids = {*left, *right};
  const ExprNode& pattern = **right;
  // A literal pattern is compiled once, here, so a bad one fails when the playbook loads.
  if (op == CmpOp::kMatches && pattern.kind == NodeKind::kLiteral && pattern.value.is_string()) {
    const auto& text = pattern.value.get_ref<const std::string&>();
    auto re = std::make_shared<const RE2>(text, regexOptions());
    if (!re->ok()) return errorAt(pattern.begin, regexError(text, *re));
    node->regex = std::move(re);
  }
  return NodePtr(node);
}

Result<NodePtr> Parser::parseSum() {
  auto first = parseUnary();
  if (!first || (tok_.kind != Tok::kPlus && tok_.kind != Tok::kMinus)) return first;
  auto node = std::make_shared<ExprNode>();
  node->kind = NodeKind::kSum;
  node->kids.push_back(*first);
  while (tok_.kind == Tok::kPlus || tok_.kind == Tok::kMinus) {
    node->signs.push_back(tok_.kind == Tok::kPlus ? '+' : '-');
    advance();
    auto next = parseUnary();
    if (!next) return next;
    node->kids.push_back(*next);
  }
  node->begin = node->kids.front()->begin;
  node->end = node->kids.back()->end;
  return NodePtr(node);
}

Result<NodePtr> Parser::parseUnary() {
  if (tok_.kind != Tok::kMinus) return parsePostfix();
  DepthGuard guard(depth_);
  if (depth_ > limits_.max_depth) return tooDeep();
  size_t begin = tok_.begin;
  advance();
  auto operand = parseUnary();
  if (!operand) return operand;
  auto node = std::make_shared<ExprNode>();
  node->begin = begin;
  node->end = (*operand)->end;
  const ExprNode& o = **operand;
  // -5 is a literal, so that a[-1] and the like need no evaluation. Literals fit int64 and are
  // never its minimum, so negation cannot overflow.
  bool literal = o.kind == NodeKind::kLiteral;
  if (literal && o.value.is_number_integer() && !o.value.is_number_unsigned()) {
    node->value = -o.value.get<int64_t>();
  } else if (literal && o.value.is_number_float()) {
    node->value = -o.value.get<double>();
  } else {
    node->kind = NodeKind::kNeg;
    node->kids.push_back(*operand);
  }
  return NodePtr(node);
}

Result<NodePtr> Parser::parsePostfix() {
  Token start = tok_;
  auto base = parsePrimary();
  if (!base) return base;
  // Only a bare name can be called: lower(x), not (lower)(x) or a.b(x).
  if (start.kind == Tok::kIdent && tok_.kind == Tok::kLParen) {
    base = parseCall(start);
    if (!base) return base;
  }
  std::vector<ExprNode::Segment> segments;
  while (true) {
    if (tok_.kind == Tok::kDot) {
      advance();
      // Keywords are fine as field names: alert.labels.in.
      bool name = tok_.kind == Tok::kIdent || tok_.kind == Tok::kTrue || tok_.kind == Tok::kFalse ||
                  tok_.kind == Tok::kNull || tok_.kind == Tok::kNot || tok_.kind == Tok::kIn ||
                  tok_.kind == Tok::kMatches;
      if (!name) return errorHere("expected a field name after '.'");
      segments.push_back({tok_.text, nullptr, tok_.end});
      advance();
    } else if (tok_.kind == Tok::kLBracket) {
      advance();
      auto index = parseExpr();
      if (!index) return index;
      if (tok_.kind != Tok::kRBracket) return errorHere("expected ']' after index");
      segments.push_back({"", *index, tok_.end});
      advance();
    } else if (tok_.kind == Tok::kLParen) {
      return errorHere("only functions can be called");
    } else {
      break;
    }
  }
  if (segments.empty()) return base;
  auto node = std::make_shared<ExprNode>();
  node->kind = NodeKind::kPath;
  node->begin = (*base)->begin;
  node->end = segments.back().end;
  node->kids.push_back(*base);
  node->segments = std::move(segments);
  return NodePtr(node);
}

Result<NodePtr> Parser::parseCall(const Token& name) {
  const Function* fn = findFunction(name.text);
  if (!fn) {
    std::string msg = "unknown function '" + shorten(name.text) + "'";
    if (auto s = core::suggest(name.text, functionNames()); !s.empty()) {
      msg += " (did you mean '" + s + "'?)";
    }
    return errorAt(name.begin, msg);
  }
  advance();  // (
  auto node = std::make_shared<ExprNode>();
  node->kind = NodeKind::kCall;
  node->name = name.text;
  node->fn = fn;
  node->begin = name.begin;
  if (tok_.kind != Tok::kRParen) {
    while (true) {
      auto arg = parseExpr();
      if (!arg) return arg;
      node->kids.push_back(*arg);
      if (tok_.kind != Tok::kComma) break;
      advance();
    }
  }
  if (tok_.kind != Tok::kRParen) return errorHere("expected ')' after arguments");
  node->end = tok_.end;
  advance();
  if (node->kids.size() != fn->arity) {
    return errorAt(name.begin, name.text + "() takes " + std::to_string(fn->arity) +
                                   (fn->arity == 1 ? " argument" : " arguments") + ", got " +
                                   std::to_string(node->kids.size()));
  }
  return NodePtr(node);
}

Result<NodePtr> Parser::parsePrimary() {
  auto node = std::make_shared<ExprNode>();
  node->begin = tok_.begin;
  node->end = tok_.end;
  switch (tok_.kind) {
    case Tok::kNumber: node->value = tok_.number; break;
    case Tok::kString: node->value = tok_.text; break;
    case Tok::kTrue: node->value = true; break;
    case Tok::kFalse: node->value = false; break;
    case Tok::kNull: break;
    case Tok::kIdent:
      node->kind = NodeKind::kRoot;
      node->name = tok_.text;
      break;
    case Tok::kLParen: {
      advance();
      auto inner = parseExpr();
      if (!inner) return inner;
      if (tok_.kind != Tok::kRParen) return errorHere("expected ')'");
      advance();
      return inner;
    }
    case Tok::kLBracket: {
      advance();
      node->kind = NodeKind::kList;
      if (tok_.kind != Tok::kRBracket) {
        while (true) {
          auto item = parseExpr();
          if (!item) return item;
          node->kids.push_back(*item);
          if (tok_.kind != Tok::kComma) break;
          advance();
        }
      }
      if (tok_.kind != Tok::kRBracket) return errorHere("expected ']' after list items");
      node->end = tok_.end;
      advance();
      return NodePtr(node);
    }
    default: return errorHere("expected an expression");
  }
  advance();
  return NodePtr(node);
}

// ---------------------------------------------------------------------------------------------
// References

void addUnique(std::vector<std::string>& out, std::string path) {
  if (std::find(out.begin(), out.end(), path) == out.end()) out.push_back(std::move(path));
}

void collectReferences(const ExprNode& n, std::vector<std::string>& out) {
  if (n.kind == NodeKind::kRoot) {
    addUnique(out, n.name);
    return;
  }
  if (n.kind == NodeKind::kPath && n.kids[0]->kind == NodeKind::kRoot) {
    std::string path = n.kids[0]->name;
    for (const auto& seg : n.segments) {
      // A literal string key is as static as a field; anything else (a computed key, a list
      // index) ends the path. Keys with a dot would make the dotted path ambiguous.
      const std::string* key = nullptr;
      if (!seg.index) {
        key = &seg.field;
      } else if (seg.index->kind == NodeKind::kLiteral && seg.index->value.is_string()) {
        key = &seg.index->value.get_ref<const std::string&>();
      }
      if (!key || key->find('.') != std::string::npos) break;
      path += "." + *key;
    }
    addUnique(out, std::move(path));
    for (const auto& seg : n.segments)
      if (seg.index) collectReferences(*seg.index, out);
    return;
  }
  for (const auto& kid : n.kids) collectReferences(*kid, out);
  for (const auto& seg : n.segments)
    if (seg.index) collectReferences(*seg.index, out);
}

// The end of a "{{ ... }}" starting at `from`: the first "}}" outside a quoted string.
size_t findClose(std::string_view text, size_t from) {
  char quote = 0;
  for (size_t p = from; p < text.size(); ++p) {
    char c = text[p];
    if (quote) {
      if (c == '\\') ++p;
      else if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '}' && p + 1 < text.size() && text[p + 1] == '}') {
      return p;
    }
  }
  // An unterminated quote: end at the first "}}" so the parser can point at the quote.
  return text.find("}}", from);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Expression

Result<Expression> Expression::parse(std::string_view text, const EvalLimits& limits) {
  try {
    Parser parser(text, limits);
    auto root = parser.parse();
    if (!root) return tl::unexpected<Error>(std::move(root.error()));
    Expression e;
    e.text_ = std::string(text);
    e.root_ = std::move(*root);
    e.limits_ = limits;
    return e;
  } catch (const std::exception& e) {
    return internalError(e);
  }
}

Result<Json> Expression::eval(const Json& scope) const {
  if (!root_) return Json();
  try {
    Evaluator ev(scope, text_, limits_);
    auto v = ev.eval(*root_);
    if (!v) return tl::unexpected<Error>(std::move(v.error()));
    return std::move(*v).take();
  } catch (const std::exception& e) {
    return internalError(e);
  }
}

Result<bool> Expression::test(const Json& scope) const {
  auto v = eval(scope);
  if (!v) return tl::unexpected<Error>(std::move(v.error()));
  if (v->is_boolean()) return v->get<bool>();
  if (v->is_null()) return tl::unexpected<Error>(invalid(shorten(trimView(text_)) + " is null"));
  return tl::unexpected<Error>(
      invalid("a condition must be true or false, got " + typeName(*v)));
}

std::vector<std::string> Expression::references() const {
  std::vector<std::string> out;
  if (root_) collectReferences(*root_, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Template

Result<Template> Template::parse(std::string_view text, const EvalLimits& limits) {
  try {
    Template t;
    t.text_ = std::string(text);
    t.limits_ = limits;
    size_t pos = 0;
    std::string literal;
    while (pos < text.size()) {
      size_t open = text.find("{{", pos);
      if (open == std::string_view::npos) {
        literal.append(text.substr(pos));
        break;
      }
      literal.append(text.substr(pos, open - pos));
      size_t start = open + 2;
      size_t close = findClose(text, start);
      if (close == std::string_view::npos) {
        return tl::unexpected<Error>(invalid("'{{' without '}}'", static_cast<int>(open + 1)));
      }
      auto expr = Expression::parse(text.substr(start, close - start), limits);
      if (!expr) {
        // Columns inside the braces become columns of the whole template text.
        const Error& e = expr.error();
        int column = e.loc().column > 0 ? e.loc().column + static_cast<int>(start) : 0;
        return tl::unexpected<Error>(Error(e.code(), e.message(), SourceLoc{"", 0, column}));
      }
      if (!literal.empty()) t.parts_.push_back({std::move(literal), nullptr});
      literal.clear();
      t.parts_.push_back({"", std::make_shared<Expression>(std::move(*expr))});
      pos = close + 2;
    }
    if (!literal.empty()) t.parts_.push_back({std::move(literal), nullptr});
    return t;
  } catch (const std::exception& e) {
    return internalError(e);
  }
}

bool Template::isLiteral() const {
  return std::none_of(parts_.begin(), parts_.end(), [](const Part& p) { return p.expr; });
}

Result<Json> Template::render(const Json& scope) const {
  // Exactly one "{{ expr }}" and nothing around it: the value keeps its type.
  if (parts_.size() == 1 && parts_[0].expr) return parts_[0].expr->eval(scope);
  if (isLiteral()) return Json(text_);
  try {
    std::string out;
    for (const auto& part : parts_) {
      if (!part.expr) {
        out += part.literal;
      } else {
        auto v = part.expr->eval(scope);
        if (!v) return tl::unexpected<Error>(std::move(v.error()));
        if (v->is_null()) {
          return tl::unexpected<Error>(
              invalid("'{{ " + shorten(trimView(part.expr->text())) + " }}' is null"));
        }
        out += toText(*v);
      }
      if (out.size() > limits_.max_output) {
        return tl::unexpected<Error>(invalid("rendered template longer than the limit of " +
                                             std::to_string(limits_.max_output) + " bytes"));
      }
    }
    return Json(std::move(out));
  } catch (const std::exception& e) {
    return internalError(e);
  }
}

std::vector<std::string> Template::references() const {
  std::vector<std::string> out;
  for (const auto& part : parts_) {
    if (!part.expr) continue;
    for (auto& r : part.expr->references()) addUnique(out, std::move(r));
  }
  return out;
}

Result<Json> renderValue(const Json& value, const Json& scope) {
  try {
    if (value.is_string()) {
      const auto& s = value.get_ref<const std::string&>();
      if (s.find("{{") == std::string::npos) return value;
      auto t = Template::parse(s);
      if (!t) return tl::unexpected<Error>(std::move(t.error()));
      return t->render(scope);
    }
    if (value.is_array()) {
      Json out = Json::array();
      for (const auto& item : value) {
        auto r = renderValue(item, scope);
        if (!r) return r;
        out.push_back(std::move(*r));
      }
      return out;
    }
    if (value.is_object()) {
      Json out = Json::object();
      for (const auto& [key, item] : value.items()) {
        auto r = renderValue(item, scope);
        if (!r) return r;
        out[key] = std::move(*r);
      }
      return out;
    }
    return value;
  } catch (const std::exception& e) {
    return internalError(e);
  }
}

}  // namespace firebreak::playbook

#undef FB_RETURN_IF_ERROR
