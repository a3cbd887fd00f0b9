// Feeds arbitrary bytes to the Alertmanager source (as a body, with the default caps and with
// tiny ones) and to the RFC 3339 parser. Any crash, sanitizer report, hang, exception or broken
// invariant below is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon/core/alert.h"
#include "daemon/sources/alertmanager.h"

namespace {

using firebreak::core::Alert;
using firebreak::core::ErrorCode;
using firebreak::core::Json;
using firebreak::sources::ParseOptions;

// Messages go to HTTP answers and logs as JSON: they must be valid UTF-8 (dump throws if not).
void checkMessage(const std::string& message) {
  if (message.empty()) std::abort();
  (void)Json(message).dump();
}

void checkAlert(const Alert& a) {
  if (a.status != "firing" && a.status != "resolved") std::abort();
  if (a.fingerprint.empty() || a.source != "am" || a.source_type != "alertmanager") std::abort();
  if (a.identity().empty()) std::abort();
  // Every time the parser accepted formats and reads back to the same millisecond.
  auto start = firebreak::core::parseRfc3339Ms(firebreak::core::formatRfc3339Ms(a.starts_at_ms));
  if (!start || *start != a.starts_at_ms) std::abort();
  if (a.ends_at_ms) {
    auto end = firebreak::core::parseRfc3339Ms(firebreak::core::formatRfc3339Ms(*a.ends_at_ms));
    if (!end || *end != *a.ends_at_ms) std::abort();
  }
  (void)a.toJson().dump();  // every string is valid UTF-8
}

void run(std::string_view body, const ParseOptions& options) {
  auto parsed = firebreak::sources::parseAlertmanager(body, "am", options);
  if (!parsed) {
    if (parsed.error().code() != ErrorCode::kInvalidArgument) std::abort();
    checkMessage(parsed.error().message());
    return;
  }
  if (body.size() > options.max_body_bytes || parsed->truncated_alerts < 0) std::abort();
  for (const auto& alert : parsed->alerts) {
    checkAlert(alert);
    if (alert.group_key != parsed->group_key) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  run(text, ParseOptions{});
  run(text, ParseOptions{.max_body_bytes = 512, .max_depth = 4, .received_at_ms = 0});

  auto ms = firebreak::core::parseRfc3339Ms(text);
  if (ms) {
    auto back = firebreak::core::parseRfc3339Ms(firebreak::core::formatRfc3339Ms(*ms));
    if (!back || *back != *ms) std::abort();
  } else {
    if (ms.error().code() != ErrorCode::kInvalidArgument) std::abort();
    checkMessage(ms.error().message());
  }
  return 0;
}
