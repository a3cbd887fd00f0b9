// firebreak run PLAYBOOK [--param k=v]... [--dry-run] [--wait] [--local]: a manual runbook,
// through the daemon when one is given (--server or FIREBREAK_SERVER), else in-process on
// --data-dir. In-process, --label and --annotation give the run the alert that playbooks
// written for alerts read (`alert.labels.instance`), as if it had just fired.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/remote.h"

namespace firebreak::cli {

namespace {

// --param k=v: the value is YAML-ish: numbers, true/false and [lists] become typed values.
core::Result<std::pair<std::string, core::Json>> parseParam(const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0)
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "--param '" + kv + "': write it as name=value");
  std::string name = kv.substr(0, eq);
  std::string value = kv.substr(eq + 1);
  core::Json parsed = core::Json::parse(value, nullptr, false);
  if (parsed.is_discarded() || parsed.is_object()) parsed = value;
  return std::make_pair(name, parsed);
}

// --label k=v / --annotation k=v: plain strings, as an alert's labels are.
core::Status addPair(const std::string& flag, const std::string& kv, core::Json& into) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0)
    return core::fail(core::ErrorCode::kInvalidArgument,
                      flag + " '" + kv + "': write it as name=value");
  into[kv.substr(0, eq)] = kv.substr(eq + 1);
  return {};
}

