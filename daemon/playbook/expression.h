// Expressions (`when:`, `if:`) and templates ("{{ ... }}" inside strings): a small, safe
// language over Json values. No loops, no I/O, bounded depth and output; RE2 for `matches`.
//
// Grammar (precedence low to high):
//   expr    := or
//   or      := and ( "||" and )*
//   and     := not ( "&&" not )*
//   not     := "!" not | cmp
//   cmp     := sum ( ("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in" | "matches") sum )?
//   sum     := unary ( ("+" | "-") unary )*        "+" also joins strings
//   unary   := "-" unary | postfix
//   postfix := primary ( "." ident | "[" expr "]" | "(" args ")" )*
//   primary := number | string ('..' or "..") | true | false | null | ident | "(" expr ")"
//            | "[" list "]"
// Identifiers at the root read the scope (alert, incident, params, steps, run, env).
// A missing field reads as null; using null where a string, number or list is needed is an
// error naming the path ("alert.labels.fn is null").
// Functions: lower upper trim len contains startswith endswith split join replace default
//            string int first last keys.
// Templates: "text {{ expr }} text". A string that is exactly one "{{ expr }}" renders to the
// expression's value with its type (a list stays a list); otherwise values are converted to
// text and null is an error. Filters are written as function calls: {{ default(x, "none") }}.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/json.h"
#include "daemon/core/result.h"

namespace firebreak::playbook {

using core::Json;
using core::Result;

struct EvalLimits {
  size_t max_depth = 64;             // nesting of the parsed expression
  size_t max_output = 64 * 1024;     // bytes of a rendered template or built string
  size_t max_steps = 100'000;        // evaluation steps
};

class ExprNode;  // the parsed tree, private to expression.cpp

// Errors from parse() carry the 1-based column within the text in loc().column (file and line
// left empty for the caller to fill in).
class Expression {
 public:
  static Result<Expression> parse(std::string_view text, const EvalLimits& limits = {});
  Result<Json> eval(const Json& scope) const;
  // eval() as a condition: true, false, or an error if the value is not a boolean.
  Result<bool> test(const Json& scope) const;
  // Dotted paths the expression reads from the scope, as far as they are static:
  // "steps.revoke.status", "params.function", "alert.labels".
  std::vector<std::string> references() const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::shared_ptr<const ExprNode> root_;
  EvalLimits limits_;
};

class Template {
 public:
  static Result<Template> parse(std::string_view text, const EvalLimits& limits = {});
  Result<Json> render(const Json& scope) const;
  bool isLiteral() const;  // holds no {{ }}
  std::vector<std::string> references() const;
  const std::string& text() const { return text_; }

 private:
  struct Part {
    std::string literal;
    std::shared_ptr<Expression> expr;  // null for a literal part
  };
  std::string text_;
  std::vector<Part> parts_;
  EvalLimits limits_;
};

// Renders every string in a Json tree as a template (keys are left as they are).
Result<Json> renderValue(const Json& value, const Json& scope);

}  // namespace firebreak::playbook
