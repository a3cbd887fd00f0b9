// Feeds arbitrary bytes to the expression and template language (as a Template, an Expression
// and a string inside a Json tree) and evaluates them against a small fixed scope. Any crash,
// sanitizer report, hang or broken invariant below is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon/playbook/expression.h"

namespace {

using firebreak::core::ErrorCode;
using firebreak::playbook::EvalLimits;
using firebreak::playbook::Expression;
using firebreak::playbook::Json;
using firebreak::playbook::Template;

const Json& scope() {
  static const Json kScope = Json::parse(R"({
    "alert": {"name": "HighErrorRate", "labels": {"app": "api", "pod": "api-7f9c", "n": "42"},
              "value": 3.5, "hosts": ["web-1", "web-2"], "firing": true},
    "incident": {"id": "inc-1"},
    "params": {"function": "checkout", "limit": 10, "big": 9223372036854775807,
               "huge": 18446744073709551615, "tags": ["a", "b"], "empty": ""},
    "steps": {"revoke": {"status": "ok", "output": {"ids": [1, 2, 3]}}},
    "run": {"id": "r-1"},
    "env": {}
  })");
  return kScope;
}

// Every error is the user's (kInvalidArgument) and a parse error points inside the text.
void check(const firebreak::core::Error& error, size_t size, bool parse) {
  if (error.code() != ErrorCode::kInvalidArgument) std::abort();
  if (parse && (error.loc().column < 1 || static_cast<size_t>(error.loc().column) > size + 1)) {
    std::abort();
  }
}

void run(std::string_view text, const EvalLimits& limits) {
  if (auto t = Template::parse(text, limits)) {
    (void)t->isLiteral();
    (void)t->references();
    if (auto v = t->render(scope()); !v) check(v.error(), text.size(), false);
  } else {
    check(t.error(), text.size(), true);
  }
  if (auto e = Expression::parse(text, limits)) {
    (void)e->references();
    if (auto v = e->eval(scope())) {
      (void)v->dump(-1, ' ', false, Json::error_handler_t::replace);
    } else {
      check(v.error(), text.size(), false);
    }
    if (auto b = e->test(scope()); !b) check(b.error(), text.size(), false);
  } else {
    check(e.error(), text.size(), true);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  run(text, EvalLimits{});
  // Tiny limits reach the limit paths that the default ones rarely do.
  run(text, EvalLimits{.max_depth = 4, .max_output = 16, .max_steps = 40});
  Json tree = {{"a", std::string(text)}, {"b", Json::array({std::string(text), 1})}};
  if (auto r = firebreak::playbook::renderValue(tree, scope()); !r) {
    check(r.error(), text.size(), false);
  }
  return 0;
}
