#include "daemon/store/sqlite/connection.h"

namespace firebreak::store::sqlite {

ErrorCode errorCodeOf(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return ErrorCode::kUnavailable;
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
        return ErrorCode::kAlreadyExists;
      return ErrorCode::kInvalidArgument;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return ErrorCode::kIo;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return ErrorCode::kFailedPrecondition;
    default:
      return ErrorCode::kInternal;
  }
}

Error prefixed(const Error& error, std::string_view prefix) {
  Error out(error.code(), std::string(prefix) + error.message(), error.loc());
  for (const auto& what : error.trail()) out.context(what);
  return out;
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& path, int flags,
                                                     std::chrono::milliseconds busy_timeout) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return core::fail(errorCodeOf(rc), "opening " + path + ": " + message);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(busy_timeout.count()));
  return std::unique_ptr<Connection>(new Connection(db, path));
}

Connection::~Connection() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Error Connection::error(int rc, std::string_view what) const {
  std::string message(what);
  message += ": ";
  // errmsg describes the latest call on this connection; errstr is the generic text for rc.
  const char* detail = sqlite3_errcode(db_) == SQLITE_OK ? sqlite3_errstr(rc) : sqlite3_errmsg(db_);
  message += detail;
  return Error(errorCodeOf(rc), std::move(message));
}

Status Connection::exec(std::string_view sql, std::string_view what) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return {};
  std::string text = message ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  return core::fail(errorCodeOf(rc), std::string(what) + ": " + text);
}

Result<sqlite3_stmt*> Connection::prepare(const std::string& sql) {
  if (auto it = statements_.find(sql); it != statements_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return core::fail(error(rc, "preparing statement"));
  statements_.emplace(sql, stmt);
  return stmt;
}

Result<int64_t> Connection::queryInt(const std::string& sql, std::string_view what) {
  auto query = Query::prepare(*this, sql, std::string(what));
  if (!query) return core::fail(query.error());
  return query->scalarInt();
}

Result<Query> Query::prepare(Connection& conn, const std::string& sql, std::string what) {
  auto stmt = conn.prepare(sql);
  if (!stmt) return core::fail(prefixed(stmt.error(), what + ": "));
  return Query(conn, *stmt, std::move(what));
}

Query::Query(Query&& other) noexcept
    : conn_(other.conn_), stmt_(other.stmt_), what_(std::move(other.what_)),
      bind_rc_(other.bind_rc_) {
  other.stmt_ = nullptr;
}

Query::~Query() {
  if (!stmt_) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Query::noteBind(int rc) {
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Query::bindOne(int index, std::string_view value) {
  noteBind(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8));
}

void Query::bindOne(int index, int64_t value) {
  noteBind(sqlite3_bind_int64(stmt_, index, value));
}

void Query::bindOne(int index, const Json& value) { bindOne(index, dumpJson(value)); }

Query& Query::bindNull(int index) {
  noteBind(sqlite3_bind_null(stmt_, index));
  return *this;
}

Result<bool> Query::step() {
  if (bind_rc_ != SQLITE_OK) return core::fail(conn_->error(bind_rc_, what_ + ": binding"));
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return core::fail(conn_->error(rc, what_));
}

Status Query::run() {
  while (true) {
    auto row = step();
    if (!row) return core::fail(row.error());
    if (!*row) return {};
  }
}

Result<int64_t> Query::scalarInt() {
  auto row = step();
  if (!row) return core::fail(row.error());
  if (!*row) return core::fail(ErrorCode::kInternal, what_ + ": no row");
  return integer(0);
}

int64_t Query::integer(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Query::text(int column) const {
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (!data) return {};
  return std::string(data, static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

Result<Json> Query::json(int column) const {
  std::string raw = text(column);
  Json value = Json::parse(raw, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return core::fail(ErrorCode::kInternal, what_ + ": column " +
                                                sqlite3_column_name(stmt_, column) +
                                                " is not valid JSON");
  }
  return value;
}

int Query::changes() const { return sqlite3_changes(conn_->handle()); }

std::string dumpJson(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace firebreak::store::sqlite
