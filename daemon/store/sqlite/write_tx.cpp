#include "daemon/store/sqlite/write_tx.h"

namespace firebreak::store::sqlite {

namespace {

const std::string kInsertRun = R"sql(
INSERT INTO runs (id, playbook, playbook_file, playbook_hash, playbook_source, incident_id,
                  "trigger", params_json, alert_json, status, dry_run, error, concurrency_key,
                  max_runs_key, dedup_key, created_ms, deadline_ms, finished_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql";

const std::string kUpdateRun =
    "UPDATE runs SET status = ?2, error = ?3, finished_ms = ?4 WHERE id = ?1";

// ON CONFLICT ... DO UPDATE keeps the rowid, which orders steps started in the same ms.
const std::string kUpsertStep = R"sql(
INSERT INTO steps (run_id, step_id, stage, attempt, action, status, idempotency_key, idempotent,
                   destructive, dry_run, params_json, output_json, error, started_ms, finished_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, step_id, stage, attempt) DO UPDATE SET
  action = excluded.action, status = excluded.status, idempotency_key = excluded.idempotency_key,
  idempotent = excluded.idempotent, destructive = excluded.destructive, dry_run = excluded.dry_run,
  params_json = excluded.params_json, output_json = excluded.output_json, error = excluded.error,
  started_ms = excluded.started_ms, finished_ms = excluded.finished_ms)sql";

const std::string kAppendTimeline = R"sql(
INSERT INTO timeline (at_ms, incident_id, run_id, step_id, kind, message, data_json)
VALUES (?, ?, ?, ?, ?, ?, ?))sql";

const std::string kUpsertApproval = R"sql(
INSERT INTO approvals (run_id, step_id, role, status, reason, decided_by, requested_ms, expires_ms,
                       decided_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, step_id) DO UPDATE SET
  role = excluded.role, status = excluded.status, reason = excluded.reason,
  decided_by = excluded.decided_by, requested_ms = excluded.requested_ms,
  expires_ms = excluded.expires_ms, decided_ms = excluded.decided_ms)sql";

const std::string kSetSetting = R"sql(
INSERT INTO settings (key, value) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value)sql";

const std::string kUpsertBreaker = R"sql(
INSERT INTO breakers (action, consecutive_failures, open, opened_ms) VALUES (?, ?, ?, ?)
ON CONFLICT (action) DO UPDATE SET
  consecutive_failures = excluded.consecutive_failures, open = excluded.open,
  opened_ms = excluded.opened_ms)sql";

// Inserts a claim, or takes over an expired one; an unexpired claim makes this a no-op, which
// changes() reports as 0 rows.
const std::string kClaimDedup = R"sql(
INSERT INTO dedup (key, run_id, expires_ms) VALUES (?1, ?2, ?4)
ON CONFLICT (key) DO UPDATE SET run_id = excluded.run_id, expires_ms = excluded.expires_ms
WHERE dedup.expires_ms <= ?3)sql";

const std::string kFindIdentity =
    "SELECT status, incident_id FROM alert_identities WHERE identity = ?";

const std::string kInsertAlert = R"sql(
INSERT INTO alerts (id, identity, source, fingerprint, status, starts_at_ms, ends_at_ms, name,
                    labels_json, annotations_json, received_at_ms, is_drill, incident_id,
                    silence_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql";

const std::string kUpsertIdentity = R"sql(
INSERT INTO alert_identities (identity, status, last_alert_id, incident_id, updated_ms)
VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (identity) DO UPDATE SET
  status = excluded.status, last_alert_id = excluded.last_alert_id, updated_ms = excluded.updated_ms)sql";

const std::string kUpsertIncident = R"sql(
INSERT INTO incidents (id, playbook, dedup_key, status, severity, title, opened_at_ms,
                       resolved_at_ms, is_drill)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
  status = excluded.status, severity = excluded.severity, title = excluded.title,
  resolved_at_ms = excluded.resolved_at_ms)sql";

const std::string kAddPendingStart = R"sql(
INSERT INTO pending_starts (run_id, playbook, incident_id, alert_json, created_ms)
VALUES (?, ?, ?, ?, ?))sql";

}  // namespace

