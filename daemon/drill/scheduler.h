// Runs drills on their schedules. The decisions (tick) are separate from time and from the
// runner, so that unit tests drive them with any clock: a due drill starts unless a run of it
// is still going (runs never overlap: that one is skipped, and said so); a run missed while
// the daemon was down runs once at start-up when it was due within the grace period.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "daemon/core/asio.h"
#include "daemon/core/clock.h"
#include "daemon/drill/model.h"

namespace firebreak::drill {

struct SchedulerHooks {
  // Starts a run of the drill (trigger "schedule" or "catch-up"); false when it could not.
  std::function<bool(const DrillPtr&, const std::string& trigger, int64_t scheduled_ms)> start;
  std::function<bool(const std::string& name)> running;
  // The scheduled time of the drill's newest scheduled (or caught-up) run, if any.
  std::function<std::optional<int64_t>(const std::string& name)> last_scheduled;
};

struct Decision {
  std::string drill;
  std::string what;  // "started" | "caught-up" | "skipped" (still running) | "failed"
  int64_t scheduled_ms = 0;
};

class DrillScheduler {
 public:
  DrillScheduler(SchedulerHooks hooks, int64_t catch_up_grace_ms,
                 std::shared_ptr<spdlog::logger> log = nullptr);

  // Everything due at `now_ms` for this set of drills (drills no longer in it are forgotten;
  // a changed schedule is taken up from now).
  std::vector<Decision> tick(const std::vector<DrillPtr>& drills, int64_t now_ms);
  // When the drill runs next (nullopt: not scheduled, or not seen by tick() yet).
  std::optional<int64_t> nextRun(const std::string& name) const;
  // Ticks every second on the executor until stop().
  void runOn(asio::any_io_executor executor, const core::Clock& clock,
             std::function<std::vector<DrillPtr>()> drills);
  void stop();

 private:
  struct Entry {
    std::string expression;  // the schedule and time zone it was computed for
    std::optional<int64_t> next;
  };
  SchedulerHooks hooks_;
  int64_t grace_ms_;
  std::shared_ptr<spdlog::logger> log_;
  std::map<std::string, Entry> entries_;
  std::shared_ptr<bool> stopped_ = std::make_shared<bool>(false);
};

}  // namespace firebreak::drill
