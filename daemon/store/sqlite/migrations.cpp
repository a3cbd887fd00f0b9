#include "daemon/store/sqlite/migrations.h"

namespace firebreak::store::sqlite {

namespace {

// Migration 1: every table. Times are INTEGER milliseconds since the epoch (0: none); JSON
// is TEXT holding a compact dump; booleans are INTEGER 0/1; "" rather than NULL for absent
// strings, so equality filters need no IS NULL.
constexpr std::string_view kMigration1 = R"sql(
CREATE TABLE schema_migrations (
  version INTEGER PRIMARY KEY,
  applied_ms INTEGER NOT NULL
);

CREATE TABLE alerts (
  id TEXT PRIMARY KEY,
  source TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  status TEXT NOT NULL,
  starts_at_ms INTEGER NOT NULL DEFAULT 0,
  ends_at_ms INTEGER NOT NULL DEFAULT 0,
  name TEXT NOT NULL DEFAULT '',
  labels_json TEXT NOT NULL DEFAULT '{}',
  annotations_json TEXT NOT NULL DEFAULT '{}',
  received_at_ms INTEGER NOT NULL,
  is_drill INTEGER NOT NULL DEFAULT 0,
  incident_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX alerts_by_fingerprint ON alerts (source, fingerprint, received_at_ms);
CREATE INDEX alerts_by_incident ON alerts (incident_id, received_at_ms);
CREATE INDEX alerts_by_received ON alerts (received_at_ms);

CREATE TABLE incidents (
  id TEXT PRIMARY KEY,
  playbook TEXT NOT NULL DEFAULT '',
  dedup_key TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  severity TEXT NOT NULL DEFAULT '',
  title TEXT NOT NULL DEFAULT '',
  opened_at_ms INTEGER NOT NULL,
  resolved_at_ms INTEGER NOT NULL DEFAULT 0,
  is_drill INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX incidents_by_dedup_key ON incidents (dedup_key, status);
CREATE INDEX incidents_by_opened ON incidents (opened_at_ms);

CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  playbook TEXT NOT NULL,
  playbook_file TEXT NOT NULL DEFAULT '',
  playbook_hash TEXT NOT NULL DEFAULT '',
  playbook_source TEXT NOT NULL DEFAULT '',
  incident_id TEXT NOT NULL DEFAULT '',
  "trigger" TEXT NOT NULL DEFAULT '',
  params_json TEXT NOT NULL DEFAULT '{}',
  alert_json TEXT NOT NULL DEFAULT 'null',
  status TEXT NOT NULL,
  dry_run INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  concurrency_key TEXT NOT NULL DEFAULT '',
  max_runs_key TEXT NOT NULL DEFAULT '',
  dedup_key TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  deadline_ms INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_created ON runs (created_ms);
CREATE INDEX runs_by_status ON runs (status, created_ms);
CREATE INDEX runs_by_incident ON runs (incident_id, created_ms);
CREATE INDEX runs_by_playbook ON runs (playbook, created_ms);
CREATE INDEX runs_by_max_runs_key ON runs (max_runs_key, created_ms);
CREATE INDEX runs_by_concurrency_key ON runs (concurrency_key, status);

CREATE TABLE steps (
  run_id TEXT NOT NULL,
  step_id TEXT NOT NULL,
  stage TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  action TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  idempotency_key TEXT NOT NULL DEFAULT '',
  idempotent INTEGER NOT NULL DEFAULT 0,
  destructive INTEGER NOT NULL DEFAULT 0,
  dry_run INTEGER NOT NULL DEFAULT 0,
  params_json TEXT NOT NULL DEFAULT '{}',
  output_json TEXT NOT NULL DEFAULT '{}',
  error TEXT NOT NULL DEFAULT '',
  started_ms INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, step_id, stage, attempt)
);
CREATE INDEX steps_by_run ON steps (run_id, started_ms);
-- The destructive-actions budget counts only these rows.
CREATE INDEX steps_destructive ON steps (started_ms) WHERE destructive = 1 AND dry_run = 0;

CREATE TABLE timeline (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at_ms INTEGER NOT NULL,
  incident_id TEXT NOT NULL DEFAULT '',
  run_id TEXT NOT NULL DEFAULT '',
  step_id TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL,
  message TEXT NOT NULL DEFAULT '',
  data_json TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_by_run ON timeline (run_id, at_ms);
CREATE INDEX timeline_by_incident ON timeline (incident_id, at_ms);

CREATE TABLE approvals (
  run_id TEXT NOT NULL,
  step_id TEXT NOT NULL,
  role TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  decided_by TEXT NOT NULL DEFAULT '',
  requested_ms INTEGER NOT NULL DEFAULT 0,
  expires_ms INTEGER NOT NULL DEFAULT 0,
  decided_ms INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, step_id)
);
CREATE INDEX approvals_pending ON approvals (requested_ms) WHERE status = 'pending';

CREATE TABLE silences (
  id TEXT PRIMARY KEY,
  matchers_json TEXT NOT NULL DEFAULT '[]',
  created_by TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  starts_at_ms INTEGER NOT NULL,
  ends_at_ms INTEGER NOT NULL
);
CREATE INDEX silences_by_end ON silences (ends_at_ms);

CREATE TABLE drills (
  name TEXT PRIMARY KEY,
  last_run_id TEXT NOT NULL DEFAULT '',
  last_status TEXT NOT NULL DEFAULT '',
  last_started_ms INTEGER NOT NULL DEFAULT 0,
  last_finished_ms INTEGER NOT NULL DEFAULT 0,
  next_due_ms INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE drill_runs (
  id TEXT PRIMARY KEY,
  drill TEXT NOT NULL,
  status TEXT NOT NULL,
  started_ms INTEGER NOT NULL,
  finished_ms INTEGER NOT NULL DEFAULT 0,
  result_json TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX drill_runs_by_drill ON drill_runs (drill, started_ms);

CREATE TABLE audit (
  seq INTEGER PRIMARY KEY,
  at_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  data_json TEXT NOT NULL DEFAULT '{}',
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_by_time ON audit (at_ms);

CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE breakers (
  action TEXT PRIMARY KEY,
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  open INTEGER NOT NULL DEFAULT 0,
  opened_ms INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE dedup (
  key TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  expires_ms INTEGER NOT NULL
);
)sql";

// Migration 2: expired dedup claims are pruned by expiry; without this index that is a
// full scan of a table that grows with every distinct alert.
constexpr std::string_view kMigration2 = R"sql(
CREATE INDEX dedup_by_expiry ON dedup (expires_ms);
)sql";

// Migration 3: intake. An alert's identity (source, fingerprint, start) with its last status,
// so that a repeated delivery is recognised for as long as the alert lives, not for a window;
// and the run starts intake decided on, committed with the alert that caused them.
constexpr std::string_view kMigration3 = R"sql(
ALTER TABLE alerts ADD COLUMN identity TEXT NOT NULL DEFAULT '';
CREATE TABLE alert_identities (
  identity TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  last_alert_id TEXT NOT NULL,
  incident_id TEXT NOT NULL DEFAULT '',
  updated_ms INTEGER NOT NULL
);
CREATE INDEX alert_identities_by_incident ON alert_identities (incident_id, status);
CREATE TABLE pending_starts (
  run_id TEXT PRIMARY KEY,
  playbook TEXT NOT NULL,
  incident_id TEXT NOT NULL DEFAULT '',
  alert_json TEXT NOT NULL DEFAULT 'null',
  created_ms INTEGER NOT NULL
);
)sql";

// Migration 4: which silence an alert was received under (it was stored, started nothing).
constexpr std::string_view kMigration4 = R"sql(
ALTER TABLE alerts ADD COLUMN silence_id TEXT NOT NULL DEFAULT '';
)sql";

// Migration 5: nothing reads alerts by fingerprint (dedup reads alert_identities), and an
// index keyed by a hash takes a write to a random page for every alert stored.
constexpr std::string_view kMigration5 = R"sql(
DROP INDEX alerts_by_fingerprint;
)sql";

// Migration 6: drill runs, each journaled at every stage. The `drills` and `drill_runs` tables
// of migration 1 were never written: a drill's last run is the newest of its drill runs.
constexpr std::string_view kMigration6 = R"sql(
DROP TABLE drills;
DROP TABLE drill_runs;
CREATE TABLE drill_runs (
  id TEXT PRIMARY KEY,
  drill TEXT NOT NULL,
  drill_file TEXT NOT NULL DEFAULT '',
  drill_source TEXT NOT NULL DEFAULT '',
  trigger TEXT NOT NULL DEFAULT '',
  dry_run INTEGER NOT NULL DEFAULT 1,
  stage TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  incident_id TEXT NOT NULL DEFAULT '',
  runs_json TEXT NOT NULL DEFAULT '[]',
  objectives_json TEXT NOT NULL DEFAULT '[]',
  probes_json TEXT NOT NULL DEFAULT '[]',
  measured_json TEXT NOT NULL DEFAULT '{}',
  scheduled_ms INTEGER NOT NULL DEFAULT 0,
  started_ms INTEGER NOT NULL,
  injected_ms INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX drill_runs_by_drill ON drill_runs (drill, started_ms);
CREATE INDEX drill_runs_running ON drill_runs (started_ms) WHERE status = 'running';
)sql";

}  // namespace

const std::vector<std::string_view>& migrations() {
  static const std::vector<std::string_view> all = {kMigration1, kMigration2, kMigration3,
                                                    kMigration4, kMigration5, kMigration6};
  return all;
}

int latestSchemaVersion() { return static_cast<int>(migrations().size()); }

Result<int> schemaVersion(Connection& conn) {
  auto version = conn.queryInt("PRAGMA user_version", "reading the schema version");
  if (!version) {
    // SQLite reads the header lazily: this is where a file of something else shows up.
    if (version.error().code() == ErrorCode::kFailedPrecondition &&
        sqlite3_errcode(conn.handle()) == SQLITE_NOTADB) {
      return core::fail(ErrorCode::kFailedPrecondition,
                        conn.path() + " is not an SQLite database");
    }
    return core::fail(prefixed(version.error(), "opening " + conn.path() + ": "));
  }
  return static_cast<int>(*version);
}

namespace {

Error newerError(const std::string& path, int version) {
  return Error(ErrorCode::kFailedPrecondition,
               "database " + path + " has schema version " + std::to_string(version) +
                   ", newer than this firebreak (" + std::to_string(latestSchemaVersion()) +
                   "): upgrade firebreak or restore a backup");
}

// Applies migration `version` unless another process got there first; the caller is in no
// transaction.
Status applyMigration(Connection& conn, int version, const core::Clock& clock) {
  const std::string what = "migrating " + conn.path() + " to schema version " +
                           std::to_string(version);
  if (auto begun = conn.exec("BEGIN IMMEDIATE", what); !begun) return begun;
  auto rollback = [&] { (void)conn.exec("ROLLBACK", what); };
  auto fail = [&](const Error& error) -> Status {
    rollback();
    return core::fail(error);
  };
  // Re-read under the write lock: two processes opening the same file must not both migrate.
  auto current = schemaVersion(conn);
  if (!current) return fail(current.error());
  if (*current >= version) {
    rollback();
    return {};
  }
  if (*current != version - 1) {
    return fail(Error(ErrorCode::kInternal, what + ": found schema version " +
                                                std::to_string(*current)));
  }
  if (auto done = conn.exec(migrations()[version - 1], what); !done) return fail(done.error());
  {
    auto record = Query::prepare(
        conn, "INSERT OR REPLACE INTO schema_migrations (version, applied_ms) VALUES (?, ?)", what);
    if (!record) return fail(record.error());
    if (auto ok = record->bind(version, clock.nowMs()).run(); !ok) return fail(ok.error());
  }
  // A pragma takes no bound parameters; the value is our own integer.
  if (auto ok = conn.exec("PRAGMA user_version = " + std::to_string(version), what); !ok)
    return fail(ok.error());
  if (auto ok = conn.exec("COMMIT", what); !ok) return fail(ok.error());
  return {};
}

}  // namespace

Status migrate(Connection& conn, const core::Clock& clock) {
  auto version = schemaVersion(conn);
  if (!version) return core::fail(version.error());
  if (*version > latestSchemaVersion()) return core::fail(newerError(conn.path(), *version));
  for (int next = *version + 1; next <= latestSchemaVersion(); ++next) {
    if (auto ok = applyMigration(conn, next, clock); !ok) return ok;
  }
  // Another process may have moved it past us meanwhile.
  version = schemaVersion(conn);
  if (!version) return core::fail(version.error());
  if (*version > latestSchemaVersion()) return core::fail(newerError(conn.path(), *version));
  return {};
}

}  // namespace firebreak::store::sqlite
