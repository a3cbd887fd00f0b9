#include "daemon/sources/json_body.h"

#include <fmt/format.h>

#include <algorithm>

namespace firebreak::sources::detail {

namespace {

// Bodies up to this size reuse one parser per thread (its buffers grow to about 15x the
// largest body it parsed, so larger ones get a parser of their own that is freed after).
constexpr size_t kReusedParserBytes = 64 * 1024;

const char* syntaxReason(simdjson::error_code code) {
  switch (code) {
    case simdjson::TAPE_ERROR:
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
    case simdjson::TRAILING_CONTENT:
      return "a missing or extra brace, bracket, comma, colon or value";
    case simdjson::STRING_ERROR:
      return "a bad escape sequence in a string";
    case simdjson::UNCLOSED_STRING:
      return "an unclosed string";
    case simdjson::UNESCAPED_CHARS:
      return "an unescaped control character in a string";
    case simdjson::T_ATOM_ERROR:
    case simdjson::F_ATOM_ERROR:
    case simdjson::N_ATOM_ERROR:
      return "a bare word that is not true, false or null";
    case simdjson::NUMBER_ERROR:
      return "a malformed number";
    case simdjson::NUMBER_OUT_OF_RANGE:
      return "a number out of range";
    default:
      return nullptr;
  }
}

}  // namespace

core::Result<dom::element> JsonDocument::parse(std::string_view body, const ParseOptions& options) {
  if (body.size() > options.max_body_bytes) {
    return invalid(
        fmt::format("body: {} bytes, over the limit of {}", body.size(), options.max_body_bytes));
  }
  if (body.empty()) return invalid("body: empty");
  const size_t max_depth = options.max_depth == 0 ? 1 : options.max_depth;
  // simdjson counts the values inside the innermost container as one more level.
  const size_t depth = max_depth + 1;

  dom::parser* parser;
  if (body.size() <= kReusedParserBytes) {
    thread_local dom::parser reused;
    parser = &reused;
  } else {
    own_ = std::make_unique<dom::parser>(body.size());
    parser = own_.get();
  }
  if (parser->capacity() == 0 || parser->max_depth() != depth) {
    const size_t capacity = std::max(parser->capacity(), body.size());
    if (auto error = parser->allocate(capacity, depth); error != simdjson::SUCCESS) {
      return core::fail(
          core::ErrorCode::kInternal,
          std::string("body: cannot allocate the JSON parser: ") + simdjson::error_message(error));
    }
  }

  dom::element root;
  // realloc_if_needed: simdjson copies the body into its padded buffer.
  const auto error = parser->parse(body.data(), body.size(), true).get(root);
  if (error == simdjson::SUCCESS) return root;
  switch (error) {
    case simdjson::UTF8_ERROR:
      return invalid("body: not valid UTF-8");
    case simdjson::DEPTH_ERROR:
      return invalid(fmt::format("body: nested deeper than {} levels", max_depth));
    case simdjson::EMPTY:
      return invalid("body: not valid JSON (no value)");
    case simdjson::MEMALLOC:
    case simdjson::CAPACITY:
      return core::fail(core::ErrorCode::kInternal,
                        std::string("body: cannot parse: ") + simdjson::error_message(error));
    default:
      break;
  }
  if (const char* reason = syntaxReason(error)) {
    return invalid(std::string("body: not valid JSON (") + reason + ")");
  }
  return invalid(std::string("body: not valid JSON (") + simdjson::error_message(error) + ")");
}

const char* typeName(dom::element value) {
  switch (value.type()) {
    case dom::element_type::OBJECT:
      return "an object";
    case dom::element_type::ARRAY:
      return "an array";
    case dom::element_type::STRING:
      return "a string";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      return "a number";
    case dom::element_type::BOOL:
      return "a boolean";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "a value";
}

std::string expected(const char* what, dom::element got) {
  return std::string("expected ") + what + ", got " + typeName(got);
}

std::optional<std::string> scalarText(dom::element value) {
  switch (value.type()) {
    case dom::element_type::STRING: {
      std::string_view s;
      if (value.get(s) != simdjson::SUCCESS) return std::nullopt;
      return std::string(s);
    }
    case dom::element_type::INT64: {
      int64_t n = 0;
      if (value.get(n) != simdjson::SUCCESS) return std::nullopt;
      return std::to_string(n);
    }
    case dom::element_type::UINT64: {
      uint64_t n = 0;
      if (value.get(n) != simdjson::SUCCESS) return std::nullopt;
      return std::to_string(n);
    }
    case dom::element_type::DOUBLE: {
      double d = 0;
      if (value.get(d) != simdjson::SUCCESS) return std::nullopt;
      return fmt::format("{}", d);
    }
    case dom::element_type::BOOL: {
      bool b = false;
      if (value.get(b) != simdjson::SUCCESS) return std::nullopt;
      return std::string(b ? "true" : "false");
    }
    default:
      return std::nullopt;
  }
}

std::optional<dom::element> member(dom::object object, std::string_view key) {
  dom::element value;
  if (object.at_key(key).get(value) != simdjson::SUCCESS) return std::nullopt;
  return value;
}

std::string joinPath(const std::string& base, std::string_view key) {
  if (base.empty()) return std::string(key);
  std::string out = base;
  out += '.';
  out += key;
  return out;
}

core::Result<std::optional<std::string_view>> optionalString(dom::object object,
                                                             std::string_view key,
                                                             const std::string& path) {
  auto value = member(object, key);
  if (!value || value->is_null()) return std::optional<std::string_view>();
  std::string_view s;
  if (value->get(s) != simdjson::SUCCESS)
    return invalid(joinPath(path, key) + ": " + expected("a string", *value));
  return std::optional<std::string_view>(s);
}

core::Result<std::string_view> requiredString(dom::object object, std::string_view key,
                                              const std::string& path) {
  auto value = member(object, key);
  if (!value)
    return invalid((path.empty() ? std::string("body") : path) + ": missing '" +
                   std::string(key) + "'");
  std::string_view s;
  if (value->get(s) != simdjson::SUCCESS)
    return invalid(joinPath(path, key) + ": " + expected("a string", *value));
  return s;
}

}  // namespace firebreak::sources::detail
