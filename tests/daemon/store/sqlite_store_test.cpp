#include "daemon/store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include "daemon/store/sqlite/migrations.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/test_env.h"

namespace firebreak::store {
namespace {

using core::ErrorCode;
using firebreak::testing::FakeClock;
using firebreak::testing::runAwaitable;
using firebreak::testing::TempDir;
using Fn = std::function<Status(WriteTx&)>;

// A plain connection for setting up and inspecting files behind the store's back.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
  }
  ~RawDb() { sqlite3_close(db_); }
  void exec(const std::string& sql) {
    char* error = nullptr;
    ASSERT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error ? error : "") << "\n" << sql;
  }
  int64_t queryInt(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    int64_t value = -1;
    if (stmt && sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
  }
  std::string queryText(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    std::string value;
    if (stmt && sqlite3_step(stmt) == SQLITE_ROW)
      value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return value;
  }

 private:
  sqlite3* db_ = nullptr;
};

// Holds the writer inside a commit function until opened, so the requests queued meanwhile
// provably meet in the writer's queue (no timing involved).
class Gate {
 public:
  Fn fn() {
    return [this](WriteTx&) -> Status {
      entered_.set_value();
      open_.wait();
      return {};
    };
  }
  void waitEntered() { entered_future_.wait(); }
  void open() { opener_.set_value(); }

 private:
  std::promise<void> entered_;
  std::future<void> entered_future_ = entered_.get_future();
  std::promise<void> opener_;
  std::shared_future<void> open_ = opener_.get_future().share();
};

RunRecord makeRun(const std::string& id, int64_t created_ms,
                  RunStatus status = RunStatus::kRunning) {
  RunRecord run;
  run.id = id;
  run.playbook = "contain-lambda";
  run.status = status;
  run.created_ms = created_ms;
  return run;
}

StepRecord makeStep(const std::string& run_id, const std::string& step_id, int64_t started_ms) {
  StepRecord step;
  step.run_id = run_id;
  step.step_id = step_id;
  step.action = "aws.iam.revoke_role_sessions";
  step.status = "succeeded";
  step.started_ms = started_ms;
  return step;
}

RunFilter filter(std::optional<RunStatus> status, std::string incident_id, std::string playbook,
                 int limit = 100) {
  RunFilter f;
  f.status = status;
  f.incident_id = std::move(incident_id);
  f.playbook = std::move(playbook);
  f.limit = limit;
  return f;
}

RunFilter limited(int limit) { return filter(std::nullopt, "", "", limit); }

Fn insertRun(RunRecord run) {
  return [run = std::move(run)](WriteTx& tx) { return tx.insertRun(run); };
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteStore> open(SqliteOptions options = {}) {
    auto store = SqliteStore::open(path_, clock_, options);
    EXPECT_TRUE(store) << store.error().str();
    return store ? std::move(*store) : nullptr;
  }
  Status commit(SqliteStore& store, Fn fn) { return runAwaitable(store.commit(std::move(fn))); }

 public:
  Status commitFor(SqliteStore& store, Fn fn) { return commit(store, std::move(fn)); }

 protected:

  TempDir dir_;
  std::string path_ = dir_.file("state/firebreak.db");
  FakeClock clock_;
};

// --- Opening and schema ---

