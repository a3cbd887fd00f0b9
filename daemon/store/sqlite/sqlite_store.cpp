#include "daemon/store/sqlite/sqlite_store.h"

#include <filesystem>
#include <future>
#include <system_error>

#include "daemon/store/sqlite/checkpointer.h"
#include "daemon/store/sqlite/connection.h"
#include "daemon/store/sqlite/migrations.h"
#include "daemon/store/sqlite/read_pool.h"
#include "daemon/store/sqlite/writer.h"

namespace firebreak::store {

using core::ErrorCode;
using sqlite::Connection;
using sqlite::prefixed;
using sqlite::Query;

namespace {

const char* synchronousPragma(SqliteSync sync) {
  switch (sync) {
    case SqliteSync::kOff: return "PRAGMA synchronous = OFF";
    case SqliteSync::kNormal: return "PRAGMA synchronous = NORMAL";
    case SqliteSync::kFull: return "PRAGMA synchronous = FULL";
    case SqliteSync::kExtra: return "PRAGMA synchronous = EXTRA";
  }
  return "PRAGMA synchronous = FULL";
}

// Called by SQLite on the writer thread after each commit, with the WAL's size in pages.
// Installing it also replaces SQLite's own autocheckpoint, which is what we want.
int walHook(void* checkpointer, sqlite3* /*db*/, const char* /*db_name*/, int pages) {
  static_cast<sqlite::Checkpointer*>(checkpointer)->noteCommit(pages);
  return SQLITE_OK;
}

class PromiseCompletion final : public sqlite::Completion {
 public:
  explicit PromiseCompletion(std::promise<Status> promise) : promise_(std::move(promise)) {}
  void complete(Status status) override { promise_.set_value(std::move(status)); }

 private:
  std::promise<Status> promise_;
};

// Queues a commit; the waiting coroutine resumes on its own executor.
struct CommitOp {
  sqlite::Writer* writer;
  std::function<Status(WriteTx&)> fn;

