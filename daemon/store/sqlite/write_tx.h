// WriteTx on the write connection. The writer runs each commit request inside its own
// savepoint and gives the request this object; it remembers the first failed statement so
// a request whose function ignored an SQLite error still rolls back.
#pragma once

#include <optional>
#include <string>

#include "daemon/store/sqlite/connection.h"
#include "daemon/store/store.h"

namespace firebreak::store::sqlite {

class SqliteWriteTx final : public WriteTx {
 public:
  explicit SqliteWriteTx(Connection& conn)
      : conn_(conn), label_("committing to " + conn.path() + ": ") {}

  Status insertRun(const RunRecord& run) override;
  Status updateRun(const std::string& run_id, RunStatus status, const std::string& error,
                   int64_t finished_ms) override;
  Status upsertStep(const StepRecord& step) override;
  Status appendTimeline(const TimelineEvent& event) override;
  Status upsertApproval(const ApprovalRecord& approval) override;
  Status setSetting(const std::string& key, const std::string& value) override;
  Status upsertBreaker(const BreakerRecord& breaker) override;
  Result<bool> claimDedup(const std::string& key, const std::string& run_id, int64_t now_ms,
                          int64_t expires_ms) override;
  Result<AlertNote> noteAlert(const AlertRecord& alert) override;
  Status setAlertIncident(const std::string& alert_id, const std::string& identity,
                          const std::string& incident_id) override;
  Status upsertIncident(const IncidentRecord& incident) override;
  Result<std::optional<std::string>> openIncidentId(const std::string& dedup_key) override;
  Result<int64_t> firingAlertsOf(const std::string& incident_id) override;
  Result<bool> resolveIncident(const std::string& incident_id, int64_t at_ms) override;
  Status addPendingStart(const PendingStart& start) override;
  Status removePendingStart(const std::string& run_id) override;
  Status insertSilence(const SilenceRecord& silence) override;
  Result<bool> expireSilence(const std::string& id, int64_t at_ms) override;
  Status upsertDrillRun(const DrillRunRecord& run) override;

  // Called by the writer around each request.
  void beginRequest() { first_error_.reset(); }
  const std::optional<Error>& firstError() const { return first_error_; }

 private:
  // Runs one statement; a failure is remembered and returned.
  template <typename... Args>
  Status write(const std::string& sql, std::string what, const Args&... args);
  // Puts the label in front of a failure's message and remembers the first one.
  Status note(Status status);

  Connection& conn_;
  const std::string label_;
  std::optional<Error> first_error_;
};

}  // namespace firebreak::store::sqlite
