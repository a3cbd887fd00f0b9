#include "daemon/playbook/engine.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "daemon/core/duration.h"
#include "daemon/playbook/loader.h"

namespace firebreak::playbook {

using core::ActionRequest;
using core::ActionResult;
using core::awaitable;
using core::ErrorCode;
using core::Result;
using core::Status;
using core::use_awaitable;
using store::RunStatus;
using store::StepRecord;
using store::TimelineEvent;

namespace {

// Why the step may not run: a value of one of its resource parameters that limits.protected
// names ("parameter 'role' names 'arn:...', protected by 'arn:aws:iam::*:role/break-glass*'").
std::optional<std::string> protectedTarget(const core::ActionSpec& spec, const Json& params,
                                           const core::ProtectedResources& protected_resources) {
  for (const auto& p : spec.params) {
    if (!p.resource || !params.contains(p.name)) continue;
    const Json& v = params[p.name];
    std::vector<std::string> values;
    if (v.is_string()) values.push_back(v.get<std::string>());
    if (v.is_array())
      for (const auto& e : v)
        if (e.is_string()) values.push_back(e.get<std::string>());
    for (const auto& value : values)
      if (auto pattern = protected_resources.match(value))
        return fmt::format("parameter '{}' names '{}', protected by limits.protected '{}'",
                           p.name, value, *pattern);
  }
  return std::nullopt;
}

constexpr const char* kMain = "main";
constexpr const char* kOnFailure = "on_failure";
constexpr const char* kUndo = "undo";
constexpr const char* kPausedSetting = "paused";

std::string journalKey(const std::string& stage, const std::string& step_id) {
  return stage + "/" + step_id;
}

bool isFinalStepStatus(const std::string& status) { return status != "started"; }

std::mt19937_64& rng() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return gen;
}

// Exponential backoff with full jitter: uniform in [0, min(max, base * 2^(attempt-1))].
milliseconds backoffFor(const RetryPolicy& retry, int attempt) {
  int64_t cap = retry.backoff.count();
  for (int i = 1; i < attempt && cap < retry.max_backoff.count(); ++i) cap *= 2;
  cap = std::min(cap, retry.max_backoff.count());
  if (cap <= 0) return milliseconds(0);
  std::uniform_int_distribution<int64_t> dist(0, cap);
  return milliseconds(dist(rng()));
}

}  // namespace

struct Engine::RunState {
  store::RunRecord record;
  PlaybookPtr playbook;
  Json steps = Json::object();  // the `steps` root of the scope
  std::map<std::string, StepRecord> journal;  // latest attempt per stage/step, from a resume
  std::map<std::string, store::ApprovalRecord> approvals;
  ResumeMode mode = ResumeMode::kContinue;
  struct Done {
    const Step* step;
    Json params;
    Json output;
  };
  std::vector<Done> completed;  // succeeded main steps, in order, for undo
  std::string error;
  bool abort_requested = false;
  std::string abort_reason;
  bool holds_slot = false;
  bool check_max_runs = false;
  std::shared_ptr<core::Event> done;
  std::map<std::string, std::shared_ptr<core::Event>> approval_events;
  std::map<std::string, std::pair<bool, std::string>> decisions;  // step -> (approved, by)
  std::shared_ptr<core::CancelFlag> cancel = std::make_shared<core::CancelFlag>();
};

Engine::Engine(asio::any_io_executor executor, store::Store& store,
               const core::ProviderRegistry& registry, const core::Clock& clock,
               EngineOptions options, std::shared_ptr<spdlog::logger> log)
    : strand_(asio::make_strand(executor)),
      store_(store),
      registry_(registry),
      clock_(clock),
      options_(std::move(options)),
      log_(log ? std::move(log) : spdlog::default_logger()) {}

Engine::~Engine() = default;

std::string Engine::newRunId() {
  auto ms = clock_.nowMs();
  std::string stamp = core::formatTime(ms);  // 2026-11-23T01:54:45.123Z
  std::string compact;
  for (char c : stamp.substr(0, 19))
    if (std::isdigit(static_cast<unsigned char>(c))) compact += c;
  // 48 random bits: with 24, thousands of runs started in one second collided (the bench
  // lost 2 of 10,000 to "run already exists").
  return fmt::format("r-{}-{}-{:012x}", compact.substr(0, 8), compact.substr(8),
                     rng()() & 0xffff'ffff'ffffULL);
}

bool Engine::stopping(const RunState& run) const { return shutting_down_ || run.abort_requested; }

Json Engine::scopeOf(const RunState& run) const {
  Json run_obj = {{"id", run.record.id},
                  {"playbook", run.record.playbook},
                  {"dry_run", run.record.dry_run},
                  {"trigger", run.record.trigger},
                  {"url", options_.external_url.empty()
                              ? ""
                              : options_.external_url + "/api/v1/runs/" + run.record.id},
                  {"error", run.error}};
  return Json{{"alert", run.record.alert},
              {"incident", Json{{"id", run.record.incident_id}}},
              {"params", run.record.params},
              {"steps", run.steps},
              {"run", run_obj},
              {"env", options_.env}};
}

awaitable<Status> Engine::record(TimelineEvent event) {
  if (event.at_ms == 0) event.at_ms = clock_.nowMs();
  auto status = co_await store_.commit([&](store::WriteTx& tx) { return tx.appendTimeline(event); });
  if (status && options_.on_event) options_.on_event(event);
  co_return status;
}

// ---------------------------------------------------------------------------------------------
// Starting runs

