// The group-commit writer: one thread owns the write connection. Commit requests queue up;
// the thread takes everything queued (up to a batch limit) and runs it in one
// BEGIN IMMEDIATE ... COMMIT, each request in its own savepoint, so one fsync covers the batch
// and a failing request rolls back only itself.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon/core/asio.h"
#include "daemon/core/metrics.h"
#include "daemon/store/sqlite/connection.h"
#include "daemon/store/sqlite/write_tx.h"
#include "daemon/store/store.h"

namespace firebreak::store::sqlite {

// Receives a request's outcome, on the writer thread, once its transaction is durable or
// has failed. Called exactly once.
class Completion {
 public:
  virtual ~Completion() = default;
  virtual void complete(Status status) = 0;
};

// Completes an asio handler (a coroutine's use_awaitable) on the handler's own executor; the
// work guard keeps that executor's context running while the request waits in the queue.
template <typename Handler>
class HandlerCompletion final : public Completion {
 public:
  explicit HandlerCompletion(Handler handler)
      : handler_(std::move(handler)),
        work_(asio::make_work_guard(asio::get_associated_executor(handler_))) {}

  void complete(Status status) override {
    auto ex = work_.get_executor();
    asio::post(ex, [handler = std::move(handler_), status = std::move(status),
                    work = std::move(work_)]() mutable { handler(std::move(status)); });
  }

 private:
  Handler handler_;
  asio::executor_work_guard<asio::associated_executor_t<Handler>> work_;
};

struct WriterStats {
  uint64_t transactions = 0;         // BEGIN ... COMMIT attempts
  uint64_t failed_transactions = 0;  // BEGIN or COMMIT failed: the whole batch failed
  uint64_t requests = 0;             // commit requests processed
  uint64_t failed_requests = 0;      // requests that got an error
  uint64_t largest_batch = 0;        // most requests in one transaction
};

// Observed per committed transaction, when set.
struct WriterMetrics {
  core::Histogram* batch_size = nullptr;
  core::Histogram* commit_seconds = nullptr;
};

class Writer {
 public:
  using Fn = std::function<Status(WriteTx&)>;

  // Starts the thread; errors read "committing to <path>: ...".
  Writer(std::unique_ptr<Connection> conn, size_t max_batch, WriterMetrics metrics = {});
  // Runs everything still queued, then stops the thread.
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Queues fn; `done` gets its outcome. After stop() it fails at once (kUnavailable).
  void submit(Fn fn, std::unique_ptr<Completion> done);
  // Finishes what is queued and joins the thread; later submits fail.
  void stop();
  bool onWriterThread() const { return std::this_thread::get_id() == thread_.get_id(); }
  WriterStats stats() const;

 private:
  struct Request {
    Fn fn;
    std::unique_ptr<Completion> done;
    Status outcome;
  };

  void loop();
  void runBatch(std::vector<Request>& batch);
  // Runs batch[first..] in one transaction until done or SQLite ends the transaction on its
  // own; returns the index after the last request it settled.
  size_t runTransaction(std::vector<Request>& batch, size_t first);
  Status runRequest(Request& request);
  Status execCached(const std::string& sql);
  Error commitError(const Error& error) const;

  std::unique_ptr<Connection> conn_;
  SqliteWriteTx tx_;
  const size_t max_batch_;
  const WriterMetrics metrics_;
  const std::string label_;  // "committing to <path>: "

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> queue_;
  bool stopping_ = false;
  std::thread thread_;

  std::atomic<uint64_t> transactions_{0};
  std::atomic<uint64_t> failed_transactions_{0};
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> failed_requests_{0};
  std::atomic<uint64_t> largest_batch_{0};
};

}  // namespace firebreak::store::sqlite
