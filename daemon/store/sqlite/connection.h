// A thin RAII layer over the SQLite C API: a connection with a cache of prepared statements,
// and Query, which binds parameters, steps and reads columns. Errors become core::Error with
// a code mapped from the SQLite result code.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "daemon/core/json.h"
#include "daemon/core/result.h"

namespace firebreak::store::sqlite {

using core::Error;
using core::ErrorCode;
using core::Json;
using core::Result;
using core::Status;

// The ErrorCode for an SQLite result code (busy -> unavailable, constraint -> already exists...).
ErrorCode errorCodeOf(int rc);

// `error` with `prefix` put in front of its message ("committing to <path>: " + message).
Error prefixed(const Error& error, std::string_view prefix);

class Connection {
 public:
  // Opens `path` with the SQLITE_OPEN_* `flags` (NOMUTEX is added: one thread at a time uses
  // a connection) and sets the busy timeout, so SQLITE_BUSY waits instead of failing at once.
  static Result<std::unique_ptr<Connection>> open(const std::string& path, int flags,
                                                  std::chrono::milliseconds busy_timeout);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

  // Runs constant SQL (no values; may hold several statements): pragmas, migrations.
  Status exec(std::string_view sql, std::string_view what);
  // A prepared statement for `sql`, kept for the connection's life and reused.
  Result<sqlite3_stmt*> prepare(const std::string& sql);
  // The integer a pragma or a one-value query returns.
  Result<int64_t> queryInt(const std::string& sql, std::string_view what);
  // The error SQLite reports now for `rc`: "<what>: <sqlite message>".
  Error error(int rc, std::string_view what) const;

 private:
  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::string path_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

// One use of a prepared statement: bind, step, read; resets the statement when it goes away,
// so a read connection never holds a snapshot (which would stall checkpoints) between calls.
class Query {
 public:
  // `what` names the operation for errors ("inserting run r-1").
  static Result<Query> prepare(Connection& conn, const std::string& sql, std::string what);
  ~Query();
  Query(Query&& other) noexcept;
  Query& operator=(Query&&) = delete;
  Query(const Query&) = delete;

  // Binds values to ?1, ?2, ... in order. Json binds its compact dump.
  template <typename... Args>
  Query& bind(const Args&... args) {
    int index = 1;
    (bindOne(index++, args), ...);
    return *this;
  }
  Query& bindNull(int index);
  // Binds one value to ?index (for statements whose parameters vary).
  template <typename T>
  Query& bindAt(int index, const T& value) {
    bindOne(index, value);
    return *this;
  }

  // Steps once: true when a row is ready, false when done.
  Result<bool> step();
  // Steps to the end (statements without rows).
  Status run();
  // The value of a one-row, one-column query.
  Result<int64_t> scalarInt();

  int64_t integer(int column) const;
  bool boolean(int column) const { return integer(column) != 0; }
  std::string text(int column) const;
  // A JSON column, parsed; an unparsable value is an internal error naming the column.
  Result<Json> json(int column) const;

  // Rows the last statement inserted, updated or deleted.
  int changes() const;

 private:
  Query(Connection& conn, sqlite3_stmt* stmt, std::string what)
      : conn_(&conn), stmt_(stmt), what_(std::move(what)) {}

  void bindOne(int index, std::string_view value);
  void bindOne(int index, const std::string& value) { bindOne(index, std::string_view(value)); }
  void bindOne(int index, const char* value) { bindOne(index, std::string_view(value)); }
  void bindOne(int index, int64_t value);
  void bindOne(int index, int value) { bindOne(index, static_cast<int64_t>(value)); }
  void bindOne(int index, bool value) { bindOne(index, static_cast<int64_t>(value ? 1 : 0)); }
  void bindOne(int index, const Json& value);
  void noteBind(int rc);

  Connection* conn_;
  sqlite3_stmt* stmt_;
  std::string what_;
  int bind_rc_ = SQLITE_OK;  // the first failed bind, reported by step()
};

// JSON as stored: compact, invalid UTF-8 replaced rather than thrown on.
std::string dumpJson(const Json& value);

}  // namespace firebreak::store::sqlite
