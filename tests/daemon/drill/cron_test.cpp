// Drill schedules with a given "now": field syntax and its errors, month ends, leap days,
// both day fields, the macros, and DST changes in named time zones.
#include "daemon/drill/cron.h"

#include <gtest/gtest.h>

#include <date/date.h>

#include <chrono>

namespace firebreak::drill {
namespace {

// "2026-03-29 01:30" (UTC) -> ms since the epoch.
int64_t utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  using namespace std::chrono;
  auto day = date::sys_days{date::year{y} / date::month{mo} / date::day{d}};
  return duration_cast<milliseconds>((day + hours(h) + minutes(mi)).time_since_epoch()).count();
}

std::string text(std::optional<int64_t> ms) {
  if (!ms) return "none";
  return date::format("%F %R", date::sys_time<std::chrono::minutes>(
                                   std::chrono::duration_cast<std::chrono::minutes>(
                                       std::chrono::milliseconds(*ms))));
}

CronSchedule cron(std::string_view expression, std::string_view zone = "UTC") {
  auto s = CronSchedule::parse(expression, zone);
  EXPECT_TRUE(s) << expression << ": " << (s ? "" : s.error().message());
  return s ? *s : *CronSchedule::parse("* * * * *");
}

// The next `n` runs after `from`, as UTC "YYYY-MM-DD HH:MM".
std::vector<std::string> runs(const CronSchedule& s, int64_t from, int n) {
  std::vector<std::string> out;
  for (auto t = s.next(from); t && n-- > 0; t = s.next(*t)) out.push_back(text(t));
  return out;
}

TEST(CronTest, NextIsStrictlyAfter) {
  auto s = cron("0 3 * * 1");  // Mondays 03:00, FORMATS.md's example
  EXPECT_EQ(text(s.next(utc(2026, 12, 7, 3, 0))), "2026-12-14 03:00");  // 7th is a Monday
  EXPECT_EQ(text(s.next(utc(2026, 12, 7, 2, 59))), "2026-12-07 03:00");
  EXPECT_EQ(text(s.next(utc(2026, 12, 7, 3, 0) - 1)), "2026-12-07 03:00");
}

TEST(CronTest, ListsRangesStepsAndNames) {
  EXPECT_EQ(runs(cron("*/20 9-10 * * *"), utc(2026, 1, 1), 7),
            (std::vector<std::string>{"2026-01-01 09:00", "2026-01-01 09:20", "2026-01-01 09:40",
                                      "2026-01-01 10:00", "2026-01-01 10:20", "2026-01-01 10:40",
                                      "2026-01-02 09:00"}));
  // Weekdays by name, either case; 2026-01-02 is a Friday.
  EXPECT_EQ(runs(cron("30 8 * * MON-fri"), utc(2026, 1, 2), 2),
            (std::vector<std::string>{"2026-01-02 08:30", "2026-01-05 08:30"}));
  EXPECT_EQ(runs(cron("0 0 1 jan,jul *"), utc(2026, 1, 2), 2),
            (std::vector<std::string>{"2026-07-01 00:00", "2027-01-01 00:00"}));
  EXPECT_EQ(runs(cron("5/20 0 * * *"), utc(2026, 1, 1), 3),  // from 5, every 20
            (std::vector<std::string>{"2026-01-01 00:05", "2026-01-01 00:25", "2026-01-01 00:45"}));
  EXPECT_EQ(runs(cron("0 12 * * 7"), utc(2026, 1, 1), 1),  // 7 is Sunday too
            std::vector<std::string>{"2026-01-04 12:00"});
}

TEST(CronTest, Macros) {
  const int64_t from = utc(2026, 2, 14, 10, 30);
  EXPECT_EQ(text(cron("@hourly").next(from)), "2026-02-14 11:00");
  EXPECT_EQ(text(cron("@daily").next(from)), "2026-02-15 00:00");
  EXPECT_EQ(text(cron("@midnight").next(from)), "2026-02-15 00:00");
  EXPECT_EQ(text(cron("@weekly").next(from)), "2026-02-15 00:00");  // a Sunday
  EXPECT_EQ(text(cron("@monthly").next(from)), "2026-03-01 00:00");
  EXPECT_EQ(text(cron("@yearly").next(from)), "2027-01-01 00:00");
  EXPECT_EQ(text(cron("@annually").next(from)), "2027-01-01 00:00");
}

TEST(CronTest, MonthEndsAndLeapDays) {
  // The 31st runs only in months that have one.
  EXPECT_EQ(runs(cron("0 0 31 * *"), utc(2026, 1, 31, 1), 3),
            (std::vector<std::string>{"2026-03-31 00:00", "2026-05-31 00:00", "2026-07-31 00:00"}));
  // February 29th: the next leap years.
  EXPECT_EQ(runs(cron("0 6 29 2 *"), utc(2026, 1, 1), 2),
            (std::vector<std::string>{"2028-02-29 06:00", "2032-02-29 06:00"}));
  // 2100 is not a leap year: from 2097 the next is 2104.
  EXPECT_EQ(text(cron("0 0 29 2 *").next(utc(2097, 1, 1))), "2104-02-29 00:00");
  // A day that never comes.
  EXPECT_EQ(cron("0 0 30 2 *").next(utc(2026, 1, 1)), std::nullopt);
}

TEST(CronTest, BothDayFieldsRestrictedMeansEither) {
  // The 13th, and every Friday (Vixie cron): 2026-02-13 is both; then the 20th, the 27th.
  EXPECT_EQ(runs(cron("0 0 13 * fri"), utc(2026, 2, 1), 4),
            (std::vector<std::string>{"2026-02-06 00:00", "2026-02-13 00:00", "2026-02-20 00:00",
                                      "2026-02-27 00:00"}));
  // One restricted, the other `*`: only the restricted one counts.
  EXPECT_EQ(runs(cron("0 0 13 * *"), utc(2026, 2, 1), 1),
            std::vector<std::string>{"2026-02-13 00:00"});
}

TEST(CronTest, LocalTimeInANamedZone) {
  // 03:00 in Paris is 02:00 UTC in winter, 01:00 in summer.
  auto s = cron("0 3 * * *", "Europe/Paris");
  EXPECT_EQ(text(s.next(utc(2026, 1, 10))), "2026-01-10 02:00");
  EXPECT_EQ(text(s.next(utc(2026, 7, 10))), "2026-07-10 01:00");
  EXPECT_EQ(s.timeZone(), "Europe/Paris");
}

TEST(CronTest, ASkippedLocalTimeRunsAtTheJump) {
  // Europe/Paris, 2026-03-29: 02:00 local becomes 03:00 (01:00 UTC); 02:30 never happens.
  auto s = cron("30 2 * * *", "Europe/Paris");
  EXPECT_EQ(runs(s, utc(2026, 3, 28, 12), 3),
            (std::vector<std::string>{"2026-03-29 01:00",    // the jump, once
                                      "2026-03-30 00:30",    // 02:30 CEST
                                      "2026-03-31 00:30"}));
  // New York, 2026-03-08: 02:00 EST becomes 03:00 EDT at 07:00 UTC.
  EXPECT_EQ(text(cron("15 2 * * *", "America/New_York").next(utc(2026, 3, 8))),
            "2026-03-08 07:00");
}

TEST(CronTest, ARepeatedLocalTimeRunsOnce) {
  // Europe/Paris, 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens at 00:30 and
  // at 01:30 UTC. It runs the first time only.
  auto s = cron("30 2 * * *", "Europe/Paris");
  EXPECT_EQ(runs(s, utc(2026, 10, 24, 12), 2),
            (std::vector<std::string>{"2026-10-25 00:30", "2026-10-26 01:30"}));
  // Asked between the two: the next is the next day's.
  EXPECT_EQ(text(s.next(utc(2026, 10, 25, 1, 0))), "2026-10-26 01:30");
  // Every 30 minutes through the change: each local time once, none skipped or doubled.
  EXPECT_EQ(runs(cron("*/30 * * * *", "Europe/Paris"), utc(2026, 10, 24, 23, 45), 5),
            (std::vector<std::string>{"2026-10-25 00:00", "2026-10-25 00:30", "2026-10-25 02:00",
                                      "2026-10-25 02:30", "2026-10-25 03:00"}));
}

TEST(CronTest, ErrorsNameTheFieldAndWhere) {
  auto error = [](std::string_view e, std::string_view zone = "UTC") {
    auto s = CronSchedule::parse(e, zone);
    return s ? std::string("parsed") : s.error().message();
  };
  EXPECT_EQ(error("0 24 * * *"), "field 2 (hour): 24 is not within 0-23 (at character 3)");
  EXPECT_EQ(error("0 0 * foo *"), "field 4 (month): 'foo' is not a month (at character 7)");
  EXPECT_EQ(error("*/0 * * * *"),
            "field 1 (minute): step '0' is not a number from 1 to 59 (at character 3)");
  EXPECT_EQ(error("0 5-3 * * *"), "field 2 (hour): range 5-3 runs backwards (at character 3)");
  EXPECT_EQ(error("0,,5 * * * *"), "field 1 (minute): an empty list item (at character 3)");
  EXPECT_EQ(error("0 0 * *"),
            "a schedule has 5 fields (minute hour day-of-month month day-of-week), not 4, or a "
            "macro like @daily");
  EXPECT_EQ(error("@fortnightly"),
            "unknown macro '@fortnightly' (@yearly, @annually, @monthly, @weekly, @daily, "
            "@midnight, @hourly)");
  EXPECT_EQ(error("0 0 * * *", "Mars/Olympus"),
            "unknown time zone 'Mars/Olympus' (an IANA name like Europe/Paris or "
            "America/New_York)");
}

TEST(CronTest, AMissedRunWithinGraceRunsOnceOnStart) {
  auto s = cron("0 3 * * *");
  const int64_t hour = 3'600'000;
  // Down from 02:00 to 03:30: the 03:00 run is 30 minutes late, within an hour's grace.
  EXPECT_EQ(text(missedRun(s, utc(2026, 5, 1, 2), utc(2026, 5, 1, 3, 30), hour)),
            "2026-05-01 03:00");
  // Down for three days: only the latest missed run, and only when within grace.
  EXPECT_EQ(text(missedRun(s, utc(2026, 5, 1, 2), utc(2026, 5, 4, 3, 30), hour)),
            "2026-05-04 03:00");
  EXPECT_EQ(missedRun(s, utc(2026, 5, 1, 2), utc(2026, 5, 4, 5, 0), hour), std::nullopt);
  // It ran at 03:00 already: nothing is missed.
  EXPECT_EQ(missedRun(s, utc(2026, 5, 1, 3), utc(2026, 5, 1, 3, 30), hour), std::nullopt);
}

}  // namespace
}  // namespace firebreak::drill
