// The HTML report: one self-contained file (inline CSS, inline SVG, no script, nothing
// fetched), readable on screen and printed.
#include <algorithm>
#include <array>
#include <map>
#include <sstream>

#include "daemon/report/report.h"
#include "daemon/report/text.h"

namespace firebreak::report {

namespace {

std::string esc(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 16);
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

const char* kCss = R"css(
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
  max-width: 72rem; padding: 0 1rem; color: #1b1f24; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2rem; }
h3 { font-size: 1rem; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; margin: .5rem 0; }
th, td { border: 1px solid #d0d7de; padding: .25rem .45rem; text-align: left; vertical-align: top; }
th { background: #f3f5f7; }
td.num { white-space: nowrap; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: .8rem;
  word-break: break-all; }
.meta { color: #57606a; font-size: .85rem; }
.ok { color: #116329; font-weight: 600; }
.bad { color: #a40e26; font-weight: 600; }
.timeline { width: 100%; height: auto; border: 1px solid #d0d7de; background: #fff; }
.timeline .lane { fill: #f6f8fa; }
.timeline .lane-label { font-size: 11px; fill: #57606a; }
.timeline .axis { stroke: #57606a; stroke-width: 1; }
.timeline .tick { stroke: #8c959f; stroke-width: 1; }
.timeline .tick-label { font-size: 10px; fill: #57606a; }
.timeline .mark { stroke: #1b1f24; stroke-width: .8; }
.cat-alert { fill: #cf222e; } .cat-step { fill: #0969da; } .cat-approval { fill: #bf8700; }
.cat-recovery { fill: #1a7f37; } .cat-drill { fill: #8250df; } .cat-other { fill: #6e7781; }
.prompt { border: 1px dashed #8c959f; min-height: 3rem; padding: .4rem; margin: .3rem 0 .8rem; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; color: #000; }
  h2 { break-after: avoid; page-break-after: avoid; }
  table, tr, svg, .prompt { break-inside: avoid; page-break-inside: avoid; }
  th { background: #eee; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .timeline { border: none; }
  .timeline, .cat-alert, .cat-step, .cat-approval, .cat-recovery, .cat-drill, .cat-other {
    -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
)css";

void table(std::ostringstream& o, const std::vector<std::string>& header,
           const std::vector<std::vector<std::string>>& rows) {
  o << "<table><thead><tr>";
  for (const auto& h : header) o << "<th scope=\"col\">" << esc(h) << "</th>";
  o << "</tr></thead><tbody>\n";
  for (const auto& row : rows) {
    o << "<tr>";
    for (const auto& cell : row) o << "<td>" << cell << "</td>";  // cells come escaped
    o << "</tr>\n";
  }
  o << "</tbody></table>\n";
}

void svgTimeline(std::ostringstream& o, const Report& r) {
  static const std::array<const char*, 6> lanes = {"alert", "step", "approval",
                                                   "recovery", "drill", "other"};
  const int left = 90, right = 30, top = 14, lane_h = 26, width = 1000;
  const int plot_w = width - left - right;
  const int axis_y = top + lane_h * static_cast<int>(lanes.size()) + 4;
  const int height = axis_y + 34;
  int64_t t0 = 0, t1 = 0;
  for (const auto& e : r.timeline) {
    if (t0 == 0 || e.at_ms < t0) t0 = e.at_ms;
    if (e.at_ms > t1) t1 = e.at_ms;
  }
  const int64_t span = std::max<int64_t>(t1 - t0, 1);
  auto xOf = [&](int64_t at) {
    return left + static_cast<double>(at - t0) / static_cast<double>(span) * plot_w;
  };
  o << "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " << width
    << " " << height << "\" role=\"img\" aria-label=\"Timeline of "
    << r.timeline.size() << " events\">\n";
  for (size_t i = 0; i < lanes.size(); ++i) {
    int y = top + lane_h * static_cast<int>(i);
    o << "<rect class=\"lane\" x=\"" << left << "\" y=\"" << y + 2 << "\" width=\"" << plot_w
      << "\" height=\"" << lane_h - 4 << "\"/>"
      << "<text class=\"lane-label\" x=\"" << left - 8 << "\" y=\"" << y + lane_h / 2 + 4
      << "\" text-anchor=\"end\">" << lanes[i] << "</text>\n";
  }
  o << "<line class=\"axis\" x1=\"" << left << "\" y1=\"" << axis_y << "\" x2=\"" << left + plot_w
    << "\" y2=\"" << axis_y << "\"/>\n";
  const int ticks = 6;
  for (int i = 0; i <= ticks; ++i) {
    int64_t at = t0 + span * i / ticks;
    double x = xOf(at);
    o << "<line class=\"tick\" x1=\"" << fmt::format("{:.1f}", x) << "\" y1=\"" << axis_y
      << "\" x2=\"" << fmt::format("{:.1f}", x) << "\" y2=\"" << axis_y + 5 << "\"/>"
      << "<text class=\"tick-label\" x=\"" << fmt::format("{:.1f}", x) << "\" y=\""
      << axis_y + 17 << "\" text-anchor=\"middle\">"
      << esc(i == 0 ? (t0 > 0 ? text::time(t0).substr(11) : std::string("+0 ms"))
                    : "+" + text::duration(at - t0))
      << "</text>\n";
  }
  o << "<text class=\"tick-label\" x=\"" << left << "\" y=\"" << axis_y + 30
    << "\">time since the first event (UTC " << esc(text::time(t0)) << ")</text>\n";
  // Events at the same instant in one lane are spread a little so each stays visible.
  std::map<std::pair<std::string, long>, int> stacked;
  for (const auto& e : r.timeline) {
    size_t lane = std::find(lanes.begin(), lanes.end(), e.category) - lanes.begin();
    if (lane >= lanes.size()) lane = lanes.size() - 1;
    double x = xOf(e.at_ms);
    int n = stacked[{e.category, static_cast<long>(x)}]++;
    double y = top + lane_h * static_cast<double>(lane) + lane_h / 2.0 + ((n % 3) - 1) * 6.0;
    o << "<circle class=\"mark cat-" << esc(lanes[lane]) << "\" data-kind=\"" << esc(e.kind)
      << "\" cx=\"" << fmt::format("{:.1f}", x) << "\" cy=\"" << fmt::format("{:.1f}", y)
      << "\" r=\"5\"><title>" << esc(text::time(e.at_ms) + " " + e.kind + ": " + e.text)
      << "</title></circle>\n";
  }
  o << "</svg>\n";
}

std::string code(const std::string& s) { return s.empty() ? "" : "<code>" + esc(s) + "</code>"; }

}  // namespace

std::string renderHtml(const Report& r) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    << "<link rel=\"icon\" href=\"data:,\">\n"
    << "<title>" << esc(r.title) << "</title>\n<style>" << kCss << "</style>\n</head>\n<body>\n";
  o << "<h1>" << esc(r.title) << "</h1>\n<p class=\"meta\">Generated "
    << esc(text::time(r.generated_ms))
    << " by firebreak. Times are UTC. Every metric states its definition.</p>\n";

  o << "<h2 id=\"summary\">Summary</h2>\n";
  std::vector<std::vector<std::string>> rows = {
      {"Report", esc(r.kind)},
      {"What", esc(r.what.empty() ? "-" : r.what)},
      {"When", esc(text::time(r.started_ms) + " to " +
                   (r.ended_ms ? text::time(r.ended_ms) : std::string("not ended")))},
      {"Severity", esc(r.severity.empty() ? "-" : r.severity)},
      {"Status", esc(r.status)},
      {"Playbook", esc(r.playbook.empty() ? "-" : r.playbook)},
      {"Live or drill", esc(r.mode)}};
  if (!r.incident_id.empty() && r.kind != "incident") rows.push_back({"Incident", esc(r.incident_id)});
  if (!r.drill.empty()) rows.push_back({"Drill", esc(r.drill)});
  table(o, {"Field", "Value"}, rows);

  o << "<h2 id=\"impact\">Impact</h2>\n";
  rows.clear();
  for (const auto& f : r.impact) rows.push_back({esc(f.name), esc(f.value.empty() ? "-" : f.value)});
  table(o, {"Field", "Value"}, rows);

  o << "<h2 id=\"metrics\">Detection and response metrics</h2>\n";
  rows.clear();
  for (const auto& m : r.metrics) {
    std::string met = text::met(m);
    std::string cls = m.met ? (*m.met ? "ok" : "bad") : "";
    rows.push_back({esc(m.name), esc(text::duration(m.value_ms, "not reached")),
                    esc(text::duration(m.target_ms, "no target set")),
                    cls.empty() ? esc(met) : "<span class=\"" + cls + "\">" + esc(met) + "</span>",
                    esc(m.definition)});
  }
  table(o, {"Metric", "Value", "Target", "Met", "Definition"}, rows);

  if (r.kind == "drill") {
    o << "<h2 id=\"objectives\">Objectives</h2>\n";
    if (r.objectives.empty()) {
      o << "<p>The drill set no objectives.</p>\n";
    } else {
      rows.clear();
      for (const auto& ob : r.objectives) {
        std::string res = text::passed(ob);
        std::string cls = ob.passed ? (*ob.passed ? "ok" : "bad") : "";
        rows.push_back({esc(ob.name), esc(text::duration(ob.target_ms, "no target set")),
                        esc(text::duration(ob.measured_ms, "not reached")),
                        cls.empty() ? esc(res)
                                    : "<span class=\"" + cls + "\">" + esc(res) + "</span>",
                        esc(ob.definition)});
      }
      table(o, {"Objective", "Target", "Measured", "Result", "Definition"}, rows);
    }
  }

  o << "<h2 id=\"timeline\">Timeline</h2>\n";
  svgTimeline(o, r);
  rows.clear();
  for (const auto& e : r.timeline)
    rows.push_back({esc(text::time(e.at_ms)), esc(e.category), code(e.kind), esc(e.text)});
  if (rows.empty()) o << "<p>No events were recorded.</p>\n";
  else table(o, {"Time", "Category", "Event", "Description"}, rows);

  o << "<h2 id=\"actions\">Actions</h2>\n";
  if (r.actions.empty()) {
    o << "<p>No action ran.</p>\n";
  } else {
    o << "<p>Parameters as the step ran with them; secrets are references or redacted.</p>\n";
    rows.clear();
    for (const auto& a : r.actions)
      rows.push_back({code(a.run_id), esc(a.step_id), code(a.action), esc(a.stage),
                      esc(a.phase.empty() ? "-" : a.phase), esc(std::to_string(a.attempt)),
                      code(text::params(a.params)),
                      esc(a.status + (a.dry_run ? " (dry-run)" : "")), esc(text::time(a.started_ms)),
                      esc(text::duration(a.duration_ms, "unfinished")), esc(a.error)});
    table(o, {"Run", "Step", "Action", "Stage", "Phase", "Attempt", "Parameters", "Status",
              "Started", "Duration", "Error"},
          rows);
  }

  o << "<h2 id=\"approvals\">Approvals</h2>\n";
  if (r.approvals.empty()) {
    o << "<p>No approval was asked for.</p>\n";
  } else {
    rows.clear();
    for (const auto& ap : r.approvals)
      rows.push_back({code(ap.run_id), esc(ap.step_id), esc(ap.role), esc(ap.status),
                      esc(ap.decided_by.empty() ? "-" : ap.decided_by),
                      esc(text::time(ap.requested_ms)), esc(text::time(ap.decided_ms)),
                      esc(ap.reason)});
    table(o, {"Run", "Step", "Role", "Status", "Who", "Requested", "Decided", "Why"}, rows);
  }

  o << "<h2 id=\"undone\">Undone</h2>\n";
  if (r.undone.empty()) {
    o << "<p>Nothing was undone.</p>\n";
  } else {
    rows.clear();
    for (const auto& u : r.undone)
      rows.push_back({code(u.run_id), esc(u.step_id), code(u.undo_action), esc(u.status),
                      esc(text::time(u.at_ms))});
    table(o, {"Run", "Step", "Undo action", "Status", "At"}, rows);
  }

  o << "<h2 id=\"runs\">Runs</h2>\n";
  if (r.runs.empty()) {
    o << "<p>No run belongs to this report.</p>\n";
  } else {
    rows.clear();
    for (const auto& run : r.runs)
      rows.push_back({code(run.id), esc(run.role), esc(run.playbook), esc(run.status),
                      run.dry_run ? "yes" : "no"});
    table(o, {"Run", "Role", "Playbook", "Status", "Dry-run"}, rows);
  }

  o << "<h2 id=\"follow-up\">Follow-up</h2>\n<p>A blameless post-mortem: describe what happened "
       "and why, not who to blame. Fill in each section.</p>\n";
  for (const auto& s : r.follow_up) {
    o << "<h3>" << esc(s.title) << "</h3>\n<ul>\n";
    for (const auto& p : s.prompts) o << "<li>" << esc(p) << "</li>\n";
    o << "</ul>\n<div class=\"prompt\"></div>\n";
  }
  o << "</body>\n</html>\n";
  return o.str();
}

}  // namespace firebreak::report