  template <typename Handler>
  void operator()(Handler handler) {
    writer->submit(std::move(fn),
                   std::make_unique<sqlite::HandlerCompletion<Handler>>(std::move(handler)));
  }
};

// Settings for the write connection: WAL, the durability asked for, no autocheckpoint.
Status configureWriter(Connection& conn, const SqliteOptions& options) {
  const std::string what = "configuring " + conn.path();
  {
    auto mode = Query::prepare(conn, "PRAGMA journal_mode = WAL", what);
    if (!mode) return core::fail(mode.error());
    auto row = mode->step();
    if (!row) return core::fail(row.error());
    if (!*row || mode->text(0) != "wal") {
      return core::fail(ErrorCode::kFailedPrecondition,
                        what + ": cannot use WAL mode (journal_mode is '" +
                            (*row ? mode->text(0) : std::string()) + "')");
    }
  }
  for (const char* pragma :
       {synchronousPragma(options.synchronous), "PRAGMA wal_autocheckpoint = 0",
        // After a checkpoint lets the WAL restart, trim the file rather than keep its peak.
        "PRAGMA journal_size_limit = 67108864",
        // Each request of a group commit is a savepoint; its statement journal only serves
        // rolling that request back, so it need not be a file written in /var/tmp.
        "PRAGMA temp_store = MEMORY",
        // The pages intake inserts into (identities, alert ids) stay in memory: each alert
        // then costs page writes to the WAL, not reads as well. 32 MiB.
        "PRAGMA cache_size = -32768"}) {
    if (auto ok = conn.exec(pragma, what); !ok) return ok;
  }
  return {};
}

// Runs f(connection) on a read connection; errors read "reading <path>: ...".
template <typename F>
auto withReader(sqlite::ReadPool& pool, const std::string& path, F f)
    -> decltype(f(std::declval<Connection&>())) {
  auto lease = pool.acquire();
  if (!lease) return core::fail(prefixed(lease.error(), "reading " + path + ": "));
  auto out = f(**lease);
  if (!out) return core::fail(prefixed(out.error(), "reading " + path + ": "));
  return out;
}

// Reads every row with rowFn(query) -> Result<T>.
template <typename T, typename RowFn>
Result<std::vector<T>> collect(Query& query, RowFn rowFn) {
  std::vector<T> out;
  while (true) {
    auto row = query.step();
    if (!row) return core::fail(row.error());
    if (!*row) return out;
    auto item = rowFn(query);
    if (!item) return core::fail(item.error());
    out.push_back(std::move(*item));
  }
}

// A single row or nullopt.
template <typename T, typename RowFn>
Result<std::optional<T>> first(Query& query, RowFn rowFn) {
  auto row = query.step();
  if (!row) return core::fail(row.error());
  if (!*row) return std::optional<T>();
  auto item = rowFn(query);
  if (!item) return core::fail(item.error());
  return std::optional<T>(std::move(*item));
}

Result<int64_t> count(Connection& conn, const std::string& sql, std::string what,
                      const auto&... args) {
  auto query = Query::prepare(conn, sql, std::move(what));
  if (!query) return core::fail(query.error());
  return query->bind(args...).scalarInt();
}

// Column lists, in the order the row readers below expect.
const std::string kRunColumns =
    "id, playbook, playbook_file, playbook_hash, playbook_source, incident_id, \"trigger\", "
    "params_json, alert_json, status, dry_run, error, concurrency_key, max_runs_key, dedup_key, "
    "created_ms, deadline_ms, finished_ms";
const std::string kStepColumns =
    "run_id, step_id, stage, attempt, action, status, idempotency_key, idempotent, destructive, "
    "dry_run, params_json, output_json, error, started_ms, finished_ms";
const std::string kTimelineColumns =
    "id, at_ms, incident_id, run_id, step_id, kind, message, data_json";
const std::string kApprovalColumns =
    "run_id, step_id, role, status, reason, decided_by, requested_ms, expires_ms, decided_ms";

// The statuses of runs that are not final, as SQL (constants, not values).
const std::string kUnfinishedStatuses =
    "('queued', 'running', 'waiting-approval', 'needs-attention')";
const std::string kActiveStatuses = "('running', 'waiting-approval', 'needs-attention')";

Result<RunRecord> runFromRow(const Query& q) {
  RunRecord r;
  r.id = q.text(0);
  r.playbook = q.text(1);
  r.playbook_file = q.text(2);
  r.playbook_hash = q.text(3);
  r.playbook_source = q.text(4);
  r.incident_id = q.text(5);
  r.trigger = q.text(6);
  auto params = q.json(7);
  if (!params) return core::fail(prefixed(params.error(), "run " + r.id + ": "));
  r.params = std::move(*params);
  auto alert = q.json(8);
  if (!alert) return core::fail(prefixed(alert.error(), "run " + r.id + ": "));
  r.alert = std::move(*alert);
  std::string status = q.text(9);
  auto parsed = parseRunStatus(status);
  if (!parsed)
    return core::fail(ErrorCode::kInternal, "run " + r.id + " has unknown status '" + status + "'");
  r.status = *parsed;
  r.dry_run = q.boolean(10);
  r.error = q.text(11);
  r.concurrency_key = q.text(12);
  r.max_runs_key = q.text(13);
  r.dedup_key = q.text(14);
  r.created_ms = q.integer(15);
  r.deadline_ms = q.integer(16);
  r.finished_ms = q.integer(17);
  return r;
}

const std::string kIncidentColumns =
    "id, playbook, dedup_key, status, severity, title, opened_at_ms, resolved_at_ms, is_drill";

Result<IncidentRecord> incidentFromRow(const Query& q) {
  IncidentRecord i;
  i.id = q.text(0);
  i.playbook = q.text(1);
  i.dedup_key = q.text(2);
  i.status = q.text(3);
  i.severity = q.text(4);
  i.title = q.text(5);
  i.opened_at_ms = q.integer(6);
  i.resolved_at_ms = q.integer(7);
  i.drill = q.boolean(8);
  return i;
}

const std::string kAlertColumns =
    "id, identity, source, fingerprint, status, name, labels_json, annotations_json, "
    "starts_at_ms, ends_at_ms, received_at_ms, is_drill, incident_id, silence_id";

Result<AlertRecord> alertFromRow(const Query& q) {
  AlertRecord a;
  a.id = q.text(0);
  a.identity = q.text(1);
  a.source = q.text(2);
  a.fingerprint = q.text(3);
  a.status = q.text(4);
  a.name = q.text(5);
  auto labels = q.json(6);
  if (!labels) return core::fail(prefixed(labels.error(), "alert " + a.id + ": "));
  a.labels = core::toStringMap(*labels);
  auto annotations = q.json(7);
  if (!annotations) return core::fail(prefixed(annotations.error(), "alert " + a.id + ": "));
  a.annotations = core::toStringMap(*annotations);
  a.starts_at_ms = q.integer(8);
  a.ends_at_ms = q.integer(9);
  a.received_at_ms = q.integer(10);
  a.drill = q.boolean(11);
  a.incident_id = q.text(12);
  a.silence_id = q.text(13);
  return a;
}

const std::string kDrillRunColumns =
    "id, drill, drill_file, drill_source, trigger, dry_run, stage, status, error, incident_id, "
    "runs_json, objectives_json, probes_json, measured_json, scheduled_ms, started_ms, "
    "injected_ms, finished_ms";

Result<DrillRunRecord> drillRunFromRow(const Query& q) {
  DrillRunRecord d;
  d.id = q.text(0);
  d.drill = q.text(1);
  d.drill_file = q.text(2);
  d.drill_source = q.text(3);
  d.trigger = q.text(4);
  d.dry_run = q.boolean(5);
  d.stage = q.text(6);
  d.status = q.text(7);
  d.error = q.text(8);
  d.incident_id = q.text(9);
  Json* targets[] = {&d.runs, &d.objectives, &d.probes, &d.measured};
  for (int i = 0; i < 4; ++i) {
    auto value = q.json(10 + i);
    if (!value) return core::fail(prefixed(value.error(), "drill run " + d.id + ": "));
    *targets[i] = std::move(*value);
  }
  d.scheduled_ms = q.integer(14);
  d.started_ms = q.integer(15);
  d.injected_ms = q.integer(16);
  d.finished_ms = q.integer(17);
  return d;
}

const std::string kSilenceColumns =
    "id, matchers_json, created_by, reason, starts_at_ms, ends_at_ms";

Result<SilenceRecord> silenceFromRow(const Query& q) {
  SilenceRecord si;
  si.id = q.text(0);
  auto matchers = q.json(1);
  if (!matchers) return core::fail(prefixed(matchers.error(), "silence " + si.id + ": "));
  si.matchers = std::move(*matchers);
  si.created_by = q.text(2);
  si.reason = q.text(3);
  si.starts_at_ms = q.integer(4);
  si.ends_at_ms = q.integer(5);
  return si;
}

Result<PendingStart> pendingFromRow(const Query& q) {
  PendingStart p;
  p.run_id = q.text(0);
  p.playbook = q.text(1);
  p.incident_id = q.text(2);
  auto alert = q.json(3);
  if (!alert) return core::fail(prefixed(alert.error(), "pending run " + p.run_id + ": "));
  p.alert = std::move(*alert);
  p.created_ms = q.integer(4);
  return p;
}

Result<StepRecord> stepFromRow(const Query& q) {
  StepRecord s;
  s.run_id = q.text(0);
  s.step_id = q.text(1);
  s.stage = q.text(2);
  s.attempt = static_cast<int>(q.integer(3));
  s.action = q.text(4);
  s.status = q.text(5);
  s.idempotency_key = q.text(6);
  s.idempotent = q.boolean(7);
  s.destructive = q.boolean(8);
  s.dry_run = q.boolean(9);
  const std::string where = "step " + s.step_id + " of run " + s.run_id + ": ";
  auto params = q.json(10);
  if (!params) return core::fail(prefixed(params.error(), where));
  s.params = std::move(*params);
  auto output = q.json(11);
  if (!output) return core::fail(prefixed(output.error(), where));
  s.output = std::move(*output);
  s.error = q.text(12);
  s.started_ms = q.integer(13);
  s.finished_ms = q.integer(14);
  return s;
}

Result<TimelineEvent> eventFromRow(const Query& q) {
  TimelineEvent e;
  e.id = q.integer(0);
  e.at_ms = q.integer(1);
  e.incident_id = q.text(2);
  e.run_id = q.text(3);
  e.step_id = q.text(4);
  e.kind = q.text(5);
  e.message = q.text(6);
  auto data = q.json(7);
  if (!data)
    return core::fail(prefixed(data.error(), "timeline event " + std::to_string(e.id) + ": "));
  e.data = std::move(*data);
  return e;
}

Result<ApprovalRecord> approvalFromRow(const Query& q) {
  ApprovalRecord a;
  a.run_id = q.text(0);
  a.step_id = q.text(1);
  a.role = q.text(2);
  a.status = q.text(3);
  a.reason = q.text(4);
  a.decided_by = q.text(5);
  a.requested_ms = q.integer(6);
  a.expires_ms = q.integer(7);
  a.decided_ms = q.integer(8);
  return a;
}

}  // namespace

core::Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                             const core::Clock& clock,
                                                             Options options) {
  if (path.empty()) return core::fail(ErrorCode::kInvalidArgument, "no database path given");
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return core::fail(ErrorCode::kIo, "creating directory " + parent.string() +
                                            " for the database: " + ec.message());
    }
  }

  auto conn = Connection::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                               options.busy_timeout);
  if (!conn) return core::fail(conn.error());
  // Read the version before changing anything: a newer database is left exactly as it is.
  auto version = sqlite::schemaVersion(**conn);
  if (!version) return core::fail(version.error());
  if (*version > sqlite::latestSchemaVersion()) {
    return core::fail(ErrorCode::kFailedPrecondition,
                      "database " + path + " has schema version " + std::to_string(*version) +
                          ", newer than this firebreak (" +
                          std::to_string(sqlite::latestSchemaVersion()) +
                          "): upgrade firebreak or restore a backup");
  }
  if (auto ok = configureWriter(**conn, options); !ok) return core::fail(ok.error());
  if (auto ok = sqlite::migrate(**conn, clock); !ok) return core::fail(ok.error());
  auto page_size = (*conn)->queryInt("PRAGMA page_size", "reading the page size of " + path);
  if (!page_size) return core::fail(page_size.error());

  auto checkpoint_conn = Connection::open(path, SQLITE_OPEN_READWRITE, options.busy_timeout);
  if (!checkpoint_conn) return core::fail(checkpoint_conn.error());

  std::unique_ptr<SqliteStore> store(new SqliteStore(path));
  store->schema_version_ = sqlite::latestSchemaVersion();
  store->checkpointer_ = std::make_unique<sqlite::Checkpointer>(
      std::move(*checkpoint_conn), options.checkpoint_interval, options.checkpoint_wal_bytes,
      *page_size);
  sqlite3_wal_hook((*conn)->handle(), &walHook, store->checkpointer_.get());
  store->readers_ =
      std::make_unique<sqlite::ReadPool>(path, options.busy_timeout, options.read_connections);
  store->writer_ = std::make_unique<sqlite::Writer>(
      std::move(*conn), options.max_batch,
      sqlite::WriterMetrics{options.batch_size_metric, options.commit_seconds_metric});
  return store;
}

