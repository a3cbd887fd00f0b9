#include "daemon/drill/scheduler.h"

#include <chrono>
#include <set>

#include <spdlog/spdlog.h>

namespace firebreak::drill {

DrillScheduler::DrillScheduler(SchedulerHooks hooks, int64_t catch_up_grace_ms,
                               std::shared_ptr<spdlog::logger> log)
    : hooks_(std::move(hooks)),
      grace_ms_(catch_up_grace_ms),
      log_(log ? std::move(log) : spdlog::default_logger()) {}

std::vector<Decision> DrillScheduler::tick(const std::vector<DrillPtr>& drills, int64_t now_ms) {
  std::vector<Decision> out;
  std::set<std::string> present;
  for (const auto& d : drills) {
    if (!d->schedule) continue;
    present.insert(d->name);
    std::string expression = d->schedule->expression() + " " + d->schedule->timeZone();
    auto it = entries_.find(d->name);
    if (it == entries_.end() || it->second.expression != expression) {
      bool first_sight = it == entries_.end();
      Entry e{expression, d->schedule->next(now_ms)};
      // First seen since start-up: a run missed while the daemon was down, within the grace.
      if (first_sight) {
        if (auto last = hooks_.last_scheduled(d->name)) {
          if (auto missed = missedRun(*d->schedule, *last, now_ms, grace_ms_)) {
            if (hooks_.running(d->name)) {
              out.push_back({d->name, "skipped", *missed});
            } else {
              bool ok = hooks_.start(d, "catch-up", *missed);
              out.push_back({d->name, ok ? "caught-up" : "failed", *missed});
            }
          }
        }
      }
      entries_[d->name] = e;
      continue;
    }
    Entry& e = it->second;
    if (!e.next || now_ms < *e.next) continue;
    int64_t due = *e.next;
    if (hooks_.running(d->name)) {
      out.push_back({d->name, "skipped", due});
    } else {
      bool ok = hooks_.start(d, "schedule", due);
      out.push_back({d->name, ok ? "started" : "failed", due});
    }
    // Runs missed while this one was late (a stalled loop) are not made up: next from now.
    e.next = d->schedule->next(std::max(now_ms, due));
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (!present.count(it->first)) it = entries_.erase(it);
    else ++it;
  }
  for (const auto& dec : out) {
    if (dec.what == "skipped")
      log_->warn("drill '{}': scheduled run skipped, the previous run is still going", dec.drill);
    else if (dec.what == "failed")
      log_->error("drill '{}': scheduled run could not start", dec.drill);
  }
  return out;
}

std::optional<int64_t> DrillScheduler::nextRun(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  return it->second.next;
}

void DrillScheduler::runOn(asio::any_io_executor executor, const core::Clock& clock,
                           std::function<std::vector<DrillPtr>()> drills) {
  auto stopped = stopped_;
  auto loop = [this, executor, &clock, drills = std::move(drills),
               stopped]() -> core::awaitable<void> {
    asio::steady_timer timer(executor);
    while (!*stopped) {
      tick(drills(), clock.nowMs());
      timer.expires_after(std::chrono::seconds(1));
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(core::use_awaitable, ec));
    }
  };
  asio::co_spawn(executor, std::move(loop), asio::detached);
}

void DrillScheduler::stop() { *stopped_ = true; }

}  // namespace firebreak::drill
