// Reports built from a real SQLite store: metrics and their definitions, redaction, escaping
// in every format, one SVG mark per timeline event, the JSON fields, drill runs, the files.
#include "daemon/report/report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "daemon/store/sqlite/sqlite_store.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/test_env.h"

namespace firebreak::report {
namespace {

using core::Json;
using firebreak::testing::FakeClock;
using firebreak::testing::TempDir;
using store::WriteTx;

constexpr int64_t kT0 = 1'795'000'000'000;  // the alert starts
constexpr const char* kIncident = "inc-1795000000000-abcd-1";
constexpr const char* kRun = "r-1795000000000-abcd-2";

const Metric* metricNamed(const Report& r, const std::string& name) {
  for (const auto& m : r.metrics)
    if (m.name == name) return &m;
  return nullptr;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::SqliteStore::open(dir_.file("state/firebreak.db"), clock_);
    ASSERT_TRUE(s) << s.error().str();
    store_ = std::move(*s);
  }

  void commit(std::function<core::Status(WriteTx&)> fn) {
    auto s = store_->commitSync(std::move(fn));
    ASSERT_TRUE(s) << s.error().str();
  }

  static store::TimelineEvent event(int64_t at, const std::string& run, const std::string& step,
                                    const std::string& kind, const std::string& text,
                                    Json data = Json::object()) {
    return store::TimelineEvent{0, at, kIncident, run, step, kind, text, std::move(data)};
  }

  static store::StepRecord step(const std::string& id, const std::string& action,
                                const std::string& stage, const std::string& status,
                                int64_t started, int64_t finished, Json params = Json::object()) {
    store::StepRecord s;
    s.run_id = kRun;
    s.step_id = id;
    s.stage = stage;
    s.action = action;
    s.status = status;
    s.params = std::move(params);
    s.started_ms = started;
    s.finished_ms = finished;
    if (status == "failed") s.error = "exit status 3 | <bad>";
    return s;
  }

  // An incident: two alerts (the first received 2 s after it started), a run that contains
  // (t0+5 s), waits for an approval decided at t0+8 s, recovers (t0+12 s, restoring a backup
  // 90 s old), fails a notify step, and undoes the containment; resolved at t0+20 s.
  void fillIncident() {
    commit([&](WriteTx& tx) -> core::Status {
      store::IncidentRecord inc{kIncident, "db-recover", "db-recover/app", "open", "critical",
                                "Database | down <now>", kT0 + 2000, 0, false};
      if (auto s = tx.upsertIncident(inc); !s) return s;
      for (int i = 0; i < 2; ++i) {
        store::AlertRecord a;
        a.id = "a-" + std::to_string(i);
        a.identity = "prometheus/fp" + std::to_string(i);
        a.source = "prometheus";
        a.fingerprint = "fp" + std::to_string(i);
        a.status = "firing";
        a.name = "DatabaseDown";
        a.labels = {{"alertname", "DatabaseDown"}, {"instance", "db-" + std::to_string(i)}};
        a.annotations = {{"summary", "the *main* database is down"}};
        a.starts_at_ms = kT0 + i * 500;
        a.received_at_ms = kT0 + 2000 + i * 1000;
        a.incident_id = kIncident;
        auto n = tx.noteAlert(a);
        if (!n) return core::fail(n.error());
        if (auto s = tx.setAlertIncident(a.id, a.identity, kIncident); !s) return s;
        if (auto s = tx.appendTimeline(event(a.received_at_ms, "", "", "alert.received",
                                             "alert DatabaseDown firing from prometheus"));
            !s)
          return s;
      }
      store::RunRecord run;
      run.id = kRun;
      run.playbook = "db-recover";
      run.incident_id = kIncident;
      run.trigger = "alert";
      run.status = store::RunStatus::kFailed;
      run.created_ms = kT0 + 2100;
      run.finished_ms = kT0 + 16000;
      if (auto s = tx.insertRun(run); !s) return s;
      std::vector<store::StepRecord> steps = {
          step("isolate", "exec.run", "main", "succeeded", kT0 + 3000, kT0 + 7000,
               Json{{"argv", {"/bin/true"}},
                    {"api_token", "hunter2"},
                    {"auth", {{"password", "p4ss"}, {"user", "ops"}}},
                    {"url_secret", "env:DB_SECRET"},
                    {"idempotency_key", "k-1"}}),
          step("restore", "backup.restore", "main", "succeeded", kT0 + 9000, kT0 + 14000,
               Json{{"kind", "sqlite"}, {"backup", "latest"}}),
          step("tell", "notify.webhook", "main", "failed", kT0 + 14000, kT0 + 14500,
               Json{{"url", "env:SLACK_URL"}, {"text", "a | b"}}),
          step("isolate", "exec.run", "undo", "succeeded", kT0 + 15000, kT0 + 15500)};
      steps[1].output = Json{{"rpo_ms", 90000}, {"created_ms", kT0 - 76000}};
      const std::map<std::string, std::string> phase = {
          {"isolate", "contain"}, {"restore", "recover"}, {"tell", "notify"}};
      for (const auto& s : steps) {
        if (auto st = tx.upsertStep(s); !st) return st;
        Json data{{"action", s.action}, {"attempt", 1}, {"stage", s.stage},
                  {"phase", phase.at(s.step_id)}};
        if (auto st = tx.appendTimeline(event(s.started_ms, kRun, s.step_id, "step.started",
                                              "step '" + s.step_id + "' started", data));
            !st)
          return st;
        data["status"] = s.status;
        if (auto st = tx.appendTimeline(event(s.finished_ms, kRun, s.step_id, "step.finished",
                                              "step '" + s.step_id + "' " + s.status, data));
            !st)
          return st;
      }
      store::ApprovalRecord ap{kRun, "approve", "responder", "approved", "looks <right> & safe",
                               "oncall", kT0 + 7500, 0, kT0 + 8000};
      if (auto s = tx.upsertApproval(ap); !s) return s;
      if (auto s = tx.appendTimeline(event(kT0 + 7500, kRun, "approve", "approval.requested",
                                           "approval asked"));
          !s)
        return s;
      if (auto s = tx.appendTimeline(event(kT0 + 8000, kRun, "approve", "approval.granted",
                                           "approved by oncall"));
          !s)
        return s;
      if (auto s = tx.appendTimeline(event(kT0 + 15500, kRun, "isolate", "step.undone",
                                           "step 'isolate' undone"));
          !s)
        return s;
      auto closed = tx.resolveIncident(kIncident, kT0 + 22000);
      if (!closed) return core::fail(closed.error());
      return tx.appendTimeline(event(kT0 + 22000, "", "", "incident.resolved",
                                     "incident resolved"));
    });
  }

