// Intake against a real SQLite store and the real engine, with scripted providers.
#include "daemon/intake/intake.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "daemon/intake/router.h"
#include "daemon/playbook/loader.h"
#include "daemon/store/sqlite/sqlite_store.h"
#include "tests/fakes/fake_provider.h"
#include "tests/fakes/test_env.h"

namespace firebreak::intake {
namespace {

using core::Alert;
using playbook::PlaybookPtr;
using store::RunStatus;
using testing::FakeProvider;
using testing::fakeSpec;

constexpr const char* kPlaybook = R"(apiVersion: firebreak/v1
kind: Playbook
metadata: { name: contain-function }
trigger:
  sources: [prometheus]
  match: { alertname: LambdaErrorSpike, severity: "=~critical|high" }
  when: alert.labels.env == "prod"
dedup: { key: "{{ alert.labels.function }}", window: 30m }
steps:
  - { id: act, action: test.ok, with: { value: "{{ alert.labels.function }}" } }
)";

constexpr const char* kOnResolved = R"(apiVersion: firebreak/v1
kind: Playbook
metadata: { name: all-clear }
trigger:
  match: { alertname: LambdaErrorSpike }
  on: resolved
steps:
  - { id: tell, action: test.ok }
)";

Alert makeAlert(const std::string& function, const std::string& status,
                const std::string& fingerprint) {
  Alert a;
  a.source = "prometheus";
  a.source_type = "alertmanager";
  a.name = "LambdaErrorSpike";
  a.status = status;
  a.labels = {{"alertname", "LambdaErrorSpike"}, {"severity", "critical"}, {"env", "prod"},
              {"function", function}};
  a.annotations = {{"summary", "error rate above 5%"}};
  a.severity = "critical";
  a.fingerprint = fingerprint;
  a.starts_at_ms = 1'795'399'125'000;
  return a;
}

class IntakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = std::make_unique<FakeProvider>(fakeSpec("test.ok"));
    ok_ = p.get();
    ASSERT_TRUE(registry_.add(std::move(p)));
    auto s = store::SqliteStore::open(dir_.file("firebreak.db"), clock_, {});
    ASSERT_TRUE(s) << s.error().str();
    store_ = std::move(*s);
    for (const char* text : {kPlaybook, kOnResolved}) {
      auto pb = playbook::compilePlaybook(text, "test.yaml", registry_);
      ASSERT_TRUE(pb) << pb.error().front().str();
      playbooks_.push_back(*pb);
    }
    playbook::EngineOptions options;
    options.poll_interval = std::chrono::milliseconds(10);
    engine_ = std::make_unique<playbook::Engine>(io_.get_executor(), *store_, registry_, clock_,
                                                 options);
    intake_ = std::make_unique<Intake>(*store_, *engine_, clock_, [this] { return playbooks_; },
                                       spdlog::default_logger());
  }

  template <typename T>
  T block(core::awaitable<T> aw) {
    std::optional<T> out;
    asio::co_spawn(io_, std::move(aw), [&](std::exception_ptr e, T v) {
      if (e) std::rethrow_exception(e);
      out.emplace(std::move(v));
    });
    io_.restart();
    io_.run();  // until the runs the request started have finished too
    return std::move(*out);
  }

  IntakeResult accept(std::vector<Alert> alerts) {
    auto r = block(intake_->accept(std::move(alerts)));
    EXPECT_TRUE(r) << (r ? "" : r.error().str());
    return r ? *r : IntakeResult{};
  }

  std::vector<store::RunRecord> runs() { return *store_->runs(store::RunFilter{}); }

  testing::TempDir dir_;
  core::SystemClock clock_;
  asio::io_context io_;
  core::ProviderRegistry registry_;
  FakeProvider* ok_ = nullptr;
  std::unique_ptr<store::SqliteStore> store_;
  std::vector<PlaybookPtr> playbooks_;
  std::unique_ptr<playbook::Engine> engine_;
  std::unique_ptr<Intake> intake_;
};

TEST_F(IntakeTest, AMatchingAlertIsStoredOpensAnIncidentAndRunsThePlaybook) {
  auto r = accept({makeAlert("orders-handler", "firing", "353521f55e67d83d")});
  EXPECT_EQ(r.accepted, 1);
  EXPECT_EQ(r.repeats, 0);
  ASSERT_EQ(r.incidents.size(), 1u);
  ASSERT_EQ(r.runs.size(), 1u);
  auto all = runs();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, r.runs[0]);
  EXPECT_EQ(all[0].playbook, "contain-function");
  EXPECT_EQ(all[0].trigger, "alert");
  EXPECT_EQ(all[0].incident_id, r.incidents[0]);
  EXPECT_EQ(all[0].status, RunStatus::kSucceeded);
  EXPECT_EQ(all[0].alert["labels"]["function"], "orders-handler");
  ASSERT_EQ(ok_->executed.size(), 1u);
  EXPECT_EQ(ok_->executed[0].params["value"], "orders-handler");
  auto inc = store_->incident(r.incidents[0]);
  ASSERT_TRUE(inc && inc->has_value());
  EXPECT_EQ((*inc)->status, "open");
  EXPECT_EQ((*inc)->title, "LambdaErrorSpike: error rate above 5%");
  EXPECT_TRUE(store_->pendingStarts()->empty());
}

TEST_F(IntakeTest, RepeatedNotificationsStartNoSecondRun) {
  auto first = accept({makeAlert("orders-handler", "firing", "353521f55e67d83d")});
  // group_interval, repeat_interval and the other Alertmanager of an HA pair.
  for (int i = 0; i < 3; ++i) {
    auto again = accept({makeAlert("orders-handler", "firing", "353521f55e67d83d")});
    EXPECT_EQ(again.accepted, 0);
    EXPECT_EQ(again.repeats, 1);
    EXPECT_TRUE(again.runs.empty());
    EXPECT_EQ(again.incidents, first.incidents);  // the answer still names the incident
  }
  EXPECT_EQ(runs().size(), 1u);
  EXPECT_EQ(*store_->countAlerts(), 1);
}