TEST_F(SqliteStoreTest, OpenCreatesTheParentDirectoryAndTheLatestSchema) {
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_TRUE(std::filesystem::exists(path_));
  EXPECT_EQ(store->schemaVersion(), sqlite::latestSchemaVersion());
  store.reset();
  RawDb raw(path_);
  EXPECT_EQ(raw.queryInt("PRAGMA user_version"), sqlite::latestSchemaVersion());
  EXPECT_EQ(raw.queryText("PRAGMA journal_mode"), "wal");
  for (const char* table : {"alerts", "incidents", "runs", "steps", "timeline", "approvals",
                            "silences", "drill_runs", "audit", "settings", "breakers",
                            "dedup"}) {
    EXPECT_EQ(raw.queryInt(std::string("SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                       "AND name = '") + table + "'"),
              1)
        << table;
  }
  EXPECT_EQ(raw.queryInt("SELECT applied_ms FROM schema_migrations WHERE version = 1"),
            clock_.nowMs());
}

TEST_F(SqliteStoreTest, MigratesAVersion1DatabaseAndKeepsItsData) {
  std::filesystem::create_directories(dir_.path() / "state");
  {
    RawDb raw(path_);
    raw.exec(std::string(sqlite::migrations()[0]));
    raw.exec("PRAGMA user_version = 1");
    raw.exec("INSERT INTO runs (id, playbook, status, created_ms) VALUES ('old', 'p', 'running', 5)");
  }
  clock_.set(1'800'000'000'000);
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->schemaVersion(), sqlite::latestSchemaVersion());
  auto old = store->run("old");
  ASSERT_TRUE(old) << old.error().str();
  ASSERT_TRUE(old->has_value());
  EXPECT_EQ((*old)->created_ms, 5);
  // Migration 2's index lets dedup claims be pruned by expiry; the claim path still works.
  auto claimed = commit(*store, [](WriteTx& tx) -> Status {
    auto ok = tx.claimDedup("k", "r", 1, 2);
    if (!ok) return core::fail(ok.error());
    return {};
  });
  EXPECT_TRUE(claimed) << claimed.error().str();
  store.reset();
  RawDb raw(path_);
  EXPECT_EQ(raw.queryInt("PRAGMA user_version"), sqlite::latestSchemaVersion());
  EXPECT_EQ(raw.queryInt("SELECT count(*) FROM sqlite_master WHERE name = 'dedup_by_expiry'"), 1);
  EXPECT_EQ(raw.queryInt("SELECT count(*) FROM sqlite_master WHERE name = 'alert_identities'"), 1);
  EXPECT_EQ(raw.queryInt("SELECT applied_ms FROM schema_migrations WHERE version = 2"),
            1'800'000'000'000);
  EXPECT_EQ(raw.queryInt("SELECT count(*) FROM schema_migrations WHERE version = 1"), 0);
}

TEST_F(SqliteStoreTest, RefusesADatabaseFromANewerFirebreakAndLeavesItAlone) {
  std::filesystem::create_directories(dir_.path() / "state");
  const int newer = sqlite::latestSchemaVersion() + 5;
  {
    RawDb raw(path_);
    raw.exec("CREATE TABLE future (x)");
    raw.exec("PRAGMA user_version = " + std::to_string(newer));
  }
  auto store = SqliteStore::open(path_, clock_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(store.error().message(),
            "database " + path_ + " has schema version " + std::to_string(newer) +
                ", newer than this firebreak (" + std::to_string(sqlite::latestSchemaVersion()) +
                "): upgrade firebreak or restore a backup");
  RawDb raw(path_);
  EXPECT_EQ(raw.queryInt("PRAGMA user_version"), newer);
  EXPECT_EQ(raw.queryText("PRAGMA journal_mode"), "delete");  // not switched to WAL either
}

TEST_F(SqliteStoreTest, RefusesAFileThatIsNotADatabaseWithoutTouchingIt) {
  std::filesystem::create_directories(dir_.path() / "state");
  std::string content;
  for (int i = 0; i < 100; ++i) content += "listen: 127.0.0.1:9095\ndata_dir: /var/lib/firebreak\n";
  firebreak::testing::writeFile(path_, content);
  auto store = SqliteStore::open(path_, clock_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(store.error().message(), path_ + " is not an SQLite database");
  EXPECT_EQ(firebreak::testing::readFile(path_), content);
  EXPECT_FALSE(std::filesystem::exists(path_ + "-wal"));
}

TEST_F(SqliteStoreTest, ReportsAPathThatCannotBeCreated) {
  firebreak::testing::writeFile(dir_.file("plainfile"), "x");
  auto store = SqliteStore::open(dir_.file("plainfile/sub/firebreak.db"), clock_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kIo);
  EXPECT_NE(store.error().message().find("creating directory"), std::string::npos)
      << store.error().message();
}

TEST_F(SqliteStoreTest, DataSurvivesCloseAndReopen) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(commit(*store, insertRun(makeRun("r1", 10))));
    ASSERT_TRUE(store->commitSync([](WriteTx& tx) { return tx.setSetting("paused", "true"); }));
  }
  auto store = open();
  ASSERT_TRUE(store);
  auto run = store->run("r1");
  ASSERT_TRUE(run && run->has_value());
  EXPECT_EQ((*run)->playbook, "contain-lambda");
  auto paused = store->setting("paused");
  ASSERT_TRUE(paused && paused->has_value());
  EXPECT_EQ(**paused, "true");
}

// --- Round trips ---

TEST_F(SqliteStoreTest, RunRoundTripsEveryField) {
  auto store = open();
  ASSERT_TRUE(store);
  RunRecord run;
  run.id = "run-1";
  run.playbook = "lambda-credential-abuse";
  run.playbook_file = "/etc/firebreak/playbooks/lambda.yaml";
  run.playbook_hash = "ab12";
  run.playbook_source = "name: lambda-credential-abuse\nsteps: []\n";
  run.incident_id = "inc-1";
  run.trigger = "alert";
  run.params = {{"function", "billing"}, {"max", 3}, {"tags", {"a", "b"}}};
  run.alert = {{"labels", {{"alertname", "LambdaAbuse"}}}, {"status", "firing"}};
  run.status = RunStatus::kWaitingApproval;
  run.dry_run = true;
  run.error = "none yet";
  run.concurrency_key = "billing";
  run.max_runs_key = "lambda";
  run.dedup_key = "fp-1";
  run.created_ms = 1000;
  run.deadline_ms = 2000;
  run.finished_ms = 0;
  ASSERT_TRUE(commit(*store, insertRun(run)));

  auto got = store->run("run-1");
  ASSERT_TRUE(got) << got.error().str();
  ASSERT_TRUE(got->has_value());
  const RunRecord& r = **got;
  EXPECT_EQ(r.id, run.id);
  EXPECT_EQ(r.playbook, run.playbook);
  EXPECT_EQ(r.playbook_file, run.playbook_file);
  EXPECT_EQ(r.playbook_hash, run.playbook_hash);
  EXPECT_EQ(r.playbook_source, run.playbook_source);
  EXPECT_EQ(r.incident_id, run.incident_id);
  EXPECT_EQ(r.trigger, run.trigger);
  EXPECT_EQ(r.params, run.params);
  EXPECT_EQ(r.alert, run.alert);
  EXPECT_EQ(r.status, run.status);
  EXPECT_EQ(r.dry_run, run.dry_run);
  EXPECT_EQ(r.error, run.error);
  EXPECT_EQ(r.concurrency_key, run.concurrency_key);
  EXPECT_EQ(r.max_runs_key, run.max_runs_key);
  EXPECT_EQ(r.dedup_key, run.dedup_key);
  EXPECT_EQ(r.created_ms, run.created_ms);
  EXPECT_EQ(r.deadline_ms, run.deadline_ms);
  EXPECT_EQ(r.finished_ms, run.finished_ms);

  auto missing = store->run("nope");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
}

TEST_F(SqliteStoreTest, ManualRunKeepsANullAlert) {
  auto store = open();
  ASSERT_TRUE(store);
  RunRecord run = makeRun("manual", 1);
  run.trigger = "manual";
  ASSERT_TRUE(commit(*store, insertRun(run)));
  auto got = store->run("manual");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_TRUE((*got)->alert.is_null());
  EXPECT_EQ((*got)->params, Json::object());
}

TEST_F(SqliteStoreTest, UpdateRunSetsStatusErrorAndFinishTime) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(commit(*store, insertRun(makeRun("r1", 10))));
  ASSERT_TRUE(commit(*store, [](WriteTx& tx) {
    return tx.updateRun("r1", RunStatus::kFailed, "step revoke failed", 99);
  }));
  auto got = store->run("r1");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->status, RunStatus::kFailed);
  EXPECT_EQ((*got)->error, "step revoke failed");
  EXPECT_EQ((*got)->finished_ms, 99);
}

TEST_F(SqliteStoreTest, UpdateOfAnUnknownRunIsNotFound) {
  auto store = open();
  ASSERT_TRUE(store);
  auto status = commit(*store, [](WriteTx& tx) {
    return tx.updateRun("ghost", RunStatus::kFailed, "", 1);
  });
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(status.error().message(), "committing to " + path_ + ": updating run ghost: no such run");
}

