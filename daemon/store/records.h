// What the store holds about runs: the types crossing engine and store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/core/json.h"

namespace firebreak::store {

using core::Json;

enum class RunStatus {
  kQueued,            // waiting for its concurrency slot
  kRunning,
  kWaitingApproval,
  kSucceeded,
  kFailed,            // a step failed; on_failure and undo ran
  kAborted,           // an operator or an approval timeout stopped it
  kDenied,            // an approval was denied
  kNeedsAttention,    // interrupted in a step that is not idempotent: an operator decides
};
const char* runStatusName(RunStatus status);
std::optional<RunStatus> parseRunStatus(std::string_view name);
bool isFinal(RunStatus status);

struct RunRecord {
  std::string id;
  std::string playbook;         // name
  std::string playbook_file;
  std::string playbook_hash;    // sha256 of the source it started with
  std::string playbook_source;  // the YAML it started with: a resume runs exactly this
  std::string incident_id;      // "" for a manual run without incident
  std::string trigger;          // "alert", "manual", "drill"
  Json params = Json::object();
  Json alert;                   // the alert that started it (null for manual)
  RunStatus status = RunStatus::kRunning;
  bool dry_run = false;
  std::string error;
  std::string concurrency_key;
  std::string max_runs_key;
  std::string dedup_key;
  int64_t created_ms = 0;
  int64_t deadline_ms = 0;      // 0: none
  int64_t finished_ms = 0;
};

// One attempt of one step, journaled: a row is written as "started" before the provider is
// called and updated to its final status after.
struct StepRecord {
  std::string run_id;
  std::string step_id;
  std::string stage = "main";  // main | on_failure | undo
  int attempt = 1;
  std::string action;          // "" for approval steps
  std::string status;          // started | succeeded | failed | skipped | planned | timed_out | cancelled
  std::string idempotency_key;
  bool idempotent = false;
  bool destructive = false;
  bool dry_run = false;
  Json params = Json::object();  // rendered, secrets as references only
  Json output = Json::object();
  std::string error;
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
};

struct TimelineEvent {
  int64_t id = 0;  // assigned by the store
  int64_t at_ms = 0;
  std::string incident_id;
  std::string run_id;
  std::string step_id;
  std::string kind;     // alert.received, run.started, step.started, step.finished, step.retried,
                        // approval.requested, approval.granted, approval.denied, step.undone,
                        // run.finished, limit.hit, incident.resolved, ...
  std::string message;  // for people
  Json data = Json::object();
};

struct ApprovalRecord {
  std::string run_id;
  std::string step_id;
  std::string role;            // minimum role that may decide
  std::string status;          // pending | approved | denied | timed_out
  std::string reason;          // why it was asked (a limit, an approval step) or decided
  std::string decided_by;
  int64_t requested_ms = 0;
  int64_t expires_ms = 0;      // 0: never
  int64_t decided_ms = 0;
};

struct BreakerRecord {
  std::string action;
  int consecutive_failures = 0;
  bool open = false;
  int64_t opened_ms = 0;
};

// One alert as received, normalized. `identity` is what makes two deliveries the same alert
// (source, the sender's fingerprint, its start time): Alertmanager repeats a firing alert at
// every group_interval and repeat_interval, and an HA pair sends each notification twice.
struct AlertRecord {
  std::string id;
  std::string identity;
  std::string source;
  std::string fingerprint;
  std::string status;  // firing | resolved
  std::string name;
  core::StringMap labels;
  core::StringMap annotations;
  int64_t starts_at_ms = 0;
  int64_t ends_at_ms = 0;  // 0: none
  int64_t received_at_ms = 0;
  bool drill = false;
  std::string incident_id;
  std::string silence_id;  // the active silence that matched it: stored, but starts nothing
};

// What noteAlert() found: a new alert, one whose status changed (it resolved, or fired again),
// or a repeat of what is already known, which is not stored again and starts nothing.
enum class AlertNovelty { kNew, kStatusChanged, kRepeat };

struct AlertNote {
  AlertNovelty novelty = AlertNovelty::kNew;
  std::string incident_id;  // of the earlier delivery, when there was one
};

// Alerts grouped by playbook and dedup key. Open while any of its alerts fires.
struct IncidentRecord {
  std::string id;
  std::string playbook;
  std::string dedup_key;  // playbook name + the rendered dedup key
  std::string status;     // open | resolved
  std::string severity;
  std::string title;
  int64_t opened_at_ms = 0;
  int64_t resolved_at_ms = 0;
  bool drill = false;
};

// A run that intake decided on in the same transaction as the alert that caused it, before
// the engine started it: after a crash between the two, start-up starts it with the same id.
struct PendingStart {
  std::string run_id;
  std::string playbook;
  std::string incident_id;
  Json alert;
  int64_t created_ms = 0;
};

// A silence: alerts whose labels match every matcher, received while it is active
// (starts_at_ms <= now < ends_at_ms), are stored but start no run. Expiring one sets its end.
struct SilenceRecord {
  std::string id;
  Json matchers = Json::array();  // [{"name", "op" (= != =~ !~), "value"}]
  std::string created_by;         // the API token's name
  std::string reason;
  int64_t starts_at_ms = 0;
  int64_t ends_at_ms = 0;
};

// One run of a drill, journaled at every stage so that a crash in the middle still ends with
// the rollback done: start-up finds it unfinished and carries on from its stage.
struct DrillRunRecord {
  std::string id;
  std::string drill;            // name
  std::string drill_file;
  std::string drill_source;     // the YAML it started with: a resume uses exactly this
  std::string trigger;          // schedule | catch-up | manual
  bool dry_run = true;
  std::string stage;            // steady_state | inject | watch | rollback | done
  std::string status;           // running | passed | failed | aborted | error
  std::string error;            // why it aborted, failed its probes, or could not run
  std::string incident_id;      // the incident the fault caused, once seen
  Json runs = Json::array();    // [{id, role: inject | playbook | rollback, playbook}]
  Json objectives = Json::array();  // [{name, definition, target_ms, measured_ms, passed}]
  Json probes = Json::array();  // [{id, when: steady_state | stop_if | after, at_ms, ok, message}]
  Json measured = Json::object();   // {injected_ms, detected_ms, first_action_ms, contained_ms,
                                    //  recovered_ms}: what the objectives were judged on
  int64_t scheduled_ms = 0;     // the scheduled time it stands for (0: on demand)
  int64_t started_ms = 0;
  int64_t injected_ms = 0;      // 0: nothing injected
  int64_t finished_ms = 0;
};
bool isFinalDrillStatus(std::string_view status);

struct RunFilter {
  std::optional<RunStatus> status;
  std::string incident_id;
  std::string playbook;
  int limit = 100;
};

}  // namespace firebreak::store