  FakeClock clock_{kT0 + 60000};
  TempDir dir_;
  std::unique_ptr<store::SqliteStore> store_;
};

TEST_F(ReportTest, IncidentMetricsCarryValuesAndDefinitions) {
  fillIncident();
  auto r = buildReport(*store_, kIncident, clock_.nowMs());
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->kind, "incident");
  EXPECT_EQ(r->severity, "critical");
  EXPECT_EQ(r->status, "resolved");
  EXPECT_EQ(r->playbook, "db-recover");
  EXPECT_EQ(r->mode, "live");

  struct Want {
    const char* name;
    std::optional<int64_t> value;
    const char* definition_part;
  };
  // Opened at t0+2 s.
  for (const Want& w : std::vector<Want>{
           {"time to detect", 2000, "starts_at"},
           {"time to acknowledge", 6000, "first approval decided"},
           {"time to contain", 5000, "phase is contain"},
           {"time to recover", 12000, "last successful step whose phase is recover"},
           {"time to resolve", 20000, "incident opened to incident resolved"},
           {"RTO achieved", 12000, "backup.restore"},
           {"RPO achieved", 90000, "rpo_ms"}}) {
    const Metric* m = metricNamed(*r, w.name);
    ASSERT_NE(m, nullptr) << w.name;
    EXPECT_EQ(m->value_ms, w.value) << w.name;
    EXPECT_NE(m->definition.find(w.definition_part), std::string::npos)
        << w.name << ": " << m->definition;
    EXPECT_FALSE(m->target_ms) << w.name;
    EXPECT_FALSE(m->met) << w.name;
  }
  EXPECT_NE(metricNamed(*r, "RTO achieved")->definition.find("no target set"), std::string::npos);

  ASSERT_EQ(r->actions.size(), 4u);
  EXPECT_EQ(r->actions[0].phase, "contain");
  EXPECT_EQ(r->actions[0].duration_ms, 4000);
  ASSERT_EQ(r->undone.size(), 1u);
  EXPECT_EQ(r->undone[0].step_id, "isolate");
  EXPECT_EQ(r->undone[0].status, "succeeded");
  ASSERT_EQ(r->approvals.size(), 1u);
  EXPECT_EQ(r->approvals[0].decided_by, "oncall");
  // 2 alerts, 8 step events, 2 approval events, undone, resolved.
  EXPECT_EQ(r->timeline.size(), 14u);
  for (size_t i = 1; i < r->timeline.size(); ++i)
    EXPECT_LE(r->timeline[i - 1].at_ms, r->timeline[i].at_ms);
  EXPECT_EQ(r->timeline.front().category, "alert");
  EXPECT_EQ(r->timeline.back().category, "recovery");
  ASSERT_EQ(r->follow_up.size(), 4u);
  EXPECT_EQ(r->follow_up[0].title, "Contributing factors");
  EXPECT_EQ(r->follow_up[1].title, "What went well");
  EXPECT_EQ(r->follow_up[3].title, "Action items");
}

