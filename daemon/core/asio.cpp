#include "daemon/core/asio.h"

namespace firebreak::core {

awaitable<void> sleepFor(std::chrono::milliseconds d, const CancelFlag* flag) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
    if (flag && flag->cancelled()) co_return;
    auto next = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
    timer.expires_at(flag ? std::min(next, end) : end);
    co_await timer.async_wait(use_awaitable);
  }
}

}  // namespace firebreak::core
