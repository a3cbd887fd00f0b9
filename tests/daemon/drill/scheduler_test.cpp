// The drill scheduler's decisions on a given clock: due runs start, a run still going makes
// the next one skip (no overlap), a run missed while the daemon was down is caught up once
// within the grace period and not after it, and a changed schedule is taken from now.
#include "daemon/drill/scheduler.h"

#include <gtest/gtest.h>

#include <date/date.h>

#include <set>

namespace firebreak::drill {
namespace {

int64_t utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  using namespace std::chrono;
  auto day = date::sys_days{date::year{y} / date::month{mo} / date::day{d}};
  return duration_cast<milliseconds>((day + hours(h) + minutes(mi) + seconds(s)).time_since_epoch())
      .count();
}

DrillPtr drill(const std::string& name, const std::string& cron, const std::string& tz = "UTC") {
  auto d = std::make_shared<Drill>();
  d->name = name;
  auto s = CronSchedule::parse(cron, tz);
  EXPECT_TRUE(s) << s.error().message();
  d->schedule = *s;
  return d;
}

struct Harness {
  std::vector<std::tuple<std::string, std::string, int64_t>> started;
  std::set<std::string> running;
  std::map<std::string, int64_t> last;
  DrillScheduler scheduler;

  explicit Harness(int64_t grace_ms)
      : scheduler(
            SchedulerHooks{
                [this](const DrillPtr& d, const std::string& trigger, int64_t at) {
                  started.emplace_back(d->name, trigger, at);
                  return true;
                },
                [this](const std::string& n) { return running.count(n) > 0; },
                [this](const std::string& n) -> std::optional<int64_t> {
                  auto it = last.find(n);
                  if (it == last.end()) return std::nullopt;
                  return it->second;
                }},
            grace_ms) {}
};

constexpr int64_t kHour = 3'600'000;

TEST(DrillScheduler, StartsEachDueRunOnceAtItsTime) {
  Harness h(kHour);
  std::vector<DrillPtr> drills{drill("hourly", "@hourly")};
  auto t0 = utc(2026, 12, 1, 10, 15);
  EXPECT_TRUE(h.scheduler.tick(drills, t0).empty());  // first sight: computes the next run
  EXPECT_EQ(h.scheduler.nextRun("hourly"), utc(2026, 12, 1, 11, 0));
  EXPECT_TRUE(h.scheduler.tick(drills, utc(2026, 12, 1, 10, 59, 59)).empty());
  auto d = h.scheduler.tick(drills, utc(2026, 12, 1, 11, 0, 0));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].what, "started");
  EXPECT_EQ(d[0].scheduled_ms, utc(2026, 12, 1, 11, 0));
  // The same second again, and a second later: nothing more.
  EXPECT_TRUE(h.scheduler.tick(drills, utc(2026, 12, 1, 11, 0, 0)).empty());
  EXPECT_TRUE(h.scheduler.tick(drills, utc(2026, 12, 1, 11, 0, 1)).empty());
  EXPECT_EQ(h.scheduler.nextRun("hourly"), utc(2026, 12, 1, 12, 0));
  ASSERT_EQ(h.started.size(), 1u);
  EXPECT_EQ(std::get<1>(h.started[0]), "schedule");
}

TEST(DrillScheduler, NeverOverlapsARunStillGoing) {
  Harness h(kHour);
  std::vector<DrillPtr> drills{drill("slow", "*/5 * * * *")};
  h.scheduler.tick(drills, utc(2026, 12, 1, 10, 1));
  h.running.insert("slow");
  auto d = h.scheduler.tick(drills, utc(2026, 12, 1, 10, 5));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].what, "skipped");
  EXPECT_TRUE(h.started.empty());
  // Skipped, not queued: the next one is the next slot.
  EXPECT_EQ(h.scheduler.nextRun("slow"), utc(2026, 12, 1, 10, 10));
  h.running.clear();
  d = h.scheduler.tick(drills, utc(2026, 12, 1, 10, 10));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].what, "started");
}

