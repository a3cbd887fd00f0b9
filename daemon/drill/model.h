// A compiled drill: a fault to inject, the playbook expected to answer it, the objectives it
// must meet, and the probes and rollback around it. Each list of steps is compiled into a
// playbook of its own, which the engine runs (journaled, resumable) like any other.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/core/json.h"
#include "daemon/core/result.h"
#include "daemon/drill/cron.h"
#include "daemon/playbook/model.h"

namespace firebreak::drill {

using core::Json;
using std::chrono::milliseconds;

// A synthetic alert, given to intake as if its source had sent it, marked as a drill.
struct InjectedAlert {
  std::string source;
  std::string name;  // labels.alertname
  std::map<std::string, std::string> labels, annotations;
  std::string severity;
};

// One objective: a measured time, from the fault's injection, within a target.
struct Objective {
  std::string name;        // detected_within | first_action_within | contained_within | recovered_within
  milliseconds target{0};
};

struct Drill {
  std::string name;
  std::string description;
  std::string file;
  core::SourceLoc loc;
  std::string source;  // the YAML text
  std::string hash;

  std::optional<CronSchedule> schedule;  // none: only on demand
  bool dry_run = true;                   // mode: dry-run (the default) | live

  // Exactly one of these.
  std::optional<InjectedAlert> inject_alert;
  playbook::PlaybookPtr inject_action;   // a chaos action, as a one-step playbook

  std::string expect_playbook;           // "" : any playbook the fault starts
  std::vector<Objective> objectives;

  playbook::PlaybookPtr steady_state;    // null when none
  playbook::PlaybookPtr stop_if;
  playbook::PlaybookPtr rollback;
  milliseconds probe_interval{std::chrono::seconds(5)};  // how often stop_if runs
  milliseconds timeout{std::chrono::minutes(15)};        // from injection to giving up
  Json scope = Json::object();           // {paths, processes, ports}: what chaos may touch
};

using DrillPtr = std::shared_ptr<const Drill>;

// What each objective measures, for reports and listings ("fault injected to ...").
const char* objectiveDefinition(const std::string& name);

}  // namespace firebreak::drill