TEST_F(SqliteStoreTest, DuplicateRunIsAlreadyExistsAndNamesTheDatabase) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(commit(*store, insertRun(makeRun("r1", 10))));
  auto status = commit(*store, insertRun(makeRun("r1", 11)));
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(status.error().message(),
            "committing to " + path_ + ": inserting run r1: UNIQUE constraint failed: runs.id");
}

TEST_F(SqliteStoreTest, StepRoundTripsEveryFieldAndUpsertUpdatesInPlace) {
  auto store = open();
  ASSERT_TRUE(store);
  StepRecord step;
  step.run_id = "r1";
  step.step_id = "revoke";
  step.stage = "main";
  step.attempt = 2;
  step.action = "aws.iam.revoke_role_sessions";
  step.status = "started";
  step.idempotency_key = "r1/revoke/main";
  step.idempotent = true;
  step.destructive = true;
  step.dry_run = false;
  step.params = {{"role", "billing-lambda"}};
  step.started_ms = 100;
  ASSERT_TRUE(commit(*store, [step](WriteTx& tx) { return tx.upsertStep(step); }));
  // A later step, then the first one finishing: the update keeps its place.
  ASSERT_TRUE(commit(*store, [](WriteTx& tx) { return tx.upsertStep(makeStep("r1", "tell", 100)); }));
  StepRecord finished = step;
  finished.status = "succeeded";
  finished.output = {{"revoked", 3}};
  finished.error = "";
  finished.finished_ms = 150;
  ASSERT_TRUE(commit(*store, [finished](WriteTx& tx) { return tx.upsertStep(finished); }));

  auto steps = store->steps("r1");
  ASSERT_TRUE(steps) << steps.error().str();
  ASSERT_EQ(steps->size(), 2u);
  const StepRecord& s = (*steps)[0];
  EXPECT_EQ(s.run_id, "r1");
  EXPECT_EQ(s.step_id, "revoke");
  EXPECT_EQ(s.stage, "main");
  EXPECT_EQ(s.attempt, 2);
  EXPECT_EQ(s.action, step.action);
  EXPECT_EQ(s.status, "succeeded");
  EXPECT_EQ(s.idempotency_key, step.idempotency_key);
  EXPECT_TRUE(s.idempotent);
  EXPECT_TRUE(s.destructive);
  EXPECT_FALSE(s.dry_run);
  EXPECT_EQ(s.params, step.params);
  EXPECT_EQ(s.output, finished.output);
  EXPECT_EQ(s.error, "");
  EXPECT_EQ(s.started_ms, 100);
  EXPECT_EQ(s.finished_ms, 150);
  EXPECT_EQ((*steps)[1].step_id, "tell");
}

TEST_F(SqliteStoreTest, StepsAreOrderedByStartThenByInsertion) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(commit(*store, [](WriteTx& tx) -> Status {
    for (auto step : {makeStep("r1", "c", 300), makeStep("r1", "a", 100), makeStep("r1", "b2", 200),
                      makeStep("r1", "b1", 200), makeStep("other", "x", 1)}) {
      if (auto ok = tx.upsertStep(step); !ok) return ok;
    }
    StepRecord undo = makeStep("r1", "a", 400);
    undo.stage = "undo";
    return tx.upsertStep(undo);
  }));
  auto steps = store->steps("r1");
  ASSERT_TRUE(steps);
  std::vector<std::string> order;
  for (const auto& s : *steps) order.push_back(s.step_id + "/" + s.stage);
  EXPECT_EQ(order, (std::vector<std::string>{"a/main", "b2/main", "b1/main", "c/main", "a/undo"}));
}

TEST_F(SqliteStoreTest, TimelineAssignsIdsAndListsByRunAndByIncident) {
  auto store = open();
  ASSERT_TRUE(store);
  auto event = [](int64_t at, std::string run, std::string incident, std::string kind) {
    TimelineEvent e;
    e.at_ms = at;
    e.run_id = std::move(run);
    e.incident_id = std::move(incident);
    e.step_id = "s";
    e.kind = std::move(kind);
    e.message = "m " + e.kind;
    e.data = {{"at", at}};
    return e;
  };
  ASSERT_TRUE(commit(*store, [&](WriteTx& tx) -> Status {
    for (auto e : {event(20, "r1", "i1", "step.started"), event(10, "r1", "i1", "run.started"),
                   event(15, "", "i1", "alert.received"), event(30, "r2", "i2", "run.started")}) {
      if (auto ok = tx.appendTimeline(e); !ok) return ok;
    }
    return {};
  }));
  auto of_run = store->timelineOfRun("r1");
  ASSERT_TRUE(of_run) << of_run.error().str();
  ASSERT_EQ(of_run->size(), 2u);
  EXPECT_EQ((*of_run)[0].kind, "run.started");
  EXPECT_EQ((*of_run)[0].at_ms, 10);
  EXPECT_EQ((*of_run)[0].incident_id, "i1");
  EXPECT_EQ((*of_run)[0].step_id, "s");
  EXPECT_EQ((*of_run)[0].message, "m run.started");
  EXPECT_EQ((*of_run)[0].data, Json({{"at", 10}}));
  EXPECT_EQ((*of_run)[1].kind, "step.started");
  EXPECT_GT((*of_run)[0].id, 0);
  EXPECT_NE((*of_run)[0].id, (*of_run)[1].id);

  auto of_incident = store->timelineOfIncident("i1");
  ASSERT_TRUE(of_incident);
  std::vector<std::string> kinds;
  for (const auto& e : *of_incident) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"run.started", "alert.received", "step.started"}));
}

