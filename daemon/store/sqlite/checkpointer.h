// WAL checkpoints off the writer's path. SQLite's automatic checkpoint runs inside the
// committing call and caused the commit p99 spikes (ARCHITECTURE.md); here a thread with its
// own connection runs PRAGMA wal_checkpoint(PASSIVE) every interval, or sooner when the
// writer reports a large WAL, and never blocks readers or the writer.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "daemon/store/sqlite/connection.h"

namespace firebreak::store::sqlite {

class Checkpointer {
 public:
  // interval 0: only when the WAL grows past wal_bytes.
  Checkpointer(std::unique_ptr<Connection> conn, std::chrono::milliseconds interval,
               int64_t wal_bytes, int64_t page_size);
  ~Checkpointer();  // stops and joins the thread
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // From the writer's WAL hook after each commit: `pages` is the WAL's size in pages.
  void noteCommit(int pages);
  // A passive checkpoint now, on the calling thread (serialized with the background one).
  Status checkpointNow();

  uint64_t checkpoints() const { return checkpoints_.load(); }
  uint64_t failures() const { return failures_.load(); }

 private:
  void loop();

  std::unique_ptr<Connection> conn_;
  const std::chrono::milliseconds interval_;
  const int64_t wal_pages_;  // wal_bytes in pages

  std::mutex conn_mu_;  // the connection: background thread or checkpointNow()
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool wal_large_ = false;
  std::atomic<bool> dirty_{false};  // commits since the last checkpoint
  std::atomic<uint64_t> checkpoints_{0};
  std::atomic<uint64_t> failures_{0};
  std::thread thread_;
};

}  // namespace firebreak::store::sqlite