SqliteStore::SqliteStore(std::string path) : path_(std::move(path)) {}

SqliteStore::~SqliteStore() = default;

core::awaitable<Status> SqliteStore::commit(std::function<Status(WriteTx&)> fn) {
  // Not a coroutine itself: GCC 12 destroys non-trivial temporaries inside a co_await
  // expression twice, which freed the captured function twice. Boost's own coroutine takes
  // the initiation as a parameter, which GCC handles.
  return asio::async_initiate<decltype(core::use_awaitable), void(Status)>(
      CommitOp{writer_.get(), std::move(fn)}, core::use_awaitable);
}

Status SqliteStore::commitSync(std::function<Status(WriteTx&)> fn) {
  if (writer_->onWriterThread()) {
    return core::fail(ErrorCode::kFailedPrecondition,
                      "committing to " + path_ + ": commitSync() inside a commit function");
  }
  std::promise<Status> promise;
  auto future = promise.get_future();
  writer_->submit(std::move(fn), std::make_unique<PromiseCompletion>(std::move(promise)));
  return future.get();
}

Result<std::optional<RunRecord>> SqliteStore::run(const std::string& run_id) const {
  static const std::string sql = "SELECT " + kRunColumns + " FROM runs WHERE id = ?";
  return withReader(*readers_, path_, [&](Connection& conn) -> Result<std::optional<RunRecord>> {
    auto query = Query::prepare(conn, sql, "loading run " + run_id);
    if (!query) return core::fail(query.error());
    query->bind(run_id);
    return first<RunRecord>(*query, runFromRow);
  });
}

