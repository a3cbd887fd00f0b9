// The engine: runs playbooks durably as coroutines. Every step is journaled before and after
// its action is called, so a run resumes after a crash without repeating finished steps.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "daemon/core/action.h"
#include "daemon/core/asio.h"
#include "daemon/core/clock.h"
#include "daemon/core/metrics.h"
#include "daemon/playbook/model.h"
#include "daemon/store/store.h"

namespace firebreak::playbook {

struct EngineOptions {
  bool dry_run = false;                     // daemon-wide: plan everything, execute nothing
  int destructive_actions_per_minute = 10;  // across all runs; beyond it steps wait for approval
  int breaker_threshold = 5;                // consecutive failures of one action open its breaker
  milliseconds limit_approval_timeout{std::chrono::hours(1)};  // for approvals a limit asks for
  milliseconds poll_interval{500};          // how often waits re-read the store (approvals, pause)
  Json env = Json::object();                // the `env` root: only what the config allows
  std::string external_url;                 // run.url = external_url + "/api/v1/runs/<id>"
  // limits.protected: a step whose resource parameters name one fails before any call.
  const core::ProtectedResources* protected_resources = nullptr;
  // Called for every timeline event after it is committed (the CLI prints them).
  std::function<void(const store::TimelineEvent&)> on_event;
  // Where ends of runs ({playbook, status}) and step durations ({action}) are counted; null:
  // not counted. They outlive the engine.
  core::CounterFamily* runs_metric = nullptr;
  core::HistogramFamily* step_seconds_metric = nullptr;
};

struct RunRequest {
  PlaybookPtr playbook;
  std::string trigger = "manual";  // alert | manual | drill
  Json alert;                      // null when not started by an alert
  std::string incident_id;
  Json params = Json::object();    // given by hand; override defaults
  bool dry_run = false;
  // Chosen by the caller when the start was recorded beforehand (intake's pending starts):
  // starting the same id twice fails with kAlreadyExists instead of running twice.
  std::string run_id;
  // run_id is intake's pending start: the transaction that records the run (or its dedup)
  // also clears it, so a crash can leave one or the other, never both or neither.
  bool clears_pending_start = false;
};

struct StartResult {
  std::string run_id;      // "" when no run was started
  bool started = false;
  std::string reason;      // why not (dedup) or how (queued behind a concurrency limit)
};

enum class ResumeMode {
  kContinue,  // re-execute an interrupted step only if it is idempotent
  kRetry,     // an operator says: re-execute the interrupted step whatever it is
  kSkip,      // an operator says: mark the interrupted step skipped and go on
};

// Counters for metrics and tests: what the engine did and which limits it hit.
struct EngineStats {
  std::map<std::string, int64_t> limit_hits;     // dedup, concurrency, max_runs, budget, breaker,
                                                 // max_resources, pause, deadline
  std::map<std::string, int64_t> runs_finished;  // by status
  int64_t steps_executed = 0;
  int64_t steps_planned = 0;
};

class Engine {
 public:
  Engine(asio::any_io_executor executor, store::Store& store,
         const core::ProviderRegistry& registry, const core::Clock& clock,
         EngineOptions options, std::shared_ptr<spdlog::logger> log = nullptr);
  ~Engine();

  // Checks the request and starts a run in the background. Fails without starting for bad
  // parameters; answers started=false (with the reason, also on the timeline) when deduped.
  core::awaitable<core::Result<StartResult>> start(RunRequest request);

  // Resumes one unfinished run (`firebreak runs resume|skip`), or all of them at start-up.
  core::awaitable<core::Status> resume(const std::string& run_id, ResumeMode mode);
  core::awaitable<core::Status> resumeAll();

  // Stops a run: no further step starts; a waiting approval is cancelled.
  core::awaitable<core::Status> abort(const std::string& run_id, const std::string& who,
                                      const std::string& reason);

  // Undoes what a finished run did: each succeeded (or, dry, planned) step's undo, newest
  // first, as a failed run is rolled back (a drill's injected fault). A step already undone is
  // not undone again, so a repeat after a crash finishes the job.
  core::awaitable<core::Status> undo(const std::string& run_id, const std::string& reason);