awaitable<Result<StartResult>> Engine::start(RunRequest request) {
  // A named lambda, not a temporary: see "GCC 12" in core/asio.h.
  auto body = [this, request = std::move(request)]() mutable -> awaitable<Result<StartResult>> {
    const Playbook& pb = *request.playbook;
    auto state = std::make_shared<RunState>();
    state->playbook = request.playbook;
    auto& rec = state->record;
    rec.id = request.run_id.empty() ? newRunId() : request.run_id;
    rec.playbook = pb.name;
    rec.playbook_file = pb.file;
    rec.playbook_hash = pb.hash;
    rec.playbook_source = pb.source;
    rec.incident_id = request.incident_id;
    rec.trigger = request.trigger;
    rec.alert = request.alert;
    rec.dry_run = request.dry_run || pb.dry_run || options_.dry_run;
    rec.created_ms = clock_.nowMs();
    rec.status = RunStatus::kRunning;
    if (pb.deadline) rec.deadline_ms = rec.created_ms + pb.deadline->count();

    // Parameters: given values first, then defaults rendered against the alert.
    if (!request.params.is_object()) request.params = Json::object();
    std::vector<std::string> declared;
    for (const auto& d : pb.params) declared.push_back(d.name);
    for (const auto& [name, _] : request.params.items()) {
      if (std::find(declared.begin(), declared.end(), name) == declared.end()) {
        std::string msg = "playbook '" + pb.name + "' has no parameter '" + name + "'";
        if (auto s = core::suggest(name, declared); !s.empty())
          msg += " (did you mean '" + s + "'?)";
        co_return core::fail(ErrorCode::kInvalidArgument, msg);
      }
    }
    Json params = Json::object();
    for (const auto& d : pb.params) {
      if (request.params.contains(d.name)) {
        params[d.name] = request.params[d.name];
        continue;
      }
      Json value;
      if (!d.default_value.is_null()) {
        rec.params = params;
        auto rendered = renderValue(d.default_value, scopeOf(*state));
        if (!rendered) {
          co_return core::fail(ErrorCode::kInvalidArgument,
                               "parameter '" + d.name + "': " + rendered.error().message());
        }
        value = std::move(*rendered);
      }
      if ((value.is_null() || (value.is_string() && value.get<std::string>().empty())) &&
          d.required) {
        co_return core::fail(ErrorCode::kInvalidArgument,
                             "missing required parameter '" + d.name + "' of playbook '" +
                                 pb.name + "' (give it with --param " + d.name + "=VALUE)");
      }
      params[d.name] = value;
    }
    rec.params = params;

    auto renderKey = [&](const KeyedLimit& limit) -> Result<std::string> {
      auto v = renderValue(Json(limit.key), scopeOf(*state));
      if (!v) return core::fail(v.error());
      return pb.name + "|" + (v->is_string() ? v->get<std::string>() : v->dump());
    };
    if (pb.concurrency) {
      auto k = renderKey(*pb.concurrency);
      if (!k) co_return core::fail(k.error().context("rendering concurrency.key"));
      rec.concurrency_key = *k;
    }
    // Dry runs count among dry runs only: a rehearsal must not use up the live run's dedup
    // window or max_runs, and a dry-run daemon still sees the limits it would meet live.
    const std::string limit_prefix = rec.dry_run ? "dry-run|" : "";
    if (pb.max_runs) {
      auto k = renderKey(*pb.max_runs);
      if (!k) co_return core::fail(k.error().context("rendering max_runs.key"));
      rec.max_runs_key = limit_prefix + *k;
      auto count = store_.countRunsSince(rec.max_runs_key,
                                         rec.created_ms - pb.max_runs->window.count());
      if (!count) co_return core::fail(count.error());
      state->check_max_runs = *count >= pb.max_runs->count;
    }
    if (pb.dedup) {
      auto k = renderKey(*pb.dedup);
      if (!k) co_return core::fail(k.error().context("rendering dedup.key"));
      rec.dedup_key = limit_prefix + *k;
    }

    TimelineEvent started{0, rec.created_ms, rec.incident_id, rec.id, "", "run.started",
                          fmt::format("run of playbook '{}' started ({}{})", pb.name,
                                      rec.trigger, rec.dry_run ? ", dry-run" : ""),
                          Json{{"params", rec.params}, {"dry_run", rec.dry_run}}};
    bool deduped = false;
    auto committed = co_await store_.commit([&](store::WriteTx& tx) -> Status {
      if (request.clears_pending_start)
        if (auto s = tx.removePendingStart(rec.id); !s) return s;
      if (!rec.dedup_key.empty()) {
        auto claimed = tx.claimDedup(rec.dedup_key, rec.id, rec.created_ms,
                                     rec.created_ms + pb.dedup->window.count());
        if (!claimed) return core::fail(claimed.error());
        if (!*claimed) {
          deduped = true;
          return {};
        }
      }
      if (auto s = tx.insertRun(rec); !s) return s;
      return tx.appendTimeline(started);
    });
    if (!committed) co_return core::fail(committed.error().context("starting run"));
    if (deduped) {
      std::string msg = fmt::format("not started: a run of '{}' with dedup key '{}' is within "
                                    "its {} window",
                                    pb.name, rec.dedup_key,
                                    core::formatDuration(pb.dedup->window));
      stats_.limit_hits["dedup"]++;
      log_->info("{}", msg);
      {
        TimelineEvent ev_{0, 0, rec.incident_id, "", "", "limit.hit", msg,
                       Json{{"limit", "dedup"}, {"key", rec.dedup_key}}};
        co_await record(std::move(ev_));
      }
      StartResult not_started{std::string(), false, msg};
      co_return not_started;
    }
    if (options_.on_event) options_.on_event(started);
    log_->info("run {} of playbook '{}' started ({})", rec.id, pb.name, rec.trigger);
    state->done = std::make_shared<core::Event>(strand_);
    active_[rec.id] = state;
    asio::co_spawn(strand_, drive(state), asio::detached);
    StartResult ok{rec.id, true, std::string()};
    co_return ok;
  };
  co_return co_await asio::co_spawn(strand_, std::move(body), use_awaitable);
}

// ---------------------------------------------------------------------------------------------
// Driving a run

awaitable<void> Engine::drive(std::shared_ptr<RunState> run) {
  StepOutcome outcome = StepOutcome::kSucceeded;
  try {
    if (run->check_max_runs || run->approvals.count("_max_runs")) {
      const auto& mr = *run->playbook->max_runs;
      std::string reason =
          fmt::format("max_runs: more than {} runs of key '{}' within {}", mr.count,
                      run->record.max_runs_key, core::formatDuration(mr.window));
      if (!run->approvals.count("_max_runs")) co_await limitHit(*run, "", "max_runs", reason);
      outcome = co_await awaitApproval(*run, "_max_runs", "responder",
                                       options_.limit_approval_timeout, OnTimeout::kAbort, reason);
    }
    if (outcome == StepOutcome::kSucceeded) {
      co_await acquireConcurrency(*run);
      if (stopping(*run)) outcome = shutting_down_ ? StepOutcome::kInterrupted : StepOutcome::kAborted;
    }
    if (outcome == StepOutcome::kSucceeded)
      outcome = co_await runSteps(*run, run->playbook->steps, kMain);
    if (outcome == StepOutcome::kFailed) {
      // on_failure first (people hear about it), then undo what was done, newest first.
      auto on_failure = co_await runSteps(*run, run->playbook->on_failure, kOnFailure);
      if (on_failure == StepOutcome::kInterrupted || on_failure == StepOutcome::kNeedsAttention) {
        outcome = on_failure;
      } else {
        co_await rollback(*run);
        if (shutting_down_) outcome = StepOutcome::kInterrupted;
      }
    }
  } catch (const std::exception& e) {
    run->error = std::string("internal error: ") + e.what();
    outcome = StepOutcome::kFailed;
  }

  RunStatus status = RunStatus::kSucceeded;
  switch (outcome) {
    case StepOutcome::kSucceeded:
    case StepOutcome::kSkipped: status = RunStatus::kSucceeded; break;
    case StepOutcome::kFailed: status = RunStatus::kFailed; break;
    case StepOutcome::kAborted: status = RunStatus::kAborted; break;
    case StepOutcome::kDenied: status = RunStatus::kDenied; break;
    case StepOutcome::kNeedsAttention: status = RunStatus::kNeedsAttention; break;
    case StepOutcome::kInterrupted:
      // Left as it is in the store; the next start resumes it.
      log_->info("run {} interrupted by shutdown; it resumes on the next start", run->record.id);
      releaseConcurrency(*run);
      active_.erase(run->record.id);
      run->done->set();
      co_return;
  }
  if (outcome == StepOutcome::kAborted && run->error.empty()) run->error = run->abort_reason;
  co_await finishRun(*run, status, run->error);
}