TEST_F(SqliteStoreTest, ApprovalsUpsertByRunAndStepAndListPending) {
  auto store = open();
  ASSERT_TRUE(store);
  ApprovalRecord a;
  a.run_id = "r1";
  a.step_id = "revoke";
  a.role = "responder";
  a.status = "pending";
  a.reason = "destructive budget exceeded";
  a.requested_ms = 50;
  a.expires_ms = 3'600'050;
  ApprovalRecord b = a;
  b.run_id = "r2";
  b.requested_ms = 40;
  ASSERT_TRUE(commit(*store, [&](WriteTx& tx) -> Status {
    if (auto ok = tx.upsertApproval(a); !ok) return ok;
    return tx.upsertApproval(b);
  }));
  auto pending = store->pendingApprovals();
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].run_id, "r2");  // oldest request first

  ApprovalRecord decided = a;
  decided.status = "approved";
  decided.decided_by = "alice";
  decided.decided_ms = 70;
  ASSERT_TRUE(commit(*store, [&](WriteTx& tx) { return tx.upsertApproval(decided); }));
  auto of_run = store->approvals("r1");
  ASSERT_TRUE(of_run);
  ASSERT_EQ(of_run->size(), 1u);
  const ApprovalRecord& got = (*of_run)[0];
  EXPECT_EQ(got.run_id, "r1");
  EXPECT_EQ(got.step_id, "revoke");
  EXPECT_EQ(got.role, "responder");
  EXPECT_EQ(got.status, "approved");
  EXPECT_EQ(got.reason, a.reason);
  EXPECT_EQ(got.decided_by, "alice");
  EXPECT_EQ(got.requested_ms, 50);
  EXPECT_EQ(got.expires_ms, 3'600'050);
  EXPECT_EQ(got.decided_ms, 70);
  pending = store->pendingApprovals();
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].run_id, "r2");
}

TEST_F(SqliteStoreTest, SettingsAndBreakersRoundTripAndOverwrite) {
  auto store = open();
  ASSERT_TRUE(store);
  BreakerRecord breaker{"aws.iam.revoke_role_sessions", 3, true, 1234};
  ASSERT_TRUE(commit(*store, [&](WriteTx& tx) -> Status {
    if (auto ok = tx.setSetting("paused", "false"); !ok) return ok;
    if (auto ok = tx.setSetting("paused", "true"); !ok) return ok;
    return tx.upsertBreaker(breaker);
  }));
  auto paused = store->setting("paused");
  ASSERT_TRUE(paused && paused->has_value());
  EXPECT_EQ(**paused, "true");
  auto none = store->setting("nothing");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());

  auto got = store->breaker(breaker.action);
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->action, breaker.action);
  EXPECT_EQ((*got)->consecutive_failures, 3);
  EXPECT_TRUE((*got)->open);
  EXPECT_EQ((*got)->opened_ms, 1234);
  BreakerRecord closed{breaker.action, 0, false, 0};
  ASSERT_TRUE(commit(*store, [&](WriteTx& tx) { return tx.upsertBreaker(closed); }));
  got = store->breaker(breaker.action);
  ASSERT_TRUE(got && got->has_value());
  EXPECT_FALSE((*got)->open);
  EXPECT_EQ((*got)->consecutive_failures, 0);
  auto unknown = store->breaker("x");
  ASSERT_TRUE(unknown);
  EXPECT_FALSE(unknown->has_value());
}

// --- Queries ---

TEST_F(SqliteStoreTest, RunsAreNewestFirstFilteredAndLimited) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(commit(*store, [](WriteTx& tx) -> Status {
    RunRecord a = makeRun("a", 10, RunStatus::kSucceeded);
    a.incident_id = "i1";
    RunRecord b = makeRun("b", 30, RunStatus::kRunning);
    b.incident_id = "i1";
    b.playbook = "other";
    RunRecord c = makeRun("c", 20, RunStatus::kSucceeded);
    RunRecord d = makeRun("d", 30, RunStatus::kFailed);  // same ms as b, inserted later
    for (const auto& run : {a, b, c, d})
      if (auto ok = tx.insertRun(run); !ok) return ok;
    return {};
  }));
  auto ids = [&](const RunFilter& filter) {
    std::vector<std::string> out;
    auto runs = store->runs(filter);
    EXPECT_TRUE(runs) << runs.error().str();
    if (runs)
      for (const auto& r : *runs) out.push_back(r.id);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({}), (V{"d", "b", "c", "a"}));
  EXPECT_EQ(ids(limited(2)), (V{"d", "b"}));
  EXPECT_EQ(ids(limited(0)), (V{"d", "b", "c", "a"}));
  EXPECT_EQ(ids(filter(RunStatus::kSucceeded, "", "")), (V{"c", "a"}));
  EXPECT_EQ(ids(filter(std::nullopt, "i1", "")), (V{"b", "a"}));
  EXPECT_EQ(ids(filter(std::nullopt, "", "contain-lambda")), (V{"d", "c", "a"}));
  EXPECT_EQ(ids(filter(RunStatus::kSucceeded, "i1", "contain-lambda")),
            (V{"a"}));
}

TEST_F(SqliteStoreTest, UnfinishedRunsAreTheNonFinalOnesOldestFirst) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(commit(*store, [](WriteTx& tx) -> Status {
    int64_t t = 100;
    for (auto status : {RunStatus::kNeedsAttention, RunStatus::kSucceeded, RunStatus::kQueued,
                        RunStatus::kFailed, RunStatus::kWaitingApproval, RunStatus::kAborted,
                        RunStatus::kRunning, RunStatus::kDenied}) {
      if (auto ok = tx.insertRun(makeRun(runStatusName(status), t--, status)); !ok) return ok;
    }
    return {};
  }));
  auto runs = store->unfinishedRuns();
  ASSERT_TRUE(runs);
  std::vector<std::string> ids;
  for (const auto& r : *runs) ids.push_back(r.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"running", "waiting-approval", "queued",
                                           "needs-attention"}));
}

TEST_F(SqliteStoreTest, CountsRunsByMaxRunsKeySince) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(commit(*store, [](WriteTx& tx) -> Status {
    for (int i = 0; i < 5; ++i) {
      RunRecord run = makeRun("r" + std::to_string(i), 100 + i * 10);
      run.max_runs_key = i == 4 ? "other" : "lambda";
      if (auto ok = tx.insertRun(run); !ok) return ok;
    }
    return {};
  }));
  EXPECT_EQ(store->countRunsSince("lambda", 0).value(), 4);
  EXPECT_EQ(store->countRunsSince("lambda", 110).value(), 3);  // at or after
  EXPECT_EQ(store->countRunsSince("lambda", 131).value(), 0);
  EXPECT_EQ(store->countRunsSince("other", 0).value(), 1);
}

