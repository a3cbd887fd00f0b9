// Helpers the renderers share: durations and times as people read them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "daemon/core/clock.h"
#include "daemon/report/report.h"

namespace firebreak::report::text {

// 850 ms, 12.3 s, 4 min 5 s, 2 h 3 min.
inline std::string duration(int64_t ms) {
  if (ms < 0) return "-" + duration(-ms);
  if (ms < 1000) return fmt::format("{} ms", ms);
  if (ms < 60'000) return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000.0);
  if (ms < 3'600'000) return fmt::format("{} min {} s", ms / 60'000, (ms / 1000) % 60);
  return fmt::format("{} h {} min", ms / 3'600'000, (ms / 60'000) % 60);
}

inline std::string duration(const std::optional<int64_t>& ms, const char* none) {
  return ms ? duration(*ms) : std::string(none);
}

inline std::string time(int64_t ms) { return ms > 0 ? core::formatTime(ms) : std::string("-"); }

inline std::string met(const Metric& m) {
  if (!m.met) return m.target_ms ? "not reached" : "-";
  return *m.met ? "yes" : "no";
}

inline std::string passed(const Objective& o) {
  if (!o.passed) return "not judged";
  return *o.passed ? "passed" : "failed";
}

inline std::string params(const core::Json& p) {
  if (p.is_object() && p.empty()) return "";
  return p.dump(-1, ' ', false, core::Json::error_handler_t::replace);
}

}  // namespace firebreak::report::text
