// firebreak incidents list|show|resolve: through the daemon when one is given (--server or
// FIREBREAK_SERVER), else list and show read the store under --data-dir; resolve needs the
// daemon (an admin token).
#include <iostream>

#include <fmt/format.h>

#include "cli/remote.h"
#include "daemon/app/api.h"

namespace firebreak::cli {

namespace {

using core::Json;

void printIncidents(const Json& list) {
  std::cout << fmt::format("{:<32} {:<10} {:<9} {:<28} {}\n", "INCIDENT", "STATUS", "SEVERITY",
                           "PLAYBOOK", "TITLE");
  for (const auto& i : list)
    std::cout << fmt::format("{:<32} {:<10} {:<9} {:<28} {}\n", i.value("id", ""),
                             i.value("status", ""), i.value("severity", ""),
                             i.value("playbook", ""), i.value("title", ""));
}

void printIncident(const Json& i) {
  std::cout << "incident  " << i.value("id", "") << "\nstatus    " << i.value("status", "")
            << "\nplaybook  " << i.value("playbook", "") << "\ntitle     " << i.value("title", "")
            << "\nopened    " << i.value("opened", "") << "\n";
  if (!i.value("resolved", "").empty())
    std::cout << "resolved  " << i.value("resolved", "") << "\n";
  std::cout << "\nALERTS\n";
  for (const auto& a : i.value("alerts", Json::array()))
    std::cout << fmt::format("  {:<28} {:<9} {} {}\n", a.value("name", ""), a.value("status", ""),
                             a.value("received", ""),
                             a.value("silence_id", "").empty()
                                 ? ""
                                 : "(silenced by " + a.value("silence_id", "") + ")");
  std::cout << "\nRUNS\n";
  for (const auto& r : i.value("runs", Json::array()))
    std::cout << fmt::format("  {:<30} {:<28} {}\n", r.value("id", ""), r.value("playbook", ""),
                             r.value("status", ""));
  std::cout << "\nTIMELINE\n";
  for (const auto& e : i.value("timeline", Json::array()))
    std::cout << "  " << e.value("at", "") << "  " << fmt::format("{:<20}", e.value("kind", ""))
              << " " << e.value("message", "") << "\n";
}

// The local store's answer in the API's form, so both print alike.
std::optional<Json> localIncident(Globals& g, const std::string& id) {
  auto rt = openLocal(g, false, {}, false);
  if (!rt) {
    g.exit_code = kExitFailed;
    return std::nullopt;
  }
  auto& store = rt->store();
  auto inc = store.incident(id);
  if (!inc || !*inc) {
    printError(inc ? "no incident " + id : inc.error().str());
    g.exit_code = kExitFailed;
    return std::nullopt;
  }
  Json out = store::toJson(**inc);
  out["alerts"] = Json::array();
  if (auto alerts = store.alertsOfIncident(id))
    for (const auto& a : *alerts)
      out["alerts"].push_back(store::toJson(a));
  store::RunFilter filter;
  filter.incident_id = id;
  out["runs"] = Json::array();
  if (auto runs = store.runs(filter))
    for (const auto& r : *runs) out["runs"].push_back(store::toJson(r));
  out["timeline"] = Json::array();
  if (auto tl = store.timelineOfIncident(id))
    for (const auto& e : *tl) out["timeline"].push_back(store::toJson(e));
  return out;
}

}  // namespace

void addIncidents(CLI::App& app, Globals& g) {
  auto* cmd = app.add_subcommand("incidents", "List, show and resolve incidents");
  cmd->require_subcommand(1);
  struct Args {
    std::string id, status, reason;
    int limit = 100;
    bool local = false;
  };
  auto a = std::make_shared<Args>();
  auto local = [&](CLI::App* c) { c->add_flag("--local", a->local, "Use --data-dir directly"); };

  auto* list = cmd->add_subcommand("list", "Incidents, newest first");
  list->add_option("--status", a->status, "open or resolved")
      ->check(CLI::IsMember({"open", "resolved"}));
  list->add_option("--limit", a->limit, "At most this many")->check(CLI::Range(1, 1000));
  local(list);
  list->callback([&g, a] {
    Json incidents;
    if (useRemote(g, a->local)) {
      std::string path = "/api/v1/incidents?limit=" + std::to_string(a->limit);
      if (!a->status.empty()) path += "&status=" + urlEncode(a->status);
      auto body = callOk(g, "GET", path);
      if (!body) return;
      incidents = (*body)["incidents"];
    } else {
      auto rt = openLocal(g, false, {}, false);
      if (!rt) {
        g.exit_code = kExitFailed;
        return;
      }
      auto list = rt->store().incidents(a->status, a->limit);
      if (!list) {
        printError(list.error().str());
        g.exit_code = kExitFailed;
        return;
      }
      incidents = Json::array();
      for (const auto& i : *list) incidents.push_back(store::toJson(i));
    }
    if (g.json) std::cout << incidents.dump(2) << "\n";
    else printIncidents(incidents);
  });

  auto* show = cmd->add_subcommand("show", "An incident's alerts, runs and timeline");
  show->add_option("id", a->id, "Incident id")->required();
  local(show);
  show->callback([&g, a] {
    std::optional<Json> inc;
    if (useRemote(g, a->local)) inc = callOk(g, "GET", "/api/v1/incidents/" + urlEncode(a->id));
    else inc = localIncident(g, a->id);
    if (!inc) return;
    if (g.json) std::cout << inc->dump(2) << "\n";
    else printIncident(*inc);
  });

  auto* resolve = cmd->add_subcommand("resolve", "Mark an open incident resolved (admin)");
  resolve->add_option("id", a->id, "Incident id")->required();
  resolve->add_option("--reason", a->reason, "Why, for the timeline");
  resolve->callback([&g, a] {
    if (serverOf(g).empty()) {
      g.exit_code = needsServer("incidents resolve");
      return;
    }
    Json body = Json::object();
    if (!a->reason.empty()) body["reason"] = a->reason;
    auto inc = callOk(g, "POST", "/api/v1/incidents/" + urlEncode(a->id) + "/resolve", body);
    if (!inc) return;
    if (g.json) std::cout << inc->dump(2) << "\n";
    else std::cout << "incident " << a->id << " resolved\n";
  });
}

}  // namespace firebreak::cli
