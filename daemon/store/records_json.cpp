#include "daemon/store/records_json.h"

#include "daemon/core/clock.h"

namespace firebreak::store {

namespace {

using core::Json;

std::string timeOrEmpty(int64_t ms) { return ms ? core::formatTime(ms) : ""; }

}  // namespace

Json toJson(const RunRecord& r) {
  return Json{{"id", r.id},
              {"playbook", r.playbook},
              {"playbook_file", r.playbook_file},
              {"status", store::runStatusName(r.status)},
              {"trigger", r.trigger},
              {"incident_id", r.incident_id},
              {"dry_run", r.dry_run},
              {"params", r.params},
              {"error", r.error},
              {"created", core::formatTime(r.created_ms)},
              {"finished", timeOrEmpty(r.finished_ms)},
              {"playbook_hash", r.playbook_hash}};
}

Json toJson(const StepRecord& s) {
  return Json{{"step", s.step_id},
              {"stage", s.stage},
              {"attempt", s.attempt},
              {"action", s.action},
              {"status", s.status},
              {"idempotency_key", s.idempotency_key},
              {"dry_run", s.dry_run},
              {"params", s.params},
              {"output", s.output},
              {"error", s.error},
              {"started", timeOrEmpty(s.started_ms)},
              {"finished", timeOrEmpty(s.finished_ms)}};
}

Json toJson(const ApprovalRecord& a) {
  return Json{{"run_id", a.run_id},
              {"step", a.step_id},
              {"status", a.status},
              {"role", a.role},
              {"reason", a.reason},
              {"decided_by", a.decided_by},
              {"requested", timeOrEmpty(a.requested_ms)},
              {"expires", timeOrEmpty(a.expires_ms)},
              {"decided", timeOrEmpty(a.decided_ms)}};
}

Json toJson(const TimelineEvent& e) {
  return Json{{"at", core::formatTime(e.at_ms)},
              {"kind", e.kind},
              {"run_id", e.run_id},
              {"step", e.step_id},
              {"message", e.message},
              {"data", e.data}};
}

Json toJson(const IncidentRecord& i) {
  return Json{{"id", i.id},
              {"playbook", i.playbook},
              {"status", i.status},
              {"severity", i.severity},
              {"title", i.title},
              {"opened", core::formatTime(i.opened_at_ms)},
              {"resolved", timeOrEmpty(i.resolved_at_ms)},
              {"drill", i.drill}};
}

Json toJson(const DrillRunRecord& d) {
  return Json{{"id", d.id},
              {"drill", d.drill},
              {"file", d.drill_file},
              {"trigger", d.trigger},
              {"dry_run", d.dry_run},
              {"stage", d.stage},
              {"status", d.status},
              {"error", d.error},
              {"incident_id", d.incident_id},
              {"runs", d.runs},
              {"objectives", d.objectives},
              {"probes", d.probes},
              {"measured", d.measured},
              {"scheduled", timeOrEmpty(d.scheduled_ms)},
              {"started", core::formatTime(d.started_ms)},
              {"injected", timeOrEmpty(d.injected_ms)},
              {"finished", timeOrEmpty(d.finished_ms)}};
}

Json toJson(const SilenceRecord& s, int64_t now_ms) {
  return Json{{"id", s.id},
              {"matchers", s.matchers},
              {"created_by", s.created_by},
              {"reason", s.reason},
              {"starts_at", core::formatTime(s.starts_at_ms)},
              {"ends_at", core::formatTime(s.ends_at_ms)},
              {"active", s.starts_at_ms <= now_ms && now_ms < s.ends_at_ms}};
}

Json toJson(const AlertRecord& a) {
  return Json{{"id", a.id},
              {"name", a.name},
              {"status", a.status},
              {"source", a.source},
              {"fingerprint", a.fingerprint},
              {"labels", a.labels},
              {"annotations", a.annotations},
              {"received", core::formatTime(a.received_at_ms)},
              {"silence_id", a.silence_id}};
}

}  // namespace firebreak::store
