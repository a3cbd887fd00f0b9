// The Store on one SQLite file in WAL mode: a group-commit writer thread (one fsync per batch
// under synchronous=FULL), a pool of read-only connections, and WAL checkpoints on a
// background thread. See writer.h for how commits are grouped.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "daemon/core/clock.h"
#include "daemon/core/metrics.h"
#include "daemon/store/store.h"

namespace firebreak::store::sqlite {
class Checkpointer;
class ReadPool;
class Writer;
}  // namespace firebreak::store::sqlite

namespace firebreak::store {

enum class SqliteSync { kOff, kNormal, kFull, kExtra };  // PRAGMA synchronous

struct SqliteOptions {
  // FULL: a commit is fsync'd before commit() completes. Lower only for throwaway data.
  SqliteSync synchronous = SqliteSync::kFull;
  // How long any connection waits on a lock (another process, a WAL recovery) before failing.
  std::chrono::milliseconds busy_timeout{5000};
  // Most commit requests in one transaction.
  size_t max_batch = 256;
  // Most read connections open at once; readers beyond it wait for one.
  size_t read_connections = 4;
  // Background WAL checkpoint: every interval when something was committed (0: only on size),
  // and at once when the WAL reaches checkpoint_wal_bytes.
  std::chrono::milliseconds checkpoint_interval{1000};
  int64_t checkpoint_wal_bytes = 4 << 20;
  // Observed once per committed transaction when set: requests in it, and BEGIN to COMMIT in
  // seconds. They outlive the store.
  core::Histogram* batch_size_metric = nullptr;
  core::Histogram* commit_seconds_metric = nullptr;
};

// Counters for tests and /metrics.
struct SqliteStoreStats {
  uint64_t transactions = 0;         // write transactions begun (one per batch, normally)
  uint64_t failed_transactions = 0;  // BEGIN or COMMIT failed: every request in it failed
  uint64_t commit_requests = 0;      // commit() and commitSync() calls processed
  uint64_t failed_requests = 0;      // of those, how many got an error
  uint64_t largest_batch = 0;        // most requests committed in one transaction
  uint64_t checkpoints = 0;          // WAL checkpoints run
  uint64_t checkpoint_failures = 0;
};

class SqliteStore final : public Store {
 public:
  using Options = SqliteOptions;

  // Opens (creating it and its parent directory if missing) and migrates the database.
  // Fails with kFailedPrecondition for a file that is not an SQLite database or whose
  // schema is newer than this build's.
  static core::Result<std::unique_ptr<SqliteStore>> open(const std::string& path,
                                                         const core::Clock& clock,
                                                         Options options = {});
  // Finishes queued commits, then stops the writer and the checkpointer.
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // A WriteTx statement that fails fails its request even when the function ignores the
  // error and returns success: its other writes may depend on it.
  core::awaitable<Status> commit(std::function<Status(WriteTx&)> fn) override;
  // Must not be called from inside a commit function (it would wait on itself).
  Status commitSync(std::function<Status(WriteTx&)> fn) override;

  Result<std::optional<RunRecord>> run(const std::string& run_id) const override;
  Result<std::vector<RunRecord>> runs(const RunFilter& filter) const override;
  Result<std::vector<RunRecord>> unfinishedRuns() const override;
  Result<std::vector<StepRecord>> steps(const std::string& run_id) const override;
  Result<std::vector<TimelineEvent>> timelineOfRun(const std::string& run_id) const override;
  Result<std::vector<TimelineEvent>> timelineOfIncident(
      const std::string& incident_id) const override;
  Result<std::vector<ApprovalRecord>> approvals(const std::string& run_id) const override;
  Result<std::vector<ApprovalRecord>> pendingApprovals() const override;
  Result<std::optional<std::string>> setting(const std::string& key) const override;
  Result<std::optional<BreakerRecord>> breaker(const std::string& action) const override;
  Result<int64_t> countRunsSince(const std::string& max_runs_key,
                                 int64_t since_ms) const override;
  // Attempts of destructive steps, not dry-run, neither planned nor skipped.
  Result<int64_t> countDestructiveSince(int64_t since_ms) const override;
  Result<int64_t> countActiveRuns(const std::string& concurrency_key) const override;
  Result<std::optional<IncidentRecord>> incident(const std::string& id) const override;
  Result<std::optional<IncidentRecord>> openIncident(const std::string& dedup_key) const override;
  Result<std::vector<IncidentRecord>> incidents(const std::string& status,
                                                int limit) const override;
  Result<std::vector<AlertRecord>> alertsOfIncident(const std::string& incident_id) const override;
  Result<int64_t> countFiringAlerts(const std::string& incident_id) const override;
  Result<int64_t> countAlerts() const override;
  Result<std::vector<PendingStart>> pendingStarts() const override;
  Result<std::optional<SilenceRecord>> silence(const std::string& id) const override;
  Result<std::vector<SilenceRecord>> silences(int64_t now_ms, bool include_expired) const override;
  Result<std::optional<DrillRunRecord>> drillRun(const std::string& id) const override;
  Result<std::vector<DrillRunRecord>> drillRuns(const std::string& drill, int limit) const override;
  Result<std::vector<DrillRunRecord>> unfinishedDrillRuns() const override;

  const std::string& path() const { return path_; }
  int schemaVersion() const { return schema_version_; }
  SqliteStoreStats stats() const;
  // A passive WAL checkpoint now (the background thread does this on its own).
  Status checkpoint();

 private:
  explicit SqliteStore(std::string path);

  const std::string path_;
  int schema_version_ = 0;
  // Destroyed bottom-up: the writer first (it finishes queued commits, and its WAL hook
  // feeds the checkpointer), the checkpointer last (the last connection to close folds the
  // WAL into the database and removes it, which a read-only one cannot do).
  std::unique_ptr<sqlite::Checkpointer> checkpointer_;
  std::unique_ptr<sqlite::ReadPool> readers_;
  std::unique_ptr<sqlite::Writer> writer_;
};

}  // namespace firebreak::store
