// What a reload decides without a daemon: which changed keys need a restart, the route
// patterns that label HTTP metrics, and the warning for trigger sources the config lacks.
#include "daemon/app/live_set.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>

#include "daemon/app/metrics.h"
#include "daemon/app/runtime.h"
#include "daemon/config/cross_check.h"
#include "daemon/playbook/loader.h"
#include "daemon/store/sqlite/sqlite_store.h"
#include "tests/fakes/test_env.h"

namespace firebreak::app {
namespace {

config::Config parse(const std::string& yaml, const std::string& file = "f.yaml") {
  auto cfg = config::parseConfig(yaml, file);
  if (!cfg) {
    for (const auto& e : cfg.error()) ADD_FAILURE() << e.str();
    return {};
  }
  return *cfg;
}

TEST(LiveSetTest, RestartOnlyKeysAreNamedAndReloadableOnesAreNot) {
  auto running = parse(R"(
listen: 127.0.0.1:9095
data_dir: /tmp/a
sources:
  prom: { type: alertmanager, auth: { bearer: env:A_TOKEN }, rate_limit: { per_second: 5, burst: 10 } }
)");
  auto next = parse(R"(
listen: 127.0.0.1:9096
data_dir: /tmp/b
dry_run: true
log: { level: debug, format: json }
limits: { destructive_actions_per_minute: 3 }
http: { idle_timeout: 5s }
sources:
  prom: { type: alertmanager, auth: { bearer: env:B_TOKEN }, rate_limit: { per_second: 1, burst: 1 } }
  big: { type: generic, auth: { bearer: env:C_TOKEN }, max_body: 4MiB }
)");
  auto changes = restartOnlyChanges(running, next, config::kMiB);
  EXPECT_EQ(changes, (std::vector<std::string>{
                         "listen (127.0.0.1:9095 -> 127.0.0.1:9096)",
                         "data_dir (/tmp/a -> /tmp/b)",
                         "log.format (text -> json)",
                         "http.idle_timeout (60000ms -> 5000ms)",
                         "sources.big.max_body (4MiB is over the listener's body limit of "
                         "1MiB set at start)",
                     }));
  // Sources, auth, rate limits, dry_run, limits and the log level change on reload: nothing
  // to say about them. The same config says nothing at all.
  EXPECT_TRUE(restartOnlyChanges(running, running, config::kMiB).empty());
}

TEST(LiveSetTest, ChangedApiTokensNeedARestartAndAreNotPrinted) {
  const std::string a(64, 'a'), b(64, 'b');
  auto running = parse("api: { tokens: [ { name: ops, sha256: \"" + a + "\", role: admin } ] }\n");
  auto next = parse("api: { tokens: [ { name: ops, sha256: \"" + b + "\", role: admin } ] }\n");
  auto changes = restartOnlyChanges(running, next, config::kMiB);
  ASSERT_EQ(changes, std::vector<std::string>{"api.tokens"});
}

TEST(LiveSetTest, RoutesArePatternsNeverRawPaths) {
  EXPECT_EQ(routeOf("/hooks/prometheus"), "/hooks/{source}");
  EXPECT_EQ(routeOf("/hooks/anything-a-client-sends?x=1"), "/hooks/{source}");
  EXPECT_EQ(routeOf("/hooks/a/b"), "other");
  EXPECT_EQ(routeOf("/metrics"), "/metrics");
  EXPECT_EQ(routeOf("/healthz?verbose"), "/healthz");
  EXPECT_EQ(routeOf("/api/v1/runs"), "/api/v1/runs");
  EXPECT_EQ(routeOf("/api/v1/runs/r-123"), "/api/v1/runs/{id}");
  EXPECT_EQ(routeOf("/api/v1/runs/r-123/steps"), "/api/v1/runs/{id}/...");
  EXPECT_EQ(routeOf("/api/v1/made-up-thing"), "other");
  EXPECT_EQ(routeOf("/" + std::string(5000, 'x')), "other");
}

class CrossCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = core::ActionEnv{&pool_, &clock_, &secrets_, dir_.path().string()};
    auto r = offlineRegistry(env_);
    ASSERT_TRUE(r) << r.error().str();
    registry_ = std::move(*r);
  }
  void TearDown() override { pool_.join(); }

  playbook::PlaybookPtr compile(const std::string& yaml) {
    auto pb = playbook::compilePlaybook(yaml, "pb.yaml", *registry_);
    if (!pb) {
      for (const auto& e : pb.error()) ADD_FAILURE() << e.str();
      return nullptr;
    }
    return *pb;
  }

  testing::TempDir dir_;
  asio::thread_pool pool_{1};
  core::SystemClock clock_;
  ProcessSecretResolver secrets_;
  core::ActionEnv env_;
  std::unique_ptr<core::ProviderRegistry> registry_;
};

