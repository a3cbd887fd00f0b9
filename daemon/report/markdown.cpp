// The Markdown report: CommonMark with GFM tables, written to pass markdownlint's rules
// (one top heading, blank lines around blocks, no bare URLs, no inline HTML).
#include <sstream>

#include "daemon/report/report.h"
#include "daemon/report/text.h"

namespace firebreak::report {

namespace {

// Text for a paragraph or a table cell: Markdown's punctuation escaped, a line break or a
// pipe never ends the cell, and "scheme://" never becomes a bare link.
std::string md(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    switch (c) {
      case '\\': case '`': case '*': case '_': case '[': case ']': case '<': case '>':
      case '|': case '#': case '!': case '~': case '&':
        out += '\\';
        out += c;
        break;
      case ':':
        if (s.compare(i, 3, "://") == 0) out += '\\';
        out += c;
        break;
      case '\r': break;
      case '\n': case '\t': out += ' '; break;
      default: out += c;
    }
  }
  // No trailing spaces (they would be a hard break) and no empty cell surprises.
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

class Table {
 public:
  explicit Table(std::vector<std::string> header) : cols_(header.size()) { row(header, false); }
  void row(const std::vector<std::string>& cells, bool escape = true) {
    out_ << "|";
    for (size_t i = 0; i < cols_; ++i) {
      std::string cell = i < cells.size() ? (escape ? md(cells[i]) : cells[i]) : "";
      out_ << " " << cell << (cell.empty() ? "|" : " |");
    }
    out_ << "\n";
    if (!separated_) {
      out_ << "|";
      for (size_t i = 0; i < cols_; ++i) out_ << " --- |";
      out_ << "\n";
      separated_ = true;
    }
  }
  std::string str() const { return out_.str(); }

 private:
  size_t cols_;
  bool separated_ = false;
  std::ostringstream out_;
};

}  // namespace

std::string renderMarkdown(const Report& r) {
  std::ostringstream o;
  o << "# " << md(r.title) << "\n\n";
  o << "Generated " << md(text::time(r.generated_ms)) << " by firebreak\\. Times are UTC\\. "
    << "Every metric states its definition\\.\n\n";

  o << "## Summary\n\n";
  Table summary({"Field", "Value"});
  summary.row({"Report", r.kind});
  summary.row({"What", r.what.empty() ? "-" : r.what});
  summary.row({"When", text::time(r.started_ms) + " to " +
                           (r.ended_ms ? text::time(r.ended_ms) : std::string("not ended"))});
  summary.row({"Severity", r.severity.empty() ? "-" : r.severity});
  summary.row({"Status", r.status});
  summary.row({"Playbook", r.playbook.empty() ? "-" : r.playbook});
  summary.row({"Live or drill", r.mode});
  if (!r.incident_id.empty() && r.kind != "incident") summary.row({"Incident", r.incident_id});
  if (!r.drill.empty()) summary.row({"Drill", r.drill});
  o << summary.str() << "\n";

  o << "## Impact\n\n";
  Table impact({"Field", "Value"});
  for (const auto& f : r.impact) impact.row({f.name, f.value.empty() ? "-" : f.value});
  o << impact.str() << "\n";

  o << "## Detection and response metrics\n\n";
  Table metrics({"Metric", "Value", "Target", "Met", "Definition"});
  for (const auto& m : r.metrics)
    metrics.row({m.name, text::duration(m.value_ms, "not reached"),
                 text::duration(m.target_ms, "no target set"), text::met(m), m.definition});
  o << metrics.str() << "\n";

  if (r.kind == "drill") {
    o << "## Objectives\n\n";
    if (r.objectives.empty()) {
      o << "The drill set no objectives\\.\n\n";
    } else {
      Table t({"Objective", "Target", "Measured", "Result", "Definition"});
      for (const auto& ob : r.objectives)
        t.row({ob.name, text::duration(ob.target_ms, "no target set"),
               text::duration(ob.measured_ms, "not reached"), text::passed(ob), ob.definition});
      o << t.str() << "\n";
    }
  }

  o << "## Timeline\n\n";
  if (r.timeline.empty()) {
    o << "No events were recorded\\.\n\n";
  } else {
    Table t({"Time", "Category", "Event", "Description"});
    for (const auto& e : r.timeline) t.row({text::time(e.at_ms), e.category, e.kind, e.text});
    o << t.str() << "\n";
  }

  o << "## Actions\n\n";
  if (r.actions.empty()) {
    o << "No action ran\\.\n\n";
  } else {
    o << "Parameters as the step ran with them; secrets are references or redacted\\.\n\n";
    Table t({"Run", "Step", "Action", "Stage", "Phase", "Attempt", "Parameters", "Status",
             "Started", "Duration", "Error"});
    for (const auto& a : r.actions)
      t.row({a.run_id, a.step_id, a.action, a.stage, a.phase.empty() ? "-" : a.phase,
             std::to_string(a.attempt), text::params(a.params),
             a.status + (a.dry_run ? " (dry-run)" : ""), text::time(a.started_ms),
             text::duration(a.duration_ms, "unfinished"), a.error});
    o << t.str() << "\n";
  }

  o << "## Approvals\n\n";
  if (r.approvals.empty()) {
    o << "No approval was asked for\\.\n\n";
  } else {
    Table t({"Run", "Step", "Role", "Status", "Who", "Requested", "Decided", "Why"});
    for (const auto& ap : r.approvals)
      t.row({ap.run_id, ap.step_id, ap.role, ap.status, ap.decided_by.empty() ? "-" : ap.decided_by,
             text::time(ap.requested_ms), text::time(ap.decided_ms), ap.reason});
    o << t.str() << "\n";
  }

  o << "## Undone\n\n";
  if (r.undone.empty()) {
    o << "Nothing was undone\\.\n\n";
  } else {
    Table t({"Run", "Step", "Undo action", "Status", "At"});
    for (const auto& u : r.undone)
      t.row({u.run_id, u.step_id, u.undo_action, u.status, text::time(u.at_ms)});
    o << t.str() << "\n";
  }

  o << "## Runs\n\n";
  if (r.runs.empty()) {
    o << "No run belongs to this report\\.\n\n";
  } else {
    Table t({"Run", "Role", "Playbook", "Status", "Dry-run"});
    for (const auto& run : r.runs)
      t.row({run.id, run.role, run.playbook, run.status, run.dry_run ? "yes" : "no"});
    o << t.str() << "\n";
  }

  o << "## Follow-up\n\n";
  o << "A blameless post-mortem: describe what happened and why, not who to blame\\. "
    << "Fill in each section\\.\n";
  for (const auto& s : r.follow_up) {
    o << "\n### " << md(s.title) << "\n\n";
    for (const auto& p : s.prompts) o << "- " << md(p) << "\n";
  }
  return o.str();
}

}  // namespace firebreak::report
