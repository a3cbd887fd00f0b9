// Time, injected: every component asks a Clock, so tests can run on a FakeClock.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace firebreak::core {

using TimePoint = std::chrono::system_clock::time_point;
using Millis = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  int64_t nowMs() const { return toMs(now()); }

  static int64_t toMs(TimePoint t) {
    return std::chrono::duration_cast<Millis>(t.time_since_epoch()).count();
  }
  static TimePoint fromMs(int64_t ms) { return TimePoint(Millis(ms)); }
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
};

// RFC 3339 in UTC with milliseconds: 2026-11-23T01:54:45.123Z
std::string formatTime(int64_t ms);

}  // namespace firebreak::core