Result<std::vector<RunRecord>> SqliteStore::runs(const RunFilter& filter) const {
  // Only the placeholders vary with the filter; the values are bound. Each shape is its own
  // statement, so SQLite picks the index for it (status, incident or playbook).
  std::string sql = "SELECT " + kRunColumns + " FROM runs";
  std::vector<std::string> values;
  auto where = [&](const char* condition, std::string value) {
    sql += values.empty() ? " WHERE " : " AND ";
    sql += condition;
    values.push_back(std::move(value));
  };
  if (filter.status) where("status = ?", runStatusName(*filter.status));
  if (!filter.incident_id.empty()) where("incident_id = ?", filter.incident_id);
  if (!filter.playbook.empty()) where("playbook = ?", filter.playbook);
  sql += " ORDER BY created_ms DESC, rowid DESC LIMIT ?";
  int64_t limit = filter.limit > 0 ? filter.limit : -1;  // SQLite: negative is no limit
  return withReader(*readers_, path_, [&](Connection& conn) -> Result<std::vector<RunRecord>> {
    auto query = Query::prepare(conn, sql, "listing runs");
    if (!query) return core::fail(query.error());
    int index = 1;
    for (const auto& value : values) query->bindAt(index++, value);
    query->bindAt(index, limit);
    return collect<RunRecord>(*query, runFromRow);
  });
}

