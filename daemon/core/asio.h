// Boost.Asio for coroutines, and the two helpers every async module needs:
// offload() runs blocking work on a pool and resumes the coroutine on its own executor;
// Event lets one coroutine wake others (Boost 1.74 has no channels or cancellation slots).
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>

// GCC 12 miscompiles two coroutine forms, destroying a temporary twice (a double free):
// - a lambda with non-trivially-destructible captures (strings, shared_ptr, Json) as a
//   temporary inside a `co_await` expression: name the lambda and std::move it in, or capture
//   only references and pointers;
// - `co_await` inside a conditional expression (`p ? co_await a() : co_await b()`): use if/else.
// scripts/check-coroutines.py (a ctest) finds both.

namespace firebreak {
namespace asio = boost::asio;
}

namespace firebreak::core {

using asio::awaitable;
using asio::use_awaitable;

namespace detail {
template <typename F, typename R = std::invoke_result_t<F>>
struct OffloadOp {
  asio::thread_pool* pool;
  F fn;
  template <typename Handler>
  void operator()(Handler handler) {
    auto work = asio::make_work_guard(asio::get_associated_executor(handler));
    asio::post(*pool, [h = std::move(handler), work = std::move(work), fn = std::move(fn)]() mutable {
      std::exception_ptr error;
      std::optional<R> value;
      try {
        value.emplace(fn());
      } catch (...) {
        error = std::current_exception();
      }
      auto ex = work.get_executor();
      asio::post(ex, [h = std::move(h), error, value = std::move(value)]() mutable {
        h(error, value ? std::move(*value) : R{});
      });
    });
  }
};
}  // namespace detail

// Runs fn() on `pool` (for blocking work: SQLite, processes, compression, libcurl) and
// resumes the awaiting coroutine on its own executor with fn's result. R must be default
// constructible and movable; fn's exceptions are rethrown in the coroutine.
template <typename F>
auto offload(asio::thread_pool& pool, F fn) -> awaitable<std::invoke_result_t<F>> {
  using R = std::invoke_result_t<F>;
  static_assert(!std::is_void_v<R>, "offload() needs a value; return a Status");
  co_return co_await asio::async_initiate<decltype(use_awaitable), void(std::exception_ptr, R)>(
      detail::OffloadOp<F>{&pool, std::move(fn)}, use_awaitable);
}

// A one-shot event: wait() returns once set() has been called (before or after the wait).
// set() is safe from any thread; waiters run on the executor given at construction. The state
// is shared with what set() posts and with waiting coroutines, so the Event itself may be
// destroyed right after set() (a finished call dropping the last reference to its result).
class Event {
 public:
  explicit Event(asio::any_io_executor ex) : state_(std::make_shared<State>(ex)) {}
  void set() {
    asio::post(state_->timer.get_executor(), [state = state_] {
      state->set = true;
      state->timer.cancel();
    });
  }
  bool isSet() const { return state_->set; }
  // Waits until set(), or until `deadline`; returns whether it was set.
  awaitable<bool> wait(std::chrono::steady_clock::time_point deadline =
                           std::chrono::steady_clock::time_point::max()) {
    auto state = state_;
    while (!state->set) {
      asio::steady_timer timer(state->timer.get_executor());
      if (deadline != std::chrono::steady_clock::time_point::max()) {
        // Wake on either: a second timer cancels the shared one at the deadline.
        timer.expires_at(deadline);
        timer.async_wait([state](boost::system::error_code ec) {
          if (!ec) state->timer.cancel();
        });
      }
      boost::system::error_code ec;
      co_await state->timer.async_wait(asio::redirect_error(use_awaitable, ec));
      timer.cancel();
      if (state->set) break;
      // The shared timer keeps its expiry at max: re-arming it would cancel other waiters.
      if (std::chrono::steady_clock::now() >= deadline) co_return false;
    }
    co_return true;
  }

 private:
  struct State {
    explicit State(asio::any_io_executor ex) : timer(ex) {
      timer.expires_at(std::chrono::steady_clock::time_point::max());
    }
    asio::steady_timer timer;
    bool set = false;
  };
  std::shared_ptr<State> state_;
};

// Set when whoever started an operation gives up on it (step timeout, run abort, shutdown).
// Actions that can stop early (a child process, a transfer, a wait) check it.
class CancelFlag {
 public:
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

 private:
  std::atomic<bool> cancelled_{false};
};

// Sleeps for `d` unless the flag is set; checks the flag every 50 ms.
awaitable<void> sleepFor(std::chrono::milliseconds d, const CancelFlag* flag = nullptr);

}  // namespace firebreak::core
