#include "daemon/app/systemd_notify.h"

#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

namespace firebreak::app {

struct SystemdNotifier::Watchdog {
  explicit Watchdog(asio::any_io_executor ex) : timer(ex) {}
  asio::steady_timer timer;
  bool stopped = false;  // only touched on the timer's executor
};

namespace {

// STATUS= is one line: no newline may end the assignment early or add another.
std::string oneLine(std::string text) {
  for (char& ch : text) {
    if (ch == '\n' || ch == '\r') ch = ' ';
  }
  return text;
}

core::awaitable<void> watchdogLoop(std::shared_ptr<SystemdNotifier::Watchdog> loop,
                                   std::chrono::steady_clock::duration period) {
  while (!loop->stopped) {
    sd_notify(0, "WATCHDOG=1");
    loop->timer.expires_after(period);
    boost::system::error_code ec;
    co_await loop->timer.async_wait(asio::redirect_error(core::use_awaitable, ec));
  }
}

}  // namespace

SystemdNotifier::SystemdNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && *socket != '\0';
  if (!enabled_) return;
  uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID, if set, is this process.
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) watchdog_ = std::chrono::microseconds(usec);
}

SystemdNotifier::~SystemdNotifier() {
  if (auto loop = watchdog_loop_) {
    asio::post(loop->timer.get_executor(), [loop] {
      loop->stopped = true;
      loop->timer.cancel();
    });
  }
}

void SystemdNotifier::send(const std::string& state) {
  if (!enabled_) return;
  int rc = sd_notify(0, state.c_str());
  if (rc < 0) spdlog::default_logger()->warn("systemd notify failed: error {}", -rc);
}

void SystemdNotifier::ready(const std::string& status) {
  send("READY=1\nSTATUS=" + oneLine(status));
}

void SystemdNotifier::stopping(const std::string& status) {
  send("STOPPING=1\nSTATUS=" + oneLine(status));
}

void SystemdNotifier::reloading(const std::string& status) {
  send("RELOADING=1\nSTATUS=" + oneLine(status));
}

void SystemdNotifier::status(const std::string& status) { send("STATUS=" + oneLine(status)); }

void SystemdNotifier::startWatchdog(asio::any_io_executor executor) {
  if (!enabled_ || watchdog_.count() == 0 || watchdog_loop_) return;
  watchdog_loop_ = std::make_shared<Watchdog>(executor);
  // Half the interval, as sd_watchdog_enabled(3) advises: one late tick is not yet a restart.
  auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(watchdog_ / 2);
  asio::co_spawn(executor, watchdogLoop(watchdog_loop_, period), asio::detached);
}

}  // namespace firebreak::app
