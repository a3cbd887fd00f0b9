// The store: everything Firebreak must remember across a crash. Writes are grouped into
// transactions by one writer (group commit) and are durable when the returned awaitable
// completes; reads never block the writer.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "daemon/core/asio.h"
#include "daemon/core/result.h"
#include "daemon/store/records.h"

namespace firebreak::store {

using core::Result;
using core::Status;

// The write operations available inside one commit. Each call is a statement; the whole
// function given to Store::commit() is atomic (it runs inside its own savepoint).
class WriteTx {
 public:
  virtual ~WriteTx() = default;
  virtual Status insertRun(const RunRecord& run) = 0;
  virtual Status updateRun(const std::string& run_id, RunStatus status, const std::string& error,
                           int64_t finished_ms) = 0;
  virtual Status upsertStep(const StepRecord& step) = 0;  // key: run, step, stage, attempt
  virtual Status appendTimeline(const TimelineEvent& event) = 0;
  virtual Status upsertApproval(const ApprovalRecord& approval) = 0;  // key: run, step
  virtual Status setSetting(const std::string& key, const std::string& value) = 0;
  virtual Status upsertBreaker(const BreakerRecord& breaker) = 0;
  // Claims `key` for `run_id` until expires_ms unless an unexpired claim exists: returns
  // false, and changes nothing, when it does. Dedup windows are built on this.
  virtual Result<bool> claimDedup(const std::string& key, const std::string& run_id,
                                  int64_t now_ms, int64_t expires_ms) = 0;

  // Intake. Stores the alert unless its identity is already known in the same status; the
  // answer says which (a repeat changes nothing).
  virtual Result<AlertNote> noteAlert(const AlertRecord& alert) = 0;
  // Files alert `alert_id` (and its identity) under an incident.
  virtual Status setAlertIncident(const std::string& alert_id, const std::string& identity,
                                  const std::string& incident_id) = 0;
  virtual Status upsertIncident(const IncidentRecord& incident) = 0;
  // The open incident of a dedup key as this transaction sees it (earlier requests of the same
  // batch included), so two alerts committed together never open two incidents.
  virtual Result<std::optional<std::string>> openIncidentId(const std::string& dedup_key) = 0;
  virtual Result<int64_t> firingAlertsOf(const std::string& incident_id) = 0;
  // Marks an open incident resolved; false when it was not open.
  virtual Result<bool> resolveIncident(const std::string& incident_id, int64_t at_ms) = 0;
  virtual Status addPendingStart(const PendingStart& start) = 0;
  virtual Status removePendingStart(const std::string& run_id) = 0;
  virtual Status insertSilence(const SilenceRecord& silence) = 0;
  // Ends an active silence at at_ms; false when it is unknown or already over.
  virtual Result<bool> expireSilence(const std::string& id, int64_t at_ms) = 0;
  virtual Status upsertDrillRun(const DrillRunRecord& run) = 0;  // key: id
};

class Store {
 public:
  virtual ~Store() = default;

  // Durable (fsync'd) when the awaitable completes. Commits that arrive together share one
  // transaction; a failing function rolls back only its own savepoint.
  virtual core::awaitable<Status> commit(std::function<Status(WriteTx&)> fn) = 0;
  // The same for callers outside a coroutine (the CLI); blocks until durable.
  virtual Status commitSync(std::function<Status(WriteTx&)> fn) = 0;

  virtual Result<std::optional<RunRecord>> run(const std::string& run_id) const = 0;
  virtual Result<std::vector<RunRecord>> runs(const RunFilter& filter) const = 0;
  // Runs that are not final (queued, running, waiting for approval, needs attention).
  virtual Result<std::vector<RunRecord>> unfinishedRuns() const = 0;
  virtual Result<std::vector<StepRecord>> steps(const std::string& run_id) const = 0;
  virtual Result<std::vector<TimelineEvent>> timelineOfRun(const std::string& run_id) const = 0;
  virtual Result<std::vector<TimelineEvent>> timelineOfIncident(
      const std::string& incident_id) const = 0;
  virtual Result<std::vector<ApprovalRecord>> approvals(const std::string& run_id) const = 0;
  virtual Result<std::vector<ApprovalRecord>> pendingApprovals() const = 0;
  virtual Result<std::optional<std::string>> setting(const std::string& key) const = 0;
  virtual Result<std::optional<BreakerRecord>> breaker(const std::string& action) const = 0;
  // Runs with this max_runs key created at or after since_ms.
  virtual Result<int64_t> countRunsSince(const std::string& max_runs_key, int64_t since_ms) const = 0;
  // Executions (not plans) of destructive steps started at or after since_ms.
  virtual Result<int64_t> countDestructiveSince(int64_t since_ms) const = 0;
  // Runs with this concurrency key that are running or waiting (not queued, not final).
  virtual Result<int64_t> countActiveRuns(const std::string& concurrency_key) const = 0;

  virtual Result<std::optional<IncidentRecord>> incident(const std::string& id) const = 0;
  // The open incident of a playbook's dedup key, if any.
  virtual Result<std::optional<IncidentRecord>> openIncident(const std::string& dedup_key) const = 0;
  // Newest first; status "" for all.
  virtual Result<std::vector<IncidentRecord>> incidents(const std::string& status,
                                                        int limit) const = 0;
  virtual Result<std::vector<AlertRecord>> alertsOfIncident(const std::string& incident_id) const = 0;
  // Identities of an incident's alerts whose last known status is firing.
  virtual Result<int64_t> countFiringAlerts(const std::string& incident_id) const = 0;
  virtual Result<int64_t> countAlerts() const = 0;
  virtual Result<std::vector<PendingStart>> pendingStarts() const = 0;
  virtual Result<std::optional<SilenceRecord>> silence(const std::string& id) const = 0;
  // Active at now_ms (started, not ended); with include_expired, every silence. Newest first.
  virtual Result<std::vector<SilenceRecord>> silences(int64_t now_ms, bool include_expired) const = 0;

  virtual Result<std::optional<DrillRunRecord>> drillRun(const std::string& id) const = 0;
  // Newest first; drill "" for every drill.
  virtual Result<std::vector<DrillRunRecord>> drillRuns(const std::string& drill,
                                                        int limit) const = 0;
  // Drill runs whose status is running: a crash interrupted them.
  virtual Result<std::vector<DrillRunRecord>> unfinishedDrillRuns() const = 0;
};

}  // namespace firebreak::store