Result<AlertNote> SqliteWriteTx::noteAlert(const AlertRecord& a) {
  AlertNote out;
  {
    auto find = Query::prepare(conn_, kFindIdentity, "looking up alert " + a.identity);
    if (!find) return core::fail(note(core::fail(find.error())).error());
    find->bind(a.identity);
    auto row = find->step();
    if (!row) return core::fail(note(core::fail(row.error())).error());
    if (*row) {
      std::string status = find->text(0);
      out.incident_id = find->text(1);
      if (status == a.status) {
        out.novelty = AlertNovelty::kRepeat;
        return out;
      }
      out.novelty = AlertNovelty::kStatusChanged;
    }
  }
  if (auto ok = write(kInsertAlert, "storing alert " + a.identity, a.id, a.identity, a.source,
                      a.fingerprint, a.status, a.starts_at_ms, a.ends_at_ms, a.name,
                      core::dumpStringMap(a.labels), core::dumpStringMap(a.annotations),
                      a.received_at_ms, a.drill,
                      a.incident_id.empty() ? out.incident_id : a.incident_id, a.silence_id);
      !ok)
    return core::fail(ok.error());
  if (auto ok = write(kUpsertIdentity, "remembering alert " + a.identity, a.identity, a.status,
                      a.id, out.incident_id, a.received_at_ms);
      !ok)
    return core::fail(ok.error());
  return out;
}

Status SqliteWriteTx::setAlertIncident(const std::string& alert_id, const std::string& identity,
                                       const std::string& incident_id) {
  if (auto ok = write("UPDATE alerts SET incident_id = ?2 WHERE id = ?1",
                      "filing alert " + alert_id + " under incident " + incident_id, alert_id,
                      incident_id);
      !ok)
    return ok;
  return write("UPDATE alert_identities SET incident_id = ?2 WHERE identity = ?1",
               "filing alert " + identity + " under incident " + incident_id, identity,
               incident_id);
}

Status SqliteWriteTx::upsertIncident(const IncidentRecord& i) {
  return write(kUpsertIncident, "writing incident " + i.id, i.id, i.playbook, i.dedup_key,
               i.status, i.severity, i.title, i.opened_at_ms, i.resolved_at_ms, i.drill);
}

Result<std::optional<std::string>> SqliteWriteTx::openIncidentId(const std::string& dedup_key) {
  auto query = Query::prepare(
      conn_,
      "SELECT id FROM incidents WHERE dedup_key = ? AND status = 'open' "
      "ORDER BY opened_at_ms DESC LIMIT 1",
      "finding the open incident of " + dedup_key);
  if (!query) return core::fail(note(core::fail(query.error())).error());
  query->bind(dedup_key);
  auto row = query->step();
  if (!row) return core::fail(note(core::fail(row.error())).error());
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(query->text(0));
}

Result<int64_t> SqliteWriteTx::firingAlertsOf(const std::string& incident_id) {
  auto query = Query::prepare(
      conn_, "SELECT count(*) FROM alert_identities WHERE incident_id = ? AND status = 'firing'",
      "counting the firing alerts of incident " + incident_id);
  if (!query) return core::fail(note(core::fail(query.error())).error());
  auto n = query->bind(incident_id).scalarInt();
  if (!n) return core::fail(note(core::fail(n.error())).error());
  return n;
}

Result<bool> SqliteWriteTx::resolveIncident(const std::string& incident_id, int64_t at_ms) {
  auto query = Query::prepare(
      conn_,
      "UPDATE incidents SET status = 'resolved', resolved_at_ms = ?2 WHERE id = ?1 AND "
      "status = 'open'",
      "resolving incident " + incident_id);
  if (!query) return core::fail(note(core::fail(query.error())).error());
  if (auto ok = note(query->bind(incident_id, at_ms).run()); !ok) return core::fail(ok.error());
  return query->changes() > 0;
}

Status SqliteWriteTx::insertSilence(const SilenceRecord& si) {
  return write(
      "INSERT INTO silences (id, matchers_json, created_by, reason, starts_at_ms, ends_at_ms)"
      " VALUES (?, ?, ?, ?, ?, ?)",
      "storing silence " + si.id, si.id, si.matchers, si.created_by, si.reason, si.starts_at_ms,
      si.ends_at_ms);
}

Status SqliteWriteTx::upsertDrillRun(const DrillRunRecord& d) {
  return write(
      "INSERT OR REPLACE INTO drill_runs (id, drill, drill_file, drill_source, trigger, dry_run,"
      " stage, status, error, incident_id, runs_json, objectives_json, probes_json, measured_json,"
      " scheduled_ms, started_ms, injected_ms, finished_ms)"
      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      "writing drill run " + d.id, d.id, d.drill, d.drill_file, d.drill_source, d.trigger,
      d.dry_run, d.stage, d.status, d.error, d.incident_id, d.runs, d.objectives, d.probes,
      d.measured, d.scheduled_ms, d.started_ms, d.injected_ms, d.finished_ms);
}