  // Decides a pending approval of a running run (also picked up from the store by polling,
  // so another process may write the decision).
  core::awaitable<core::Status> decide(const std::string& run_id, const std::string& step_id,
                                       bool approve, const std::string& who,
                                       const std::string& reason);

  core::awaitable<core::Status> setPaused(bool paused, const std::string& who);
  core::awaitable<core::Status> resetBreaker(const std::string& action, const std::string& who);

  // Completes when the run is final or needs attention, with its record.
  core::awaitable<core::Result<store::RunRecord>> join(const std::string& run_id);

  // Runs in progress in this process.
  size_t activeRuns() const { return active_.size(); }
  const EngineStats& stats() const { return stats_; }
  // What a config reload may change: the daemon-wide dry-run, the destructive budget and the
  // `env` root. Runs already started keep their dry-run; call on the engine's executor.
  void applyReloadable(bool dry_run, int destructive_actions_per_minute, Json env);

  // Lets running steps reach a safe point: no new step starts, waits end; joins return.
  void shutdown();

 private:
  struct RunState;
  // kInterrupted: the daemon is shutting down; the run stays unfinished and resumes on start.
  enum class StepOutcome {
    kSucceeded, kSkipped, kFailed, kAborted, kDenied, kNeedsAttention, kInterrupted
  };

  core::awaitable<void> drive(std::shared_ptr<RunState> run);
  core::awaitable<StepOutcome> runSteps(RunState& run, const std::vector<Step>& steps,
                                        const std::string& stage);
  core::awaitable<StepOutcome> runStep(RunState& run, const Step& step, const std::string& stage);
  core::awaitable<StepOutcome> runParallel(RunState& run, const Step& group,
                                           const std::string& stage);
  core::awaitable<StepOutcome> runAction(RunState& run, const Step& step, const std::string& stage);
  core::awaitable<StepOutcome> runApproval(RunState& run, const Step& step,
                                           const std::string& stage);
  core::awaitable<void> rollback(RunState& run);
  core::awaitable<core::ActionResult> callWithTimeout(core::ActionProvider& provider,
                                                      core::ActionRequest request, bool plan,
                                                      milliseconds timeout);
  // Waits for an approval record's decision; writes the request first.
  core::awaitable<StepOutcome> awaitApproval(RunState& run, const std::string& step_id,
                                             const std::string& role, milliseconds timeout,
                                             OnTimeout on_timeout, const std::string& reason);
  // Pause, circuit breaker, destructive budget, max_resources: returns kSucceeded to go on.
  core::awaitable<StepOutcome> gateBeforeExecute(RunState& run, const Step& step,
                                                 const core::ActionRequest& request);
  core::awaitable<void> limitHit(RunState& run, const std::string& step_id,
                                 const std::string& limit, const std::string& message);
  core::awaitable<void> acquireConcurrency(RunState& run);
  void releaseConcurrency(RunState& run);
  core::awaitable<core::Status> record(store::TimelineEvent event);
  core::awaitable<core::Status> finishRun(RunState& run, store::RunStatus status,
                                          const std::string& error);
  core::Result<std::shared_ptr<RunState>> restore(const store::RunRecord& record,
                                                  ResumeMode mode);
  Json scopeOf(const RunState& run) const;
  std::string newRunId();
  bool stopping(const RunState& run) const;

  asio::strand<asio::any_io_executor> strand_;
  store::Store& store_;
  const core::ProviderRegistry& registry_;
  const core::Clock& clock_;
  EngineOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  std::map<std::string, std::shared_ptr<RunState>> active_;
  std::map<std::string, int> concurrency_in_use_;
  std::map<std::string, std::vector<std::shared_ptr<core::Event>>> concurrency_waiters_;
  EngineStats stats_;
  int destructive_reserved_ = 0;  // destructive executions admitted but not yet journaled
  bool shutting_down_ = false;
};

}  // namespace firebreak::playbook
