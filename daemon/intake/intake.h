// Intake: alerts from a source, durably, then to runs. One store commit per request (the
// writer groups concurrent ones) records each alert unless its identity is already known in
// that status, files it under an incident (per playbook and dedup key), resolves incidents
// whose last alert resolved, and records the runs to start; the request is answered only
// after that commit, and the runs are started after it. Start-up starts what a crash left
// recorded but not started.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "daemon/core/alert.h"
#include "daemon/core/asio.h"
#include "daemon/core/clock.h"
#include "daemon/intake/silence.h"
#include "daemon/playbook/engine.h"
#include "daemon/store/store.h"

namespace firebreak::intake {

struct IntakeResult {
  int accepted = 0;  // alerts stored (new, or a change of status)
  int repeats = 0;   // already known in the same status: not stored again, started nothing
  int resolved = 0;  // of `accepted`, the resolutions
  int silenced = 0;  // stored under an active silence: started nothing
  std::vector<std::string> incidents;  // every incident the request's alerts belong to
  std::vector<std::string> runs;       // runs recorded to start
};

struct IntakeStats {
  int64_t alerts_accepted = 0;
  int64_t alerts_repeated = 0;
  int64_t alerts_silenced = 0;
  int64_t runs_started = 0;
  int64_t runs_deduped = 0;
  int64_t start_failures = 0;
  int64_t incidents_opened = 0;
  int64_t incidents_resolved = 0;
};

// A drill marks the alerts it injects (Alert::drill) and says in these annotations which drill
// run injected it and whether its playbooks run dry.
inline constexpr const char* kDrillRunAnnotation = "firebreak_drill_run";
inline constexpr const char* kDrillModeAnnotation = "firebreak_drill_mode";  // dry-run | live
// True for a drill's alert (its JSON, as Alert::toJson) unless the drill said live.
bool isDryRunDrillAlert(const core::Json& alert);

class Intake {
 public:
  using PlaybookSet = std::function<std::vector<playbook::PlaybookPtr>()>;

  Intake(store::Store& store, playbook::Engine& engine, const core::Clock& clock,
         PlaybookSet playbooks, std::shared_ptr<spdlog::logger> log);

  // Durable when it returns success; the runs it recorded are being started.
  core::awaitable<core::Result<IntakeResult>> accept(std::vector<core::Alert> alerts);
  // Starts every recorded start that is not running yet (after a crash).
  core::awaitable<void> startPending();

  const IntakeStats& stats() const { return stats_; }

  // Silences are read from the store at most once a second; one added or expired in this
  // process applies from the next request.
  void silencesChanged() { silences_dirty_ = true; }

  // Called on the io thread, after the commit, for each incident a request resolved (its last
  // alert resolved); it must not block. Set before requests arrive; nullptr clears it.
  using ResolvedHook = std::function<void(const std::string& incident_id)>;
  void setOnResolved(ResolvedHook hook) { on_resolved_ = std::move(hook); }

 private:
  std::shared_ptr<const std::vector<Silence>> activeSilences(int64_t now_ms);
  core::awaitable<void> startRun(store::PendingStart pending);
  std::string newId(const char* prefix);

  store::Store& store_;
  playbook::Engine& engine_;
  const core::Clock& clock_;
  PlaybookSet playbooks_;
  std::shared_ptr<spdlog::logger> log_;
  IntakeStats stats_;
  std::atomic<uint64_t> seq_{0};  // ids are also made inside commit functions (writer thread)
  std::string id_salt_;           // random per process: ids of two lives never meet
  std::mutex silences_mu_;
  std::shared_ptr<const std::vector<Silence>> silences_;
  int64_t silences_loaded_ms_ = 0;
  std::atomic<bool> silences_dirty_{true};
  ResolvedHook on_resolved_;
};

}  // namespace firebreak::intake
