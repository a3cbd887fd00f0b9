// The JSON report (docs/report.schema.json) and the format names.
#include "daemon/report/report.h"
#include "daemon/report/text.h"

namespace firebreak::report {

namespace {

Json opt(const std::optional<int64_t>& v) { return v ? Json(*v) : Json(nullptr); }
Json opt(const std::optional<bool>& v) { return v ? Json(*v) : Json(nullptr); }
Json when(int64_t ms) { return ms > 0 ? Json(core::formatTime(ms)) : Json(nullptr); }
Json msOrNull(int64_t ms) { return ms > 0 ? Json(ms) : Json(nullptr); }

}  // namespace

Json toJson(const Report& r) {
  Json out = Json::object();
  out["schema"] = "firebreak/report/v1";
  out["kind"] = r.kind;
  out["id"] = r.id;
  out["title"] = r.title;
  out["generated_ms"] = r.generated_ms;
  out["generated_at"] = when(r.generated_ms);
  out["summary"] = Json{{"what", r.what},
                        {"severity", r.severity},
                        {"status", r.status},
                        {"playbook", r.playbook},
                        {"mode", r.mode},
                        {"incident_id", r.incident_id},
                        {"drill", r.drill},
                        {"started_ms", msOrNull(r.started_ms)},
                        {"started_at", when(r.started_ms)},
                        {"ended_ms", msOrNull(r.ended_ms)},
                        {"ended_at", when(r.ended_ms)}};
  out["impact"] = Json::array();
  for (const auto& f : r.impact) out["impact"].push_back(Json{{"name", f.name}, {"value", f.value}});
  out["metrics"] = Json::array();
  for (const auto& m : r.metrics)
    out["metrics"].push_back(Json{{"name", m.name},
                                  {"definition", m.definition},
                                  {"value_ms", opt(m.value_ms)},
                                  {"target_ms", opt(m.target_ms)},
                                  {"met", opt(m.met)}});
  out["timeline"] = Json::array();
  for (const auto& e : r.timeline)
    out["timeline"].push_back(Json{{"at_ms", e.at_ms},
                                   {"at", when(e.at_ms)},
                                   {"kind", e.kind},
                                   {"category", e.category},
                                   {"text", e.text},
                                   {"run_id", e.run_id},
                                   {"step_id", e.step_id}});
  out["runs"] = Json::array();
  for (const auto& run : r.runs)
    out["runs"].push_back(Json{{"id", run.id},
                               {"role", run.role},
                               {"playbook", run.playbook},
                               {"status", run.status},
                               {"dry_run", run.dry_run}});
  out["actions"] = Json::array();
  for (const auto& a : r.actions)
    out["actions"].push_back(Json{{"run_id", a.run_id},
                                  {"step_id", a.step_id},
                                  {"action", a.action},
                                  {"stage", a.stage},
                                  {"phase", a.phase.empty() ? Json(nullptr) : Json(a.phase)},
                                  {"attempt", a.attempt},
                                  {"params", a.params},
                                  {"status", a.status},
                                  {"dry_run", a.dry_run},
                                  {"error", a.error},
                                  {"started_ms", msOrNull(a.started_ms)},
                                  {"finished_ms", msOrNull(a.finished_ms)},
                                  {"duration_ms", opt(a.duration_ms)}});
  out["approvals"] = Json::array();
  for (const auto& ap : r.approvals)
    out["approvals"].push_back(Json{{"run_id", ap.run_id},
                                    {"step_id", ap.step_id},
                                    {"role", ap.role},
                                    {"status", ap.status},
                                    {"decided_by", ap.decided_by},
                                    {"reason", ap.reason},
                                    {"requested_ms", msOrNull(ap.requested_ms)},
                                    {"decided_ms", msOrNull(ap.decided_ms)}});
  out["undone"] = Json::array();
  for (const auto& u : r.undone)
    out["undone"].push_back(Json{{"run_id", u.run_id},
                                 {"step_id", u.step_id},
                                 {"undo_action", u.undo_action},
                                 {"status", u.status},
                                 {"at_ms", msOrNull(u.at_ms)}});
  out["objectives"] = Json::array();
  for (const auto& o : r.objectives)
    out["objectives"].push_back(Json{{"name", o.name},
                                     {"definition", o.definition},
                                     {"target_ms", opt(o.target_ms)},
                                     {"measured_ms", opt(o.measured_ms)},
                                     {"passed", opt(o.passed)}});
  out["follow_up"] = Json::array();
  for (const auto& s : r.follow_up)
    out["follow_up"].push_back(Json{{"title", s.title}, {"prompts", s.prompts}});
  return out;
}

std::string renderJson(const Report& r) {
  return toJson(r).dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::optional<Format> parseFormat(std::string_view name) {
  if (name == "md" || name == "markdown") return Format::kMarkdown;
  if (name == "html") return Format::kHtml;
  if (name == "json") return Format::kJson;
  return std::nullopt;
}

std::string render(const Report& r, Format f) {
  switch (f) {
    case Format::kMarkdown: return renderMarkdown(r);
    case Format::kHtml: return renderHtml(r);
    case Format::kJson: return renderJson(r);
  }
  return {};
}

const char* contentType(Format f) {
  switch (f) {
    case Format::kMarkdown: return "text/markdown; charset=utf-8";
    case Format::kHtml: return "text/html; charset=utf-8";
    case Format::kJson: return "application/json";
  }
  return "application/octet-stream";
}

const char* extension(Format f) {
  switch (f) {
    case Format::kMarkdown: return "md";
    case Format::kHtml: return "html";
    case Format::kJson: return "json";
  }
  return "txt";
}

}  // namespace firebreak::report