TEST_F(SqliteStoreTest, CountsDestructiveExecutionsButNotPlansOrSkips) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(commit(*store, [](WriteTx& tx) -> Status {
    auto step = [](std::string id, int64_t started, bool destructive, bool dry_run,
                   std::string status) {
      StepRecord s = makeStep("r1", std::move(id), started);
      s.destructive = destructive;
      s.dry_run = dry_run;
      s.status = std::move(status);
      return s;
    };
    StepRecord retried = step("revoke", 200, true, false, "succeeded");
    retried.attempt = 2;
    StepRecord undo = step("revoke", 300, true, false, "started");
    undo.stage = "undo";
    for (const auto& s : {step("revoke", 100, true, false, "failed"), retried, undo,
                          step("snapshot", 100, false, false, "succeeded"),
                          step("dry", 100, true, true, "planned"),
                          step("plan", 100, true, false, "planned"),
                          step("skipped", 100, true, false, "skipped"),
                          step("old", 10, true, false, "succeeded")}) {
      if (auto ok = tx.upsertStep(s); !ok) return ok;
    }
    return {};
  }));
  EXPECT_EQ(store->countDestructiveSince(100).value(), 3);
  EXPECT_EQ(store->countDestructiveSince(0).value(), 4);
  EXPECT_EQ(store->countDestructiveSince(201).value(), 1);
}

TEST_F(SqliteStoreTest, CountsActiveRunsOfAConcurrencyKey) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(commit(*store, [](WriteTx& tx) -> Status {
    int i = 0;
    for (auto status : {RunStatus::kQueued, RunStatus::kRunning, RunStatus::kWaitingApproval,
                        RunStatus::kNeedsAttention, RunStatus::kSucceeded, RunStatus::kFailed}) {
      RunRecord run = makeRun("r" + std::to_string(i++), 1, status);
      run.concurrency_key = "billing";
      if (auto ok = tx.insertRun(run); !ok) return ok;
    }
    RunRecord elsewhere = makeRun("x", 1, RunStatus::kRunning);
    elsewhere.concurrency_key = "payments";
    return tx.insertRun(elsewhere);
  }));
  EXPECT_EQ(store->countActiveRuns("billing").value(), 3);
  EXPECT_EQ(store->countActiveRuns("payments").value(), 1);
  EXPECT_EQ(store->countActiveRuns("none").value(), 0);
}

// --- Dedup ---

Result<bool> claim(SqliteStore& store, const std::string& key, const std::string& run,
                   int64_t now, int64_t expires) {
  Result<bool> out = false;
  auto status = store.commitSync([&](WriteTx& tx) -> Status {
    out = tx.claimDedup(key, run, now, expires);
    if (!out) return core::fail(out.error());
    return {};
  });
  if (!status) return core::fail(status.error());
  return out;
}

TEST_F(SqliteStoreTest, ClaimDedupSucceedsOnceUntilTheClaimExpires) {
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(claim(*store, "fp-1", "r1", 1000, 2000).value(), true);
  EXPECT_EQ(claim(*store, "fp-1", "r2", 1500, 2500).value(), false);  // unexpired: no change
  EXPECT_EQ(claim(*store, "fp-2", "r3", 1500, 2500).value(), true);   // another key
  EXPECT_EQ(claim(*store, "fp-1", "r4", 1999, 3000).value(), false);
  EXPECT_EQ(claim(*store, "fp-1", "r5", 2000, 3000).value(), true);   // expired at expires_ms
  EXPECT_EQ(claim(*store, "fp-1", "r6", 2999, 4000).value(), false);  // r5's claim holds to 3000
}

TEST_F(SqliteStoreTest, ClaimDedupIsUndoneWithItsRequest) {
  auto store = open();
  ASSERT_TRUE(store);
  auto status = store->commitSync([](WriteTx& tx) -> Status {
    auto claimed = tx.claimDedup("fp", "r1", 1, 100);
    EXPECT_TRUE(claimed && *claimed);
    return core::fail(ErrorCode::kFailedPrecondition, "automation is paused");
  });
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().message(), "automation is paused");
  EXPECT_EQ(claim(*store, "fp", "r2", 1, 100).value(), true);
}

// --- Group commit ---

TEST_F(SqliteStoreTest, ConcurrentCommitsShareTransactions) {
  auto store = open();
  ASSERT_TRUE(store);
  constexpr int kCommits = 500;
  asio::io_context io;
  Gate gate;
  std::vector<std::optional<Status>> results(kCommits);
  std::optional<Status> gate_result;
  asio::co_spawn(io, store->commit(gate.fn()),
                 [&](std::exception_ptr, Status s) { gate_result = std::move(s); });
  for (int i = 0; i < kCommits; ++i) {
    asio::co_spawn(io, store->commit(insertRun(makeRun("r" + std::to_string(i), i))),
                   [&, i](std::exception_ptr e, Status s) {
                     EXPECT_FALSE(e);
                     results[i] = std::move(s);
                   });
  }
  // Coroutines start in spawn order on one thread: this one runs once all 500 are queued.
  asio::co_spawn(io, [&]() -> core::awaitable<void> {
    gate.open();
    co_return;
  }, asio::detached);
  io.run();

  ASSERT_TRUE(gate_result && *gate_result);
  for (int i = 0; i < kCommits; ++i) {
    ASSERT_TRUE(results[i]) << i;
    EXPECT_TRUE(*results[i]) << results[i]->error().str();
  }
  SqliteStoreStats stats = store->stats();
  EXPECT_EQ(stats.commit_requests, kCommits + 1u);
  EXPECT_EQ(stats.failed_requests, 0u);
  EXPECT_LE(stats.transactions, 3u);  // [gate (+ some)], then at most two full batches
  EXPECT_EQ(stats.largest_batch, 256u);
  auto runs = store->runs(limited(0));
  ASSERT_TRUE(runs);
  EXPECT_EQ(runs->size(), static_cast<size_t>(kCommits));
}