TEST(DrillScheduler, CatchesUpAMissedRunOnceWithinTheGrace) {
  Harness h(kHour);
  std::vector<DrillPtr> drills{drill("daily", "0 3 * * *")};
  h.last["daily"] = utc(2026, 11, 30, 3, 0);
  // Down from before 03:00 until 03:40: the 03:00 run is 40 minutes late, within an hour.
  auto d = h.scheduler.tick(drills, utc(2026, 12, 1, 3, 40));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].what, "caught-up");
  EXPECT_EQ(d[0].scheduled_ms, utc(2026, 12, 1, 3, 0));
  ASSERT_EQ(h.started.size(), 1u);
  EXPECT_EQ(std::get<1>(h.started[0]), "catch-up");
  // Once: later ticks wait for tomorrow's run.
  EXPECT_TRUE(h.scheduler.tick(drills, utc(2026, 12, 1, 3, 41)).empty());
  EXPECT_EQ(h.scheduler.nextRun("daily"), utc(2026, 12, 2, 3, 0));
}

TEST(DrillScheduler, NoCatchUpBeyondTheGraceOrWithoutHistory) {
  Harness late(kHour);
  std::vector<DrillPtr> drills{drill("daily", "0 3 * * *")};
  late.last["daily"] = utc(2026, 11, 30, 3, 0);
  EXPECT_TRUE(late.scheduler.tick(drills, utc(2026, 12, 1, 4, 30)).empty());  // 90 min late
  EXPECT_TRUE(late.started.empty());

  Harness never(kHour);  // never ran: nothing is "missed"
  EXPECT_TRUE(never.scheduler.tick(drills, utc(2026, 12, 1, 3, 30)).empty());

  Harness off(0);  // grace 0: catch-up is off
  off.last["daily"] = utc(2026, 11, 30, 3, 0);
  EXPECT_TRUE(off.scheduler.tick(drills, utc(2026, 12, 1, 3, 1)).empty());
}

TEST(DrillScheduler, MissedRunsCollapseIntoOne) {
  Harness h(24 * kHour);
  std::vector<DrillPtr> drills{drill("hourly", "@hourly")};
  h.last["hourly"] = utc(2026, 12, 1, 1, 0);
  // Down for five runs: one catch-up, for the newest missed one.
  auto d = h.scheduler.tick(drills, utc(2026, 12, 1, 6, 30));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].scheduled_ms, utc(2026, 12, 1, 6, 0));
}

TEST(DrillScheduler, FollowsItsTimeZoneAcrossDst) {
  Harness h(kHour);
  // 02:30 in Paris does not exist on 2027-03-28: it runs at the jump (01:00 UTC).
  std::vector<DrillPtr> drills{drill("paris", "30 2 * * *", "Europe/Paris")};
  h.scheduler.tick(drills, utc(2027, 3, 27, 12, 0));
  EXPECT_EQ(h.scheduler.nextRun("paris"), utc(2027, 3, 28, 1, 0));
}

TEST(DrillScheduler, AChangedScheduleCountsFromNowAndRemovedDrillsAreForgotten) {
  Harness h(kHour);
  h.scheduler.tick({drill("d", "0 3 * * *")}, utc(2026, 12, 1, 10, 0));
  EXPECT_EQ(h.scheduler.nextRun("d"), utc(2026, 12, 2, 3, 0));
  h.scheduler.tick({drill("d", "0 12 * * *")}, utc(2026, 12, 1, 10, 0));
  EXPECT_EQ(h.scheduler.nextRun("d"), utc(2026, 12, 1, 12, 0));
  h.scheduler.tick({}, utc(2026, 12, 1, 10, 1));
  EXPECT_FALSE(h.scheduler.nextRun("d"));
  EXPECT_TRUE(h.started.empty());
}

}  // namespace
}  // namespace firebreak::drill
