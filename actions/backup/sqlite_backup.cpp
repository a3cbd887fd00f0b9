#include "actions/backup/sqlite_backup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <sqlite3.h>

#include "actions/backup/fs_util.h"

namespace firebreak::actions::backup {

namespace {

constexpr int kBusyTimeoutMs = 10'000;

// How long the busy handler has slept by its `count`-th call: 100 us each for the first 100
// calls, then 1 ms each.
int64_t busySleptUs(int count) {
  return count < 100 ? count * 100LL : 10'000LL + (count - 100) * 1'000LL;
}

// SQLite's default busy handler backs off to one retry every 100 ms. A rollback-journal writer
// that commits back to back holds PENDING or EXCLUSIVE nearly all the time, leaving only short
// gaps for a reader's SHARED lock; retrying that rarely misses them for the whole timeout.
// Retrying often (and cheaply: one fcntl lock attempt) finds a gap within the same timeout.
int busyWait(void*, int count) {
  if (busySleptUs(count) >= kBusyTimeoutMs * 1000LL) return 0;  // give up: SQLITE_BUSY
  struct timespec ts = {0, (count < 100 ? 100 : 1'000) * 1'000L};
  ::nanosleep(&ts, nullptr);
  return 1;
}

struct CloseDb {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, CloseDb>;

core::ErrorCode codeFor(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return core::ErrorCode::kUnavailable;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_FORMAT:
      return core::ErrorCode::kFailedPrecondition;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return core::ErrorCode::kPermissionDenied;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return core::ErrorCode::kIo;
    default:
      return core::ErrorCode::kInternal;
  }
}

core::Error sqliteError(sqlite3* db, int rc, const std::string& what) {
  std::string detail =
      db && sqlite3_errcode(db) != SQLITE_OK ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return core::Error(codeFor(rc), what + ": " + detail);
}

core::Result<Db> openDb(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) return core::fail(sqliteError(db.get(), rc, "open " + path));
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_handler(db.get(), &busyWait, nullptr);
  return db;
}

}  // namespace

core::Status sqliteOnlineBackup(const std::string& source, const std::string& dest) {
  struct stat st;
  if (::stat(source.c_str(), &st) != 0) return core::fail(sysError(errno, "stat " + source));
  if (!S_ISREG(st.st_mode))
    return core::fail(core::ErrorCode::kInvalidArgument, source + " is not a regular file");
  // Read-only: a backup must never be able to change the live database.
  auto src = openDb(source, SQLITE_OPEN_READONLY);
  if (!src) return core::fail(src.error());
  auto dst = openDb(dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!dst) return core::fail(dst.error());
  sqlite3_backup* backup = sqlite3_backup_init(dst->get(), "main", src->get(), "main");
  if (!backup) {
    return core::fail(sqliteError(dst->get(), sqlite3_errcode(dst->get()),
                                  "start backup of " + source));
  }
  // All pages in one step: one read transaction, so one consistent snapshot. Stepping in
  // chunks would restart whenever another process commits, and never finish under load.
  int rc = sqlite3_backup_step(backup, -1);
  int finish_rc = sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) {
    // backup_step records its error on the destination handle; the source's may say more
    // (NOTADB). Whichever carries a message other than rc's own is added; "not an error" never.
    std::string message = "backup of " + source + ": " + sqlite3_errstr(rc);
    for (sqlite3* db : {src->get(), dst->get()}) {
      std::string detail = sqlite3_errmsg(db);
      if (sqlite3_errcode(db) != SQLITE_OK && detail != sqlite3_errstr(rc)) {
        message += " (" + detail + ")";
        break;
      }
    }
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
      message += fmt::format(" for {} s", kBusyTimeoutMs / 1000);
    return core::fail(core::Error(codeFor(rc), message));
  }
  if (finish_rc != SQLITE_OK)
    return core::fail(sqliteError(dst->get(), finish_rc, "finish backup of " + source));
  sqlite3* raw = dst->release();
  if (int close_rc = sqlite3_close(raw); close_rc != SQLITE_OK) {
    auto error = sqliteError(raw, close_rc, "close " + dest);
    sqlite3_close_v2(raw);
    return core::fail(error);
  }
  return {};
}

core::Status sqliteIntegrityCheck(const std::string& path) {
  auto db = openDb(path, SQLITE_OPEN_READWRITE);
  if (!db) return core::fail(db.error());
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db->get(), "PRAGMA integrity_check(20)", -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return core::fail(sqliteError(db->get(), rc, "integrity_check of " + path));
  std::vector<std::string> rows;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    auto text = sqlite3_column_text(stmt, 0);
    rows.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE)
    return core::fail(sqliteError(db->get(), rc, "integrity_check of " + path));
  if (rows.size() == 1 && rows[0] == "ok") return {};
  std::string detail;
  for (size_t i = 0; i < rows.size() && i < 3; ++i) detail += (i ? "; " : "") + rows[i];
  return core::fail(core::ErrorCode::kFailedPrecondition,
                    "integrity_check of " + path + " failed: " + detail);
}

void removeSqliteCompanions(const std::string& path) {
  for (const char* suffix : {"-wal", "-shm", "-journal"}) ::unlink((path + suffix).c_str());
}

}  // namespace firebreak::actions::backup