TEST_F(SqliteStoreTest, MaxBatchBoundsATransaction) {
  SqliteOptions options;
  options.max_batch = 8;
  auto store = open(options);
  ASSERT_TRUE(store);
  asio::io_context io;
  Gate gate;
  int ok = 0;
  asio::co_spawn(io, store->commit(gate.fn()), asio::detached);
  for (int i = 0; i < 40; ++i) {
    asio::co_spawn(io, store->commit(insertRun(makeRun("r" + std::to_string(i), i))),
                   [&](std::exception_ptr, Status s) { ok += s ? 1 : 0; });
  }
  asio::co_spawn(io, [&]() -> core::awaitable<void> {
    gate.open();
    co_return;
  }, asio::detached);
  io.run();
  EXPECT_EQ(ok, 40);
  EXPECT_EQ(store->stats().largest_batch, 8u);
  EXPECT_GE(store->stats().transactions, 6u);  // 41 requests, at most 8 at a time
}

TEST_F(SqliteStoreTest, AFailingRequestRollsBackOnlyItself) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(commit(*store, insertRun(makeRun("existing", 1))));
  asio::io_context io;
  Gate gate;
  std::map<std::string, Status> results;
  auto spawn = [&](std::string name, Fn fn) {
    asio::co_spawn(io, store->commit(std::move(fn)),
                   [&, name](std::exception_ptr, Status s) { results.emplace(name, std::move(s)); });
  };
  spawn("gate", gate.fn());
  spawn("first", insertRun(makeRun("first", 2)));
  spawn("refused", [](WriteTx& tx) -> Status {
    if (auto ok = tx.insertRun(makeRun("refused", 3)); !ok) return ok;
    if (auto ok = tx.setSetting("refused", "written"); !ok) return ok;
    return core::fail(ErrorCode::kFailedPrecondition, "run limit reached");
  });
  spawn("duplicate", [](WriteTx& tx) -> Status {
    if (auto ok = tx.setSetting("duplicate", "written"); !ok) return ok;
    return tx.insertRun(makeRun("existing", 4));  // SQLite refuses: the setting goes too
  });
  spawn("threw", [](WriteTx& tx) -> Status {
    (void)tx.setSetting("threw", "written");
    throw std::runtime_error("bad json");
  });
  spawn("last", insertRun(makeRun("last", 5)));
  auto before = store->stats();
  asio::co_spawn(io, [&]() -> core::awaitable<void> {
    gate.open();
    co_return;
  }, asio::detached);
  io.run();

  ASSERT_EQ(results.size(), 6u);
  EXPECT_TRUE(results.at("gate"));
  EXPECT_TRUE(results.at("first"));
  EXPECT_TRUE(results.at("last"));
  ASSERT_FALSE(results.at("refused"));
  EXPECT_EQ(results.at("refused").error().message(), "run limit reached");
  ASSERT_FALSE(results.at("duplicate"));
  EXPECT_EQ(results.at("duplicate").error().code(), ErrorCode::kAlreadyExists);
  ASSERT_FALSE(results.at("threw"));
  EXPECT_EQ(results.at("threw").error().code(), ErrorCode::kInternal);
  EXPECT_EQ(results.at("threw").error().message(),
            "committing to " + path_ + ": the commit function threw: bad json");

  auto after = store->stats();
  EXPECT_LE(after.transactions - before.transactions, 2u);  // all in the gate's batch or the next
  EXPECT_GE(after.largest_batch, 5u);
  EXPECT_EQ(after.failed_requests - before.failed_requests, 3u);
  EXPECT_TRUE(store->run("first")->has_value());
  EXPECT_TRUE(store->run("last")->has_value());
  EXPECT_FALSE(store->run("refused")->has_value());
  EXPECT_EQ(store->run("existing").value()->created_ms, 1);
  for (const char* key : {"refused", "duplicate", "threw"})
    EXPECT_FALSE(store->setting(key)->has_value()) << key;
}

TEST_F(SqliteStoreTest, AStatementErrorFailsItsRequestEvenWhenTheFunctionIgnoresIt) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(commit(*store, insertRun(makeRun("r1", 1))));
  auto status = commit(*store, [](WriteTx& tx) -> Status {
    (void)tx.insertRun(makeRun("r1", 2));
    return tx.setSetting("after", "x");
  });
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_FALSE(store->setting("after")->has_value());
}

TEST_F(SqliteStoreTest, CommitSyncInsideACommitFunctionFailsInsteadOfDeadlocking) {
  auto store = open();
  ASSERT_TRUE(store);
  Status inner;
  ASSERT_TRUE(store->commitSync([&](WriteTx&) -> Status {
    inner = store->commitSync([](WriteTx& tx) { return tx.setSetting("k", "v"); });
    return {};
  }));
  ASSERT_FALSE(inner);
  EXPECT_EQ(inner.error().code(), ErrorCode::kFailedPrecondition);
}

TEST_F(SqliteStoreTest, CommitCompletesOnTheCallersExecutor) {
  auto store = open();
  ASSERT_TRUE(store);
  asio::io_context io;
  std::thread::id resumed_on;
  asio::co_spawn(io, [&]() -> core::awaitable<void> {
    auto ok = co_await store->commit(insertRun(makeRun("r1", 1)));
    EXPECT_TRUE(ok);
    resumed_on = std::this_thread::get_id();
  }, asio::detached);
  io.run();
  EXPECT_EQ(resumed_on, std::this_thread::get_id());
}

// --- Concurrency of reads ---

TEST_F(SqliteStoreTest, ReadsDoNotWaitForAnOpenWriteTransaction) {
  auto store = open();
  ASSERT_TRUE(store);
  Gate gate;
  std::thread writer([&] {
    auto ok = store->commitSync([&](WriteTx& tx) -> Status {
      if (auto ok = tx.insertRun(makeRun("pending", 1)); !ok) return ok;
      return gate.fn()(tx);
    });
    EXPECT_TRUE(ok);
  });
  gate.waitEntered();
  // The writer holds its transaction open; a read answers from the last commit.
  auto during = store->run("pending");
  ASSERT_TRUE(during) << during.error().str();
  EXPECT_FALSE(during->has_value());
  EXPECT_EQ(store->countActiveRuns("").value(), 0);
  gate.open();
  writer.join();
  EXPECT_TRUE(store->run("pending")->has_value());
}