Result<bool> SqliteWriteTx::expireSilence(const std::string& id, int64_t at_ms) {
  auto query = Query::prepare(
      conn_, "UPDATE silences SET ends_at_ms = ?2 WHERE id = ?1 AND ends_at_ms > ?2",
      "expiring silence " + id);
  if (!query) return core::fail(note(core::fail(query.error())).error());
  if (auto ok = note(query->bind(id, at_ms).run()); !ok) return core::fail(ok.error());
  return query->changes() > 0;
}

Status SqliteWriteTx::addPendingStart(const PendingStart& p) {
  return write(kAddPendingStart, "recording the start of run " + p.run_id, p.run_id, p.playbook,
               p.incident_id, p.alert, p.created_ms);
}

Status SqliteWriteTx::removePendingStart(const std::string& run_id) {
  return write("DELETE FROM pending_starts WHERE run_id = ?",
               "clearing the start of run " + run_id, run_id);
}

Status SqliteWriteTx::note(Status status) {
  if (status) return status;
  Error error = prefixed(status.error(), label_);
  if (!first_error_) first_error_ = error;
  return core::fail(std::move(error));
}

template <typename... Args>
Status SqliteWriteTx::write(const std::string& sql, std::string what, const Args&... args) {
  auto query = Query::prepare(conn_, sql, std::move(what));
  if (!query) return note(core::fail(query.error()));
  return note(query->bind(args...).run());
}

Status SqliteWriteTx::insertRun(const RunRecord& run) {
  return write(kInsertRun, "inserting run " + run.id, run.id, run.playbook, run.playbook_file,
               run.playbook_hash, run.playbook_source, run.incident_id, run.trigger, run.params,
               run.alert, runStatusName(run.status), run.dry_run, run.error, run.concurrency_key,
               run.max_runs_key, run.dedup_key, run.created_ms, run.deadline_ms, run.finished_ms);
}

Status SqliteWriteTx::updateRun(const std::string& run_id, RunStatus status,
                                const std::string& error, int64_t finished_ms) {
  const std::string what = "updating run " + run_id;
  auto query = Query::prepare(conn_, kUpdateRun, what);
  if (!query) return note(core::fail(query.error()));
  if (auto ok = query->bind(run_id, runStatusName(status), error, finished_ms).run(); !ok)
    return note(ok);
  if (query->changes() == 0) return note(core::fail(ErrorCode::kNotFound, what + ": no such run"));
  return {};
}

Status SqliteWriteTx::upsertStep(const StepRecord& s) {
  return write(kUpsertStep,
               "writing step " + s.step_id + " (" + s.stage + ", attempt " +
                   std::to_string(s.attempt) + ") of run " + s.run_id,
               s.run_id, s.step_id, s.stage, s.attempt, s.action, s.status, s.idempotency_key,
               s.idempotent, s.destructive, s.dry_run, s.params, s.output, s.error, s.started_ms,
               s.finished_ms);
}

Status SqliteWriteTx::appendTimeline(const TimelineEvent& e) {
  return write(kAppendTimeline, "appending " + e.kind + " to the timeline", e.at_ms,
               e.incident_id, e.run_id, e.step_id, e.kind, e.message, e.data);
}

Status SqliteWriteTx::upsertApproval(const ApprovalRecord& a) {
  return write(kUpsertApproval, "writing approval of step " + a.step_id + " of run " + a.run_id,
               a.run_id, a.step_id, a.role, a.status, a.reason, a.decided_by, a.requested_ms,
               a.expires_ms, a.decided_ms);
}

Status SqliteWriteTx::setSetting(const std::string& key, const std::string& value) {
  return write(kSetSetting, "setting " + key, key, value);
}

Status SqliteWriteTx::upsertBreaker(const BreakerRecord& b) {
  return write(kUpsertBreaker, "writing the breaker of " + b.action, b.action,
               b.consecutive_failures, b.open, b.opened_ms);
}

Result<bool> SqliteWriteTx::claimDedup(const std::string& key, const std::string& run_id,
                                       int64_t now_ms, int64_t expires_ms) {
  auto query = Query::prepare(conn_, kClaimDedup, "claiming dedup key " + key);
  if (!query) return core::fail(note(core::fail(query.error())).error());
  if (auto ok = note(query->bind(key, run_id, now_ms, expires_ms).run()); !ok)
    return core::fail(ok.error());
  return query->changes() > 0;
}

}  // namespace firebreak::store::sqlite