TEST_F(IntakeTest, AlertsOfOneDedupKeyGroupIntoOneIncident) {
  // Two label sets (two fingerprints) of one function: one incident, one run (dedup window).
  auto a = makeAlert("orders-handler", "firing", "aaaa");
  auto b = makeAlert("orders-handler", "firing", "bbbb");
  b.labels["region"] = "eu-west-1";
  auto r = accept({a, b});
  EXPECT_EQ(r.accepted, 2);
  ASSERT_EQ(r.incidents.size(), 1u);
  EXPECT_EQ(store_->alertsOfIncident(r.incidents[0])->size(), 2u);
  EXPECT_EQ(runs().size(), 1u);
  // Another function is another incident.
  auto other = accept({makeAlert("payments-handler", "firing", "cccc")});
  ASSERT_EQ(other.incidents.size(), 1u);
  EXPECT_NE(other.incidents[0], r.incidents[0]);
}

TEST_F(IntakeTest, TheLastResolvedAlertResolvesTheIncidentAndStartsOnResolvedPlaybooks) {
  auto a = makeAlert("orders-handler", "firing", "aaaa");
  auto b = makeAlert("orders-handler", "firing", "bbbb");
  auto opened = accept({a, b});
  ASSERT_EQ(opened.incidents.size(), 1u);
  const std::string id = opened.incidents[0];
  a.status = "resolved";
  auto one = accept({a});
  EXPECT_EQ(one.accepted, 1);
  EXPECT_EQ((*store_->incident(id))->status, "open");  // b still fires
  b.status = "resolved";
  auto two = accept({b});
  EXPECT_EQ((*store_->incident(id))->status, "resolved");
  EXPECT_GT((*store_->incident(id))->resolved_at_ms, 0);
  // `all-clear` runs on each resolution; the firing playbook does not run again.
  int all_clear = 0, contain = 0;
  for (const auto& run : runs()) (run.playbook == "all-clear" ? all_clear : contain)++;
  EXPECT_EQ(contain, 1);
  EXPECT_EQ(all_clear, 2);
  auto timeline = store_->timelineOfIncident(id);
  ASSERT_TRUE(timeline);
  bool resolved_event = false;
  for (const auto& e : *timeline) resolved_event |= e.kind == "incident.resolved";
  EXPECT_TRUE(resolved_event);
  // A repeat of the resolution changes nothing.
  auto again = accept({b});
  EXPECT_EQ(again.repeats, 1);
  EXPECT_EQ(runs().size(), 3u);
}

TEST_F(IntakeTest, NonMatchingAlertsAreStoredButStartNothing) {
  auto wrong_env = makeAlert("orders-handler", "firing", "dddd");
  wrong_env.labels["env"] = "staging";  // trigger.when
  auto wrong_source = makeAlert("orders-handler", "firing", "eeee");
  wrong_source.source = "grafana";  // trigger.sources
  auto low = makeAlert("orders-handler", "firing", "ffff");
  low.labels["severity"] = "info";  // the =~ matcher
  auto r = accept({wrong_env, wrong_source, low});
  EXPECT_EQ(r.accepted, 3);
  EXPECT_TRUE(r.incidents.empty());
  EXPECT_TRUE(runs().empty());
  EXPECT_EQ(*store_->countAlerts(), 3);
}

TEST_F(IntakeTest, ARecordedStartIsStartedOnceAfterACrash) {
  // What a crash between the alert's commit and the run's start leaves behind.
  store::PendingStart p{"r-pending-1", "contain-function", "", makeAlert("f", "firing", "x").toJson(),
                        clock_.nowMs()};
  ASSERT_TRUE(store_->commitSync([&](store::WriteTx& tx) { return tx.addPendingStart(p); }));
  block([&]() -> core::awaitable<int> {
    co_await intake_->startPending();
    co_return 0;
  }());
  ASSERT_EQ(runs().size(), 1u);
  EXPECT_EQ(runs()[0].id, "r-pending-1");
  EXPECT_TRUE(store_->pendingStarts()->empty());
  // Started but not cleared (the crash came after the start): not started twice.
  ASSERT_TRUE(store_->commitSync([&](store::WriteTx& tx) { return tx.addPendingStart(p); }));
  block([&]() -> core::awaitable<int> {
    co_await intake_->startPending();
    co_return 0;
  }());
  EXPECT_EQ(runs().size(), 1u);
  EXPECT_TRUE(store_->pendingStarts()->empty());
}

TEST(RouterTest, ResolvedAlertsReachOnlyPlaybooksThatAskForThem) {
  core::ProviderRegistry registry;
  ASSERT_TRUE(registry.add(std::make_unique<FakeProvider>(fakeSpec("test.ok"))));
  std::vector<PlaybookPtr> pbs;
  for (const char* text : {kPlaybook, kOnResolved})
    pbs.push_back(*playbook::compilePlaybook(text, "test.yaml", registry));
  auto firing = route(makeAlert("f", "firing", "x"), pbs);
  ASSERT_EQ(firing.matches.size(), 1u);
  EXPECT_EQ(firing.matches[0].playbook->name, "contain-function");
  EXPECT_EQ(firing.matches[0].dedup_key, "contain-function|f");
  auto resolved = route(makeAlert("f", "resolved", "x"), pbs);
  ASSERT_EQ(resolved.matches.size(), 1u);
  EXPECT_EQ(resolved.matches[0].playbook->name, "all-clear");
}

}  // namespace
}  // namespace firebreak::intake