Result<std::vector<RunRecord>> SqliteStore::unfinishedRuns() const {
  static const std::string sql = "SELECT " + kRunColumns + " FROM runs WHERE status IN " +
                                 kUnfinishedStatuses + " ORDER BY created_ms, rowid";
  return withReader(*readers_, path_, [&](Connection& conn) -> Result<std::vector<RunRecord>> {
    auto query = Query::prepare(conn, sql, "listing unfinished runs");
    if (!query) return core::fail(query.error());
    return collect<RunRecord>(*query, runFromRow);
  });
}

Result<std::vector<StepRecord>> SqliteStore::steps(const std::string& run_id) const {
  static const std::string sql =
      "SELECT " + kStepColumns + " FROM steps WHERE run_id = ? ORDER BY started_ms, rowid";
  return withReader(*readers_, path_, [&](Connection& conn) -> Result<std::vector<StepRecord>> {
    auto query = Query::prepare(conn, sql, "loading the steps of run " + run_id);
    if (!query) return core::fail(query.error());
    query->bind(run_id);
    return collect<StepRecord>(*query, stepFromRow);
  });
}

Result<std::vector<TimelineEvent>> SqliteStore::timelineOfRun(const std::string& run_id) const {
  static const std::string sql =
      "SELECT " + kTimelineColumns + " FROM timeline WHERE run_id = ? ORDER BY at_ms, id";
  return withReader(*readers_, path_, [&](Connection& conn) -> Result<std::vector<TimelineEvent>> {
    auto query = Query::prepare(conn, sql, "loading the timeline of run " + run_id);
    if (!query) return core::fail(query.error());
    query->bind(run_id);
    return collect<TimelineEvent>(*query, eventFromRow);
  });
}

Result<std::vector<TimelineEvent>> SqliteStore::timelineOfIncident(
    const std::string& incident_id) const {
  static const std::string sql =
      "SELECT " + kTimelineColumns + " FROM timeline WHERE incident_id = ? ORDER BY at_ms, id";
  return withReader(*readers_, path_, [&](Connection& conn) -> Result<std::vector<TimelineEvent>> {
    auto query = Query::prepare(conn, sql, "loading the timeline of incident " + incident_id);
    if (!query) return core::fail(query.error());
    query->bind(incident_id);
    return collect<TimelineEvent>(*query, eventFromRow);
  });
}

