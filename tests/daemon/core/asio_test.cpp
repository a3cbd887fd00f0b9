#include "daemon/core/asio.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace firebreak::core {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

TEST(EventTest, SetBeforeWaitReturnsAtOnce) {
  asio::io_context io;
  Event ev(io.get_executor());
  ev.set();
  bool got = false;
  asio::co_spawn(io, [&]() -> awaitable<void> { got = co_await ev.wait(); }, asio::detached);
  io.run();
  EXPECT_TRUE(got);
  EXPECT_TRUE(ev.isSet());
}

TEST(EventTest, WaitEndsAtTheDeadlineWhenNeverSet) {
  asio::io_context io;
  Event ev(io.get_executor());
  std::optional<bool> got;
  asio::co_spawn(
      io, [&]() -> awaitable<void> { got = co_await ev.wait(steady_clock::now() + milliseconds(20)); },
      asio::detached);
  io.run();
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(*got);
}

// A finished call sets its event and drops the last reference to it before the posted set
// runs (a step that timed out no longer holds the call). This was a use-after-free.
TEST(EventTest, MayBeDestroyedRightAfterSet) {
  asio::io_context io;
  auto ev = std::make_shared<Event>(io.get_executor());
  ev->set();
  ev.reset();
  EXPECT_NO_FATAL_FAILURE(io.run());
}

TEST(EventTest, WakesEveryWaiter) {
  asio::io_context io;
  Event ev(io.get_executor());
  int woken = 0;
  for (int i = 0; i < 3; ++i) {
    asio::co_spawn(
        io, [&]() -> awaitable<void> { woken += co_await ev.wait() ? 1 : 0; }, asio::detached);
  }
  asio::post(io, [&] { ev.set(); });
  io.run();
  EXPECT_EQ(woken, 3);
}

TEST(OffloadTest, ReturnsTheValueAndRethrowsOnTheCallersExecutor) {
  asio::io_context io;
  asio::thread_pool pool(1);
  std::string value;
  std::string error;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        value = co_await offload(pool, [] { return std::string("from the pool"); });
        try {
          co_await offload(pool, []() -> int { throw std::runtime_error("boom"); });
        } catch (const std::exception& e) {
          error = e.what();
        }
      },
      asio::detached);
  io.run();
  pool.join();
  EXPECT_EQ(value, "from the pool");
  EXPECT_EQ(error, "boom");
}

}  // namespace
}  // namespace firebreak::core
