// Drill files: the model read from a full drill, every error with its place, probes that may
// not change anything, chaos steps given the drill's scope, and every drill under drills/.
#include "daemon/drill/loader.h"

#include <gtest/gtest.h>

#include "daemon/app/runtime.h"
#include "daemon/app/secrets.h"
#include "daemon/playbook/loader.h"
#include "tests/fakes/test_env.h"

namespace firebreak::drill {
namespace {

class DrillLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = core::ActionEnv{&pool_, &clock_, &secrets_, dir_.path().string()};
    auto r = app::offlineRegistry(env_);
    ASSERT_TRUE(r) << r.error().str();
    registry_ = std::move(*r);
  }
  void TearDown() override { pool_.join(); }

  DrillPtr compile(const std::string& yaml) {
    auto d = compileDrill(yaml, "d.yaml", *registry_);
    if (!d) {
      for (const auto& e : d.error()) ADD_FAILURE() << e.str();
      return nullptr;
    }
    return *d;
  }
  std::vector<std::string> errors(const std::string& yaml) {
    auto d = compileDrill(yaml, "d.yaml", *registry_);
    std::vector<std::string> out;
    if (d) return out;
    for (const auto& e : d.error()) out.push_back(e.str());
    return out;
  }

  testing::TempDir dir_;
  asio::thread_pool pool_{1};
  core::SystemClock clock_;
  app::ProcessSecretResolver secrets_;
  core::ActionEnv env_;
  std::unique_ptr<core::ProviderRegistry> registry_;
};

constexpr const char* kFull = R"(apiVersion: firebreak/v1
kind: Drill
metadata: { name: lambda-weekly, description: synthetic abuse alert }
schedule: "0 3 * * 1"
timezone: Europe/Paris
mode: dry-run
inject:
  alert: { source: prometheus, labels: { alertname: LambdaCredentialAbuse, severity: critical, function: drill-fn } }
expect:
  playbook: lambda-credential-abuse
  detected_within: 5s
  contained_within: 60s
  recovered_within: 15m
steady_state:
  - { id: api-up, action: http.probe, with: { url: "http://127.0.0.1:8080/health", expect_status: 200 } }
stop_if:
  - { id: api-still-up, action: http.probe, with: { url: "http://127.0.0.1:8080/health" } }
probe_interval: 2s
rollback:
  - { id: note, action: log, with: { message: "drill over" } }
timeout: 20m
)";

TEST_F(DrillLoaderTest, FullDrillModel) {
  auto d = compile(kFull);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->name, "lambda-weekly");
  EXPECT_EQ(d->description, "synthetic abuse alert");
  ASSERT_TRUE(d->schedule);
  EXPECT_EQ(d->schedule->expression(), "0 3 * * 1");
  EXPECT_EQ(d->schedule->timeZone(), "Europe/Paris");
  EXPECT_TRUE(d->dry_run);
  ASSERT_TRUE(d->inject_alert);
  EXPECT_EQ(d->inject_alert->source, "prometheus");
  EXPECT_EQ(d->inject_alert->name, "LambdaCredentialAbuse");
  EXPECT_EQ(d->inject_alert->severity, "critical");
  EXPECT_FALSE(d->inject_action);
  EXPECT_EQ(d->expect_playbook, "lambda-credential-abuse");
  ASSERT_EQ(d->objectives.size(), 3u);
  EXPECT_EQ(d->objectives[0].name, "detected_within");
  EXPECT_EQ(d->objectives[1].target, std::chrono::seconds(60));
  EXPECT_EQ(d->objectives[2].target, std::chrono::minutes(15));
  ASSERT_TRUE(d->steady_state);
  EXPECT_EQ(d->steady_state->name, "lambda-weekly-steady-state");
  EXPECT_EQ(d->steady_state->steps.at(0).id, "api-up");
  EXPECT_TRUE(d->steady_state->trigger.manual_only);
  ASSERT_TRUE(d->stop_if);
  ASSERT_TRUE(d->rollback);
  EXPECT_EQ(d->rollback->steps.at(0).action, "log");
  EXPECT_EQ(d->probe_interval, std::chrono::seconds(2));
  EXPECT_EQ(d->timeout, std::chrono::minutes(20));
}

TEST_F(DrillLoaderTest, StepListsBecomePlaybooksTheEngineCanCompileAgain) {
  // A resume compiles the run's stored source: it must be a playbook of exactly these steps.
  auto d = compile(kFull);
  ASSERT_TRUE(d);
  auto again = playbook::compilePlaybook(d->rollback->source, d->file, *registry_);
  ASSERT_TRUE(again) << again.error().front().str();
  EXPECT_EQ((*again)->name, "lambda-weekly-rollback");
  ASSERT_EQ((*again)->steps.size(), 1u);
  EXPECT_EQ((*again)->steps[0].with["message"], "drill over");
}

