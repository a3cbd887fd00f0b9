// backup.create of a SQLite database that another process keeps writing: the restored copy
// passes integrity_check and holds a consistent prefix of the writer's transactions.
#include <poll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "actions/backup/backup.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/test_env.h"

namespace firebreak::actions::backup {
namespace {

namespace fs = std::filesystem;
using core::Json;

// Each transaction inserts two rows with the same batch id; a consistent copy has every batch
// either whole or absent, and no gaps.
constexpr int kRowsPerBatch = 2;

// The writer, in a forked child: no gtest, no allocation-heavy C++, just SQLite and _exit.
[[noreturn]] void writerProcess(const std::string& path, const char* journal_mode, int ready_fd,
                                int stop_fd) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) _exit(10);
  sqlite3_busy_timeout(db, 10'000);
  std::string mode = std::string("PRAGMA journal_mode=") + journal_mode;
  if (sqlite3_exec(db, mode.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) _exit(11);
  sqlite3_stmt* insert = nullptr;
  if (sqlite3_prepare_v2(db, "INSERT INTO rows(batch, n, pad) VALUES (?, ?, randomblob(300))", -1,
                         &insert, nullptr) != SQLITE_OK)
    _exit(12);
  for (int batch = 0;; ++batch) {
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) _exit(13);
    for (int n = 0; n < kRowsPerBatch; ++n) {
      sqlite3_bind_int(insert, 1, batch);
      sqlite3_bind_int(insert, 2, n);
      if (sqlite3_step(insert) != SQLITE_DONE) _exit(14);
      sqlite3_reset(insert);
    }
    if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) _exit(15);
    if (batch == 100) {
      char c = 'r';
      if (write(ready_fd, &c, 1) != 1) _exit(16);
    }
    struct pollfd p = {stop_fd, POLLIN, 0};
    if (poll(&p, 1, 0) > 0) break;  // the parent closed its end: stop
  }
  sqlite3_finalize(insert);
  sqlite3_close(db);
  _exit(0);
}

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
}

int64_t queryInt(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  EXPECT_EQ(sqlite3_step(st), SQLITE_ROW) << sql;
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

std::string queryText(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  EXPECT_EQ(sqlite3_step(st), SQLITE_ROW) << sql;
  std::string v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return v;
}

// For the test's own reader: SQLite's default busy handler retries every 100 ms, too rarely
// to find the short gaps a rollback-journal writer committing back to back leaves for a
// SHARED lock. Retry every 100 us, for up to 10 s (as the backup itself does).
int retryOften(void*, int count) {
  if (count >= 100'000) return 0;
  struct timespec ts = {0, 100'000};
  nanosleep(&ts, nullptr);
  return 1;
}

class SqliteLiveTest : public ::testing::TestWithParam<const char*> {};

TEST_P(SqliteLiveTest, BackupOfADatabaseBeingWrittenIsConsistent) {
  testing::TempDir tmp;
  std::string db_path = tmp.file("app.db");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
    exec(db, std::string("PRAGMA journal_mode=") + GetParam());
    exec(db, "CREATE TABLE rows(batch INTEGER NOT NULL, n INTEGER NOT NULL, pad BLOB)");
    // Some bulk, so the copy takes long enough for the writer to commit meanwhile.
    exec(db, "CREATE TABLE filler(b BLOB)");
    exec(db, "WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 4000) "
             "INSERT INTO filler SELECT randomblob(4096) FROM i");
    sqlite3_close(db);
  }

  int ready[2], stop[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(stop), 0);
  // Fork before any thread of ours exists: the child only runs SQLite.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(ready[0]);
    close(stop[1]);
    writerProcess(db_path, GetParam(), ready[1], stop[0]);
  }
  close(ready[1]);
  close(stop[0]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1) << "the writer did not start";

  testing::FakeClock clock;
  core::ActionEnv env;
  env.clock = &clock;
  env.data_dir = tmp.file("data");
  core::ProviderRegistry registry;
  int64_t committed_before = 0, committed_after = 0;
  core::ActionResult created, restored;
  {
    asio::thread_pool pool(2);
    env.blocking = &pool;
    ASSERT_TRUE(registerActions(registry, env));
    sqlite3* reader = nullptr;
    ASSERT_EQ(sqlite3_open_v2(db_path.c_str(), &reader, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_busy_handler(reader, &retryOften, nullptr);
    committed_before = queryInt(reader, "SELECT count(DISTINCT batch) FROM rows");

    core::ActionRequest req;
    req.step_id = "backup";
    req.idempotency_key = "live-1";
    req.params = {{"kind", "sqlite"}, {"source", db_path}, {"dest_dir", tmp.file("backups")}};
    created = testing::runAwaitable(registry.find("backup.create")->execute(req));
    committed_after = queryInt(reader, "SELECT count(DISTINCT batch) FROM rows");
    sqlite3_close(reader);

    close(stop[1]);  // the writer stops at its next commit
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer status " << status;
    ASSERT_TRUE(created.ok()) << created.message;

    core::ActionRequest restore;
    restore.step_id = "restore";
    restore.idempotency_key = "live-restore-1";
    restore.params = {{"kind", "sqlite"}, {"backup", created.output["path"]},
                      {"target", tmp.file("restored/app.db")}};
    restored = testing::runAwaitable(registry.find("backup.restore")->execute(restore));
    pool.join();
  }
  close(ready[0]);
  ASSERT_TRUE(restored.ok()) << restored.message;
  RecordProperty("batches_before_backup", static_cast<int>(committed_before));
  RecordProperty("batches_after_backup", static_cast<int>(committed_after));

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(tmp.file("restored/app.db").c_str(), &db, SQLITE_OPEN_READWRITE,
                            nullptr),
            SQLITE_OK);
  EXPECT_EQ(queryText(db, "PRAGMA integrity_check"), "ok");
  // Whole transactions only...
  EXPECT_EQ(queryInt(db, "SELECT count(*) FROM (SELECT batch FROM rows GROUP BY batch "
                         "HAVING count(*) != 2)"),
            0);
  // ...and a prefix of them: batches 0..max, no gaps, at least what was committed before.
  int64_t batches = queryInt(db, "SELECT count(DISTINCT batch) FROM rows");
  EXPECT_EQ(queryInt(db, "SELECT max(batch) FROM rows"), batches - 1);
  EXPECT_EQ(queryInt(db, "SELECT count(*) FROM rows"), batches * kRowsPerBatch);
  EXPECT_GE(batches, committed_before);
  EXPECT_LE(batches, committed_after);
  EXPECT_EQ(queryInt(db, "SELECT count(*) FROM filler"), 4000);
  sqlite3_close(db);
}

INSTANTIATE_TEST_SUITE_P(JournalModes, SqliteLiveTest, ::testing::Values("wal", "delete"));

}  // namespace
}  // namespace firebreak::actions::backup
