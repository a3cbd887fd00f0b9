// Post-incident reports: built from the store for an incident or a drill run, rendered as
// Markdown, HTML (one self-contained file with an SVG timeline) and JSON. docs/reports.md
// describes every section and every metric's definition; docs/report.schema.json the JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/core/json.h"
#include "daemon/core/result.h"
#include "daemon/store/store.h"

namespace firebreak::report {

using core::Json;

// Every metric says what it measures: "time to recover" means different things to teams.
struct Metric {
  std::string name;        // "time to recover"
  std::string definition;  // "incident opened to last recovery step succeeded"
  std::optional<int64_t> value_ms;   // nullopt: not reached
  std::optional<int64_t> target_ms;  // nullopt: no target set
  std::optional<bool> met;           // nullopt without both value and target
};

struct TimelineEntry {
  int64_t at_ms = 0;
  std::string kind;      // the store's event kind: alert.received, step.finished, ...
  std::string category;  // alert | step | approval | recovery | drill | other
  std::string text;
  std::string run_id;
  std::string step_id;
};

struct ActionEntry {
  std::string run_id;
  std::string step_id;
  std::string action;
  std::string stage;  // main | on_failure | undo
  std::string phase;  // observe | contain | recover | notify, "" when unknown
  int attempt = 1;
  Json params = Json::object();  // secrets redacted
  std::string status;
  bool dry_run = false;
  std::string error;
  int64_t started_ms = 0;
  int64_t finished_ms = 0;  // 0: never finished
  std::optional<int64_t> duration_ms;
};

struct ApprovalEntry {
  std::string run_id;
  std::string step_id;
  std::string role;
  std::string status;
  std::string decided_by;
  std::string reason;
  int64_t requested_ms = 0;
  int64_t decided_ms = 0;
};

struct UndoneEntry {
  std::string run_id;
  std::string step_id;      // the step whose effect was undone
  std::string undo_action;
  std::string status;       // of the undo: succeeded | failed | ...
  int64_t at_ms = 0;
};

struct Objective {
  std::string name;
  std::string definition;
  std::optional<int64_t> target_ms;
  std::optional<int64_t> measured_ms;
  std::optional<bool> passed;
};

struct RunRef {
  std::string id;
  std::string playbook;
  std::string role;  // incident | inject | playbook | rollback
  std::string status;
  bool dry_run = false;
};

struct Field {
  std::string name;
  std::string value;
};

struct FollowUpSection {
  std::string title;
  std::vector<std::string> prompts;
};

struct Report {
  std::string kind;  // incident | drill
  std::string id;
  std::string title;
  int64_t generated_ms = 0;
  // Summary: what, when, severity, status, which playbook, live or drill.
  std::string what;
  std::string severity;
  std::string status;
  std::string playbook;
  std::string mode;  // live | drill (dry-run) | drill (live)
  std::string incident_id;
  std::string drill;  // the drill's name (drill reports)
  int64_t started_ms = 0;
  int64_t ended_ms = 0;  // 0: not yet
  std::vector<Field> impact;
  std::vector<Metric> metrics;
  std::vector<TimelineEntry> timeline;
  std::vector<RunRef> runs;
  std::vector<ActionEntry> actions;
  std::vector<ApprovalEntry> approvals;
  std::vector<UndoneEntry> undone;
  std::vector<Objective> objectives;  // drills only
  std::vector<FollowUpSection> follow_up;
};

// Builders. An unknown id is kNotFound.
core::Result<Report> buildIncidentReport(const store::Store& store, const std::string& incident_id,
                                         int64_t now_ms);
core::Result<Report> buildDrillReport(const store::Store& store, const std::string& drill_run_id,
                                      int64_t now_ms);
// Drill run ids start with "drill-"; anything else is taken for an incident id.
core::Result<Report> buildReport(const store::Store& store, const std::string& id, int64_t now_ms);

// Parameters as a report shows them: references (env:NAME, file:PATH) stay as they are, and
// the value of any parameter whose name contains token, secret, password or key (but not
// idempotency_key) becomes "[redacted]", at any depth.
Json redactParams(const Json& params);

// Renderers.
std::string renderMarkdown(const Report& report);
std::string renderHtml(const Report& report);
Json toJson(const Report& report);
std::string renderJson(const Report& report);  // toJson, indented, ends with a newline

enum class Format { kMarkdown, kHtml, kJson };
std::optional<Format> parseFormat(std::string_view name);  // md | html | json
std::string render(const Report& report, Format format);
const char* contentType(Format format);
const char* extension(Format format);  // md | html | json

// Writes <data_dir>/reports/<id>.md, .html and .json, each atomically (temp file + rename).
core::Status writeReportFiles(const Report& report, const std::string& data_dir);
// Builds the report of `id` (incident or drill run) and writes its three files.
core::Status writeReports(const store::Store& store, const std::string& id,
                          const std::string& data_dir, int64_t now_ms);

}  // namespace firebreak::report