TEST_F(DrillLoaderTest, ErrorsSayWhere) {
  auto e = errors(R"(apiVersion: firebreak/v1
kind: Drill
metadata: { name: Bad_Name }
schedule: "0 25 * * *"
mode: sometimes
inject:
  alert: { source: prometheus, labels: { severity: critical } }
expect: { contained_withn: 60s }
steady_state:
  - { id: up, action: http.prob, with: { url: "http://x" } }
)");
  auto has = [&](const std::string& text) {
    for (const auto& m : e)
      if (m.find(text) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has("d.yaml:3:")) << ::testing::PrintToString(e);
  EXPECT_TRUE(has("'name' must be 1 to 50 lowercase")) << ::testing::PrintToString(e);
  EXPECT_TRUE(has("d.yaml:4:")) << ::testing::PrintToString(e);
  EXPECT_TRUE(has("24 is not within 0-23") || has("25 is not within 0-23"))
      << ::testing::PrintToString(e);
  EXPECT_TRUE(has("d.yaml:5:")) << ::testing::PrintToString(e);
  EXPECT_TRUE(has("must include 'alertname'")) << ::testing::PrintToString(e);
  EXPECT_TRUE(has("did you mean 'contained_within'")) << ::testing::PrintToString(e);
  EXPECT_TRUE(has("d.yaml:10:")) << ::testing::PrintToString(e);
  EXPECT_TRUE(has("http.probe")) << ::testing::PrintToString(e);
}

TEST_F(DrillLoaderTest, ProbesMayNotChangeAnything) {
  auto e = errors(R"(apiVersion: firebreak/v1
kind: Drill
metadata: { name: p }
inject: { alert: { source: s, labels: { alertname: A } } }
steady_state:
  - { id: restore, action: backup.restore, with: { kind: sqlite, backup: latest, dest_dir: /b, target: /t.db } }
)");
  ASSERT_EQ(e.size(), 1u) << ::testing::PrintToString(e);
  EXPECT_NE(e[0].find("d.yaml:6:"), std::string::npos) << e[0];
  EXPECT_NE(e[0].find("a probe must not change anything"), std::string::npos) << e[0];
}

TEST_F(DrillLoaderTest, ObjectivesBeyondTheTimeoutAreRefused) {
  auto e = errors(R"(apiVersion: firebreak/v1
kind: Drill
metadata: { name: t }
inject: { alert: { source: s, labels: { alertname: A } } }
expect: { recovered_within: 2h }
timeout: 1h
)");
  ASSERT_EQ(e.size(), 1u) << ::testing::PrintToString(e);
  EXPECT_NE(e[0].find("longer than the drill's timeout"), std::string::npos) << e[0];
}

TEST_F(DrillLoaderTest, UnknownKeysAndMissingInject) {
  auto e = errors(R"(apiVersion: firebreak/v1
kind: Drill
metadata: { name: k }
rollbak: []
)");
  ASSERT_GE(e.size(), 2u) << ::testing::PrintToString(e);
  bool unknown = false, missing = false;
  for (const auto& m : e) {
    unknown = unknown || m.find("did you mean 'rollback'") != std::string::npos;
    missing = missing || m.find("inject") != std::string::npos;
  }
  EXPECT_TRUE(unknown) << ::testing::PrintToString(e);
  EXPECT_TRUE(missing) << ::testing::PrintToString(e);
}

TEST_F(DrillLoaderTest, ChaosStepsGetTheDrillsScope) {
  if (!registry_->find("chaos.fill_disk")) GTEST_SKIP() << "no chaos actions in this build";
  auto d = compile(R"(apiVersion: firebreak/v1
kind: Drill
metadata: { name: disk }
mode: live
scope: { paths: [/var/tmp/drill] }
inject: { action: chaos.fill_disk, with: { dir: /var/tmp/drill, size: 1MiB } }
)");
  ASSERT_TRUE(d);
  ASSERT_TRUE(d->inject_action);
  ASSERT_EQ(d->inject_action->steps.size(), 1u);
  const auto& step = d->inject_action->steps[0];
  EXPECT_EQ(step.id, "inject");
  EXPECT_EQ(step.with["scope"]["paths"], core::Json::array({"/var/tmp/drill"}));
  EXPECT_FALSE(d->dry_run);
}

TEST_F(DrillLoaderTest, PlaybooksAreNotDrills) {
  auto report = loadDrills({testing::sourceDir() + "/playbooks"}, *registry_);
  EXPECT_TRUE(report.errors.empty()) << report.errors.front().str();
  EXPECT_TRUE(report.drills.empty());
}

// Every drill shipped in drills/ loads, and expects a playbook shipped in playbooks/.
TEST_F(DrillLoaderTest, EveryShippedDrillLoads) {
  auto report = loadDrills({testing::sourceDir() + "/drills"}, *registry_);
  for (const auto& e : report.errors) ADD_FAILURE() << e.str();
  EXPECT_GE(report.drills.size(), 3u);
  auto playbooks = playbook::loadPlaybooks({testing::sourceDir() + "/playbooks"}, *registry_);
  for (const auto& d : report.drills) {
    if (d->expect_playbook.empty()) continue;
    bool found = false;
    for (const auto& p : playbooks.playbooks) found = found || p->name == d->expect_playbook;
    EXPECT_TRUE(found) << d->name << " expects " << d->expect_playbook;
  }
}

}  // namespace
}  // namespace firebreak::drill
