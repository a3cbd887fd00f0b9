// Drill schedules: 5-field cron expressions and the @hourly-style macros, evaluated in a named
// time zone. Pure: the caller gives "now", so every rule is testable with any clock.
//
// The rules, as Vixie cron has them where they differ between crons:
//   - fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12 or jan-dec, day of week
//     0-7 or sun-sat (0 and 7 are Sunday); `*`, lists `a,b`, ranges `a-b`, steps `*/n` `a-b/n`;
//   - when both day of month and day of week are restricted, a day matching either runs;
//   - a local time the clocks skip (spring forward) runs at the moment of the jump; a local
//     time that happens twice (fall back) runs once, the first time.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/core/result.h"

namespace date {
class time_zone;
}

namespace firebreak::drill {

class CronSchedule {
 public:
  // "0 3 * * 1", "@daily", "*/15 9-17 * * mon-fri"; `time_zone` an IANA name ("Europe/Paris"),
  // "" or "UTC" for UTC. Errors (kInvalidArgument) name the field and what is wrong, with the
  // offset of the bad character in the expression: "field 2 (hour): 24 is not within 0-23".
  static core::Result<CronSchedule> parse(std::string_view expression,
                                          std::string_view time_zone = "UTC");

  // The first run strictly after `after_ms` (ms since the epoch, UTC); nullopt when there is
  // none within 10 years (a 31st of February).
  std::optional<int64_t> next(int64_t after_ms) const;

  const std::string& expression() const { return expression_; }
  const std::string& timeZone() const { return zone_name_; }

 private:
  std::string expression_;
  std::string zone_name_;
  const date::time_zone* zone_ = nullptr;  // null: UTC
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;      // 1-31
  std::bitset<13> months_;    // 1-12
  std::bitset<7> weekdays_;   // 0 (Sunday) - 6
  bool any_day_ = true;       // day of month was `*`
  bool any_weekday_ = true;   // day of week was `*`
};

// What runs on start for a drill whose last run is known: the run missed while the daemon was
// down, once, when it was due within `grace_ms` before `now_ms`; else nothing (the next run
// comes on its schedule).
std::optional<int64_t> missedRun(const CronSchedule& schedule, int64_t last_run_ms,
                                 int64_t now_ms, int64_t grace_ms);

}  // namespace firebreak::drill
