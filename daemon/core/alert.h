// Alert: the normalized alert every source parser produces and the only type crossing intake.
// Also the RFC 3339 helpers the parsers and the templates share.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/core/json.h"
#include "daemon/core/result.h"

namespace firebreak::core {

struct Alert {
  std::string source;       // the config source name (POST /hooks/<source>)
  std::string source_type;  // "alertmanager", "generic", ...
  std::string name;         // alertname
  std::string status;       // "firing" | "resolved"
  std::map<std::string, std::string> labels, annotations;
  std::string severity;
  std::string fingerprint;            // the sender's identity for this alert (its label set)
  int64_t starts_at_ms = 0;           // 0: not known (a generic body without a start time)
  std::optional<int64_t> ends_at_ms;  // nullopt: not ended / not known
  std::string generator_url;
  std::string group_key;  // the sender's group ("" when the sender has none)
  bool drill = false;     // injected by a drill, not sent by a monitoring tool

  // The dedup identity of the alert: source, start and fingerprint. Repeats and retries of one
  // notification give the same identity, and so does the alert's resolution: the status is not
  // part of it (dedup compares the status stored beside the identity, so a resolution is news
  // once and its repeats are not). A new firing of the same label set (a new startsAt) is
  // another alert. Format: "<source>/<starts_at_ms>/<fingerprint>", with '%' and '/' in the
  // source percent-encoded so that the string is unambiguous.
  std::string identity() const;

  // The `alert` root that templates and expressions read:
  // {name, status, labels, annotations, severity, fingerprint, starts_at (RFC 3339, null when
  //  0), ends_at (RFC 3339 or null), generator_url, source, source_type, group_key, drill}.
  Json toJson() const;
};

// Go's zero time.Time, 0001-01-01T00:00:00Z, in milliseconds since the Unix epoch. Alertmanager
// sends it as endsAt of every firing alert: it means "no time".
inline constexpr int64_t kZeroTimeMs = -62'135'596'800'000;

// Parses an RFC 3339 date-time, "2026-11-23T01:54:45.123456789Z" or "...+02:00", to
// milliseconds since the Unix epoch (UTC). Fractional seconds of any length are truncated to
// milliseconds; 't' and 'z' are accepted as well; the offset is required. Errors
// (kInvalidArgument) read "not an RFC 3339 time: '<text>'" (plus why, when a part is out of
// range), for the caller to prefix with the field it read.
Result<int64_t> parseRfc3339Ms(std::string_view text);

// As parseRfc3339Ms, but the zero time (in any offset) gives nullopt.
Result<std::optional<int64_t>> parseRfc3339OptionalMs(std::string_view text);

// UTC, "2026-11-23T01:54:45Z", or with exactly three fraction digits when the milliseconds
// are not zero ("2026-11-23T02:00:57.114Z"). parseRfc3339Ms reads it back unchanged for every
// value it can produce (years 0000-9999).
std::string formatRfc3339Ms(int64_t ms);

// `value` in single quotes for an error message: control characters and quotes escaped,
// cut to `max_chars` with "..." so that a hostile body cannot make the message huge.
std::string quoteForMessage(std::string_view value, size_t max_chars = 80);

}  // namespace firebreak::core
