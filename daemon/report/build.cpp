// The report model, built from the store.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "daemon/report/report.h"

namespace firebreak::report {

namespace {

using core::ErrorCode;

bool isSecretName(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (name == "idempotency_key") return false;
  for (const char* word : {"token", "secret", "password", "key"})
    if (name.find(word) != std::string::npos) return true;
  return false;
}

std::string categoryOf(const store::TimelineEvent& e) {
  const std::string& k = e.kind;
  if (k.rfind("alert.", 0) == 0) return "alert";
  if (k.rfind("approval.", 0) == 0) return "approval";
  if (k.rfind("drill.", 0) == 0) return "drill";
  if (k == "incident.resolved" || k == "step.undone" || k == "step.undoing" ||
      k == "step.undo_failed")
    return "recovery";
  if (k.rfind("step.", 0) == 0) {
    if (e.data.is_object() && e.data.value("phase", "") == "recover") return "recovery";
    return "step";
  }
  return "other";
}

std::optional<int64_t> since(int64_t from, int64_t to) {
  if (from <= 0 || to <= 0) return std::nullopt;
  return to - from;
}

Metric metric(std::string name, std::string definition, std::optional<int64_t> value,
              std::optional<int64_t> target = std::nullopt) {
  Metric m{std::move(name), std::move(definition), value, target, std::nullopt};
  if (value && target) m.met = *value <= *target;
  return m;
}

std::vector<FollowUpSection> followUp() {
  return {
      {"Contributing factors",
       {"What conditions made this incident possible, or made it worse?",
        "Which signals were there before the first alert, and why were they missed?",
        "Where did the playbook or the people lack information they needed?"}},
      {"What went well",
       {"Which detection, automation or decisions shortened the incident?",
        "What should other teams copy from this response?"}},
      {"What could go better",
       {"Where did time go between detection and recovery?",
        "Which step failed, waited or needed a person, and why?"}},
      {"Action items",
       {"Each item: what, who owns it, by when, and how we will know it is done.",
        "Which playbook, alert or drill changes would have caught or contained this sooner?"}},
  };
}

// The parts shared by incident and drill reports: the runs' steps, approvals, undos and
// events. `anchor_ms` is where response metrics start (incident opened or fault injected).
struct Collected {
  std::vector<store::TimelineEvent> events;
  std::set<int64_t> seen;
  void add(const std::vector<store::TimelineEvent>& more) {
    for (const auto& e : more)
      if (e.id == 0 || seen.insert(e.id).second) events.push_back(e);
  }
};

core::Status collectRuns(const store::Store& store, Report& r, Collected& c) {
  // Phases come from the step events (the step records do not carry them).
  std::map<std::tuple<std::string, std::string, std::string, int>, std::string> phases;
  for (const auto& e : c.events)
    if ((e.kind == "step.started" || e.kind == "step.finished") && e.data.is_object() &&
        e.data.contains("phase") && e.data["phase"].is_string())
      phases[{e.run_id, e.step_id, e.data.value("stage", "main"), e.data.value("attempt", 1)}] =
          e.data["phase"].get<std::string>();
  for (const auto& run : r.runs) {
    auto steps = store.steps(run.id);
    if (!steps) return core::fail(steps.error());
    for (const auto& s : *steps) {
      if (s.action.empty()) continue;  // approval steps are in the approvals section
      ActionEntry a;
      a.run_id = s.run_id;
      a.step_id = s.step_id;
      a.action = s.action;
      a.stage = s.stage;
      a.attempt = s.attempt;
      auto ph = phases.find({s.run_id, s.step_id, s.stage, s.attempt});
      if (ph != phases.end()) a.phase = ph->second;
      a.params = redactParams(s.params);
      a.status = s.status;
      a.dry_run = s.dry_run;
      a.error = s.error;
      a.started_ms = s.started_ms;
      a.finished_ms = s.finished_ms;
      if (s.finished_ms > 0 && s.started_ms > 0) a.duration_ms = s.finished_ms - s.started_ms;
      if (s.stage == "undo")
        r.undone.push_back({s.run_id, s.step_id, s.action, s.status,
                            s.finished_ms ? s.finished_ms : s.started_ms});
      r.actions.push_back(std::move(a));
    }
    auto approvals = store.approvals(run.id);
    if (!approvals) return core::fail(approvals.error());
    for (const auto& ap : *approvals)
      r.approvals.push_back({ap.run_id, ap.step_id, ap.role, ap.status, ap.decided_by, ap.reason,
                             ap.requested_ms, ap.decided_ms});
  }
  std::stable_sort(r.actions.begin(), r.actions.end(), [](const auto& a, const auto& b) {
    return a.started_ms < b.started_ms;
  });
  return {};
}

void finishTimeline(Report& r, Collected& c) {
  std::stable_sort(c.events.begin(), c.events.end(), [](const auto& a, const auto& b) {
    return a.at_ms != b.at_ms ? a.at_ms < b.at_ms : a.id < b.id;
  });
  for (const auto& e : c.events)
    r.timeline.push_back({e.at_ms, e.kind, categoryOf(e), e.message, e.run_id, e.step_id});
}

// The last successful step (main stage, executed, not planned) matching `pred`.
template <typename Pred>
const ActionEntry* lastSucceeded(const Report& r, Pred pred) {
  const ActionEntry* found = nullptr;
  for (const auto& a : r.actions)
    if (a.status == "succeeded" && a.stage == "main" && pred(a) &&
        (!found || a.finished_ms >= found->finished_ms))
      found = &a;
  return found;
}

template <typename Pred>
const ActionEntry* firstSucceeded(const Report& r, Pred pred) {
  const ActionEntry* found = nullptr;
  for (const auto& a : r.actions)
    if (a.status == "succeeded" && a.stage == "main" && pred(a) &&
        (!found || a.finished_ms < found->finished_ms))
      found = &a;
  return found;
}

// RPO of the last successful restore: the age of the backup it restored.
std::optional<int64_t> achievedRpo(const store::Store& store, const Report& r) {
  const ActionEntry* restore =
      lastSucceeded(r, [](const ActionEntry& a) { return a.action == "backup.restore"; });
  if (!restore) return std::nullopt;
  auto steps = store.steps(restore->run_id);
  if (!steps) return std::nullopt;
  for (const auto& s : *steps)
    if (s.step_id == restore->step_id && s.stage == restore->stage &&
        s.attempt == restore->attempt && s.output.is_object() && s.output.contains("rpo_ms") &&
        s.output["rpo_ms"].is_number_integer())
      return s.output["rpo_ms"].get<int64_t>();
  return std::nullopt;
}

const char* kRestoreOrRecovery =
    "the last successful backup.restore or recover-phase step";

}  // namespace

Json redactParams(const Json& params) {
  if (params.is_object()) {
    Json out = Json::object();
    for (auto it = params.begin(); it != params.end(); ++it) {
      if (isSecretName(it.key()) && !it.value().is_null()) {
        // A reference names where the secret lives, not the secret: keep it.
        const bool ref = it.value().is_string() &&
                         (it.value().get<std::string>().rfind("env:", 0) == 0 ||
                          it.value().get<std::string>().rfind("file:", 0) == 0);
        out[it.key()] = ref ? it.value() : Json("[redacted]");
      } else {
        out[it.key()] = redactParams(it.value());
      }
    }
    return out;
  }
  if (params.is_array()) {
    Json out = Json::array();
    for (const auto& v : params) out.push_back(redactParams(v));
    return out;
  }
  return params;
}

core::Result<Report> buildIncidentReport(const store::Store& store, const std::string& incident_id,
                                         int64_t now_ms) {
  auto inc = store.incident(incident_id);
  if (!inc) return core::fail(inc.error());
  if (!*inc) return core::fail(ErrorCode::kNotFound, "no incident or drill run " + incident_id);
  const store::IncidentRecord& i = **inc;
  Report r;
  r.kind = "incident";
  r.id = i.id;
  r.incident_id = i.id;
  r.generated_ms = now_ms;
  r.title = "Incident " + i.id + ": " + (i.title.empty() ? i.playbook : i.title);
  r.what = i.title;
  r.severity = i.severity;
  r.status = i.status;
  r.playbook = i.playbook;
  r.mode = i.drill ? "drill" : "live";
  r.started_ms = i.opened_at_ms;
  r.ended_ms = i.resolved_at_ms;

  auto alerts = store.alertsOfIncident(i.id);
  if (!alerts) return core::fail(alerts.error());
  store::RunFilter filter;
  filter.incident_id = i.id;
  filter.limit = 1000;
  auto runs = store.runs(filter);
  if (!runs) return core::fail(runs.error());
  for (const auto& run : *runs) {
    r.runs.push_back({run.id, run.playbook, "incident", store::runStatusName(run.status),
                      run.dry_run});
    if (run.dry_run && !i.drill) r.mode = "live (dry-run playbook)";
  }
  std::reverse(r.runs.begin(), r.runs.end());  // oldest first

  Collected c;
  auto tl = store.timelineOfIncident(i.id);
  if (!tl) return core::fail(tl.error());
  c.add(*tl);
  for (const auto& run : r.runs) {
    auto more = store.timelineOfRun(run.id);
    if (!more) return core::fail(more.error());
    c.add(*more);
  }
  if (auto s = collectRuns(store, r, c); !s) return core::fail(s.error());
  finishTimeline(r, c);

  // Impact.
  std::set<std::string> names;
  std::map<std::string, std::set<std::string>> targets;
  int64_t first_start = 0, first_received = 0;
  std::string summary;
  for (const auto& a : *alerts) {
    names.insert(a.name);
    for (const auto& [k, v] : a.labels)
      if (k != "alertname" && k != "severity") targets[k].insert(v);
    if (a.starts_at_ms > 0 && (first_start == 0 || a.starts_at_ms < first_start))
      first_start = a.starts_at_ms;
    if (a.received_at_ms > 0 && (first_received == 0 || a.received_at_ms < first_received))
      first_received = a.received_at_ms;
    for (const char* key : {"summary", "description"})
      if (summary.empty() && a.annotations.count(key)) summary = a.annotations.at(key);
  }
  auto join = [](const std::set<std::string>& s) {
    std::string out;
    for (const auto& v : s) out += (out.empty() ? "" : ", ") + v;
    return out;
  };
  if (!summary.empty()) r.impact.push_back({"summary", summary});
  r.impact.push_back({"alerts", join(names)});
  r.impact.push_back({"alert deliveries stored", std::to_string(alerts->size())});
  auto still = store.countFiringAlerts(i.id);
  if (!still) return core::fail(still.error());
  r.impact.push_back({"alerts still firing at report time", std::to_string(*still)});
  for (const auto& [k, v] : targets) r.impact.push_back({"label " + k, join(v)});
  int destructive = 0, executed = 0;
  if (auto st = [&]() -> core::Status {
        for (const auto& run : r.runs) {
          auto steps = store.steps(run.id);
          if (!steps) return core::fail(steps.error());
          for (const auto& s : *steps) {
            if (s.action.empty() || s.dry_run) continue;
            ++executed;
            if (s.destructive) ++destructive;
          }
        }
        return {};
      }();
      !st)
    return core::fail(st.error());
  r.impact.push_back({"runs", std::to_string(r.runs.size())});
  r.impact.push_back({"actions executed", std::to_string(executed)});
  r.impact.push_back({"destructive actions executed", std::to_string(destructive)});

  // Metrics.
  const int64_t opened = i.opened_at_ms;
  r.metrics.push_back(metric("time to detect",
                             "earliest alert starts_at (as the sender says) to the first alert "
                             "of the incident received by firebreakd",
                             since(first_start, first_received)));
  int64_t ack = 0;
  std::string ack_def;
  for (const auto& ap : r.approvals)
    if (ap.decided_ms > 0 && (ack == 0 || ap.decided_ms < ack)) ack = ap.decided_ms;
  for (const auto& e : c.events)
    if (e.data.is_object() && e.data.contains("by") && e.kind != "incident.resolved" &&
        (ack == 0 || e.at_ms < ack))
      ack = e.at_ms;
  if (ack == 0)
    for (const auto& a : r.actions)
      if (a.started_ms > 0 && (ack == 0 || a.started_ms < ack)) ack = a.started_ms;
  r.metrics.push_back(metric("time to acknowledge",
                             "incident opened to the first approval decided or the first "
                             "operator action; without either, to the first step started",
                             since(opened, ack)));
  const ActionEntry* contain =
      firstSucceeded(r, [](const ActionEntry& a) { return a.phase == "contain"; });
  r.metrics.push_back(metric("time to contain",
                             "incident opened to the first successful step whose phase is "
                             "contain",
                             contain ? since(opened, contain->finished_ms) : std::nullopt));
  const ActionEntry* recover =
      lastSucceeded(r, [](const ActionEntry& a) { return a.phase == "recover"; });
  r.metrics.push_back(metric("time to recover",
                             "incident opened to the last successful step whose phase is recover",
                             recover ? since(opened, recover->finished_ms) : std::nullopt));
  r.metrics.push_back(metric("time to resolve", "incident opened to incident resolved",
                             since(opened, i.resolved_at_ms)));
  const ActionEntry* restored = lastSucceeded(r, [](const ActionEntry& a) {
    return a.action == "backup.restore" || a.phase == "recover";
  });
  r.metrics.push_back(metric("RTO achieved",
                             std::string("incident opened to ") + kRestoreOrRecovery +
                                 "; target: no target set (playbooks state none)",
                             restored ? since(opened, restored->finished_ms) : std::nullopt));
  r.metrics.push_back(metric("RPO achieved",
                             "age of the backup the last successful backup.restore restored "
                             "(restore time minus backup creation time, its rpo_ms output); "
                             "target: no target set (playbooks state none)",
                             achievedRpo(store, r)));
  r.follow_up = followUp();
  return r;
}

core::Result<Report> buildDrillReport(const store::Store& store, const std::string& drill_run_id,
                                      int64_t now_ms) {
  auto dr = store.drillRun(drill_run_id);
  if (!dr) return core::fail(dr.error());
  if (!*dr) return core::fail(ErrorCode::kNotFound, "no drill run " + drill_run_id);
  const store::DrillRunRecord& d = **dr;
  Report r;
  r.kind = "drill";
  r.id = d.id;
  r.drill = d.drill;
  r.incident_id = d.incident_id;
  r.generated_ms = now_ms;
  r.title = "Drill " + d.drill + ": run " + d.id;
  r.what = "drill '" + d.drill + "' (" + (d.trigger.empty() ? "manual" : d.trigger) + ")" +
           (d.error.empty() ? "" : ": " + d.error);
  r.status = d.status;
  r.mode = d.dry_run ? "drill (dry-run)" : "drill (live)";
  r.started_ms = d.started_ms;
  r.ended_ms = d.finished_ms;

  std::optional<store::IncidentRecord> incident;
  if (!d.incident_id.empty()) {
    auto inc = store.incident(d.incident_id);
    if (!inc) return core::fail(inc.error());
    incident = *inc;
  }
  if (incident) {
    r.severity = incident->severity;
    r.playbook = incident->playbook;
  }

  std::set<std::string> listed;
  if (d.runs.is_array())
    for (const auto& ref : d.runs) {
      RunRef rr{ref.value("id", ""), ref.value("playbook", ""), ref.value("role", ""), "", false};
      if (rr.id.empty() || !listed.insert(rr.id).second) continue;
      if (auto run = store.run(rr.id); run && *run) {
        rr.status = store::runStatusName((*run)->status);
        rr.dry_run = (*run)->dry_run;
        if (rr.playbook.empty()) rr.playbook = (*run)->playbook;
      }
      if (rr.role == "playbook" && r.playbook.empty()) r.playbook = rr.playbook;
      r.runs.push_back(std::move(rr));
    }
  if (incident) {
    store::RunFilter filter;
    filter.incident_id = incident->id;
    filter.limit = 1000;
    auto runs = store.runs(filter);
    if (!runs) return core::fail(runs.error());
    for (auto it = runs->rbegin(); it != runs->rend(); ++it)
      if (listed.insert(it->id).second)
        r.runs.push_back({it->id, it->playbook, "playbook", store::runStatusName(it->status),
                          it->dry_run});
  }

  Collected c;
  auto own = store.timelineOfRun(d.id);
  if (!own) return core::fail(own.error());
  c.add(*own);
  if (incident) {
    auto tl = store.timelineOfIncident(incident->id);
    if (!tl) return core::fail(tl.error());
    c.add(*tl);
  }
  for (const auto& run : r.runs) {
    auto more = store.timelineOfRun(run.id);
    if (!more) return core::fail(more.error());
    c.add(*more);
  }
  if (auto s = collectRuns(store, r, c); !s) return core::fail(s.error());
  finishTimeline(r, c);

  r.impact.push_back({"drill", d.drill});
  r.impact.push_back({"trigger", d.trigger});
  r.impact.push_back({"stage reached", d.stage});
  r.impact.push_back({"incident", d.incident_id.empty() ? "none seen" : d.incident_id});
  r.impact.push_back({"runs", std::to_string(r.runs.size())});
  if (!d.error.empty()) r.impact.push_back({"error", d.error});
  if (d.probes.is_array()) {
    int ok = 0, bad = 0;
    for (const auto& p : d.probes) (p.value("ok", false) ? ok : bad)++;
    r.impact.push_back({"probes passed", std::to_string(ok)});
    r.impact.push_back({"probes failed", std::to_string(bad)});
  }

  auto opt = [](const Json& j, const char* key) -> std::optional<int64_t> {
    if (j.is_object() && j.contains(key) && j[key].is_number()) return j[key].get<int64_t>();
    return std::nullopt;
  };
  for (const auto& o : d.objectives) {
    Objective ob{o.value("name", ""), o.value("definition", ""), opt(o, "target_ms"),
                 opt(o, "measured_ms"), std::nullopt};
    if (o.contains("passed") && o["passed"].is_boolean()) ob.passed = o["passed"].get<bool>();
    r.objectives.push_back(std::move(ob));
  }
  auto target = [&](const std::string& name) -> std::optional<int64_t> {
    for (const auto& o : r.objectives)
      if (o.name == name) return o.target_ms;
    return std::nullopt;
  };
  const Json& m = d.measured;
  r.metrics.push_back(metric("time to detect",
                             "fault injected to the first alert of it received",
                             opt(m, "detected_ms"), target("detected_within")));
  r.metrics.push_back(metric("time to acknowledge",
                             "fault injected to the first action step started (nobody needs to "
                             "acknowledge a drill's automated response)",
                             opt(m, "first_action_ms"), target("first_action_within")));
  r.metrics.push_back(metric("time to contain",
                             "fault injected to the first containment step succeeded",
                             opt(m, "contained_ms"), target("contained_within")));
  r.metrics.push_back(metric("time to recover",
                             "fault injected to the last recovery step succeeded, or to the "
                             "steady state probes passing again when the playbook has no "
                             "recovery step",
                             opt(m, "recovered_ms"), target("recovered_within")));
  r.metrics.push_back(metric("time to resolve",
                             "fault injected to the incident it caused resolved",
                             incident ? since(d.injected_ms, incident->resolved_at_ms)
                                      : std::nullopt));
  r.metrics.push_back(metric("RTO achieved",
                             "fault injected to the last recovery step succeeded (as time to "
                             "recover); target: the drill's recovered_within, else no target "
                             "set",
                             opt(m, "recovered_ms"), target("recovered_within")));
  r.metrics.push_back(metric("RPO achieved",
                             "age of the backup the last successful backup.restore restored "
                             "(restore time minus backup creation time, its rpo_ms output); "
                             "target: no target set (drills state none)",
                             achievedRpo(store, r)));
  r.follow_up = followUp();
  return r;
}

core::Result<Report> buildReport(const store::Store& store, const std::string& id, int64_t now_ms) {
  if (id.rfind("drill-", 0) == 0) return buildDrillReport(store, id, now_ms);
  return buildIncidentReport(store, id, now_ms);
}

}  // namespace firebreak::report