TEST_F(SqliteStoreTest, ReadsFromOtherThreadsWhileWritesHappen) {
  SqliteOptions options;
  options.read_connections = 2;
  auto store = open(options);
  ASSERT_TRUE(store);
  constexpr int kRuns = 150;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < kRuns; ++i) {
      auto ok = store->commitSync([i](WriteTx& tx) -> Status {
        RunRecord run = makeRun("r" + std::to_string(i), i);
        run.max_runs_key = "k";
        if (auto ok = tx.insertRun(run); !ok) return ok;
        return tx.upsertStep(makeStep(run.id, "s", i));
      });
      ASSERT_TRUE(ok) << ok.error().str();
    }
    done = true;
  });
  // Three readers on two connections: one of them waits for a lease at times.
  std::vector<std::thread> readers;
  std::atomic<int> errors{0};
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      int64_t last = 0;
      while (!done.load()) {
        auto n = store->countRunsSince("k", 0);
        auto runs = store->runs(limited(5));
        if (!n || !runs) {
          ++errors;
          continue;
        }
        if (*n < last) ++errors;  // a reader never sees the count go back
        last = *n;
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(store->countRunsSince("k", 0).value(), kRuns);
}

// --- Checkpoints ---

TEST_F(SqliteStoreTest, CheckpointsRunInTheBackgroundWhenTheWalGrows) {
  // No periodic checkpoint; any WAL counts as large, so the first commit wakes the thread.
  SqliteOptions options;
  options.checkpoint_interval = std::chrono::milliseconds(0);
  options.checkpoint_wal_bytes = 1;
  auto store = open(options);
  ASSERT_TRUE(store);
  ASSERT_TRUE(commit(*store, insertRun(makeRun("r1", 1))));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (store->stats().checkpoints == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  EXPECT_GE(store->stats().checkpoints, 1u);
  EXPECT_EQ(store->stats().checkpoint_failures, 0u);
}

TEST_F(SqliteStoreTest, CheckpointOnDemandFoldsTheWalIntoTheDatabase) {
  SqliteOptions options;
  options.checkpoint_interval = std::chrono::milliseconds(0);
  options.checkpoint_wal_bytes = int64_t{1} << 40;
  auto store = open(options);
  ASSERT_TRUE(store);
  ASSERT_TRUE(commit(*store, insertRun(makeRun("r1", 1))));
  EXPECT_EQ(store->stats().checkpoints, 0u);
  ASSERT_TRUE(store->checkpoint());
  EXPECT_EQ(store->stats().checkpoints, 1u);
  // The writer still has its transaction-free connection: later commits are fine.
  ASSERT_TRUE(commit(*store, insertRun(makeRun("r2", 2))));
  EXPECT_EQ(store->runs({}).value().size(), 2u);
}

// --- Corrupt data ---

TEST_F(SqliteStoreTest, UnparsableJsonIsAnInternalErrorNamingTheColumn) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(commit(*store, insertRun(makeRun("r1", 1))));
  }
  {
    RawDb raw(path_);
    raw.exec("UPDATE runs SET params_json = '{broken' WHERE id = 'r1'");
  }
  auto store = open();
  ASSERT_TRUE(store);
  auto run = store->run("r1");
  ASSERT_FALSE(run);
  EXPECT_EQ(run.error().code(), ErrorCode::kInternal);
  EXPECT_EQ(run.error().message(), "reading " + path_ +
                                       ": run r1: loading run r1: column params_json is not "
                                       "valid JSON");
}

// --- Intake: alerts, identities, incidents, pending starts ---

AlertRecord makeAlert(const std::string& id, const std::string& status, int64_t received_ms) {
  AlertRecord a;
  a.id = id;
  a.identity = "prometheus|353521f55e67d83d|1795399125000";
  a.source = "prometheus";
  a.fingerprint = "353521f55e67d83d";
  a.status = status;
  a.name = "LambdaErrorSpike";
  a.labels = {{"alertname", "LambdaErrorSpike"}, {"function", "orders-handler"}};
  a.annotations = {{"summary", "error rate above 5%"}};
  a.starts_at_ms = 1'795'399'125'000;
  a.received_at_ms = received_ms;
  return a;
}

Result<AlertNote> noteAlert(SqliteStoreTest& t, SqliteStore& store, const AlertRecord& a) {
  AlertNote note;
  auto ok = t.commitFor(store, [&](WriteTx& tx) -> Status {
    auto n = tx.noteAlert(a);
    if (!n) return core::fail(n.error());
    note = *n;
    return {};
  });
  if (!ok) return core::fail(ok.error());
  return note;
}

TEST_F(SqliteStoreTest, ARepeatedAlertIsRecognisedAndNotStoredAgain) {
  auto store = open();
  ASSERT_TRUE(store);
  auto first = noteAlert(*this, *store, makeAlert("a1", "firing", 10));
  ASSERT_TRUE(first) << first.error().str();
  EXPECT_EQ(first->novelty, AlertNovelty::kNew);
  // group_interval, repeat_interval and the second of an HA pair: the same alert again.
  for (int i = 0; i < 3; ++i) {
    auto again = noteAlert(*this, *store, makeAlert("a-repeat-" + std::to_string(i), "firing", 20));
    ASSERT_TRUE(again) << again.error().str();
    EXPECT_EQ(again->novelty, AlertNovelty::kRepeat);
  }
  EXPECT_EQ(*store->countAlerts(), 1);
  auto resolved = noteAlert(*this, *store, makeAlert("a2", "resolved", 30));
  ASSERT_TRUE(resolved);
  EXPECT_EQ(resolved->novelty, AlertNovelty::kStatusChanged);
  EXPECT_EQ(*store->countAlerts(), 2);
  auto resolved_again = noteAlert(*this, *store, makeAlert("a3", "resolved", 40));
  EXPECT_EQ(resolved_again->novelty, AlertNovelty::kRepeat);
  EXPECT_EQ(*store->countAlerts(), 2);
}

