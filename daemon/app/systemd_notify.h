// The daemon's side of systemd's notify protocol (Type=notify): READY=1 once it serves,
// STOPPING=1 when it starts shutting down, STATUS= lines, and WATCHDOG=1 keep-alives sent from
// the io_context, so an event loop that stops turning stops them and systemd restarts the
// daemon. Without NOTIFY_SOCKET (not run by systemd) every call does nothing.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "daemon/core/asio.h"

namespace firebreak::app {

class SystemdNotifier {
 public:
  // Reads NOTIFY_SOCKET and WATCHDOG_USEC (and WATCHDOG_PID) as libsystemd does.
  SystemdNotifier();
  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  bool enabled() const { return enabled_; }
  // Zero when systemd asked for no watchdog.
  std::chrono::microseconds watchdogInterval() const { return watchdog_; }

  void ready(const std::string& status);
  void stopping(const std::string& status);
  void reloading(const std::string& status);
  void status(const std::string& status);

  // Sends WATCHDOG=1 at half the interval systemd gave, from a timer on `executor` (the
  // io_context's, so a blocked loop is what misses the deadline). Stops with the notifier.
  void startWatchdog(asio::any_io_executor executor);

 private:
  void send(const std::string& state);

 public:
  struct Watchdog;

 private:
  bool enabled_ = false;
  std::chrono::microseconds watchdog_{0};
  std::shared_ptr<Watchdog> watchdog_loop_;
};

}  // namespace firebreak::app
