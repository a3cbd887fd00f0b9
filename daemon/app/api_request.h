// Strict reading of management API requests: a JSON body must be an object no deeper and no
// larger than a small bound, with only the fields the route knows and each of the right type;
// a query string holds only the parameters the route knows, each once. Failures carry the
// status and the field, answered as {"error": "...", "field": "..."}.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "daemon/core/json.h"

namespace firebreak::app {

struct ApiError {
  unsigned status = 400;
  std::string message;
  std::string field;  // "" when no one field is at fault
};

template <typename T>
using ApiResult = tl::expected<T, ApiError>;

inline tl::unexpected<ApiError> apiError(unsigned status, std::string message,
                                         std::string field = "") {
  return tl::unexpected(ApiError{status, std::move(message), std::move(field)});
}

// {"error": message, "field": field or null}
core::Json errorBody(const ApiError& error);

constexpr size_t kMaxApiBody = 64 << 10;
constexpr int kMaxApiDepth = 16;

// An empty body reads as {}. Over kMaxApiBody: 413; not JSON, not an object, nested deeper
// than kMaxApiDepth, or a field not in `allowed`: 400.
ApiResult<core::Json> parseBody(std::string_view body, const std::vector<std::string>& allowed);

// "a=1&b=x%20y" (percent and '+' decoded). Unknown or repeated parameters: 400.
ApiResult<std::map<std::string, std::string>> parseQuery(std::string_view query,
                                                         const std::vector<std::string>& allowed);

// Percent-decoding of one path segment or query part; nullopt for a bad escape.
std::optional<std::string> percentDecode(std::string_view text, bool plus_is_space);

// Typed fields of a parsed body; absent optional fields give the default.
ApiResult<std::string> stringField(const core::Json& body, const std::string& name, bool required,
                                   size_t max_bytes = 1024);
ApiResult<bool> boolField(const core::Json& body, const std::string& name, bool fallback);
ApiResult<core::Json> objectField(const core::Json& body, const std::string& name);

// A positive whole number from a query parameter, at most `max`.
ApiResult<int> intParam(const std::map<std::string, std::string>& query, const std::string& name,
                        int fallback, int max);

}  // namespace firebreak::app