awaitable<Status> Engine::finishRun(RunState& run, RunStatus status, const std::string& error) {
  auto now = clock_.nowMs();
  run.record.status = status;
  run.record.finished_ms = store::isFinal(status) ? now : 0;
  TimelineEvent ev{0, now, run.record.incident_id, run.record.id, "",
                   status == RunStatus::kNeedsAttention ? "run.needs_attention" : "run.finished",
                   fmt::format("run {} {}{}", run.record.id, store::runStatusName(status),
                               error.empty() ? "" : ": " + error),
                   Json{{"status", store::runStatusName(status)}, {"error", error}}};
  auto s = co_await store_.commit([&](store::WriteTx& tx) -> Status {
    if (auto u = tx.updateRun(run.record.id, status, error, run.record.finished_ms); !u) return u;
    return tx.appendTimeline(ev);
  });
  if (s && options_.on_event) options_.on_event(ev);
  if (!s) log_->error("run {}: cannot record its end: {}", run.record.id, s.error().str());
  stats_.runs_finished[store::runStatusName(status)]++;
  if (options_.runs_metric)
    options_.runs_metric->with({run.record.playbook, store::runStatusName(status)}).inc();
  log_->info("run {} of '{}' {}{}", run.record.id, run.record.playbook,
             store::runStatusName(status), error.empty() ? "" : ": " + error);
  releaseConcurrency(run);
  auto keep = active_[run.record.id];  // keep the state alive until the end of this frame
  active_.erase(run.record.id);
  run.done->set();
  co_return s;
}

awaitable<Engine::StepOutcome> Engine::runSteps(RunState& run, const std::vector<Step>& steps,
                                                const std::string& stage) {
  bool any_failed = false;
  for (const auto& step : steps) {
    if (stopping(run)) co_return shutting_down_ ? StepOutcome::kInterrupted : StepOutcome::kAborted;
    auto outcome = co_await runStep(run, step, stage);
    if (outcome == StepOutcome::kFailed && stage == kOnFailure) {
      any_failed = true;  // every on_failure step gets its chance
      continue;
    }
    if (outcome != StepOutcome::kSucceeded && outcome != StepOutcome::kSkipped) co_return outcome;
  }
  co_return any_failed ? StepOutcome::kSkipped : StepOutcome::kSucceeded;
}

awaitable<Engine::StepOutcome> Engine::runStep(RunState& run, const Step& step,
                                               const std::string& stage) {
  switch (step.kind) {
    case Step::Kind::kParallel: co_return co_await runParallel(run, step, stage);
    case Step::Kind::kApproval: co_return co_await runApproval(run, step, stage);
    case Step::Kind::kAction: break;
  }
  auto outcome = co_await runAction(run, step, stage);
  if (outcome == StepOutcome::kFailed && step.continue_on_failure) co_return StepOutcome::kSkipped;
  co_return outcome;
}

awaitable<Engine::StepOutcome> Engine::runParallel(RunState& run, const Step& group,
                                                   const std::string& stage) {
  if (group.condition) {
    auto ok = group.condition->test(scopeOf(run));
    if (!ok) {
      run.error = "step '" + group.id + "': if: " + ok.error().message();
      co_return StepOutcome::kFailed;
    }
    if (!*ok) co_return StepOutcome::kSkipped;
  }
  struct Branch {
    StepOutcome outcome = StepOutcome::kSucceeded;
    std::shared_ptr<core::Event> done;
  };
  auto branches = std::make_shared<std::vector<Branch>>(group.parallel.size());
  for (size_t i = 0; i < group.parallel.size(); ++i) {
    (*branches)[i].done = std::make_shared<core::Event>(strand_);
    asio::co_spawn(
        strand_,
        [this, &run, &step = group.parallel[i], stage, branches, i]() -> awaitable<void> {
          try {
            (*branches)[i].outcome = co_await runStep(run, step, stage);
          } catch (const std::exception& e) {
            run.error = "step '" + step.id + "': internal error: " + e.what();
            (*branches)[i].outcome = StepOutcome::kFailed;
          }
          (*branches)[i].done->set();
        },
        asio::detached);
  }
  for (auto& b : *branches) co_await b.done->wait();
  // The most serious outcome of any branch is the group's.
  auto rank = [](StepOutcome o) {
    switch (o) {
      case StepOutcome::kSucceeded: return 0;
      case StepOutcome::kSkipped: return 1;
      case StepOutcome::kFailed: return 2;
      case StepOutcome::kDenied: return 3;
      case StepOutcome::kAborted: return 4;
      case StepOutcome::kNeedsAttention: return 5;
      case StepOutcome::kInterrupted: return 6;
    }
    return 0;
  };
  StepOutcome worst = StepOutcome::kSucceeded;
  for (const auto& b : *branches)
    if (rank(b.outcome) > rank(worst)) worst = b.outcome;
  if (worst == StepOutcome::kSkipped) worst = StepOutcome::kSucceeded;
  co_return worst;
}

awaitable<Engine::StepOutcome> Engine::runApproval(RunState& run, const Step& step,
                                                   const std::string& stage) {
  if (step.condition) {
    auto ok = step.condition->test(scopeOf(run));
    if (!ok) {
      run.error = "step '" + step.id + "': if: " + ok.error().message();
      co_return StepOutcome::kFailed;
    }
    if (!*ok) co_return StepOutcome::kSkipped;
  }
  std::string message = step.approval.message;
  if (!message.empty()) {
    if (auto r = renderValue(Json(message), scopeOf(run)); r && r->is_string()) message = *r;
  }
  if (message.empty()) message = "approval step '" + step.id + "'";
  if (run.record.dry_run) {
    // A dry-run records that it would wait, and goes on as if approved.
    auto now = clock_.nowMs();
    StepRecord rec;
    rec.run_id = run.record.id;
    rec.step_id = step.id;
    rec.stage = stage;
    rec.status = "planned";
    rec.dry_run = true;
    rec.started_ms = rec.finished_ms = now;
    rec.output = Json{{"plan", "would wait up to " + core::formatDuration(step.approval.timeout) +
                                   " for approval by a " + step.approval.role + ": " + message}};
    TimelineEvent ev{0, now, run.record.incident_id, run.record.id, step.id, "step.planned",
                     rec.output["plan"].get<std::string>(), Json::object()};
    co_await store_.commit([&](store::WriteTx& tx) -> Status {
      if (auto s = tx.upsertStep(rec); !s) return s;
      return tx.appendTimeline(ev);
    });
    if (options_.on_event) options_.on_event(ev);
    run.steps[step.id] = Json{{"status", "planned"}, {"output", rec.output}};
    co_return StepOutcome::kSucceeded;
  }
  auto outcome = co_await awaitApproval(run, step.id, step.approval.role, step.approval.timeout,
                                        step.approval.on_timeout, message);
  run.steps[step.id] = Json{{"status", outcome == StepOutcome::kSucceeded ? "approved"
                                        : outcome == StepOutcome::kDenied  ? "denied"
                                                                           : "aborted"},
                            {"output", Json::object()}};
  (void)stage;
  co_return outcome;
}