Result<std::vector<ApprovalRecord>> SqliteStore::approvals(const std::string& run_id) const {
  static const std::string sql = "SELECT " + kApprovalColumns +
                                 " FROM approvals WHERE run_id = ? ORDER BY requested_ms, step_id";
  return withReader(*readers_, path_,
                    [&](Connection& conn) -> Result<std::vector<ApprovalRecord>> {
                      auto query = Query::prepare(conn, sql, "loading approvals of run " + run_id);
                      if (!query) return core::fail(query.error());
                      query->bind(run_id);
                      return collect<ApprovalRecord>(*query, approvalFromRow);
                    });
}

Result<std::vector<ApprovalRecord>> SqliteStore::pendingApprovals() const {
  static const std::string sql = "SELECT " + kApprovalColumns +
                                 " FROM approvals WHERE status = 'pending'"
                                 " ORDER BY requested_ms, run_id, step_id";
  return withReader(*readers_, path_,
                    [&](Connection& conn) -> Result<std::vector<ApprovalRecord>> {
                      auto query = Query::prepare(conn, sql, "loading pending approvals");
                      if (!query) return core::fail(query.error());
                      return collect<ApprovalRecord>(*query, approvalFromRow);
                    });
}

Result<std::optional<std::string>> SqliteStore::setting(const std::string& key) const {
  static const std::string sql = "SELECT value FROM settings WHERE key = ?";
  return withReader(*readers_, path_,
                    [&](Connection& conn) -> Result<std::optional<std::string>> {
                      auto query = Query::prepare(conn, sql, "loading setting " + key);
                      if (!query) return core::fail(query.error());
                      query->bind(key);
                      return first<std::string>(
                          *query, [](const Query& q) -> Result<std::string> { return q.text(0); });
                    });
}

Result<std::optional<BreakerRecord>> SqliteStore::breaker(const std::string& action) const {
  static const std::string sql =
      "SELECT action, consecutive_failures, open, opened_ms FROM breakers WHERE action = ?";
  return withReader(*readers_, path_,
                    [&](Connection& conn) -> Result<std::optional<BreakerRecord>> {
                      auto query = Query::prepare(conn, sql, "loading the breaker of " + action);
                      if (!query) return core::fail(query.error());
                      query->bind(action);
                      return first<BreakerRecord>(*query, [](const Query& q) -> Result<BreakerRecord> {
                        BreakerRecord b;
                        b.action = q.text(0);
                        b.consecutive_failures = static_cast<int>(q.integer(1));
                        b.open = q.boolean(2);
                        b.opened_ms = q.integer(3);
                        return b;
                      });
                    });
}

Result<int64_t> SqliteStore::countRunsSince(const std::string& max_runs_key,
                                            int64_t since_ms) const {
  static const std::string sql =
      "SELECT count(*) FROM runs WHERE max_runs_key = ? AND created_ms >= ?";
  return withReader(*readers_, path_, [&](Connection& conn) {
    return count(conn, sql, "counting runs of " + max_runs_key, max_runs_key, since_ms);
  });
}

Result<int64_t> SqliteStore::countDestructiveSince(int64_t since_ms) const {
  // The first two terms match the partial index steps_destructive.
  static const std::string sql =
      "SELECT count(*) FROM steps WHERE destructive = 1 AND dry_run = 0"
      " AND status NOT IN ('planned', 'skipped') AND started_ms >= ?";
  return withReader(*readers_, path_, [&](Connection& conn) {
    return count(conn, sql, "counting destructive steps", since_ms);
  });
}

Result<int64_t> SqliteStore::countActiveRuns(const std::string& concurrency_key) const {
  static const std::string sql = "SELECT count(*) FROM runs WHERE concurrency_key = ?"
                                 " AND status IN " + kActiveStatuses;
  return withReader(*readers_, path_, [&](Connection& conn) {
    return count(conn, sql, "counting active runs of " + concurrency_key, concurrency_key);
  });
}

