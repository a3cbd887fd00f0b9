// firebreak runs list|show|resume|skip|abort: inspect runs and decide what happens to
// interrupted ones; through the daemon when one is given, else on the store under --data-dir.
#include <iostream>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/remote.h"

namespace firebreak::cli {

namespace {

void printRunList(const core::Json& runs) {
  std::cout << fmt::format("{:<30} {:<28} {:<17} {:<8} {}\n", "RUN", "PLAYBOOK", "STATUS",
                           "TRIGGER", "CREATED");
  for (const auto& r : runs)
    std::cout << fmt::format("{:<30} {:<28} {:<17} {:<8} {}{}\n", r.value("id", ""),
                             r.value("playbook", ""), r.value("status", ""),
                             r.value("trigger", ""), r.value("created", ""),
                             r.value("dry_run", false) ? "  (dry-run)" : "");
}

void listRemote(Globals& g, const std::string& status, const std::string& incident, int limit) {
  std::string path = "/api/v1/runs?limit=" + std::to_string(std::min(limit, 1000));
  if (!status.empty()) path += "&status=" + urlEncode(status);
  if (!incident.empty()) path += "&incident=" + urlEncode(incident);
  auto body = callOk(g, "GET", path);
  if (!body) return;
  if (g.json) std::cout << (*body)["runs"].dump(2) << "\n";
  else printRunList((*body)["runs"]);
}

void showRemote(Globals& g, const std::string& id) {
  auto r = callOk(g, "GET", "/api/v1/runs/" + urlEncode(id));
  if (!r) return;
  if (g.json) {
    std::cout << r->dump(2) << "\n";
    return;
  }
  std::cout << "run       " << r->value("id", "") << "\nplaybook  " << r->value("playbook", "")
            << " (" << r->value("playbook_file", "") << ", sha256 "
            << r->value("playbook_hash", "").substr(0, 12) << ")\nstatus    "
            << r->value("status", "") << (r->value("dry_run", false) ? " (dry-run)" : "")
            << "\ntrigger   " << r->value("trigger", "") << "\nparams    "
            << (*r)["params"].dump() << "\n";
  if (!r->value("error", "").empty()) std::cout << "error     " << r->value("error", "") << "\n";
  std::cout << "\nSTEPS\n";
  for (const auto& s : (*r)["steps"])
    std::cout << fmt::format("  {:<20} {:<10} #{} {:<22} {:<10} {}\n", s.value("step", ""),
                             s.value("stage", ""), s.value("attempt", 0), s.value("action", ""),
                             s.value("status", ""), s.value("error", ""));
  if (!(*r)["approvals"].empty()) std::cout << "\nAPPROVALS\n";
  for (const auto& a : (*r)["approvals"])
    std::cout << fmt::format("  {:<20} {:<10} {} {}\n", a.value("step", ""), a.value("status", ""),
                             a.value("decided_by", ""), a.value("reason", ""));
  std::cout << "\nTIMELINE\n";
  for (const auto& e : (*r)["timeline"]) {
    std::string at = e.value("at", "");
    std::cout << "  " << (at.size() >= 23 ? at.substr(11, 12) : at) << "  "
              << fmt::format("{:<20}", e.value("kind", "")) << " " << e.value("message", "")
              << "\n";
  }
}

void actRemote(Globals& g, const std::string& id, const std::string& verb, core::Json body) {
  auto r = callOk(g, "POST", "/api/v1/runs/" + urlEncode(id) + "/" + verb, body);
  if (!r) return;
  if (g.json) std::cout << r->dump(2) << "\n";
  else if (verb == "abort") std::cout << "run " << id << " aborted\n";
  else std::cout << "run " << id << " resumed: " << r->value("status", "") << "\n";
}

void listRuns(Globals& g, const std::string& status, const std::string& incident, int limit) {
  auto rt = openLocal(g, false);
  if (!rt) {
    g.exit_code = kExitFailed;
    return;
  }
  store::RunFilter filter;
  if (!status.empty()) {
    filter.status = store::parseRunStatus(status);
    if (!filter.status) {
      printError("--status '" + status +
                 "': one of queued, running, waiting-approval, succeeded, failed, aborted, "
                 "denied, needs-attention");
      g.exit_code = kExitUsage;
      return;
    }
  }
  filter.incident_id = incident;
  filter.limit = limit;
  auto runs = rt->store().runs(filter);
  if (!runs) {
    printError(runs.error().str());
    g.exit_code = kExitFailed;
    return;
  }
  if (g.json) {
    core::Json out = core::Json::array();
    for (const auto& r : *runs) out.push_back(store::toJson(r));
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << fmt::format("{:<30} {:<28} {:<17} {:<8} {}\n", "RUN", "PLAYBOOK", "STATUS",
                           "TRIGGER", "CREATED");
  for (const auto& r : *runs)
    std::cout << fmt::format("{:<30} {:<28} {:<17} {:<8} {}{}\n", r.id, r.playbook,
                             store::runStatusName(r.status), r.trigger,
                             core::formatTime(r.created_ms), r.dry_run ? "  (dry-run)" : "");
}

void showRun(Globals& g, const std::string& id) {
  auto rt = openLocal(g, false);
  if (!rt) {
    g.exit_code = kExitFailed;
    return;
  }
  auto& store = rt->store();
  auto run = store.run(id);
  if (!run || !*run) {
    printError(run ? "no run " + id : run.error().str());
    g.exit_code = kExitFailed;
    return;
  }
  auto steps = store.steps(id);
  auto timeline = store.timelineOfRun(id);
  auto approvals = store.approvals(id);
  if (!steps || !timeline || !approvals) {
    printError("cannot read run " + id);
    g.exit_code = kExitFailed;
    return;
  }
  if (g.json) {
    core::Json out = store::toJson(**run);
    out["steps"] = core::Json::array();
    for (const auto& s : *steps) out["steps"].push_back(store::toJson(s));
    out["timeline"] = core::Json::array();
    for (const auto& e : *timeline) out["timeline"].push_back(store::toJson(e));
    out["approvals"] = core::Json::array();
    for (const auto& a : *approvals) out["approvals"].push_back(store::toJson(a));
    std::cout << out.dump(2) << "\n";
    return;
  }
  const auto& r = **run;
  std::cout << "run       " << r.id << "\nplaybook  " << r.playbook << " (" << r.playbook_file
            << ", sha256 " << r.playbook_hash.substr(0, 12) << ")\nstatus    "
            << store::runStatusName(r.status) << (r.dry_run ? " (dry-run)" : "")
            << "\ntrigger   " << r.trigger << "\nparams    " << r.params.dump() << "\n";
  if (!r.error.empty()) std::cout << "error     " << r.error << "\n";
  std::cout << "\nSTEPS\n";
  for (const auto& s : *steps)
    std::cout << fmt::format("  {:<20} {:<10} #{} {:<22} {:<10} {}\n", s.step_id, s.stage,
                             s.attempt, s.action, s.status, s.error);
  if (!approvals->empty()) std::cout << "\nAPPROVALS\n";
  for (const auto& a : *approvals)
    std::cout << fmt::format("  {:<20} {:<10} {} {}\n", a.step_id, a.status, a.decided_by,
                             a.reason);
  std::cout << "\nTIMELINE\n";
  for (const auto& e : *timeline) {
    std::cout << "  ";
    printEvent(e);
  }
}

void resumeRun(Globals& g, const std::string& id, playbook::ResumeMode mode) {
  playbook::EngineOptions options;
  if (!g.json) options.on_event = printEvent;
  auto rt = openLocal(g, true, options);
  if (!rt) {
    g.exit_code = kExitFailed;
    return;
  }
  auto& engine = rt->engine();
  auto result = rt->block([&]() -> core::awaitable<core::Result<store::RunRecord>> {
    auto s = co_await engine.resume(id, mode);
    if (!s) co_return core::fail(s.error());
    co_return co_await engine.join(id);
  }());
  if (!result) {
    printError(result.error().str());
    g.exit_code = kExitFailed;
    return;
  }
  if (g.json) std::cout << store::toJson(*result).dump(2) << "\n";
  else
    std::cout << "run " << result->id << " " << store::runStatusName(result->status)
              << (result->error.empty() ? "" : ": " + result->error) << "\n";
  g.exit_code = exitCodeFor(result->status);
}

void abortRun(Globals& g, const std::string& id, const std::string& reason) {
  auto rt = openLocal(g, true);
  if (!rt) {
    g.exit_code = kExitFailed;
    return;
  }
  auto& engine = rt->engine();
  auto s = rt->block(engine.abort(id, "cli", reason));
  if (!s) {
    printError(s.error().str());
    g.exit_code = kExitFailed;
    return;
  }
  std::cout << "run " << id << " aborted\n";
}

}  // namespace

void addRuns(CLI::App& app, Globals& g) {
  auto* runs = app.add_subcommand("runs", "List and show runs; resume, skip or abort one");
  runs->require_subcommand(1);
  struct Args {
    std::string id, status, incident, reason;
    int limit = 50;
    bool local = false, retry = false;
  };
  auto a = std::make_shared<Args>();
  auto local = [&](CLI::App* c) { c->add_flag("--local", a->local, "Use --data-dir directly"); };

  auto* list = runs->add_subcommand("list", "Runs, newest first");
  list->add_option("--status", a->status, "Only runs with this status");
  list->add_option("--incident", a->incident, "Only runs of this incident");
  list->add_option("--limit", a->limit, "At most this many")->check(CLI::Range(1, 100000));
  local(list);
  list->callback([&g, a] {
    if (useRemote(g, a->local)) listRemote(g, a->status, a->incident, a->limit);
    else listRuns(g, a->status, a->incident, a->limit);
  });

  auto* show = runs->add_subcommand("show", "A run's steps, approvals and timeline");
  show->add_option("run", a->id, "Run id")->required();
  local(show);
  show->callback([&g, a] {
    if (useRemote(g, a->local)) showRemote(g, a->id);
    else showRun(g, a->id);
  });

  auto* resume = runs->add_subcommand(
      "resume", "Resume an interrupted run; --retry re-executes a non-idempotent interrupted step");
  resume->add_option("run", a->id, "Run id")->required();
  resume->add_flag("--retry", a->retry, "Run the interrupted step again even if not idempotent");
  local(resume);
  resume->callback([&g, a] {
    if (useRemote(g, a->local)) actRemote(g, a->id, "resume", core::Json{{"retry", a->retry}});
    else resumeRun(g, a->id, a->retry ? playbook::ResumeMode::kRetry : playbook::ResumeMode::kContinue);
  });

  auto* skip = runs->add_subcommand("skip", "Skip the interrupted step of a run and go on");
  skip->add_option("run", a->id, "Run id")->required();
  local(skip);
  skip->callback([&g, a] {
    if (useRemote(g, a->local)) actRemote(g, a->id, "skip", core::Json::object());
    else resumeRun(g, a->id, playbook::ResumeMode::kSkip);
  });

  auto* abort = runs->add_subcommand("abort", "Stop a run; no further step starts");
  abort->add_option("run", a->id, "Run id")->required();
  abort->add_option("--reason", a->reason, "Why, for the timeline");
  local(abort);
  abort->callback([&g, a] {
    if (useRemote(g, a->local)) actRemote(g, a->id, "abort", core::Json{{"reason", a->reason}});
    else abortRun(g, a->id, a->reason);
  });
}

}  // namespace firebreak::cli