TEST_F(SqliteStoreTest, IncidentsGroupAlertsAndCountTheFiringOnes) {
  auto store = open();
  ASSERT_TRUE(store);
  IncidentRecord inc{"inc-1", "lambda", "lambda|orders-handler", "open", "critical",
                     "LambdaErrorSpike", 10, 0, false};
  auto a = makeAlert("a1", "firing", 10);
  auto b = makeAlert("b1", "firing", 11);
  b.identity = "prometheus|75dfad605540f27f|1795398885000";
  b.fingerprint = "75dfad605540f27f";
  ASSERT_TRUE(commitFor(*store, [&](WriteTx& tx) -> Status {
    if (auto s = tx.upsertIncident(inc); !s) return s;
    for (const auto* alert : {&a, &b}) {
      if (auto n = tx.noteAlert(*alert); !n) return core::fail(n.error());
      if (auto s = tx.setAlertIncident(alert->id, alert->identity, inc.id); !s) return s;
    }
    return {};
  }));
  auto open_inc = store->openIncident("lambda|orders-handler");
  ASSERT_TRUE(open_inc && open_inc->has_value());
  EXPECT_EQ((*open_inc)->id, "inc-1");
  EXPECT_EQ(*store->countFiringAlerts("inc-1"), 2);
  // The resolution of one alert is filed under the incident its identity belongs to.
  auto resolved = noteAlert(*this, *store, makeAlert("a2", "resolved", 20));
  ASSERT_TRUE(resolved);
  EXPECT_EQ(resolved->incident_id, "inc-1");
  EXPECT_EQ(*store->countFiringAlerts("inc-1"), 1);
  auto alerts = store->alertsOfIncident("inc-1");
  ASSERT_TRUE(alerts);
  ASSERT_EQ(alerts->size(), 3u);
  EXPECT_EQ((*alerts)[2].status, "resolved");
  EXPECT_EQ((*alerts)[0].labels["function"], "orders-handler");
  inc.status = "resolved";
  inc.resolved_at_ms = 30;
  ASSERT_TRUE(commitFor(*store, [&](WriteTx& tx) { return tx.upsertIncident(inc); }));
  EXPECT_FALSE(store->openIncident("lambda|orders-handler")->has_value());
  auto listed = store->incidents("resolved", 10);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].resolved_at_ms, 30);
  EXPECT_TRUE(store->incidents("open", 10)->empty());
}

TEST_F(SqliteStoreTest, PendingStartsSurviveReopenUntilRemoved) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    PendingStart p{"r-1", "lambda", "inc-1", Json{{"name", "LambdaErrorSpike"}}, 10};
    ASSERT_TRUE(commitFor(*store, [&](WriteTx& tx) { return tx.addPendingStart(p); }));
  }
  auto store = open();
  auto pending = store->pendingStarts();
  ASSERT_TRUE(pending) << pending.error().str();
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].run_id, "r-1");
  EXPECT_EQ((*pending)[0].alert["name"], "LambdaErrorSpike");
  ASSERT_TRUE(commitFor(*store, [](WriteTx& tx) { return tx.removePendingStart("r-1"); }));
  EXPECT_TRUE(store->pendingStarts()->empty());
}

}  // namespace
}  // namespace firebreak::store

namespace firebreak::store {
namespace {

TEST_F(SqliteStoreTest, DrillRunsRoundTripListNewestFirstAndFindTheUnfinished) {
  auto store = open();
  ASSERT_TRUE(store);
  DrillRunRecord a;
  a.id = "drill-a";
  a.drill = "weekly";
  a.drill_file = "drills/weekly.yaml";
  a.drill_source = "kind: Drill";
  a.trigger = "schedule";
  a.dry_run = false;
  a.stage = "watch";
  a.status = "running";
  a.incident_id = "inc-1";
  a.runs = Json::array({Json{{"id", "r-1"}, {"role", "playbook"}}});
  a.objectives = Json::array({Json{{"name", "contained_within"}, {"target_ms", 60000}}});
  a.probes = Json::array({Json{{"when", "steady_state"}, {"ok", true}}});
  a.measured = Json{{"contained_ms", 1234}};
  a.scheduled_ms = 1000;
  a.started_ms = 1001;
  a.injected_ms = 1002;
  DrillRunRecord b = a;
  b.id = "drill-b";
  b.status = "passed";
  b.stage = "done";
  b.started_ms = 2000;
  b.finished_ms = 2500;
  DrillRunRecord other = a;
  other.id = "drill-c";
  other.drill = "monthly";
  other.status = "failed";
  ASSERT_TRUE(commit(*store, [&](WriteTx& tx) -> Status {
    for (const auto* d : {&a, &b, &other})
      if (auto ok = tx.upsertDrillRun(*d); !ok) return ok;
    return {};
  }));
  auto got = store->drillRun("drill-a");
  ASSERT_TRUE(got && got->has_value());
  const auto& r = **got;
  EXPECT_EQ(r.drill, "weekly");
  EXPECT_EQ(r.drill_file, "drills/weekly.yaml");
  EXPECT_EQ(r.drill_source, "kind: Drill");
  EXPECT_EQ(r.trigger, "schedule");
  EXPECT_FALSE(r.dry_run);
  EXPECT_EQ(r.stage, "watch");
  EXPECT_EQ(r.incident_id, "inc-1");
  EXPECT_EQ(r.runs, a.runs);
  EXPECT_EQ(r.objectives, a.objectives);
  EXPECT_EQ(r.probes, a.probes);
  EXPECT_EQ(r.measured, a.measured);
  EXPECT_EQ(r.scheduled_ms, 1000);
  EXPECT_EQ(r.injected_ms, 1002);

  auto weekly = store->drillRuns("weekly", 10);
  ASSERT_TRUE(weekly);
  ASSERT_EQ(weekly->size(), 2u);
  EXPECT_EQ((*weekly)[0].id, "drill-b");
  auto all = store->drillRuns("", 0);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 3u);
  auto running = store->unfinishedDrillRuns();
  ASSERT_TRUE(running);
  ASSERT_EQ(running->size(), 1u);
  EXPECT_EQ((*running)[0].id, "drill-a");

  // An update replaces the record.
  a.status = "error";
  ASSERT_TRUE(commit(*store, [&](WriteTx& tx) { return tx.upsertDrillRun(a); }));
  running = store->unfinishedDrillRuns();
  ASSERT_TRUE(running);
  EXPECT_TRUE(running->empty());
  EXPECT_FALSE(*store->drillRun("nope"));
}

}  // namespace
}  // namespace firebreak::store