Result<std::optional<IncidentRecord>> SqliteStore::incident(const std::string& id) const {
  static const std::string sql = "SELECT " + kIncidentColumns + " FROM incidents WHERE id = ?";
  return withReader(*readers_, path_, [&](Connection& conn) -> Result<std::optional<IncidentRecord>> {
    auto query = Query::prepare(conn, sql, "loading incident " + id);
    if (!query) return core::fail(query.error());
    query->bind(id);
    return first<IncidentRecord>(*query, incidentFromRow);
  });
}

Result<std::optional<IncidentRecord>> SqliteStore::openIncident(const std::string& dedup_key) const {
  static const std::string sql = "SELECT " + kIncidentColumns +
                                 " FROM incidents WHERE dedup_key = ? AND status = 'open'"
                                 " ORDER BY opened_at_ms DESC LIMIT 1";
  return withReader(*readers_, path_, [&](Connection& conn) -> Result<std::optional<IncidentRecord>> {
    auto query = Query::prepare(conn, sql, "finding the open incident of " + dedup_key);
    if (!query) return core::fail(query.error());
    query->bind(dedup_key);
    return first<IncidentRecord>(*query, incidentFromRow);
  });
}

Result<std::vector<IncidentRecord>> SqliteStore::incidents(const std::string& status,
                                                           int limit) const {
  static const std::string all = "SELECT " + kIncidentColumns +
                                 " FROM incidents ORDER BY opened_at_ms DESC, rowid DESC LIMIT ?2";
  static const std::string by_status =
      "SELECT " + kIncidentColumns +
      " FROM incidents WHERE status = ?1 ORDER BY opened_at_ms DESC, rowid DESC LIMIT ?2";
  return withReader(*readers_, path_, [&](Connection& conn) -> Result<std::vector<IncidentRecord>> {
    auto query = Query::prepare(conn, status.empty() ? all : by_status, "listing incidents");
    if (!query) return core::fail(query.error());
    if (!status.empty()) query->bindAt(1, status);
    query->bindAt(2, static_cast<int64_t>(limit > 0 ? limit : -1));
    return collect<IncidentRecord>(*query, incidentFromRow);
  });
}

Result<std::vector<AlertRecord>> SqliteStore::alertsOfIncident(const std::string& incident_id) const {
  static const std::string sql = "SELECT " + kAlertColumns +
                                 " FROM alerts WHERE incident_id = ? ORDER BY received_at_ms, rowid";
  return withReader(*readers_, path_, [&](Connection& conn) -> Result<std::vector<AlertRecord>> {
    auto query = Query::prepare(conn, sql, "loading the alerts of incident " + incident_id);
    if (!query) return core::fail(query.error());
    query->bind(incident_id);
    return collect<AlertRecord>(*query, alertFromRow);
  });
}

Result<int64_t> SqliteStore::countFiringAlerts(const std::string& incident_id) const {
  static const std::string sql =
      "SELECT count(*) FROM alert_identities WHERE incident_id = ? AND status = 'firing'";
  return withReader(*readers_, path_, [&](Connection& conn) {
    return count(conn, sql, "counting the firing alerts of incident " + incident_id, incident_id);
  });
}

Result<int64_t> SqliteStore::countAlerts() const {
  return withReader(*readers_, path_, [&](Connection& conn) {
    return count(conn, "SELECT count(*) FROM alerts", "counting alerts");
  });
}

Result<std::vector<PendingStart>> SqliteStore::pendingStarts() const {
  static const std::string sql =
      "SELECT run_id, playbook, incident_id, alert_json, created_ms FROM pending_starts"
      " ORDER BY created_ms, rowid";
  return withReader(*readers_, path_, [&](Connection& conn) -> Result<std::vector<PendingStart>> {
    auto query = Query::prepare(conn, sql, "listing pending run starts");
    if (!query) return core::fail(query.error());
    return collect<PendingStart>(*query, pendingFromRow);
  });
}

