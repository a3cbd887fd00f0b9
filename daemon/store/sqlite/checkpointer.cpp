#include "daemon/store/sqlite/checkpointer.h"

#include <algorithm>

namespace firebreak::store::sqlite {

Checkpointer::Checkpointer(std::unique_ptr<Connection> conn, std::chrono::milliseconds interval,
                           int64_t wal_bytes, int64_t page_size)
    : conn_(std::move(conn)),
      interval_(interval),
      wal_pages_(std::max<int64_t>(1, wal_bytes / std::max<int64_t>(page_size, 1))) {
  thread_ = std::thread([this] { loop(); });
}

Checkpointer::~Checkpointer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Checkpointer::noteCommit(int pages) {
  dirty_.store(true, std::memory_order_relaxed);
  if (pages < wal_pages_) return;
  {
    std::lock_guard lock(mu_);
    wal_large_ = true;
  }
  cv_.notify_one();
}

Status Checkpointer::checkpointNow() {
  std::lock_guard lock(conn_mu_);
  dirty_.store(false, std::memory_order_relaxed);
  int rc = sqlite3_wal_checkpoint_v2(conn_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                     nullptr);
  if (rc != SQLITE_OK) {
    ++failures_;
    return core::fail(conn_->error(rc, "checkpointing " + conn_->path()));
  }
  ++checkpoints_;
  return {};
}

void Checkpointer::loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto woken = [this] { return stopping_ || wal_large_; };
    if (interval_.count() > 0) {
      cv_.wait_for(lock, interval_, woken);
    } else {
      cv_.wait(lock, woken);
    }
    if (stopping_) return;
    bool due = wal_large_ || dirty_.load(std::memory_order_relaxed);
    wal_large_ = false;
    if (!due) continue;  // nothing committed since the last one: skip the work
    lock.unlock();
    // A failure (busy, I/O) is counted; the next round tries again, and SQLite keeps
    // appending to the WAL meanwhile, so nothing is lost.
    (void)checkpointNow();
    lock.lock();
  }
}

}  // namespace firebreak::store::sqlite
