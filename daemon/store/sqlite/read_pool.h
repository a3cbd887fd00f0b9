// Read-only connections, opened on demand up to a limit and reused. In WAL mode a reader sees
// the last committed state and never waits for the writer, nor the writer for it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/store/sqlite/connection.h"

namespace firebreak::store::sqlite {

class ReadPool {
 public:
  ReadPool(std::string path, std::chrono::milliseconds busy_timeout, size_t max_connections);

  // A connection for one thread until the lease goes away.
  class Lease {
   public:
    Lease(ReadPool* pool, std::unique_ptr<Connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (conn_) pool_->release(std::move(conn_));
    }
    Connection& operator*() const { return *conn_; }
    Connection* operator->() const { return conn_.get(); }

   private:
    ReadPool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  // Waits while all connections are in use.
  Result<Lease> acquire();

 private:
  Result<std::unique_ptr<Connection>> openOne() const;
  void release(std::unique_ptr<Connection> conn);

  const std::string path_;
  const std::chrono::milliseconds busy_timeout_;
  const size_t max_connections_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  size_t open_ = 0;  // idle and leased
};

}  // namespace firebreak::store::sqlite