Result<std::optional<SilenceRecord>> SqliteStore::silence(const std::string& id) const {
  static const std::string sql = "SELECT " + kSilenceColumns + " FROM silences WHERE id = ?";
  return withReader(*readers_, path_, [&](Connection& conn) -> Result<std::optional<SilenceRecord>> {
    auto query = Query::prepare(conn, sql, "loading silence " + id);
    if (!query) return core::fail(query.error());
    query->bind(id);
    return first<SilenceRecord>(*query, silenceFromRow);
  });
}

Result<std::vector<SilenceRecord>> SqliteStore::silences(int64_t now_ms,
                                                         bool include_expired) const {
  static const std::string active = "SELECT " + kSilenceColumns +
                                    " FROM silences WHERE ends_at_ms > ?1 AND starts_at_ms <= ?1"
                                    " ORDER BY starts_at_ms DESC, rowid DESC";
  static const std::string all = "SELECT " + kSilenceColumns +
                                 " FROM silences WHERE ?1 = ?1"
                                 " ORDER BY starts_at_ms DESC, rowid DESC LIMIT 1000";
  return withReader(*readers_, path_, [&](Connection& conn) -> Result<std::vector<SilenceRecord>> {
    auto query = Query::prepare(conn, include_expired ? all : active, "listing silences");
    if (!query) return core::fail(query.error());
    query->bind(now_ms);
    return collect<SilenceRecord>(*query, silenceFromRow);
  });
}

SqliteStoreStats SqliteStore::stats() const {
  sqlite::WriterStats w = writer_->stats();
  SqliteStoreStats out;
  out.transactions = w.transactions;
  out.failed_transactions = w.failed_transactions;
  out.commit_requests = w.requests;
  out.failed_requests = w.failed_requests;
  out.largest_batch = w.largest_batch;
  out.checkpoints = checkpointer_->checkpoints();
  out.checkpoint_failures = checkpointer_->failures();
  return out;
}

Status SqliteStore::checkpoint() { return checkpointer_->checkpointNow(); }

Result<std::optional<DrillRunRecord>> SqliteStore::drillRun(const std::string& id) const {
  static const std::string sql = "SELECT " + kDrillRunColumns + " FROM drill_runs WHERE id = ?";
  return withReader(*readers_, path_, [&](Connection& conn) -> Result<std::optional<DrillRunRecord>> {
    auto query = Query::prepare(conn, sql, "loading drill run " + id);
    if (!query) return core::fail(query.error());
    query->bind(id);
    return first<DrillRunRecord>(*query, drillRunFromRow);
  });
}

Result<std::vector<DrillRunRecord>> SqliteStore::drillRuns(const std::string& drill,
                                                           int limit) const {
  static const std::string one = "SELECT " + kDrillRunColumns +
                                 " FROM drill_runs WHERE drill = ?1"
                                 " ORDER BY started_ms DESC, rowid DESC LIMIT ?2";
  static const std::string all = "SELECT " + kDrillRunColumns +
                                 " FROM drill_runs WHERE ?1 = ?1"
                                 " ORDER BY started_ms DESC, rowid DESC LIMIT ?2";
  int64_t max = limit > 0 ? limit : -1;  // SQLite: negative is no limit
  return withReader(*readers_, path_, [&](Connection& conn) -> Result<std::vector<DrillRunRecord>> {
    auto query = Query::prepare(conn, drill.empty() ? all : one, "listing drill runs");
    if (!query) return core::fail(query.error());
    query->bind(drill, max);
    return collect<DrillRunRecord>(*query, drillRunFromRow);
  });
}

Result<std::vector<DrillRunRecord>> SqliteStore::unfinishedDrillRuns() const {
  static const std::string sql = "SELECT " + kDrillRunColumns +
                                 " FROM drill_runs WHERE status = 'running'"
                                 " ORDER BY started_ms, rowid";
  return withReader(*readers_, path_, [&](Connection& conn) -> Result<std::vector<DrillRunRecord>> {
    auto query = Query::prepare(conn, sql, "listing unfinished drill runs");
    if (!query) return core::fail(query.error());
    return collect<DrillRunRecord>(*query, drillRunFromRow);
  });
}

}  // namespace firebreak::store