awaitable<Engine::StepOutcome> Engine::awaitApproval(RunState& run, const std::string& step_id,
                                                     const std::string& role, milliseconds timeout,
                                                     OnTimeout on_timeout,
                                                     const std::string& reason) {
  store::ApprovalRecord ar;
  auto existing = run.approvals.find(step_id);
  if (existing != run.approvals.end()) {
    ar = existing->second;
  } else {
    ar.run_id = run.record.id;
    ar.step_id = step_id;
    ar.role = role;
    ar.status = "pending";
    ar.reason = reason;
    ar.requested_ms = clock_.nowMs();
    ar.expires_ms = timeout.count() > 0 ? ar.requested_ms + timeout.count() : 0;
    TimelineEvent ev{0, ar.requested_ms, run.record.incident_id, run.record.id, step_id,
                     "approval.requested",
                     fmt::format("waiting for approval by a {}: {} (firebreak approve {} {})", role,
                                 reason, run.record.id, step_id),
                     Json{{"role", role}, {"expires_ms", ar.expires_ms}}};
    auto s = co_await store_.commit([&](store::WriteTx& tx) -> Status {
      if (auto a = tx.upsertApproval(ar); !a) return a;
      if (auto u = tx.updateRun(run.record.id, RunStatus::kWaitingApproval, "", 0); !u) return u;
      return tx.appendTimeline(ev);
    });
    if (!s) {
      run.error = s.error().str();
      co_return StepOutcome::kFailed;
    }
    if (options_.on_event) options_.on_event(ev);
    run.approvals[step_id] = ar;
  }

  std::string decided_status = ar.status;
  std::string decided_by = ar.decided_by;
  auto& event = run.approval_events[step_id];
  if (!event) event = std::make_shared<core::Event>(strand_);
  while (decided_status == "pending") {
    if (auto d = run.decisions.find(step_id); d != run.decisions.end()) {
      decided_status = d->second.first ? "approved" : "denied";
      decided_by = d->second.second;
      break;
    }
    // Another process (the CLI on the same store) may have decided.
    if (auto all = store_.approvals(run.record.id); all) {
      for (const auto& a : *all)
        if (a.step_id == step_id && a.status != "pending") {
          decided_status = a.status;
          decided_by = a.decided_by;
        }
      if (decided_status != "pending") break;
    }
    if (stopping(run)) co_return shutting_down_ ? StepOutcome::kInterrupted : StepOutcome::kAborted;
    if (ar.expires_ms && clock_.nowMs() >= ar.expires_ms) {
      decided_status = "timed_out";
      ar.status = "timed_out";
      ar.decided_ms = clock_.nowMs();
      std::string what = on_timeout == OnTimeout::kApprove ? "approving"
                         : on_timeout == OnTimeout::kDeny  ? "denying"
                                                           : "aborting the run";
      TimelineEvent ev{0, 0, run.record.incident_id, run.record.id, step_id, "approval.timed_out",
                       "approval for '" + step_id + "' timed out; " + what, Json::object()};
      co_await store_.commit([&](store::WriteTx& tx) { return tx.upsertApproval(ar); });
      co_await record(ev);
      break;
    }
    co_await event->wait(std::chrono::steady_clock::now() + options_.poll_interval);
    if (event->isSet()) event = std::make_shared<core::Event>(strand_);
  }

  StepOutcome outcome;
  if (decided_status == "approved") outcome = StepOutcome::kSucceeded;
  else if (decided_status == "denied") outcome = StepOutcome::kDenied;
  else if (on_timeout == OnTimeout::kApprove) outcome = StepOutcome::kSucceeded;
  else if (on_timeout == OnTimeout::kDeny) outcome = StepOutcome::kDenied;
  else outcome = StepOutcome::kAborted;
  if (outcome == StepOutcome::kDenied) run.error = "approval '" + step_id + "' denied";
  if (outcome == StepOutcome::kAborted) run.error = "approval '" + step_id + "' timed out";
  if (outcome == StepOutcome::kSucceeded) {
    co_await store_.commit([&](store::WriteTx& tx) {
      return tx.updateRun(run.record.id, RunStatus::kRunning, "", 0);
    });
  }
  (void)decided_by;
  co_return outcome;
}

awaitable<void> Engine::limitHit(RunState& run, const std::string& step_id,
                                 const std::string& limit, const std::string& message) {
  stats_.limit_hits[limit]++;
  log_->warn("run {} step {}: limit {}: {}", run.record.id, step_id, limit, message);
  {
    TimelineEvent ev_{0, 0, run.record.incident_id, run.record.id, step_id, "limit.hit", message,
                   Json{{"limit", limit}}};
    co_await record(std::move(ev_));
  }
}

