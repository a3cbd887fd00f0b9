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
};

}  // namespace firebreak::store
