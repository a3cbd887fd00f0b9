// Small helpers shared by the built-in providers: messages, parameter reading, text hygiene.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/action.h"

namespace firebreak::actions::builtin {

// "<action>: <what> (step <id>, attempt <n>)": every result message names all three.
std::string describe(const core::ActionRequest& request, std::string_view action,
                     std::string_view what);

// A string still holding a template. validate() may see params before rendering; such values
// are checked again once rendered, so semantic checks skip them.
bool isTemplate(const core::Json& value);

// Replaces invalid UTF-8 with U+FFFD. Process output and HTTP bodies are arbitrary bytes, and
// nlohmann::json throws when it dumps a string that is not UTF-8.
std::string toValidUtf8(std::string_view bytes);

// The last non-empty line, trimmed and cut to `max` bytes (for "exited 1: <last stderr line>").
std::string lastLine(std::string_view text, size_t max = 200);

int64_t elapsedMs(std::chrono::steady_clock::time_point start);

// "a b" -> 'a b'; plain words stay as they are. For plans and messages, never for a shell.
std::string shellQuote(std::string_view word);

// A string parameter, or `fallback` when absent or null.
std::string stringParam(const core::Json& params, std::string_view name,
                        std::string_view fallback = {});
// A duration parameter ("30s"); `fallback` when absent. Errors name the parameter.
core::Result<std::chrono::milliseconds> durationParam(const core::Json& params,
                                                      std::string_view name,
                                                      std::chrono::milliseconds fallback);
// A duration as the playbook wrote it ("60s", not "1m"), for plans and messages; `value` formatted
// when the parameter is absent.
std::string durationText(const core::Json& params, std::string_view name,
                         std::chrono::milliseconds value);
// A non-negative integer parameter no greater than `max`.
core::Result<int64_t> sizeParam(const core::Json& params, std::string_view name, int64_t fallback,
                                int64_t max);
// A string map parameter as ordered pairs ({} when absent).
core::Result<std::vector<std::pair<std::string, std::string>>> stringMapParam(
    const core::Json& params, std::string_view name);
// An int-or-int-list of HTTP statuses; nullopt when absent. Each must be 100..599.
core::Result<std::optional<std::vector<int>>> statusListParam(const core::Json& params,
                                                              std::string_view name);

// http:// or https:// with a host, no spaces or control characters. `what` names the value.
core::Status checkHttpUrl(std::string_view url, std::string_view what);
// scheme://host/... with path and query removed: for messages about a URL that may carry a
// token in its path (webhook URLs do).
std::string redactUrl(std::string_view url);
// Header names are HTTP tokens; values must not hold CR, LF or NUL (header injection).
core::Status checkHeader(std::string_view name, std::string_view value);

// Removes every occurrence of each non-empty secret from `text` (defence in depth for messages
// built from library errors).
std::string scrub(std::string text, const std::vector<std::string>& secrets);

}  // namespace firebreak::actions::builtin