TEST_F(ReportTest, SecretsAreRedactedAndReferencesKept) {
  fillIncident();
  auto r = buildIncidentReport(*store_, kIncident, clock_.nowMs());
  ASSERT_TRUE(r) << r.error().str();
  const Json& p = r->actions[0].params;
  EXPECT_EQ(p["api_token"], "[redacted]");
  EXPECT_EQ(p["auth"]["password"], "[redacted]");
  EXPECT_EQ(p["auth"]["user"], "ops");
  EXPECT_EQ(p["url_secret"], "env:DB_SECRET");
  EXPECT_EQ(p["idempotency_key"], "k-1");
  for (const std::string& text : {renderMarkdown(*r), renderHtml(*r), renderJson(*r)}) {
    EXPECT_EQ(text.find("hunter2"), std::string::npos);
    EXPECT_EQ(text.find("p4ss"), std::string::npos);
  }
  EXPECT_EQ(redactParams(Json{{"PrivateKey", "x"}, {"keys", {{"a", 1}}}}),
            (Json{{"PrivateKey", "[redacted]"}, {"keys", "[redacted]"}}));
}

TEST_F(ReportTest, MarkdownEscapesTableBreakers) {
  fillIncident();
  auto r = buildIncidentReport(*store_, kIncident, clock_.nowMs());
  ASSERT_TRUE(r) << r.error().str();
  std::string md = renderMarkdown(*r);
  EXPECT_EQ(md.rfind("# Incident ", 0), 0u) << md.substr(0, 80);
  EXPECT_NE(md.find("Database \\| down \\<now\\>"), std::string::npos);
  EXPECT_NE(md.find("the \\*main\\* database"), std::string::npos);
  EXPECT_NE(md.find("exit status 3 \\| \\<bad\\>"), std::string::npos);
  // Every table row has as many unescaped pipes as its header.
  std::istringstream lines(md);
  std::string line;
  int expected = -1;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '|') {
      expected = -1;
      continue;
    }
    int pipes = 0;
    for (size_t i = 0; i < line.size(); ++i)
      if (line[i] == '|' && (i == 0 || line[i - 1] != '\\')) ++pipes;
    if (expected < 0) expected = pipes;
    EXPECT_EQ(pipes, expected) << line;
  }
  for (const char* heading : {"## Summary", "## Impact", "## Detection and response metrics",
                              "## Timeline", "## Actions", "## Approvals", "## Undone",
                              "## Follow-up", "### Contributing factors", "### What went well",
                              "### Action items"})
    EXPECT_NE(md.find(std::string("\n") + heading + "\n"), std::string::npos) << heading;
  EXPECT_EQ(md.find("\n\n\n"), std::string::npos);
  EXPECT_EQ(md.back(), '\n');
}

