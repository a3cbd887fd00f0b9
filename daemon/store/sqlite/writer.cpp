#include "daemon/store/sqlite/writer.h"

#include <algorithm>
#include <chrono>
#include <exception>

namespace firebreak::store::sqlite {

Writer::Writer(std::unique_ptr<Connection> conn, size_t max_batch, WriterMetrics metrics)
    : conn_(std::move(conn)),
      tx_(*conn_),
      max_batch_(std::max<size_t>(max_batch, 1)),
      metrics_(metrics),
      label_("committing to " + conn_->path() + ": ") {
  thread_ = std::thread([this] { loop(); });
}

Writer::~Writer() { stop(); }

void Writer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Writer::submit(Fn fn, std::unique_ptr<Completion> done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back(Request{std::move(fn), std::move(done), {}});
      cv_.notify_one();
      return;
    }
  }
  done->complete(core::fail(ErrorCode::kUnavailable, label_ + "the store is closed"));
}

WriterStats Writer::stats() const {
  WriterStats out;
  out.transactions = transactions_.load();
  out.failed_transactions = failed_transactions_.load();
  out.requests = requests_.load();
  out.failed_requests = failed_requests_.load();
  out.largest_batch = largest_batch_.load();
  return out;
}

void Writer::loop() {
  std::vector<Request> batch;
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Stopping still drains the queue: a queued request was promised an answer.
      if (queue_.empty()) return;
      while (!queue_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    runBatch(batch);
    batch.clear();
  }
}

void Writer::runBatch(std::vector<Request>& batch) {
  size_t next = 0;
  while (next < batch.size()) next = runTransaction(batch, next);
  requests_ += batch.size();
  // Completions go out only now: every request's outcome is final (durable or failed).
  for (auto& request : batch) {
    if (!request.outcome) ++failed_requests_;
    request.done->complete(std::move(request.outcome));
  }
}

Status Writer::execCached(const std::string& sql) {
  auto query = Query::prepare(*conn_, sql, sql);
  if (!query) return core::fail(query.error());
  return query->run();
}

Error Writer::commitError(const Error& error) const { return prefixed(error, label_); }

Status Writer::runRequest(Request& request) {
  tx_.beginRequest();
  Status outcome;
  try {
    outcome = request.fn(tx_);
  } catch (const std::exception& e) {
    outcome = core::fail(ErrorCode::kInternal, label_ + "the commit function threw: " + e.what());
  } catch (...) {
    outcome = core::fail(ErrorCode::kInternal, label_ + "the commit function threw");
  }
  // A statement that failed fails the request even when the function carried on regardless:
  // its other writes may depend on the one that did not happen.
  if (outcome && tx_.firstError()) outcome = core::fail(*tx_.firstError());
  return outcome;
}

size_t Writer::runTransaction(std::vector<Request>& batch, size_t first) {
  static const std::string kBegin = "BEGIN IMMEDIATE";
  static const std::string kCommit = "COMMIT";
  static const std::string kRollback = "ROLLBACK";
  static const std::string kSavepoint = "SAVEPOINT request";
  static const std::string kRelease = "RELEASE request";
  static const std::string kRollbackTo = "ROLLBACK TO request";

  ++transactions_;
  const auto began = std::chrono::steady_clock::now();
  sqlite3* db = conn_->handle();
  // Everything from `first` to `last` (inclusive) fails with `error`, unless it already
  // failed with its own; used when the transaction as a whole is lost.
  auto failAll = [&](size_t last, const Error& error) {
    ++failed_transactions_;
    for (size_t i = first; i <= last && i < batch.size(); ++i)
      if (batch[i].outcome) batch[i].outcome = core::fail(error);
  };

  if (auto begun = execCached(kBegin); !begun) {
    failAll(batch.size() - 1, commitError(begun.error()));
    return batch.size();
  }
  for (size_t i = first; i < batch.size(); ++i) {
    Request& request = batch[i];
    Status settled;
    if (auto saved = execCached(kSavepoint); !saved) {
      request.outcome = core::fail(commitError(saved.error()));
    } else {
      request.outcome = runRequest(request);
      settled = request.outcome ? execCached(kRelease) : execCached(kRollbackTo);
      if (settled && !request.outcome) settled = execCached(kRelease);
    }
    if (sqlite3_get_autocommit(db)) {
      // SQLite ended the transaction itself (disk full, I/O error): the requests before
      // this one went with it. The rest of the batch gets a fresh transaction.
      Error lost = request.outcome ? commitError(conn_->error(SQLITE_ABORT, "transaction lost"))
                                   : request.outcome.error();
      request.outcome = core::fail(lost);
      failAll(i, lost);
      return i + 1;
    }
    if (!settled) {
      // The savepoint could not be undone: this request's writes may still be in the
      // transaction, so none of it may commit.
      (void)execCached(kRollback);
      Error error = commitError(settled.error());
      request.outcome = core::fail(error);
      failAll(i, error);
      return i + 1;
    }
  }
  if (auto committed = execCached(kCommit); !committed) {
    if (!sqlite3_get_autocommit(db)) (void)execCached(kRollback);
    failAll(batch.size() - 1, commitError(committed.error()));
    return batch.size();
  }
  uint64_t size = batch.size() - first;
  if (metrics_.batch_size) metrics_.batch_size->observe(static_cast<double>(size));
  if (metrics_.commit_seconds)
    metrics_.commit_seconds->observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
  uint64_t largest = largest_batch_.load();
  while (size > largest && !largest_batch_.compare_exchange_weak(largest, size)) {
  }
  return batch.size();
}

}  // namespace firebreak::store::sqlite