TEST_F(CrossCheckTest, UnknownTriggerSourceIsAWarningThatPointsAtTheName) {
  auto cfg = parse(R"(
sources:
  prometheus: { type: alertmanager, auth: none }
  grafana-hook: { type: generic, auth: none }
)", "firebreak.yaml");
  auto pb = compile(R"(apiVersion: firebreak/v1
kind: Playbook
metadata: { name: p }
trigger:
  sources: [prometheus, promethues]
  match: { alertname: X }
steps:
  - { id: a, action: log, with: { message: hi } }
)");
  ASSERT_TRUE(pb);
  auto warnings = config::checkTriggerSources(cfg, {pb});
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(config::warningText(warnings[0]),
            "pb.yaml:5:25: warning: playbook 'p': trigger.sources names 'promethues', which is "
            "not a source in firebreak.yaml (sources: grafana-hook, prometheus) (did you mean "
            "'prometheus'?)");
  EXPECT_TRUE(config::checkTriggerSources(parse("sources: { promethues: { type: alertmanager, "
                                                "auth: none }, prometheus: { type: alertmanager, "
                                                "auth: none } }\n"),
                                          {pb})
                  .empty());
}

TEST_F(CrossCheckTest, AConfigWithoutSourcesSaysThePlaybookNeverStarts) {
  auto pb = compile(R"(apiVersion: firebreak/v1
kind: Playbook
metadata: { name: p }
trigger: { sources: [cloudwatch], match: { alertname: X } }
steps:
  - { id: a, action: log, with: { message: hi } }
)");
  ASSERT_TRUE(pb);
  auto warnings = config::checkTriggerSources(config::defaultConfig(), {pb});
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(config::warningText(warnings[0]),
            "pb.yaml:4:22: warning: playbook 'p': trigger.sources names 'cloudwatch', which is "
            "not a source in the config (it has none): this playbook never starts from an alert");
}

// A request holds the set it started with: swapping in a set with another token while the
// request is on its way through leaves it answered by the old one; the next request meets the
// new one. Real store and intake, no sockets.
TEST(ServeLiveTest, ARequestInFlightFinishesOnTheSetItStartedWith) {
  testing::TempDir dir;
  core::SystemClock clock;
  asio::io_context io;
  core::ProviderRegistry registry;
  auto s = store::SqliteStore::open(dir.file("firebreak.db"), clock, {});
  ASSERT_TRUE(s) << s.error().str();
  auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>());
  playbook::Engine engine(io.get_executor(), **s, registry, clock, {}, log);
  intake::Intake intake(**s, engine, clock, [] { return std::vector<playbook::PlaybookPtr>{}; },
                        log);
  ProcessSecretResolver secrets;
  asio::thread_pool blocking(1);
  testing::writeFile(dir.file("old"), "old-token");
  testing::writeFile(dir.file("new"), "new-token");
  auto makeSet = [&](const std::string& token_file) {
    // drills: [] too: the default ./drills is the repository's when tests run from its root.
    auto built = buildSet(parse("playbooks: []\ndrills: []\nsources:\n  prom: { type: "
                                "alertmanager, auth: { bearer: \"file:" +
                                dir.file(token_file) + "\" } }\n"),
                          registry, secrets, intake, clock, blocking, false);
    EXPECT_TRUE(built.errors.empty());
    return built.set;
  };
  LiveSets live;
  live.replace(makeSet("old"));
  live.current()->webhooks->setReady(true);
  DaemonMetrics metrics;
  auto serve = serveLive(live, metrics);

  std::string body = testing::readFile(
      testing::sourceDir() + "/../shared/fixtures/alertmanager/01-noauth-firing-1-alert.json");
  auto request = [&](const std::string& token) {
    http::Request r{boost::beast::http::verb::post, "/hooks/prom", 11};
    r.set(boost::beast::http::field::authorization, "Bearer " + token);
    r.body() = body;
    r.prepare_payload();
    return r;
  };
  auto run = [&](core::awaitable<http::Response> aw) {
    unsigned status = 0;
    asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e, http::Response r) {
      ASSERT_FALSE(e);
      status = r.result_int();
    });
    io.restart();
    io.run();
    return status;
  };
  http::Peer peer{"127.0.0.1", 1, true};

  http::Request in_flight = request("old-token");
  auto started = serve(in_flight, peer);  // has taken the set in use
  live.replace(makeSet("new"));
  EXPECT_EQ(run(std::move(started)), 202u);

  http::Request old_again = request("old-token");
  EXPECT_EQ(run(serve(old_again, peer)), 401u);
  http::Request with_new = request("new-token");
  EXPECT_EQ(run(serve(with_new, peer)), 202u);

  http::Request scrape{boost::beast::http::verb::get, "/metrics", 11};
  auto text = [&] {
    auto aw = serve(scrape, peer);
    std::string out;
    asio::co_spawn(io, std::move(aw),
                   [&](std::exception_ptr, http::Response r) { out = r.body(); });
    io.restart();
    io.run();
    return out;
  }();
  EXPECT_NE(text.find("# TYPE firebreak_alerts_received_total counter"), std::string::npos);
  engine.shutdown();
}

}  // namespace
}  // namespace firebreak::app
