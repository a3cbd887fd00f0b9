// Internal to daemon/sources: the capped simdjson parse every JSON source shares, and small
// helpers for reading a DOM with errors that name the field path. Not for other modules.
#pragma once

#include <simdjson.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/core/result.h"
#include "daemon/sources/parsed_request.h"

namespace firebreak::sources::detail {

namespace dom = simdjson::dom;

// Parses a webhook body into a simdjson DOM, after checking its size, with the depth capped
// (simdjson's DOM builder is iterative and stops at the cap: a million '[' cost no stack). The
// DOM validates the whole body, UTF-8 included. Elements stay valid while this object lives
// and until the next parse on the same thread.
class JsonDocument {
 public:
  core::Result<dom::element> parse(std::string_view body, const ParseOptions& options);

 private:
  std::unique_ptr<dom::parser> own_;  // for bodies too large for the reused per-thread parser
};

inline tl::unexpected<core::Error> invalid(std::string message) {
  return core::fail(core::ErrorCode::kInvalidArgument, std::move(message));
}

// "an object", "an array", "a string", "a number", "a boolean", "null".
const char* typeName(dom::element value);

// "expected a string, got a number"
std::string expected(const char* what, dom::element got);

// A string as is; an integer or a double in its shortest form; true/false. nullopt for null,
// objects and arrays.
std::optional<std::string> scalarText(dom::element value);

// The member `key` of `object`, or nullopt when it is absent.
std::optional<dom::element> member(dom::object object, std::string_view key);

// "alerts[0]" + "labels" -> "alerts[0].labels"; "" + "labels" -> "labels".
std::string joinPath(const std::string& base, std::string_view key);

// The string member `key`; nullopt when absent or null. Errors name the path.
core::Result<std::optional<std::string_view>> optionalString(dom::object object,
                                                             std::string_view key,
                                                             const std::string& path);
// The string member `key`: "body: missing 'status'", "alerts[0].status: expected a string, ...".
core::Result<std::string_view> requiredString(dom::object object, std::string_view key,
                                              const std::string& path);

}  // namespace firebreak::sources::detail