// Follows a run through the daemon until it ends (or needs an operator), printing its
// timeline as it grows; the run's final record, or nullopt after printing why not.
std::optional<core::Json> followRemote(Globals& g, const std::string& run_id) {
  size_t printed = 0;
  for (;;) {
    auto run = callOk(g, "GET", "/api/v1/runs/" + urlEncode(run_id));
    if (!run) return std::nullopt;
    const auto& timeline = (*run)["timeline"];
    for (; !g.json && printed < timeline.size(); ++printed) {
      const auto& e = timeline[printed];
      std::string at = e.value("at", "");
      std::cout << (at.size() >= 23 ? at.substr(11, 12) : at) << "  "
                << fmt::format("{:<20}", e.value("kind", "")) << " " << e.value("message", "")
                << std::endl;
    }
    auto status = store::parseRunStatus(run->value("status", ""));
    if (status && (store::isFinal(*status) || *status == store::RunStatus::kNeedsAttention)) {
      run->erase("timeline");
      return run;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void runRemote(Globals& g, const std::string& playbook, const core::Json& params, bool dry_run,
               bool wait) {
  if (std::filesystem::is_regular_file(playbook)) {
    printError("'" + playbook +
               "' is a file: the daemon runs the playbooks it has loaded, by name; run a file "
               "in this process with --local");
    g.exit_code = kExitUsage;
    return;
  }
  auto started = callOk(g, "POST", "/api/v1/runs",
                        core::Json{{"playbook", playbook},
                                   {"params", params},
                                   {"dry_run", dry_run}});
  if (!started) return;
  const std::string id = started->value("run_id", "");
  if (!wait) {
    if (g.json) std::cout << started->dump(2) << "\n";
    else std::cout << "run " << id << " started\n";
    return;
  }
  if (!g.json) std::cout << "run " << id << " started\n" << std::flush;
  auto run = followRemote(g, id);
  if (!run) return;
  if (g.json) std::cout << run->dump(2) << "\n";
  else {
    std::string err = run->value("error", "");
    std::cout << "run " << id << " " << run->value("status", "") << (err.empty() ? "" : ": " + err)
              << "\n";
  }
  g.exit_code = run->value("status", "") == "succeeded" ? kExitOk : kExitFailed;
}

}  // namespace

void addRun(CLI::App& app, Globals& g) {
  struct Args {
    std::string playbook;
    std::vector<std::string> params;
    std::vector<std::string> labels;
    std::vector<std::string> annotations;
    bool dry_run = false;
    bool local = false;
    bool wait = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("run", "Run a playbook by hand (try --dry-run first)");
  cmd->add_option("playbook", a->playbook, "A playbook's name or a path to its file")->required();
  cmd->add_option("--param", a->params, "name=value, repeatable");
  cmd->add_option("--label", a->labels,
                  "name=value of the alert the run acts on (repeatable), for playbooks that "
                  "read alert.labels");
  cmd->add_option("--annotation", a->annotations, "name=value of that alert, repeatable");
  cmd->add_flag("--dry-run", a->dry_run, "Plan every step, execute none");
  cmd->add_flag("--local", a->local,
                "Run in this process on --data-dir, no daemon (the default when no server is "
                "given or configured)");
  cmd->add_flag("--wait", a->wait,
                "Follow the run until it ends; exit 0 if it succeeded (always so in-process)");
  cmd->callback([&g, a] {
    const bool remote = useRemote(g, a->local);
    if (remote && (!a->labels.empty() || !a->annotations.empty())) {
      printError(
          "--label and --annotation describe an alert for a run in this process: add --local");
      g.exit_code = kExitUsage;
      return;
    }
    core::Json params = core::Json::object();
    for (const auto& kv : a->params) {
      auto p = parseParam(kv);
      if (!p) {
        printError(p.error().message());
        g.exit_code = kExitUsage;
        return;
      }
      params[p->first] = p->second;
    }
    if (remote) {
      runRemote(g, a->playbook, params, a->dry_run, a->wait);
      return;
    }
    core::Json alert;  // null: a run started by hand has no alert unless one is described
    if (!a->labels.empty() || !a->annotations.empty()) {
      core::Json labels = core::Json::object(), annotations = core::Json::object();
      core::Status ok;
      for (const auto& kv : a->labels)
        if (ok) ok = addPair("--label", kv, labels);
      for (const auto& kv : a->annotations)
        if (ok) ok = addPair("--annotation", kv, annotations);
      if (!ok) {
        printError(ok.error().message());
        g.exit_code = kExitUsage;
        return;
      }
      alert = {{"name", labels.value("alertname", std::string("manual"))},
               {"status", "firing"},
               {"source", "manual"},
               {"labels", labels},
               {"annotations", annotations}};
    }
    playbook::EngineOptions options;
    if (!g.json) options.on_event = printEvent;
    auto rt = openLocal(g, true, options);
    if (!rt) {
      g.exit_code = kExitFailed;
      return;
    }
    auto pb = findPlaybook(a->playbook, g.playbook_dirs, rt->registry());
    if (!pb) {
      printError(pb.error().message());
      g.exit_code = kExitFailed;
      return;
    }
    playbook::RunRequest req;
    req.playbook = *pb;
    req.trigger = "manual";
    req.params = params;
    req.alert = alert;
    req.dry_run = a->dry_run;
    auto& engine = rt->engine();
    auto result = rt->block([&]() -> core::awaitable<core::Result<store::RunRecord>> {
      auto started = co_await engine.start(req);
      if (!started) co_return core::fail(started.error());
      if (!started->started) co_return core::fail(core::ErrorCode::kAlreadyExists, started->reason);
      if (!g.json) std::cout << "run " << started->run_id << " started\n" << std::flush;
      co_return co_await engine.join(started->run_id);
    }());
    if (!result) {
      std::string why = result.error().str();
      if (alert.is_null() && why.find("{{ alert.") != std::string::npos)
        why += " (a run started by hand has no alert: describe one with --label name=value)";
      printError(why);
      g.exit_code = kExitFailed;
      return;
    }
    if (alert.is_null() && result->error.find("{{ alert.") != std::string::npos)
      printError("a run started by hand has no alert: describe one with --label name=value");
    if (g.json) std::cout << store::toJson(*result).dump(2) << "\n";
    else
      std::cout << "run " << result->id << " " << store::runStatusName(result->status)
                << (result->error.empty() ? "" : ": " + result->error) << "\n";
    g.exit_code = exitCodeFor(result->status);
  });
}

}  // namespace firebreak::cli
