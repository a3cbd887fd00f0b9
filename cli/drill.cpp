// firebreak drill list|run|history: drills run inside the daemon (they inject through its
// intake and are watched by its engine), so `list` and `run` ask it; `history` reads the
// store under --data-dir with --local.
#include <chrono>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "cli/remote.h"

namespace firebreak::cli {

namespace {

using core::Json;

std::string msText(const Json& ms) {
  if (!ms.is_number()) return "-";
  auto v = ms.get<int64_t>();
  if (v < 10'000) return fmt::format("{}ms", v);
  return fmt::format("{:.1f}s", static_cast<double>(v) / 1000.0);
}

void printDrillRun(const Json& r) {
  std::cout << "drill run  " << r.value("id", "") << "\ndrill      " << r.value("drill", "")
            << (r.value("dry_run", true) ? " (dry-run)" : " (live)") << "\nstatus     "
            << r.value("status", "") << "\nstarted    " << r.value("started", "")
            << "\nfinished   " << r.value("finished", "") << "\n";
  if (!r.value("incident_id", "").empty())
    std::cout << "incident   " << r.value("incident_id", "") << "\n";
  if (!r.value("error", "").empty()) std::cout << "error      " << r.value("error", "") << "\n";
  std::cout << "\nOBJECTIVES\n";
  for (const auto& o : r.value("objectives", Json::array()))
    std::cout << fmt::format("  {:<20} {:<7} target {:<8} measured {:<8} ({})\n",
                             o.value("name", ""), o.value("passed", false) ? "met" : "MISSED",
                             msText(o["target_ms"]), msText(o["measured_ms"]),
                             o.value("definition", ""));
  const Json m = r.value("measured", Json::object());
  std::cout << "\nMEASURED (from injection)\n";
  for (const char* k : {"detected_ms", "first_action_ms", "contained_ms", "recovered_ms"})
    std::cout << fmt::format("  {:<16} {}\n", k, msText(m.value(k, Json())));
  if (m.contains("rollback")) std::cout << "  rollback         " << m.value("rollback", "") << "\n";
}

void printHistory(const Json& runs) {
  std::cout << fmt::format("{:<36} {:<9} {:<8} {:<9} {:<24} {}\n", "DRILL RUN", "STATUS", "MODE",
                           "TRIGGER", "STARTED", "CONTAINED/RECOVERED");
  for (const auto& r : runs) {
    const Json m = r.value("measured", Json::object());
    std::cout << fmt::format("{:<36} {:<9} {:<8} {:<9} {:<24} {} / {}\n", r.value("id", ""),
                             r.value("status", ""), r.value("dry_run", true) ? "dry-run" : "live",
                             r.value("trigger", ""), r.value("started", ""),
                             msText(m.value("contained_ms", Json())),
                             msText(m.value("recovered_ms", Json())));
  }
}

}  // namespace

void addDrill(CLI::App& app, Globals& g) {
  auto* cmd = app.add_subcommand("drill", "List, run and look back on chaos drills");
  cmd->require_subcommand(1);
  struct Args {
    std::string name;
    bool live = false;
    bool no_wait = false;
    bool local = false;
    int timeout_s = 3600;
    int limit = 50;
  };
  auto a = std::make_shared<Args>();

  auto* list = cmd->add_subcommand("list", "Each drill: schedule, next run, last result");
  list->callback([&g] {
    if (serverOf(g).empty()) {
      g.exit_code = needsServer("drill list");
      return;
    }
    auto body = callOk(g, "GET", "/api/v1/drills");
    if (!body) return;
    if (g.json) {
      std::cout << (*body)["drills"].dump(2) << "\n";
      return;
    }
    std::cout << fmt::format("{:<28} {:<8} {:<18} {:<24} {}\n", "DRILL", "MODE", "SCHEDULE",
                             "NEXT RUN", "LAST RESULT");
    for (const auto& d : (*body)["drills"]) {
      std::string schedule = d.value("schedule", "");
      if (!schedule.empty() && d.value("timezone", "UTC") != "UTC")
        schedule += " " + d.value("timezone", "");
      std::string last = "never run";
      if (d["last_run"].is_object())
        last = d["last_run"].value("status", "") + " " + d["last_run"].value("started", "");
      if (d.value("running", false)) last = "running now";
      std::cout << fmt::format("{:<28} {:<8} {:<18} {:<24} {}\n", d.value("name", ""),
                               d.value("mode", ""), schedule.empty() ? "on demand" : schedule,
                               d.value("next_run", "").empty() ? "-" : d.value("next_run", ""),
                               last);
    }
  });

  auto* run = cmd->add_subcommand("run", "Run a drill now and wait for its result");
  run->add_option("name", a->name, "Drill name")->required();
  run->add_flag("--live", a->live,
                "Run a `mode: dry-run` drill live: its playbooks act for real");
  run->add_flag("--no-wait", a->no_wait, "Print the drill run's id and return");
  run->add_option("--timeout", a->timeout_s, "Seconds to wait for the result")
      ->check(CLI::Range(1, 86400));
  run->callback([&g, a] {
    if (serverOf(g).empty()) {
      g.exit_code = needsServer("drill run");
      return;
    }
    auto started = callOk(g, "POST", "/api/v1/drills/" + urlEncode(a->name) + "/run",
                          Json{{"live", a->live}});
    if (!started) return;
    std::string id = (*started).value("drill_run_id", "");
    if (a->no_wait) {
      if (g.json) std::cout << started->dump(2) << "\n";
      else std::cout << id << "\n";
      return;
    }
    if (!g.json)
      std::cerr << "drill run " << id << " started"
                << ((*started).value("dry_run", true) ? " (dry-run)" : " (live)")
                << "; waiting for its result\n";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(a->timeout_s);
    while (true) {
      auto body = callOk(g, "GET", "/api/v1/drill-runs/" + urlEncode(id));
      if (!body) return;
      if ((*body).value("status", "") != "running") {
        if (g.json) std::cout << body->dump(2) << "\n";
        else printDrillRun(*body);
        g.exit_code = (*body).value("status", "") == "passed" ? kExitOk : kExitFailed;
        return;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        printError("drill run " + id + " still running after " + std::to_string(a->timeout_s) +
                   " s; `firebreak drill history " + a->name + "` shows it when it ends");
        g.exit_code = kExitFailed;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  });

  auto* history = cmd->add_subcommand("history", "A drill's results, newest first");
  history->add_option("name", a->name, "Drill name")->required();
  history->add_option("--limit", a->limit, "At most this many")->check(CLI::Range(1, 1000));
  history->add_flag("--local", a->local, "Read the store under --data-dir directly");
  history->callback([&g, a] {
    Json runs;
    if (useRemote(g, a->local)) {
      auto body = callOk(g, "GET", "/api/v1/drills/" + urlEncode(a->name) +
                                       "/history?limit=" + std::to_string(a->limit));
      if (!body) return;
      runs = (*body)["runs"];
    } else {
      auto rt = openLocal(g, false, {}, false);
      if (!rt) {
        g.exit_code = kExitFailed;
        return;
      }
      auto list = rt->store().drillRuns(a->name, a->limit);
      if (!list) {
        printError(list.error().str());
        g.exit_code = kExitFailed;
        return;
      }
      runs = Json::array();
      for (const auto& r : *list) runs.push_back(store::toJson(r));
    }
    if (g.json) std::cout << runs.dump(2) << "\n";
    else printHistory(runs);
  });
}

}  // namespace firebreak::cli