TEST_F(ReportTest, HtmlIsEscapedSelfContainedWithOneMarkPerEvent) {
  fillIncident();
  auto r = buildIncidentReport(*store_, kIncident, clock_.nowMs());
  ASSERT_TRUE(r) << r.error().str();
  std::string html = renderHtml(*r);
  EXPECT_EQ(html.find("<now>"), std::string::npos);
  EXPECT_NE(html.find("Database | down &lt;now&gt;"), std::string::npos);
  EXPECT_NE(html.find("looks &lt;right&gt; &amp; safe"), std::string::npos);
  EXPECT_EQ(count(html, "class=\"mark "), r->timeline.size());
  EXPECT_EQ(count(html, "<title>"), r->timeline.size() + 1);  // + the document's title
  EXPECT_NE(html.find("@media print"), std::string::npos);
  EXPECT_NE(html.find("class=\"tick\""), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
}

TEST_F(ReportTest, JsonHasEveryField) {
  fillIncident();
  auto r = buildIncidentReport(*store_, kIncident, clock_.nowMs());
  ASSERT_TRUE(r) << r.error().str();
  Json j = Json::parse(renderJson(*r));
  EXPECT_EQ(j["kind"], "incident");
  EXPECT_EQ(j["id"], kIncident);
  EXPECT_EQ(j["summary"]["severity"], "critical");
  EXPECT_EQ(j["timeline"].size(), r->timeline.size());
  EXPECT_EQ(j["timeline"][0]["category"], "alert");
  bool found = false;
  for (const auto& m : j["metrics"])
    if (m["name"] == "time to contain") {
      found = true;
      EXPECT_EQ(m["value_ms"], 5000);
      EXPECT_TRUE(m["target_ms"].is_null());
      EXPECT_TRUE(m["met"].is_null());
      EXPECT_FALSE(m["definition"].get<std::string>().empty());
    }
  EXPECT_TRUE(found);
  EXPECT_EQ(j["actions"][0]["params"]["api_token"], "[redacted]");
  EXPECT_EQ(j["actions"][3]["stage"], "undo");
  EXPECT_EQ(j["approvals"][0]["decided_by"], "oncall");
  EXPECT_EQ(j["undone"].size(), 1u);
  EXPECT_EQ(j["follow_up"].size(), 4u);
}

TEST_F(ReportTest, DrillRunReportHasObjectives) {
  fillIncident();
  commit([&](WriteTx& tx) -> core::Status {
    store::DrillRunRecord d;
    d.id = "drill-20261201-0300-0000abcd";
    d.drill = "db-weekly";
    d.trigger = "manual";
    d.dry_run = true;
    d.stage = "done";
    d.status = "failed";
    d.incident_id = kIncident;
    d.runs = Json::array({Json{{"id", kRun}, {"role", "playbook"}, {"playbook", "db-recover"}}});
    d.objectives = Json::array(
        {Json{{"name", "contained_within"}, {"definition", "fault injected to the first "
                                                           "containment step succeeded"},
              {"target_ms", 10000}, {"measured_ms", 7000}, {"passed", true}},
         Json{{"name", "recovered_within"}, {"definition", "fault injected to recovery"},
              {"target_ms", 5000}, {"measured_ms", 14000}, {"passed", false}}});
    d.measured = Json{{"injected_ms", 0},      {"detected_ms", 2000}, {"first_action_ms", 3000},
                      {"contained_ms", 7000},  {"recovered_ms", 14000}};
    d.started_ms = kT0 - 1000;
    d.injected_ms = kT0;
    d.finished_ms = kT0 + 30000;
    if (auto s = tx.upsertDrillRun(d); !s) return s;
    return tx.appendTimeline(store::TimelineEvent{0, kT0, "", d.id, "", "drill.injected",
                                                  "fault injected", Json::object()});
  });
  auto r = buildReport(*store_, "drill-20261201-0300-0000abcd", clock_.nowMs());
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->kind, "drill");
  EXPECT_EQ(r->mode, "drill (dry-run)");
  EXPECT_EQ(r->playbook, "db-recover");
  ASSERT_EQ(r->objectives.size(), 2u);
  EXPECT_EQ(r->objectives[1].passed, false);
  const Metric* contain = metricNamed(*r, "time to contain");
  ASSERT_NE(contain, nullptr);
  EXPECT_EQ(contain->value_ms, 7000);
  EXPECT_EQ(contain->target_ms, 10000);
  EXPECT_EQ(contain->met, true);
  const Metric* rto = metricNamed(*r, "RTO achieved");
  EXPECT_EQ(rto->value_ms, 14000);
  EXPECT_EQ(rto->met, false);
  EXPECT_EQ(r->timeline.front().category, "drill");
  EXPECT_EQ(r->timeline.size(), 15u);  // the incident's 14 and the drill's own
  std::string md = renderMarkdown(*r);
  EXPECT_NE(md.find("## Objectives"), std::string::npos);
  EXPECT_NE(md.find("| contained\\_within |"), std::string::npos);
  Json j = toJson(*r);
  EXPECT_EQ(j["objectives"][0]["passed"], true);
  EXPECT_EQ(count(renderHtml(*r), "class=\"mark "), 15u);
}

TEST_F(ReportTest, UnknownIdIsNotFound) {
  auto r = buildReport(*store_, "inc-nope", clock_.nowMs());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), core::ErrorCode::kNotFound);
  auto d = buildReport(*store_, "drill-nope", clock_.nowMs());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), core::ErrorCode::kNotFound);
}

TEST_F(ReportTest, WritesThreeFilesUnderTheDataDir) {
  fillIncident();
  const std::string data = dir_.path().string() + "/data";
  auto s = writeReports(*store_, kIncident, data, clock_.nowMs());
  ASSERT_TRUE(s) << s.error().str();
  for (const char* ext : {"md", "html", "json"}) {
    std::filesystem::path p = data + "/reports/" + kIncident + "." + ext;
    EXPECT_TRUE(std::filesystem::exists(p)) << p;
    EXPECT_GT(std::filesystem::file_size(p), 100u) << p;
  }
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(data + "/reports")) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 3u);  // no temp file left behind
}

}  // namespace
}  // namespace firebreak::report
