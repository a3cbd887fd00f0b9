// The drill runner: steady state, injection, watching what the fault causes, objectives,
// rollback. Every stage is journaled in the drill run's record before it acts, so a daemon
// killed mid-drill carries on at start-up: whatever was interrupted, the rollback runs.
//
// All of it runs on the daemon's I/O thread (one thread; the engine keeps its own strand).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "daemon/core/action.h"
#include "daemon/core/asio.h"
#include "daemon/core/clock.h"
#include "daemon/drill/model.h"
#include "daemon/intake/intake.h"
#include "daemon/playbook/engine.h"
#include "daemon/store/store.h"

namespace firebreak::drill {

struct DrillRunnerOptions {
  std::chrono::milliseconds poll{250};  // how often the watch re-reads the store
  // Called on the I/O thread when a drill run has finished (its record is final).
  std::function<void(const store::DrillRunRecord&)> on_finished;
};

struct DrillStart {
  std::string trigger = "manual";  // manual | schedule | catch-up
  bool live = false;               // run a `mode: dry-run` drill live (asked for explicitly)
  int64_t scheduled_ms = 0;        // the scheduled time it stands for
};

class DrillRunner {
 public:
  DrillRunner(asio::any_io_executor executor, store::Store& store, playbook::Engine& engine,
              intake::Intake& intake, const core::ProviderRegistry& registry,
              const core::Clock& clock, std::shared_ptr<spdlog::logger> log,
              DrillRunnerOptions options = {});
  ~DrillRunner();

  // Records a new run of `drill` and runs it in the background; its id. Fails with
  // kAlreadyExists while a run of the same drill is in progress (runs never overlap).
  core::awaitable<core::Result<std::string>> start(DrillPtr drill, DrillStart how);
  // Carries on every drill run a crash left unfinished: what was injected is rolled back, and
  // the run ends with what was measured. Call after the engine resumed its runs.
  core::awaitable<void> resumeAll();
  // Completes when the drill run has finished, with its record.
  core::awaitable<core::Result<store::DrillRunRecord>> join(const std::string& id);

  bool running(const std::string& drill_name) const;
  size_t activeRuns() const { return active_.size(); }
  // No new stage starts; runs in progress stop at the next one and carry on after a restart.
  void shutdown();

 private:
  struct State;
  core::awaitable<void> drive(std::shared_ptr<State> state);
  core::awaitable<void> inject(State& s);
  core::awaitable<void> watch(State& s);
  core::awaitable<void> rollback(State& s);
  core::awaitable<void> finish(State& s);
  // Runs a probe playbook; "" when every probe passed, else what failed.
  core::awaitable<std::string> probe(State& s, const playbook::PlaybookPtr& probes,
                                     const std::string& when);
  // Starts a playbook of the drill's own (probes, injected action, rollback) as an engine run.
  core::awaitable<core::Result<std::string>> startOwnRun(State& s, const playbook::PlaybookPtr& pb,
                                                         bool dry_run);
  core::awaitable<core::Status> save(State& s);
  store::TimelineEvent note(const State& s, const char* kind, std::string message,
                            core::Json data = core::Json::object()) const;
  core::awaitable<void> record(store::TimelineEvent event);
  void discoverRuns(State& s);
  void measure(State& s);
  core::Alert injectedAlert(const State& s, const std::string& status) const;
  std::string newId();

  asio::any_io_executor executor_;
  store::Store& store_;
  playbook::Engine& engine_;
  intake::Intake& intake_;
  const core::ProviderRegistry& registry_;
  const core::Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  DrillRunnerOptions options_;
  std::map<std::string, std::shared_ptr<State>> active_;  // by drill run id
  bool shutting_down_ = false;
};

}  // namespace firebreak::drill