awaitable<Engine::StepOutcome> Engine::gateBeforeExecute(RunState& run, const Step& step,
                                                         const ActionRequest& request) {
  // The global pause: no new step starts until `firebreak resume`.
  bool announced = false;
  while (true) {
    auto paused = store_.setting(kPausedSetting);
    if (!paused || !*paused || **paused != "1") break;
    if (!announced) {
      co_await limitHit(run, step.id, "pause",
                        "automation is paused: step '" + step.id + "' waits for `firebreak resume`");
      announced = true;
    }
    if (stopping(run)) co_return shutting_down_ ? StepOutcome::kInterrupted : StepOutcome::kAborted;
    co_await core::sleepFor(options_.poll_interval);
  }

  const auto& spec = step.provider->spec();
  // Circuit breaker: an action that keeps failing needs a person to let it run again.
  if (auto br = store_.breaker(spec.name); br && *br && (*br)->open) {
    std::string reason = fmt::format(
        "circuit breaker for '{}' is open after {} consecutive failures: step '{}' waits for "
        "approval (reset with `firebreak breaker reset {}`)",
        spec.name, (*br)->consecutive_failures, step.id, spec.name);
    std::string gate_id = step.id + "#breaker";
    if (!run.approvals.count(gate_id)) co_await limitHit(run, step.id, "breaker", reason);
    auto o = co_await awaitApproval(run, gate_id, "responder", options_.limit_approval_timeout,
                                    OnTimeout::kAbort, reason);
    if (o != StepOutcome::kSucceeded) co_return o;
  }

  // Blast radius: a step acting on more resources than allowed stops before acting.
  if (step.max_resources) {
    std::optional<int64_t> count;
    if (!spec.resources_param.empty() && request.params.contains(spec.resources_param) &&
        request.params[spec.resources_param].is_array()) {
      count = static_cast<int64_t>(request.params[spec.resources_param].size());
    } else {
      auto plan = co_await callWithTimeout(*step.provider, request, true,
                                           step.timeout.value_or(std::chrono::minutes(1)));
      if (!plan.ok()) {
        run.error = "step '" + step.id + "': counting resources failed: " + plan.message;
        co_return StepOutcome::kFailed;
      }
      count = plan.resources;
    }
    if (count && *count > *step.max_resources) {
      std::string msg = fmt::format(
          "step '{}' would act on {} resources, more than its max_resources {}: nothing was done",
          step.id, *count, *step.max_resources);
      co_await limitHit(run, step.id, "max_resources", msg);
      run.error = msg;
      co_return StepOutcome::kFailed;
    }
  }

  // The daemon-wide budget of destructive actions per minute.
  if (spec.destructive && options_.destructive_actions_per_minute >= 0) {
    auto used = store_.countDestructiveSince(clock_.nowMs() - 60'000);
    int64_t in_minute = (used ? *used : 0) + destructive_reserved_;
    if (in_minute >= options_.destructive_actions_per_minute) {
      std::string reason = fmt::format(
          "destructive action budget used up ({} in the last minute, limit {}): step '{}' waits "
          "for approval",
          in_minute, options_.destructive_actions_per_minute, step.id);
      std::string gate_id = step.id + "#budget";
      if (!run.approvals.count(gate_id)) co_await limitHit(run, step.id, "budget", reason);
      auto o = co_await awaitApproval(run, gate_id, "responder", options_.limit_approval_timeout,
                                      OnTimeout::kAbort, reason);
      if (o != StepOutcome::kSucceeded) co_return o;
    }
  }
  co_return StepOutcome::kSucceeded;
}

awaitable<ActionResult> Engine::callWithTimeout(core::ActionProvider& provider,
                                                ActionRequest request, bool plan,
                                                milliseconds timeout) {
  struct Call {
    explicit Call(asio::any_io_executor ex) : done(ex) {}
    std::optional<ActionResult> result;
    core::Event done;
  };
  auto call = std::make_shared<Call>(strand_);
  request.timeout = timeout;
  auto cancel = request.cancel;
  asio::co_spawn(
      strand_,
      [&provider, request = std::move(request), plan, call]() -> awaitable<void> {
        ActionResult r;
        try {
          // Not `plan ? co_await a : co_await b`: GCC 12 destroys the result of such a
          // conditional twice (see core/asio.h).
          if (plan) {
            r = co_await provider.plan(request);
          } else {
            r = co_await provider.execute(request);
          }
        } catch (const std::exception& e) {
          r = ActionResult::permanent(provider.spec().name + " failed unexpectedly: " + e.what());
        }
        call->result = std::move(r);
        call->done.set();
      },
      asio::detached);
  // A little grace beyond the step's timeout lets actions that enforce it report themselves.
  bool finished =
      co_await call->done.wait(std::chrono::steady_clock::now() + timeout + milliseconds(250));
  if (!finished) {
    cancel->cancel();
    co_return ActionResult::retryable("timed out after " + core::formatDuration(timeout),
                                      Json{{"timed_out", true}});
  }
  co_return std::move(*call->result);
}

awaitable<Engine::StepOutcome> Engine::runAction(RunState& run, const Step& step,
                                                 const std::string& stage) {
  const std::string key = journalKey(stage, step.id);
  int attempt = 1;
  bool resumed_interrupted = false;
  if (auto j = run.journal.find(key); j != run.journal.end()) {
    const StepRecord& prev = j->second;
    if (isFinalStepStatus(prev.status)) {
      // Finished before a restart: never repeated, its result is read back.
      run.steps[step.id] = Json{{"status", prev.status}, {"output", prev.output},
                                {"error", prev.error}};
      if (prev.status == "succeeded" || prev.status == "planned") {
        if (stage == kMain) run.completed.push_back({&step, prev.params, prev.output});
        co_return StepOutcome::kSucceeded;
      }
      if (prev.status == "skipped") co_return StepOutcome::kSkipped;
      run.error = prev.error;
      co_return StepOutcome::kFailed;
    }
    // Started and never finished: the process died during the call.
    if (run.mode == ResumeMode::kSkip) {
      StepRecord rec = prev;
      rec.status = "skipped";
      rec.error = "skipped by an operator after an interruption";
      rec.finished_ms = clock_.nowMs();
      co_await store_.commit([&](store::WriteTx& tx) { return tx.upsertStep(rec); });
      {
        TimelineEvent ev_{0, 0, run.record.incident_id, run.record.id, step.id, "step.skipped",
                       "step '" + step.id + "' skipped by an operator after an interruption",
                       Json::object()};
        co_await record(std::move(ev_));
      }
      run.steps[step.id] = Json{{"status", "skipped"}, {"output", Json::object()}};
      run.mode = ResumeMode::kContinue;
      co_return StepOutcome::kSkipped;
    }
    if (!step.isIdempotent() && run.mode != ResumeMode::kRetry) {
      std::string msg = fmt::format(
          "step '{}' ({}) was interrupted and is not idempotent: it may or may not have taken "
          "effect. Check, then `firebreak runs resume {} --retry` to run it again or "
          "`firebreak runs skip {}` to go on without it",
          step.id, step.action, run.record.id, run.record.id);
      run.error = msg;
      {
        TimelineEvent ev_{0, 0, run.record.incident_id, run.record.id, step.id,
                       "step.needs_attention", msg, Json{{"attempt", prev.attempt}}};
        co_await record(std::move(ev_));
      }
      co_return StepOutcome::kNeedsAttention;
    }
    attempt = prev.attempt + 1;
    resumed_interrupted = true;
    run.mode = ResumeMode::kContinue;
  }

  Json scope = scopeOf(run);
  if (step.condition) {
    auto ok = step.condition->test(scope);
    if (!ok) {
      run.error = "step '" + step.id + "': if: " + ok.error().message();
      co_return StepOutcome::kFailed;
    }
    if (!*ok) {
      StepRecord rec;
      rec.run_id = run.record.id;
      rec.step_id = step.id;
      rec.stage = stage;
      rec.action = step.action;
      rec.status = "skipped";
      rec.started_ms = rec.finished_ms = clock_.nowMs();
      rec.error = "condition is false: " + step.condition->text();
      co_await store_.commit([&](store::WriteTx& tx) { return tx.upsertStep(rec); });
      {
        TimelineEvent ev_{0, 0, run.record.incident_id, run.record.id, step.id, "step.skipped",
                       "step '" + step.id + "' skipped: " + step.condition->text() + " is false",
                       Json::object()};
        co_await record(std::move(ev_));
      }
      run.steps[step.id] = Json{{"status", "skipped"}, {"output", Json::object()}};
      co_return StepOutcome::kSkipped;
    }
  }

  const bool dry = run.record.dry_run;
  const auto& spec = step.provider->spec();
  ActionRequest request;
  request.run_id = run.record.id;
  request.step_id = step.id;
  request.incident_id = run.record.incident_id;
  request.idempotency_key = run.record.id + ":" + stage + ":" + step.id;
  request.cancel = run.cancel;
  request.log = log_;
  // An undo acts on what the step it undoes recorded; rollback() put that output in place.
  if (stage == kUndo) request.undo_state = run.steps[step.id].value("output", Json::object());

  auto failBeforeCall = [&](const std::string& msg) -> awaitable<StepOutcome> {
    StepRecord rec;
    rec.run_id = run.record.id;
    rec.step_id = step.id;
    rec.stage = stage;
    rec.attempt = attempt;
    rec.action = step.action;
    rec.status = "failed";
    rec.error = msg;
    rec.started_ms = rec.finished_ms = clock_.nowMs();
    co_await store_.commit([&](store::WriteTx& tx) { return tx.upsertStep(rec); });
    {
      TimelineEvent ev_{0, 0, run.record.incident_id, run.record.id, step.id, "step.finished",
                     "step '" + step.id + "' failed: " + msg,
                     Json{{"status", "failed"}, {"action", step.action}}};
      co_await record(std::move(ev_));
    }
    run.steps[step.id] = Json{{"status", "failed"}, {"output", Json::object()}, {"error", msg}};
    run.error = "step '" + step.id + "': " + msg;
    co_return StepOutcome::kFailed;
  };

  auto rendered = renderValue(step.with, scope);
  if (!rendered) co_return co_await failBeforeCall(rendered.error().message());
  Json params = std::move(*rendered);
  auto issues = core::checkParams(spec, params, false, true);
  if (!issues.empty()) co_return co_await failBeforeCall(issues.front().message);
  if (auto v = step.provider->validate(params); !v)
    co_return co_await failBeforeCall(v.error().message());
  request.params = params;
  if (options_.protected_resources) {
    if (auto why = protectedTarget(spec, params, *options_.protected_resources)) {
      std::string msg = *why + ": nothing was done";
      co_await limitHit(run, step.id, "protected", "step '" + step.id + "': " + msg);
      co_return co_await failBeforeCall(msg);
    }
  }

  if (!dry) {
    auto gate = co_await gateBeforeExecute(run, step, request);
    if (gate != StepOutcome::kSucceeded) {
      if (gate == StepOutcome::kFailed) co_return co_await failBeforeCall(run.error);
      co_return gate;
    }
  }

  int last_attempt = std::max(step.retry.attempts, attempt);
  milliseconds step_timeout = step.timeout.value_or(std::chrono::minutes(5));
  for (;; ++attempt) {
    if (stopping(run)) co_return shutting_down_ ? StepOutcome::kInterrupted : StepOutcome::kAborted;
    milliseconds timeout = step_timeout;
    if (run.record.deadline_ms) {
      int64_t left = run.record.deadline_ms - clock_.nowMs();
      if (left <= 0) {
        std::string msg = "run deadline passed before step '" + step.id + "'";
        co_await limitHit(run, step.id, "deadline", msg);
        co_return co_await failBeforeCall(msg);
      }
      timeout = std::min(timeout, milliseconds(left));
    }
    request.attempt = attempt;
    StepRecord rec;
    rec.run_id = run.record.id;
    rec.step_id = step.id;
    rec.stage = stage;
    rec.attempt = attempt;
    rec.action = step.action;
    rec.status = "started";
    rec.idempotency_key = request.idempotency_key;
    rec.idempotent = step.isIdempotent();
    rec.destructive = spec.destructive;
    rec.dry_run = dry;
    rec.params = params;
    rec.started_ms = clock_.nowMs();
    TimelineEvent started{0, rec.started_ms, run.record.incident_id, run.record.id, step.id,
                          "step.started",
                          fmt::format("step '{}' ({}) {}attempt {}{}", step.id, step.action,
                                      dry ? "planning, " : "", attempt,
                                      resumed_interrupted ? " (after an interruption)" : ""),
                          Json{{"action", step.action},
                               {"attempt", attempt},
                               {"stage", stage},
                               {"phase", core::phaseName(step.effectivePhase())},
                               {"dry_run", dry}}};
    // Journaled before the provider is called: a crash after this point is detected on resume.
    if (!dry && spec.destructive) ++destructive_reserved_;
    auto journaled = co_await store_.commit([&](store::WriteTx& tx) -> Status {
      if (auto s = tx.upsertStep(rec); !s) return s;
      return tx.appendTimeline(started);
    });
    if (!dry && spec.destructive) --destructive_reserved_;
    if (!journaled) {
      run.error = "step '" + step.id + "': cannot journal its start: " + journaled.error().str();
      co_return StepOutcome::kFailed;
    }
    if (options_.on_event) options_.on_event(started);

    auto result = co_await callWithTimeout(*step.provider, request, dry, timeout);
    if (dry) stats_.steps_planned++;
    else stats_.steps_executed++;

    rec.finished_ms = clock_.nowMs();
    if (options_.step_seconds_metric)
      options_.step_seconds_metric->with({step.action})
          .observe(static_cast<double>(rec.finished_ms - rec.started_ms) / 1000.0);
    rec.output = result.output;
    rec.error = result.ok() ? "" : result.message;
    bool timed_out = result.output.is_object() && result.output.value("timed_out", false);
    rec.status = result.ok() ? (dry ? "planned" : "succeeded") : (timed_out ? "timed_out" : "failed");
    bool will_retry = !result.ok() && result.outcome == ActionResult::Outcome::kRetryable &&
                      attempt < last_attempt && !stopping(run);
    std::string text;
    if (result.ok()) {
      std::string plan = dry && result.output.contains("plan") && result.output["plan"].is_string()
                             ? ": " + result.output["plan"].get<std::string>()
                             : (result.message.empty() ? "" : ": " + result.message);
      text = fmt::format("step '{}' {} in {} ms{}", step.id, dry ? "planned" : "succeeded",
                         rec.finished_ms - rec.started_ms, plan);
    } else {
      text = fmt::format("step '{}' {} (attempt {}, {}): {}", step.id, rec.status, attempt,
                         core::outcomeName(result.outcome), result.message);
    }
    TimelineEvent finished{0, rec.finished_ms, run.record.incident_id, run.record.id, step.id,
                           "step.finished", text,
                           Json{{"status", rec.status},
                                {"action", step.action},
                                {"attempt", attempt},
                                {"stage", stage},
                                {"phase", core::phaseName(step.effectivePhase())},
                                {"duration_ms", rec.finished_ms - rec.started_ms},
                                {"dry_run", dry}}};
    co_await store_.commit([&](store::WriteTx& tx) -> Status {
      if (auto s = tx.upsertStep(rec); !s) return s;
      if (!dry) {
        // The breaker counts consecutive failures of an action across runs.
        store::BreakerRecord br{spec.name, 0, false, 0};
        if (auto prev = store_.breaker(spec.name); prev && *prev) br = **prev;
        if (result.ok()) {
          br.consecutive_failures = 0;
        } else {
          br.consecutive_failures++;
          if (!br.open && br.consecutive_failures >= options_.breaker_threshold) {
            br.open = true;
            br.opened_ms = rec.finished_ms;
          }
        }
        if (auto s = tx.upsertBreaker(br); !s) return s;
      }
      return tx.appendTimeline(finished);
    });
    if (options_.on_event) options_.on_event(finished);

    if (result.ok()) {
      run.steps[step.id] = Json{{"status", rec.status}, {"output", rec.output}};
      if (stage == kMain) run.completed.push_back({&step, params, rec.output});
      co_return StepOutcome::kSucceeded;
    }
    if (will_retry) {
      auto delay = backoffFor(step.retry, attempt);
      {
        TimelineEvent ev_{0, 0, run.record.incident_id, run.record.id, step.id, "step.retried",
                       fmt::format("step '{}' retries in {} (attempt {} of {})", step.id,
                                   core::formatDuration(delay), attempt + 1, last_attempt),
                       Json{{"delay_ms", delay.count()}, {"next_attempt", attempt + 1}}};
        co_await record(std::move(ev_));
      }
      co_await core::sleepFor(delay, run.cancel.get());
      continue;
    }
    run.steps[step.id] =
        Json{{"status", rec.status}, {"output", rec.output}, {"error", result.message}};
    run.error = "step '" + step.id + "': " + result.message;
    co_return StepOutcome::kFailed;
  }
}

awaitable<void> Engine::rollback(RunState& run) {
  // Undo what the run did, newest first. An undo failure is recorded and does not stop the others.
  for (auto it = run.completed.rbegin(); it != run.completed.rend(); ++it) {
    const Step& step = *it->step;
    if (step.kind != Step::Kind::kAction || !step.provider) continue;
    core::ActionProvider* undo_provider = nullptr;
    Json undo_with;
    if (step.undo) {
      undo_provider = step.undo->provider;
      auto scope = scopeOf(run);
      auto r = renderValue(step.undo->with, scope);
      if (!r) {
        {
          TimelineEvent ev_{0, 0, run.record.incident_id, run.record.id, step.id, "step.undo_failed",
                         "undo of '" + step.id + "' cannot be rendered: " + r.error().message(),
                         Json::object()};
          co_await record(std::move(ev_));
        }
        continue;
      }
      undo_with = std::move(*r);
    } else if (!step.provider->spec().undo.empty()) {
      undo_provider = registry_.find(step.provider->spec().undo);
      undo_with = it->params;
    }
    if (!undo_provider) continue;
    Step undo_step;
    undo_step.kind = Step::Kind::kAction;
    undo_step.id = step.id;
    undo_step.action = undo_provider->spec().name;
    undo_step.provider = undo_provider;
    undo_step.retry = step.retry;
    undo_step.timeout = step.timeout;
    // Params are fixed already; keep only those the undo action declares.
    Json with = Json::object();
    for (const auto& p : undo_provider->spec().params)
      if (undo_with.contains(p.name)) with[p.name] = undo_with[p.name];
    // Templates were rendered above: escape nothing further by passing values through as is.
    undo_step.with = with;
    std::string key = journalKey(kUndo, step.id);
    if (auto j = run.journal.find(key); j != run.journal.end() && isFinalStepStatus(j->second.status))
      continue;  // undone before a restart
    // The state the undo needs is the step's output (what it changed, as it was before).
    Json saved_steps = run.steps;
    run.steps[step.id]["output"] = it->output;
    {
      TimelineEvent ev_{0, 0, run.record.incident_id, run.record.id, step.id, "step.undoing",
                     "undoing step '" + step.id + "' with " + undo_step.action, Json::object()};
      co_await record(std::move(ev_));
    }
    auto outcome = co_await runAction(run, undo_step, kUndo);
    run.steps = saved_steps;
    if (outcome == StepOutcome::kInterrupted || outcome == StepOutcome::kNeedsAttention) co_return;
    {
      TimelineEvent ev_{0, 0, run.record.incident_id, run.record.id, step.id,
                     outcome == StepOutcome::kSucceeded ? "step.undone" : "step.undo_failed",
                     outcome == StepOutcome::kSucceeded ? "step '" + step.id + "' undone"
                                                        : "undo of step '" + step.id + "' failed",
                     Json::object()};
      co_await record(std::move(ev_));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Concurrency

awaitable<void> Engine::acquireConcurrency(RunState& run) {
  const auto& pb = *run.playbook;
  if (!pb.concurrency || run.record.concurrency_key.empty() || run.holds_slot) co_return;
  const std::string& key = run.record.concurrency_key;
  bool announced = false;
  while (concurrency_in_use_[key] >= pb.concurrency->count) {
    if (!announced) {
      announced = true;
      co_await store_.commit([&](store::WriteTx& tx) {
        return tx.updateRun(run.record.id, RunStatus::kQueued, "", 0);
      });
      co_await limitHit(run, "", "concurrency",
                        fmt::format("queued: {} run(s) with concurrency key '{}' already active "
                                    "(limit {})",
                                    concurrency_in_use_[key], key, pb.concurrency->count));
    }
    if (stopping(run)) co_return;
    auto ev = std::make_shared<core::Event>(strand_);
    concurrency_waiters_[key].push_back(ev);
    co_await ev->wait(std::chrono::steady_clock::now() + options_.poll_interval);
  }
  concurrency_in_use_[key]++;
  run.holds_slot = true;
  if (announced) {
    co_await store_.commit([&](store::WriteTx& tx) {
      return tx.updateRun(run.record.id, RunStatus::kRunning, "", 0);
    });
  }
}

void Engine::releaseConcurrency(RunState& run) {
  if (!run.holds_slot) return;
  run.holds_slot = false;
  const std::string& key = run.record.concurrency_key;
  if (--concurrency_in_use_[key] <= 0) concurrency_in_use_.erase(key);
  auto waiters = std::move(concurrency_waiters_[key]);
  concurrency_waiters_.erase(key);
  for (auto& w : waiters) w->set();
}

// ---------------------------------------------------------------------------------------------
// Resume, abort, approvals, pause

Result<std::shared_ptr<Engine::RunState>> Engine::restore(const store::RunRecord& record,
                                                          ResumeMode mode) {
  auto compiled = compilePlaybook(record.playbook_source, record.playbook_file, registry_);
  if (!compiled) {
    std::string all;
    for (const auto& e : compiled.error()) all += "\n  " + e.str();
    return core::fail(ErrorCode::kFailedPrecondition,
                      "run " + record.id + ": the playbook it started with no longer compiles:" +
                          all);
  }
  auto state = std::make_shared<RunState>();
  state->record = record;
  state->playbook = *compiled;
  state->mode = mode;
  auto steps = store_.steps(record.id);
  if (!steps) return core::fail(steps.error());
  for (const auto& s : *steps) {
    auto key = journalKey(s.stage, s.step_id);
    auto it = state->journal.find(key);
    if (it == state->journal.end() || s.attempt >= it->second.attempt) state->journal[key] = s;
  }
  auto approvals = store_.approvals(record.id);
  if (!approvals) return core::fail(approvals.error());
  for (const auto& a : *approvals) state->approvals[a.step_id] = a;
  state->done = std::make_shared<core::Event>(strand_);
  return state;
}

awaitable<Status> Engine::resume(const std::string& run_id, ResumeMode mode) {
  // A named lambda, not a temporary: see "GCC 12" in core/asio.h.
  auto body = [this, run_id, mode]() -> awaitable<Status> {
    if (active_.count(run_id))
      co_return core::fail(ErrorCode::kFailedPrecondition,
                           "run " + run_id + " is already running");
    auto rec = store_.run(run_id);
    if (!rec) co_return core::fail(rec.error());
    if (!*rec) co_return core::fail(ErrorCode::kNotFound, "no run " + run_id);
    if (store::isFinal((*rec)->status))
      co_return core::fail(ErrorCode::kFailedPrecondition,
                           "run " + run_id + " already ended: " +
                               store::runStatusName((*rec)->status));
    auto state = restore(**rec, mode);
    if (!state) co_return core::fail(state.error());
    const char* how = mode == ResumeMode::kSkip    ? "skipping the interrupted step"
                      : mode == ResumeMode::kRetry ? "retrying the interrupted step"
                                                   : "continuing";
    co_await store_.commit([&](store::WriteTx& tx) {
      return tx.updateRun(run_id, RunStatus::kRunning, "", 0);
    });
    {
      TimelineEvent ev_{0, 0, (*rec)->incident_id, run_id, "", "run.resumed",
                     std::string("run resumed, ") + how, Json::object()};
      co_await record(std::move(ev_));
    }
    log_->info("run {} resumed ({})", run_id, how);
    active_[run_id] = *state;
    asio::co_spawn(strand_, drive(*state), asio::detached);
    co_return Status{};
  };
  co_return co_await asio::co_spawn(strand_, std::move(body), use_awaitable);
}

awaitable<Status> Engine::resumeAll() {
  auto runs = store_.unfinishedRuns();
  if (!runs) co_return core::fail(runs.error());
  for (const auto& r : *runs) {
    if (r.status == RunStatus::kNeedsAttention) continue;  // an operator decides
    auto s = co_await resume(r.id, ResumeMode::kContinue);
    if (!s) log_->error("{}", s.error().str());
  }
  co_return Status{};
}

awaitable<Status> Engine::abort(const std::string& run_id, const std::string& who,
                                const std::string& reason) {
  // A named lambda, not a temporary: see "GCC 12" in core/asio.h.
  auto body = [this, run_id, who, reason]() -> awaitable<Status> {
    std::string why = "aborted by " + who + (reason.empty() ? "" : ": " + reason);
    if (auto it = active_.find(run_id); it != active_.end()) {
      auto& run = *it->second;
      run.abort_requested = true;
      run.abort_reason = why;
      run.cancel->cancel();
      for (auto& [_, ev] : run.approval_events) ev->set();
      co_return Status{};
    }
    auto rec = store_.run(run_id);
    if (!rec) co_return core::fail(rec.error());
    if (!*rec) co_return core::fail(ErrorCode::kNotFound, "no run " + run_id);
    if (store::isFinal((*rec)->status))
      co_return core::fail(ErrorCode::kFailedPrecondition,
                           "run " + run_id + " already ended: " +
                               store::runStatusName((*rec)->status));
    auto now = clock_.nowMs();
    auto s = co_await store_.commit([&](store::WriteTx& tx) {
      return tx.updateRun(run_id, RunStatus::kAborted, why, now);
    });
    if (!s) co_return s;
    {
      TimelineEvent ev_{0, now, (*rec)->incident_id, run_id, "", "run.finished",
                     "run " + run_id + " aborted: " + why, Json{{"status", "aborted"}}};
      co_await record(std::move(ev_));
    }
    co_return Status{};
  };
  co_return co_await asio::co_spawn(strand_, std::move(body), use_awaitable);
}

awaitable<Status> Engine::undo(const std::string& run_id, const std::string& reason) {
  // A named lambda, not a temporary: see "GCC 12" in core/asio.h.
  auto body = [this, run_id, reason]() -> awaitable<Status> {
    if (active_.count(run_id))
      co_return core::fail(ErrorCode::kFailedPrecondition,
                           "run " + run_id + " is still running");
    auto rec = store_.run(run_id);
    if (!rec) co_return core::fail(rec.error());
    if (!*rec) co_return core::fail(ErrorCode::kNotFound, "no run " + run_id);
    if (!store::isFinal((*rec)->status))
      co_return core::fail(ErrorCode::kFailedPrecondition,
                           "run " + run_id + " has not ended: " +
                               store::runStatusName((*rec)->status));
    auto state = restore(**rec, ResumeMode::kContinue);
    if (!state) co_return core::fail(state.error());
    RunState& run = **state;
    // What rollback() undoes: the main steps that succeeded (or were planned), in the order
    // they started, as the run itself would have collected them.
    std::vector<const StepRecord*> done;
    for (const auto& [key, rec_step] : run.journal)
      if (rec_step.stage == kMain && (rec_step.status == "succeeded" || rec_step.status == "planned"))
        done.push_back(&rec_step);
    std::sort(done.begin(), done.end(), [](const StepRecord* a, const StepRecord* b) {
      return a->started_ms < b->started_ms;
    });
    for (const auto* s : done) {
      const Step* step = run.playbook->findStep(s->step_id);
      if (!step) continue;
      run.steps[s->step_id] = Json{{"status", s->status}, {"output", s->output}};
      run.completed.push_back({step, s->params, s->output});
    }
    {
      TimelineEvent ev_{0, 0, run.record.incident_id, run_id, "", "run.undoing",
                        "undoing run " + run_id + (reason.empty() ? "" : ": " + reason),
                        Json::object()};
      co_await record(std::move(ev_));
    }
    co_await rollback(run);
    if (shutting_down_)
      co_return core::fail(ErrorCode::kUnavailable,
                           "undo of run " + run_id + " interrupted by shutdown");
    {
      TimelineEvent ev_{0, 0, run.record.incident_id, run_id, "", "run.undone",
                        "run " + run_id + " undone", Json::object()};
      co_await record(std::move(ev_));
    }
    co_return Status{};
  };
  co_return co_await asio::co_spawn(strand_, std::move(body), use_awaitable);
}

awaitable<Status> Engine::decide(const std::string& run_id, const std::string& step_id,
                                 bool approve, const std::string& who, const std::string& reason) {
  // A named lambda, not a temporary: see "GCC 12" in core/asio.h.
  auto body = [this, run_id, step_id, approve, who, reason]() -> awaitable<Status> {
    auto all = store_.approvals(run_id);
    if (!all) co_return core::fail(all.error());
    std::optional<store::ApprovalRecord> ar;
    for (const auto& a : *all)
      if (a.step_id == step_id) ar = a;
    if (!ar)
      co_return core::fail(ErrorCode::kNotFound,
                           "run " + run_id + " has no approval '" + step_id + "'");
    if (ar->status != "pending")
      co_return core::fail(ErrorCode::kFailedPrecondition,
                           "approval '" + step_id + "' of run " + run_id + " is already " +
                               ar->status);
    ar->status = approve ? "approved" : "denied";
    ar->decided_by = who;
    ar->decided_ms = clock_.nowMs();
    if (!reason.empty()) ar->reason = reason;
    TimelineEvent ev{0, ar->decided_ms, "", run_id, step_id,
                     approve ? "approval.granted" : "approval.denied",
                     fmt::format("'{}' {} by {}{}", step_id, approve ? "approved" : "denied",
                                 who, reason.empty() ? "" : ": " + reason),
                     Json{{"by", who}, {"reason", reason}}};
    if (auto it = active_.find(run_id); it != active_.end())
      ev.incident_id = it->second->record.incident_id;
    auto s = co_await store_.commit([&](store::WriteTx& tx) -> Status {
      if (auto a = tx.upsertApproval(*ar); !a) return a;
      return tx.appendTimeline(ev);
    });
    if (!s) co_return s;
    if (options_.on_event) options_.on_event(ev);
    if (auto it = active_.find(run_id); it != active_.end()) {
      it->second->decisions[step_id] = {approve, who};
      if (auto e = it->second->approval_events.find(step_id);
          e != it->second->approval_events.end())
        e->second->set();
    }
    co_return Status{};
  };
  co_return co_await asio::co_spawn(strand_, std::move(body), use_awaitable);
}

awaitable<Status> Engine::setPaused(bool paused, const std::string& who) {
  auto s = co_await store_.commit(
      [&](store::WriteTx& tx) { return tx.setSetting(kPausedSetting, paused ? "1" : "0"); });
  if (!s) co_return s;
  TimelineEvent ev{0, 0, "", "", "", paused ? "automation.paused" : "automation.resumed",
                             std::string(paused ? "automation paused by " : "automation resumed by ") +
                                 who,
                             Json{{"by", who}}};
  co_return co_await record(std::move(ev));
}

awaitable<Status> Engine::resetBreaker(const std::string& action, const std::string& who) {
  auto s = co_await store_.commit(
      [&](store::WriteTx& tx) { return tx.upsertBreaker({action, 0, false, 0}); });
  if (!s) co_return s;
  TimelineEvent ev{0, 0, "", "", "", "breaker.reset",
                             "circuit breaker of '" + action + "' reset by " + who,
                             Json{{"action", action}, {"by", who}}};
  co_return co_await record(std::move(ev));
}

awaitable<Result<store::RunRecord>> Engine::join(const std::string& run_id) {
  // A named lambda, not a temporary: see "GCC 12" in core/asio.h.
  auto body = [this, run_id]() -> awaitable<std::shared_ptr<core::Event>> {
    auto it = active_.find(run_id);
    co_return it == active_.end() ? nullptr : it->second->done;
  };
  auto done = co_await asio::co_spawn(strand_, std::move(body), use_awaitable);
  if (done) {
    auto wait = [done]() -> awaitable<void> { co_await done->wait(); };
    co_await asio::co_spawn(strand_, std::move(wait), use_awaitable);
  }
  auto rec = store_.run(run_id);
  if (!rec) co_return core::fail(rec.error());
  if (!*rec) co_return core::fail(ErrorCode::kNotFound, "no run " + run_id);
  co_return **rec;
}

void Engine::applyReloadable(bool dry_run, int destructive_actions_per_minute, Json env) {
  options_.dry_run = dry_run;
  options_.destructive_actions_per_minute = destructive_actions_per_minute;
  options_.env = std::move(env);
}

void Engine::shutdown() {
  asio::post(strand_, [this] {
    shutting_down_ = true;
    // Running actions are left to finish (the safe point); only waits end early.
    for (auto& entry : active_) {
      for (auto& approval : entry.second->approval_events) approval.second->set();
    }
    for (auto& entry : concurrency_waiters_)
      for (auto& w : entry.second) w->set();
  });
}

}  // namespace firebreak::playbook
