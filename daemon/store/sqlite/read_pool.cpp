#include "daemon/store/sqlite/read_pool.h"

#include <algorithm>

namespace firebreak::store::sqlite {

ReadPool::ReadPool(std::string path, std::chrono::milliseconds busy_timeout,
                   size_t max_connections)
    : path_(std::move(path)),
      busy_timeout_(busy_timeout),
      max_connections_(std::max<size_t>(max_connections, 1)) {}

Result<std::unique_ptr<Connection>> ReadPool::openOne() const {
  auto conn = Connection::open(path_, SQLITE_OPEN_READONLY, busy_timeout_);
  if (!conn) return conn;
  // query_only: a read connection must never write, even by mistake.
  if (auto ok = (*conn)->exec("PRAGMA query_only = 1", "opening a read connection to " + path_);
      !ok)
    return core::fail(ok.error());
  return conn;
}

Result<ReadPool::Lease> ReadPool::acquire() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return !idle_.empty() || open_ < max_connections_; });
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    ++open_;  // reserve the slot, then open outside the lock
  }
  auto conn = openOne();
  if (!conn) {
    {
      std::lock_guard lock(mu_);
      --open_;
    }
    cv_.notify_one();
    return core::fail(conn.error());
  }
  return Lease(this, std::move(*conn));
}

void ReadPool::release(std::unique_ptr<Connection> conn) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(conn));
  }
  cv_.notify_one();
}

}  // namespace firebreak::store::sqlite
