#include "daemon/drill/runner.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "daemon/core/duration.h"
#include "daemon/drill/loader.h"
#include "daemon/playbook/loader.h"

namespace firebreak::drill {

using core::awaitable;
using core::ErrorCode;
using core::Json;
using core::Result;
using core::Status;
using store::DrillRunRecord;
using store::RunStatus;
using std::chrono::milliseconds;

namespace {

constexpr const char* kSteadyState = "steady_state";
constexpr const char* kInject = "inject";
constexpr const char* kWatch = "watch";
constexpr const char* kRollback = "rollback";
constexpr const char* kDone = "done";

// A step of a playbook run that did its work: or, in a dry run, planned it.
bool didIt(const store::StepRecord& s, bool dry_run) {
  return s.status == "succeeded" || (dry_run && s.status == "planned");
}

bool hasRun(const Json& runs, const std::string& id) {
  for (const auto& r : runs)
    if (r.value("id", "") == id) return true;
  return false;
}

std::string runOfRole(const Json& runs, const std::string& role) {
  for (const auto& r : runs)
    if (r.value("role", "") == role) return r.value("id", "");
  return "";
}

std::vector<std::string> runsOfRole(const Json& runs, const std::string& role) {
  std::vector<std::string> out;
  for (const auto& r : runs)
    if (r.value("role", "") == role) out.push_back(r.value("id", ""));
  return out;
}

}  // namespace

struct DrillRunner::State {
  DrillRunRecord rec;
  DrillPtr drill;
  std::shared_ptr<core::Event> done;
  int64_t steady_back_ms = 0;  // the steady state held again after the playbook (0: not seen)
  bool resumed = false;        // found unfinished at start-up
  // The verdict so far (aborted, error, passed, failed); the record says "running" until the
  // rollback is done, so that nobody reads a result before it is one.
  std::string outcome;
};

DrillRunner::DrillRunner(asio::any_io_executor executor, store::Store& store,
                         playbook::Engine& engine, intake::Intake& intake,
                         const core::ProviderRegistry& registry, const core::Clock& clock,
                         std::shared_ptr<spdlog::logger> log, DrillRunnerOptions options)
    : executor_(std::move(executor)),
      store_(store),
      engine_(engine),
      intake_(intake),
      registry_(registry),
      clock_(clock),
      log_(log ? std::move(log) : spdlog::default_logger()),
      options_(std::move(options)) {}

DrillRunner::~DrillRunner() = default;

std::string DrillRunner::newId() {
  static thread_local std::mt19937_64 gen{std::random_device{}()};
  std::string stamp = core::formatTime(clock_.nowMs());  // 2026-11-23T01:54:45.123Z
  std::string compact;
  for (char c : stamp.substr(0, 19))
    if (std::isdigit(static_cast<unsigned char>(c))) compact += c;
  return fmt::format("drill-{}-{}-{:08x}", compact.substr(0, 8), compact.substr(8),
                     gen() & 0xffff'ffffULL);
}

bool DrillRunner::running(const std::string& drill_name) const {
  for (const auto& [id, s] : active_)
    if (s->rec.drill == drill_name) return true;
  return false;
}

void DrillRunner::shutdown() { shutting_down_ = true; }

awaitable<Status> DrillRunner::save(State& s) {
  DrillRunRecord copy = s.rec;
  co_return co_await store_.commit([&copy](store::WriteTx& tx) { return tx.upsertDrillRun(copy); });
}

store::TimelineEvent DrillRunner::note(const State& s, const char* kind, std::string message,
                                       Json data) const {
  return store::TimelineEvent{0, clock_.nowMs(), s.rec.incident_id, s.rec.id, "", kind,
                              std::move(message), std::move(data)};
}

awaitable<void> DrillRunner::record(store::TimelineEvent ev) {
  auto ok = co_await store_.commit([&ev](store::WriteTx& tx) { return tx.appendTimeline(ev); });
  if (!ok) log_->error("drill run {}: {}", ev.run_id, ok.error().str());
}

awaitable<Result<std::string>> DrillRunner::start(DrillPtr drill, DrillStart how) {
  if (shutting_down_)
    co_return core::fail(ErrorCode::kUnavailable, std::string("the daemon is shutting down"));
  for (const auto& [id, s] : active_) {
    if (s->rec.drill == drill->name)
      co_return core::fail(ErrorCode::kAlreadyExists,
                           "drill '" + drill->name + "' is already running (" + id + ")");
  }
  auto state = std::make_shared<State>();
  state->drill = drill;
  state->done = std::make_shared<core::Event>(executor_);
  auto& rec = state->rec;
  rec.id = newId();
  rec.drill = drill->name;
  rec.drill_file = drill->file;
  rec.drill_source = drill->source;
  rec.trigger = how.trigger;
  rec.dry_run = drill->dry_run && !how.live;
  rec.stage = kSteadyState;
  rec.status = "running";
  rec.scheduled_ms = how.scheduled_ms;
  rec.started_ms = clock_.nowMs();
  for (const auto& o : drill->objectives) {
    rec.objectives.push_back({{"name", o.name},
                              {"definition", objectiveDefinition(o.name)},
                              {"target_ms", o.target.count()},
                              {"measured_ms", nullptr},
                              {"passed", false}});
  }
  if (auto ok = co_await save(*state); !ok) co_return core::fail(ok.error());
  active_[rec.id] = state;
  {
    auto ev = note(*state, "drill.started",
                   fmt::format("drill '{}' started ({}, {})", drill->name, how.trigger,
                               rec.dry_run ? "dry-run" : "live"),
                   Json{{"drill", drill->name}, {"dry_run", rec.dry_run}, {"trigger", how.trigger}});
    co_await record(std::move(ev));
  }
  log_->info("drill run {} of '{}' started ({}, {})", rec.id, drill->name, how.trigger,
             rec.dry_run ? "dry-run" : "live");
  asio::co_spawn(executor_, drive(state), asio::detached);
  co_return rec.id;
}

awaitable<void> DrillRunner::resumeAll() {
  auto runs = store_.unfinishedDrillRuns();
  if (!runs) {
    log_->error("drills: {}", runs.error().str());
    co_return;
  }
  for (auto& rec : *runs) {
    if (active_.count(rec.id)) continue;
    auto state = std::make_shared<State>();
    state->done = std::make_shared<core::Event>(executor_);
    state->rec = rec;
    auto compiled = compileDrill(rec.drill_source, rec.drill_file, registry_);
    if (!compiled || !*compiled) {
      // Nothing of it can run; say so and end it, rather than leave it running forever.
      std::string why = "the drill it started with no longer compiles";
      if (!compiled) why += ": " + compiled.error().front().str();
      state->rec.status = "error";
      state->rec.error = why + "; roll back by hand what it injected";
      state->rec.stage = kDone;
      state->rec.finished_ms = clock_.nowMs();
      (void)co_await save(*state);
      log_->error("drill run {}: {}", rec.id, state->rec.error);
      continue;
    }
    state->drill = *compiled;
    state->resumed = true;
    active_[rec.id] = state;
    log_->info("drill run {} of '{}' was interrupted in its {} stage; carrying on", rec.id,
               rec.drill, rec.stage);
    {
      auto ev = note(*state, "drill.resumed",
                     "drill run resumed after a restart, in its " + rec.stage + " stage");
      co_await record(std::move(ev));
    }
    asio::co_spawn(executor_, drive(state), asio::detached);
  }
}

awaitable<Result<DrillRunRecord>> DrillRunner::join(const std::string& id) {
  if (auto it = active_.find(id); it != active_.end()) {
    auto done = it->second->done;
    co_await done->wait();
  }
  auto rec = store_.drillRun(id);
  if (!rec) co_return core::fail(rec.error());
  if (!*rec) co_return core::fail(ErrorCode::kNotFound, "no drill run " + id);
  co_return **rec;
}

awaitable<void> DrillRunner::drive(std::shared_ptr<State> state) {
  State& s = *state;
  auto& rec = s.rec;
  try {
    if (!s.resumed) {
      if (s.drill->steady_state) {
        auto failed = co_await probe(s, s.drill->steady_state, "steady_state");
        if (!failed.empty()) {
          s.outcome = "aborted";
          rec.error = "the steady state did not hold before injection, nothing was injected: " +
                      failed;
          {
            auto ev = note(s, "drill.aborted", rec.error);
            co_await record(std::move(ev));
          }
        }
      }
      if (s.outcome.empty() && !shutting_down_) co_await inject(s);
      if (s.outcome.empty() && !shutting_down_) co_await watch(s);
    } else {
      // A restart in the middle: what the drill measured until then stays; it did not finish.
      s.outcome = "error";
      std::string why = "interrupted by a restart of the daemon in the " + rec.stage + " stage";
      rec.error = rec.error.empty() ? why : rec.error + "; " + why;
      if (rec.stage != kRollback) discoverRuns(s);
    }
    if (shutting_down_ && rec.stage != kRollback) co_return;  // resumes on the next start
    measure(s);
    co_await rollback(s);
    if (shutting_down_) co_return;
    co_await finish(s);
    co_return;
  } catch (const std::exception& e) {
    s.outcome = "error";
    rec.error = std::string("internal error: ") + e.what();
    log_->error("drill run {}: {}", rec.id, rec.error);
  }
  // Only an exception gets here (a coroutine cannot co_await in its handler).
  co_await finish(s);
}

awaitable<Result<std::string>> DrillRunner::startOwnRun(State& s, const playbook::PlaybookPtr& pb,
                                                        bool dry_run) {
  playbook::RunRequest req;
  req.playbook = pb;
  req.trigger = "drill";
  req.incident_id = s.rec.incident_id;
  req.dry_run = dry_run;
  auto started = co_await engine_.start(std::move(req));
  if (!started) co_return core::fail(started.error());
  if (!started->started)
    co_return core::fail(ErrorCode::kFailedPrecondition,
                         "run of '" + pb->name + "' not started: " + started->reason);
  co_return started->run_id;
}

awaitable<std::string> DrillRunner::probe(State& s, const playbook::PlaybookPtr& probes,
                                          const std::string& when) {
  // Probes only look (the loader refuses destructive ones), so they run live in any mode.
  auto id = co_await startOwnRun(s, probes, false);
  std::string failed;
  std::string run_id;
  if (!id) {
    failed = id.error().message();
  } else {
    run_id = *id;
    auto result = co_await engine_.join(run_id);
    if (!result) {
      failed = result.error().message();
    } else if (result->status != RunStatus::kSucceeded) {
      failed = result->error.empty() ? std::string("run ") + store::runStatusName(result->status)
                                     : result->error;
    }
  }
  Json entry = {{"when", when}, {"run_id", run_id}, {"at_ms", clock_.nowMs()},
                {"ok", failed.empty()}, {"message", failed}};
  // Every steady-state check is kept; of the periodic stop_if checks only the failing one.
  if (when != "stop_if" || !failed.empty()) s.rec.probes.push_back(entry);
  if (when == "stop_if") {
    s.rec.measured["stop_if_checks"] = s.rec.measured.value("stop_if_checks", 0) + 1;
  }
  if (!failed.empty() || when != "stop_if") {
    {
      auto ev = note(s, failed.empty() ? "drill.probe.passed" : "drill.probe.failed",
                     when + " probes " + (failed.empty() ? "passed" : "failed: " + failed),
                     Json{{"when", when}, {"run_id", run_id}});
      co_await record(std::move(ev));
    }
  }
  co_return failed;
}

core::Alert DrillRunner::injectedAlert(const State& s, const std::string& status) const {
  const auto& in = *s.drill->inject_alert;
  core::Alert a;
  a.source = in.source;
  a.source_type = "drill";
  a.name = in.name;
  a.status = status;
  a.labels = in.labels;
  a.annotations = in.annotations;
  a.annotations[intake::kDrillRunAnnotation] = s.rec.id;
  a.annotations[intake::kDrillModeAnnotation] = s.rec.dry_run ? "dry-run" : "live";
  a.severity = in.severity;
  // One identity per drill run: its resolution at rollback matches its firing.
  a.fingerprint = "drill/" + s.rec.id;
  a.starts_at_ms = s.rec.injected_ms;
  if (status == "resolved") a.ends_at_ms = clock_.nowMs();
  a.drill = true;
  return a;
}

awaitable<void> DrillRunner::inject(State& s) {
  auto& rec = s.rec;
  rec.stage = kInject;
  rec.injected_ms = clock_.nowMs();
  // Recorded before the fault exists: a crash from here on rolls back.
  if (auto ok = co_await save(s); !ok) {
    s.outcome = "error";
    rec.error = "recording the injection: " + ok.error().message();
    rec.injected_ms = 0;
    co_return;
  }
  if (s.drill->inject_alert) {
    std::vector<core::Alert> alerts{injectedAlert(s, "firing")};
    auto accepted = co_await intake_.accept(std::move(alerts));
    if (!accepted) {
      s.outcome = "error";
      rec.error = "injecting the alert: " + accepted.error().message();
      co_return;
    }
    if (!accepted->incidents.empty()) rec.incident_id = accepted->incidents.front();
    for (const auto& run : accepted->runs)
      if (!hasRun(rec.runs, run)) rec.runs.push_back({{"id", run}, {"role", "playbook"}});
    {
      auto ev = note(s, "drill.injected",
                     fmt::format("alert '{}' injected through source '{}'{}",
                                 s.drill->inject_alert->name, s.drill->inject_alert->source,
                                 accepted->silenced ? " (silenced: it starts nothing)" : ""),
                     Json{{"alert", s.drill->inject_alert->name},
                          {"incidents", accepted->incidents},
                          {"runs", accepted->runs}});
      co_await record(std::move(ev));
    }
    if (accepted->runs.empty()) {
      {
        auto ev = note(s, "drill.unanswered", "the injected alert started no playbook");
        co_await record(std::move(ev));
      }
    }
  } else {
    auto id = co_await startOwnRun(s, s.drill->inject_action, rec.dry_run);
    if (!id) {
      s.outcome = "error";
      rec.error = "injecting the fault: " + id.error().message();
      co_return;
    }
    rec.runs.push_back({{"id", *id}, {"role", "inject"}, {"playbook", s.drill->inject_action->name}});
    (void)co_await save(s);
    auto result = co_await engine_.join(*id);
    if (!result || result->status != RunStatus::kSucceeded) {
      s.outcome = "error";
      rec.error = "injecting the fault failed: " +
                  (result ? result->error : result.error().message());
      {
        auto ev = note(s, "drill.inject_failed", rec.error, Json{{"run_id", *id}});
        co_await record(std::move(ev));
      }
      co_return;
    }
    const auto& step = s.drill->inject_action->steps.front();
    {
      auto ev = note(s, "drill.injected",
                     fmt::format("fault injected: {}{}", step.action,
                                 rec.dry_run ? " (planned only: dry-run)" : ""),
                     Json{{"action", step.action}, {"run_id", *id}});
      co_await record(std::move(ev));
    }
  }
  rec.stage = kWatch;
  (void)co_await save(s);
}

void DrillRunner::discoverRuns(State& s) {
  auto& rec = s.rec;
  // Runs of the drill's incident (a synthetic alert), or runs of the expected playbook that
  // started after the fault (a chaos fault, which the monitoring must see first).
  store::RunFilter filter;
  filter.limit = 50;
  if (!rec.incident_id.empty()) {
    filter.incident_id = rec.incident_id;
  } else if (s.drill && !s.drill->expect_playbook.empty()) {
    filter.playbook = s.drill->expect_playbook;
  } else {
    return;
  }
  auto runs = store_.runs(filter);
  if (!runs) return;
  for (const auto& r : *runs) {
    if (r.created_ms < rec.injected_ms || r.trigger == "manual" || hasRun(rec.runs, r.id)) continue;
    if (r.trigger == "drill" && !r.alert.is_object()) continue;  // the drill's own runs
    if (!s.drill->expect_playbook.empty() && r.playbook != s.drill->expect_playbook &&
        rec.incident_id.empty())
      continue;
    rec.runs.push_back({{"id", r.id}, {"role", "playbook"}, {"playbook", r.playbook}});
    if (rec.incident_id.empty()) rec.incident_id = r.incident_id;
  }
}

awaitable<void> DrillRunner::watch(State& s) {
  auto& rec = s.rec;
  const int64_t deadline = rec.injected_ms + s.drill->timeout.count();
  int64_t next_probe = clock_.nowMs() + s.drill->probe_interval.count();
  size_t known = rec.runs.size();
  while (!shutting_down_) {
    discoverRuns(s);
    if (rec.runs.size() != known) {
      known = rec.runs.size();
      (void)co_await save(s);
    }
    auto playbook_runs = runsOfRole(rec.runs, "playbook");
    // A synthetic alert's runs are all known from intake's answer: none, nothing to wait for.
    if (playbook_runs.empty() && s.drill->inject_alert) break;
    bool all_ended = !playbook_runs.empty();
    for (const auto& id : playbook_runs) {
      auto r = store_.run(id);
      if (!r) continue;
      if (!*r) {
        // Recorded by intake but not started yet; or refused by the playbook's own limits
        // (dedup), and then it never will be.
        auto pending = store_.pendingStarts();
        if (pending && std::any_of(pending->begin(), pending->end(),
                                   [&](const store::PendingStart& p) { return p.run_id == id; }))
          all_ended = false;
        continue;
      }
      if (!store::isFinal((*r)->status) && (*r)->status != RunStatus::kNeedsAttention)
        all_ended = false;
    }
    if (all_ended) break;
    int64_t now = clock_.nowMs();
    if (now >= deadline) {
      rec.error = fmt::format("no playbook run had ended {} after the injection",
                              core::formatDuration(s.drill->timeout));
      {
        auto ev = note(s, "drill.timed_out", rec.error);
        co_await record(std::move(ev));
      }
      break;
    }
    if (s.drill->stop_if && now >= next_probe) {
      auto failed = co_await probe(s, s.drill->stop_if, "stop_if");
      next_probe = clock_.nowMs() + s.drill->probe_interval.count();
      if (!failed.empty()) {
        s.outcome = "aborted";
        rec.error = "stop_if probe failed, drill stopped: " + failed;
        {
          auto ev = note(s, "drill.aborted", rec.error);
          co_await record(std::move(ev));
        }
        // The playbook runs the fault started stop too; the rollback then puts things back.
        for (const auto& id : playbook_runs) {
          auto r = store_.run(id);
          if (r && *r && !store::isFinal((*r)->status))
            (void)co_await engine_.abort(id, "drill " + rec.id, "stop_if probe failed");
        }
        co_return;
      }
    }
    co_await core::sleepFor(options_.poll);
  }
  if (shutting_down_) co_return;
  // Recovery may be the steady state coming back rather than a recovery step.
  if (s.drill->steady_state) {
    auto failed = co_await probe(s, s.drill->steady_state, "after");
    if (failed.empty()) s.steady_back_ms = clock_.nowMs();
  }
}

void DrillRunner::measure(State& s) {
  auto& rec = s.rec;
  if (rec.injected_ms == 0) return;
  std::optional<int64_t> detected, first_action, contained, recovered;
  auto earliest = [](std::optional<int64_t>& v, int64_t t) { if (!v || t < *v) v = t; };
  auto latest = [](std::optional<int64_t>& v, int64_t t) { if (!v || t > *v) v = t; };
  bool playbook_ok = false;
  bool any_playbook = false;
  for (const auto& id : runsOfRole(rec.runs, "playbook")) {
    auto r = store_.run(id);
    if (!r || !*r) continue;
    const auto& run = **r;
    if (!s.drill->expect_playbook.empty() && run.playbook != s.drill->expect_playbook) continue;
    any_playbook = true;
    if (run.status == RunStatus::kSucceeded) playbook_ok = true;
    if (!run.incident_id.empty()) {
      if (auto alerts = store_.alertsOfIncident(run.incident_id))
        for (const auto& a : *alerts)
          if (a.received_at_ms >= rec.injected_ms) earliest(detected, a.received_at_ms);
    }
    // The phase of each step is the playbook's word, from the source the run started with.
    auto compiled = playbook::compilePlaybook(run.playbook_source, run.playbook_file, registry_);
    auto steps = store_.steps(id);
    if (!steps) continue;
    for (const auto& st : *steps) {
      if (st.stage != "main" || st.action.empty()) continue;
      earliest(first_action, st.started_ms);
      if (!didIt(st, run.dry_run) || !compiled) continue;
      const auto* step = (*compiled)->findStep(st.step_id);
      if (!step) continue;
      auto phase = step->effectivePhase();
      if (phase == core::Phase::kContain) earliest(contained, st.finished_ms);
      if (phase == core::Phase::kRecover) latest(recovered, st.finished_ms);
    }
  }
  if (!recovered && s.steady_back_ms) recovered = s.steady_back_ms;
  auto rel = [&](const std::optional<int64_t>& t) -> Json {
    if (!t) return nullptr;
    return std::max<int64_t>(0, *t - rec.injected_ms);
  };
  rec.measured["injected_ms"] = rec.injected_ms;
  rec.measured["detected_ms"] = rel(detected);
  rec.measured["first_action_ms"] = rel(first_action);
  rec.measured["contained_ms"] = rel(contained);
  rec.measured["recovered_ms"] = rel(recovered);
  rec.measured["recovered_by"] = recovered && recovered == s.steady_back_ms && s.steady_back_ms
                                     ? "steady_state"
                                     : "recovery_step";
  const std::map<std::string, std::string> by_objective = {
      {"detected_within", "detected_ms"},
      {"first_action_within", "first_action_ms"},
      {"contained_within", "contained_ms"},
      {"recovered_within", "recovered_ms"}};
  bool all = true;
  for (auto& o : rec.objectives) {
    const Json& m = rec.measured[by_objective.at(o.value("name", ""))];
    o["measured_ms"] = m;
    bool passed = m.is_number() && m.get<int64_t>() <= o.value("target_ms", int64_t{0});
    o["passed"] = passed;
    all = all && passed;
  }
  if (!s.drill->expect_playbook.empty()) {
    rec.measured["playbook_succeeded"] = playbook_ok;
    if (!any_playbook && s.outcome.empty()) {
      rec.error = "playbook '" + s.drill->expect_playbook + "' did not run";
    } else if (!playbook_ok && s.outcome.empty() && rec.error.empty()) {
      rec.error = "playbook '" + s.drill->expect_playbook + "' did not succeed";
    }
    all = all && playbook_ok;
  }
  if (s.outcome.empty()) s.outcome = all && rec.error.empty() ? "passed" : "failed";
}

awaitable<void> DrillRunner::rollback(State& s) {
  auto& rec = s.rec;
  if (rec.stage != kRollback) {
    rec.stage = kRollback;
    if (auto ok = co_await save(s); !ok) log_->error("drill run {}: {}", rec.id, ok.error().str());
    {
      auto ev = note(s, "drill.rollback", "rolling back");
      co_await record(std::move(ev));
    }
  }
  std::vector<std::string> problems;
  // The injected fault first: its own undo (the chaos action's), as a failed run is undone.
  if (auto inject_run = runOfRole(rec.runs, "inject"); !inject_run.empty()) {
    auto r = store_.run(inject_run);
    if (r && *r && !store::isFinal((*r)->status)) (void)co_await engine_.join(inject_run);
    auto undone = co_await engine_.undo(inject_run, "rollback of drill run " + rec.id);
    if (!undone) problems.push_back("undoing the fault: " + undone.error().message());
  }
  if (shutting_down_) co_return;
  // A synthetic alert is resolved, which resolves its incident.
  if (s.drill->inject_alert && rec.injected_ms != 0) {
    bool known = !rec.incident_id.empty();
    if (!known) {
      // Interrupted before the answer of intake was recorded: is the alert stored?
      auto open = store_.incidents("open", 200);
      if (open) {
        for (const auto& inc : *open) {
          if (!inc.drill) continue;
          auto alerts = store_.alertsOfIncident(inc.id);
          if (!alerts) continue;
          for (const auto& a : *alerts) {
            auto it = a.annotations.find(intake::kDrillRunAnnotation);
            if (it != a.annotations.end() && it->second == rec.id) {
              rec.incident_id = inc.id;
              known = true;
            }
          }
        }
      }
    }
    if (known) {
      std::vector<core::Alert> alerts{injectedAlert(s, "resolved")};
      auto resolved = co_await intake_.accept(std::move(alerts));
      if (!resolved) problems.push_back("resolving the injected alert: " + resolved.error().message());
    }
  }
  if (s.drill->rollback) {
    std::string id = runOfRole(rec.runs, "rollback");
    if (id.empty()) {
      auto started = co_await startOwnRun(s, s.drill->rollback, rec.dry_run);
      if (!started) {
        problems.push_back("starting the rollback: " + started.error().message());
      } else {
        id = *started;
        rec.runs.push_back({{"id", id}, {"role", "rollback"}, {"playbook", s.drill->rollback->name}});
        (void)co_await save(s);
      }
    }
    if (!id.empty()) {
      // After a restart the engine resumed it; either way, this waits for its end.
      auto result = co_await engine_.join(id);
      if (shutting_down_) co_return;
      if (!result) {
        problems.push_back("rollback: " + result.error().message());
      } else if (result->status != RunStatus::kSucceeded) {
        problems.push_back("rollback run " + id + " " + store::runStatusName(result->status) +
                           (result->error.empty() ? "" : ": " + result->error));
      }
    }
  }
  rec.measured["rollback"] = problems.empty() ? "done" : "failed";
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
    rec.error = rec.error.empty() ? all : rec.error + "; " + all;
    s.outcome = "error";
    {
      auto ev = note(s, "drill.rollback_failed", all);
      co_await record(std::move(ev));
    }
  } else {
    {
      auto ev = note(s, "drill.rolled_back", "rollback done");
      co_await record(std::move(ev));
    }
  }
}

awaitable<void> DrillRunner::finish(State& s) {
  auto& rec = s.rec;
  rec.status = s.outcome.empty() ? "failed" : s.outcome;
  rec.stage = kDone;
  rec.finished_ms = clock_.nowMs();
  if (auto ok = co_await save(s); !ok) log_->error("drill run {}: {}", rec.id, ok.error().str());
  std::string summary = "drill " + rec.status;
  for (const auto& o : rec.objectives) {
    summary += fmt::format("; {} {} (target {}, measured {})", o.value("name", ""),
                           o.value("passed", false) ? "met" : "missed",
                           core::formatDuration(milliseconds(o.value("target_ms", int64_t{0}))),
                           o["measured_ms"].is_number()
                               ? core::formatDuration(milliseconds(o["measured_ms"].get<int64_t>()))
                               : std::string("nothing"));
  }
  if (!rec.error.empty()) summary += "; " + rec.error;
  {
    auto ev = note(s, "drill.finished", summary,
                   Json{{"status", rec.status}, {"objectives", rec.objectives}});
    co_await record(std::move(ev));
  }
  log_->info("drill run {} of '{}': {}", rec.id, rec.drill, summary);
  active_.erase(rec.id);
  s.done->set();
  if (options_.on_finished) options_.on_finished(rec);
}

}  // namespace firebreak::drill
