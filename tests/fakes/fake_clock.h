#pragma once

#include <atomic>

#include "daemon/core/clock.h"

namespace firebreak::testing {

class FakeClock final : public core::Clock {
 public:
  explicit FakeClock(int64_t start_ms = 1'795'000'000'000) : ms_(start_ms) {}
  core::TimePoint now() const override { return fromMs(ms_.load()); }
  void advance(std::chrono::milliseconds d) { ms_ += d.count(); }
  void set(int64_t ms) { ms_ = ms; }

 private:
  std::atomic<int64_t> ms_;
};

}  // namespace firebreak::testing
