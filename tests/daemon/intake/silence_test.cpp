// Silence matchers, and intake under silences: real SQLite store, real engine, a fake clock
// that moves a silence past its end.
#include "daemon/intake/silence.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "daemon/intake/intake.h"
#include "daemon/playbook/loader.h"
#include "daemon/store/sqlite/sqlite_store.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_provider.h"
#include "tests/fakes/test_env.h"

namespace firebreak::intake {
namespace {

using core::Json;
using Labels = std::map<std::string, std::string>;

std::vector<SilenceMatcher> parse(const std::string& text) {
  auto m = parseMatchers(text);
  EXPECT_TRUE(m) << text << ": " << (m ? "" : m.error().message());
  return m ? *m : std::vector<SilenceMatcher>{};
}

Silence silenceOf(const std::string& text) { return Silence{"s-1", parse(text), 0, 1000}; }

TEST(SilenceMatchers, ReadsTheFourOperatorsQuotedAndBare) {
  auto m = parse(R"({alertname="DiskFull", env!=dev,severity=~"crit|high"  host!~"db-\d+"})");
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].name, "alertname");
  EXPECT_EQ(m[0].op, SilenceMatcher::Op::kEq);
  EXPECT_EQ(m[0].value, "DiskFull");
  EXPECT_EQ(m[1].op, SilenceMatcher::Op::kNe);
  EXPECT_EQ(m[1].value, "dev");
  EXPECT_EQ(m[2].op, SilenceMatcher::Op::kRe);
  EXPECT_EQ(m[2].value, "crit|high");
  EXPECT_EQ(m[3].op, SilenceMatcher::Op::kNre);
  EXPECT_EQ(m[3].value, R"(db-\d+)");
  EXPECT_EQ(m[0].str(), R"(alertname="DiskFull")");
  auto escaped = parse(R"(msg="say \"hi\"")");
  EXPECT_EQ(escaped[0].value, "say \"hi\"");
  EXPECT_EQ(parse(escaped[0].str())[0].value, "say \"hi\"");
}

TEST(SilenceMatchers, RefusesWhatItCannotRead) {
  auto expectError = [](const std::string& text, const std::string& message) {
    auto m = parseMatchers(text);
    ASSERT_FALSE(m) << text;
    EXPECT_EQ(m.error().message(), message) << text;
  };
  expectError("", "no matchers: give at least one, such as alertname=\"DiskFull\"");
  expectError("alertname", "matchers, at character 10: expected =, !=, =~ or !~ after 'alertname'");
  expectError("{a=b", "matchers, at character 5: missing '}'");
  expectError(R"(a="b)", "matchers, at character 5: unterminated quoted value of 'a'");
  expectError(R"(a=~"(")",
              "matchers, at character 1: invalid regular expression '(' for 'a': missing ): (");
  expectError("1a=b", "matchers, at character 1: invalid label name '1a': letters, digits and "
                      "'_', not starting with a digit");
}

TEST(SilenceMatchers, RegexesMatchTheWholeValueAndMissingLabelsReadEmpty) {
  auto s = silenceOf(R"(severity=~"crit|high")");
  EXPECT_TRUE(s.matches({{"severity", "crit"}}, ""));
  EXPECT_TRUE(s.matches({{"severity", "high"}}, ""));
  EXPECT_FALSE(s.matches({{"severity", "critical"}}, ""));
  EXPECT_FALSE(s.matches({}, ""));
  EXPECT_TRUE(silenceOf(R"(team="")").matches({{"env", "prod"}}, ""));
  EXPECT_TRUE(silenceOf(R"(team!~".+")").matches({}, ""));
  EXPECT_FALSE(silenceOf(R"(team!~".+")").matches({{"team", "db"}}, ""));
  // Every matcher must match.
  auto both = silenceOf(R"(env="prod", team="db")");
  EXPECT_TRUE(both.matches({{"env", "prod"}, {"team", "db"}}, ""));
  EXPECT_FALSE(both.matches({{"env", "prod"}, {"team", "web"}}, ""));
  // A source without an alertname label is matched on the alert's name.
  EXPECT_TRUE(silenceOf("alertname=DiskFull").matches({{"host", "a"}}, "DiskFull"));
  EXPECT_FALSE(silenceOf("alertname=DiskFull").matches({{"alertname", "Other"}}, "DiskFull"));
}

TEST(SilenceMatchers, ActiveOnlyBetweenStartAndEnd) {
  std::vector<Silence> all{Silence{"s-1", parse("env=prod"), 100, 200}};
  Labels prod{{"env", "prod"}};
  EXPECT_EQ(findSilence(all, prod, "", 99), nullptr);
  ASSERT_NE(findSilence(all, prod, "", 100), nullptr);
  EXPECT_EQ(findSilence(all, prod, "", 100)->id, "s-1");
  EXPECT_NE(findSilence(all, prod, "", 199), nullptr);
  EXPECT_EQ(findSilence(all, prod, "", 200), nullptr);
  EXPECT_EQ(findSilence(all, {{"env", "dev"}}, "", 150), nullptr);
}

TEST(SilenceMatchers, FromJsonNamesTheFieldAtFault) {
  auto bad = [](const Json& j) { return matchersFromJson(j, "matchers").error(); };
  EXPECT_EQ(bad(Json::array()).field, "matchers");
  EXPECT_EQ(bad(Json::array({{{"name", "a"}, {"op", "=="}, {"value", "b"}}})).field,
            "matchers[0].op");
  EXPECT_EQ(bad(Json::array({{{"name", "a"}, {"op", "="}, {"value", "b"}},
                             {{"name", "a"}, {"op", "=~"}, {"value", "("}}}))
                .field,
            "matchers[1].value");
  EXPECT_EQ(bad(Json::array({{{"name", "a"}, {"op", "="}, {"value", "b"}, {"extra", 1}}})).field,
            "matchers[0].extra");
  EXPECT_EQ(bad(Json::array({{{"name", "a"}, {"op", "="}}})).field, "matchers[0].value");
  EXPECT_EQ(bad(Json::array({{{"name", "a b"}, {"op", "="}, {"value", "x"}}})).field,
            "matchers[0].name");
  auto ok = matchersFromJson(Json::array({{{"name", "a"}, {"op", "!~"}, {"value", "x.*"}}}), "m");
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)[0].toJson(), (Json{{"name", "a"}, {"op", "!~"}, {"value", "x.*"}}));
}

constexpr const char* kPlaybook = R"(apiVersion: firebreak/v1
kind: Playbook
metadata: { name: on-disk-full }
trigger:
  match: { alertname: DiskFull }
steps:
  - { id: act, action: test.ok }
)";

class SilencedIntakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        registry_.add(std::make_unique<testing::FakeProvider>(testing::fakeSpec("test.ok"))));
    auto s = store::SqliteStore::open(dir_.file("firebreak.db"), clock_, {});
    ASSERT_TRUE(s) << s.error().str();
    store_ = std::move(*s);
    auto pb = playbook::compilePlaybook(kPlaybook, "test.yaml", registry_);
    ASSERT_TRUE(pb) << pb.error().front().str();
    playbooks_.push_back(*pb);
    playbook::EngineOptions options;
    options.poll_interval = std::chrono::milliseconds(10);
    engine_ = std::make_unique<playbook::Engine>(io_.get_executor(), *store_, registry_, clock_,
                                                 options);
    intake_ = std::make_unique<Intake>(*store_, *engine_, clock_, [this] { return playbooks_; },
                                       spdlog::default_logger());
  }

  IntakeResult accept(std::vector<core::Alert> alerts) {
    std::optional<core::Result<IntakeResult>> out;
    asio::co_spawn(io_, intake_->accept(std::move(alerts)),
                   [&](std::exception_ptr e, core::Result<IntakeResult> v) {
                     if (e) std::rethrow_exception(e);
                     out.emplace(std::move(v));
                   });
    io_.restart();
    io_.run();
    EXPECT_TRUE(*out) << (*out ? "" : out->error().str());
    return *out ? **out : IntakeResult{};
  }

  core::Alert alert(const std::string& host, int64_t starts_at_ms) {
    core::Alert a;
    a.source = "prometheus";
    a.source_type = "alertmanager";
    a.name = "DiskFull";
    a.status = "firing";
    a.labels = {{"alertname", "DiskFull"}, {"host", host}};
    a.fingerprint = "fp-" + host;
    a.starts_at_ms = starts_at_ms;
    return a;
  }

  void addSilence(const std::string& id, const std::string& matchers, int64_t ends_at_ms) {
    store::SilenceRecord rec;
    rec.id = id;
    for (const auto& m : parse(matchers)) rec.matchers.push_back(m.toJson());
    rec.created_by = "oncall";
    rec.reason = "maintenance";
    rec.starts_at_ms = clock_.nowMs();
    rec.ends_at_ms = ends_at_ms;
    ASSERT_TRUE(store_->commitSync([&](store::WriteTx& tx) { return tx.insertSilence(rec); }));
    intake_->silencesChanged();
  }

  std::vector<store::RunRecord> runs() { return *store_->runs(store::RunFilter{}); }

  int64_t countSilenced(const std::string& silence_id) {
    // Alerts filed under no incident have no listing in the store: read the table.
    auto conn =
        sqlite3_open_v2(dir_.file("firebreak.db").c_str(), &db_, SQLITE_OPEN_READONLY, nullptr);
    EXPECT_EQ(conn, SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_, "SELECT count(*) FROM alerts WHERE silence_id = ?", -1, &st, nullptr);
    sqlite3_bind_text(st, 1, silence_id.c_str(), -1, SQLITE_TRANSIENT);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db_);
    return n;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  asio::io_context io_;
  core::ProviderRegistry registry_;
  std::unique_ptr<store::SqliteStore> store_;
  std::vector<playbook::PlaybookPtr> playbooks_;
  std::unique_ptr<playbook::Engine> engine_;
  std::unique_ptr<Intake> intake_;
  sqlite3* db_ = nullptr;
};

TEST_F(SilencedIntakeTest, ASilencedAlertIsStoredMarkedAndStartsNoRunUntilTheSilenceEnds) {
  const int64_t start = clock_.nowMs();
  addSilence("s-disk", R"(alertname="DiskFull", host=~"db-.*")", start + 60'000);

  auto r = accept({alert("db-1", start)});
  EXPECT_EQ(r.accepted, 1);
  EXPECT_EQ(r.silenced, 1);
  EXPECT_TRUE(r.runs.empty());
  EXPECT_TRUE(runs().empty());
  EXPECT_EQ(countSilenced("s-disk"), 1);
  EXPECT_EQ(*store_->countAlerts(), 1);

  // Dedup as usual: the repeat is recognised and not stored again.
  r = accept({alert("db-1", start)});
  EXPECT_EQ(r.repeats, 1);
  EXPECT_EQ(r.silenced, 0);
  EXPECT_EQ(*store_->countAlerts(), 1);

  // Not matched by the silence: runs.
  r = accept({alert("web-1", start)});
  EXPECT_EQ(r.silenced, 0);
  EXPECT_EQ(r.runs.size(), 1u);

  // After its end, the same kind of alert starts a run again (the cache is refreshed).
  clock_.advance(std::chrono::seconds(61));
  r = accept({alert("db-2", start + 61'000)});
  EXPECT_EQ(r.silenced, 0);
  EXPECT_EQ(r.runs.size(), 1u);
  EXPECT_EQ(runs().size(), 2u);
  EXPECT_EQ(countSilenced("s-disk"), 1);
}

TEST_F(SilencedIntakeTest, AnExpiredSilenceNoLongerApplies) {
  const int64_t start = clock_.nowMs();
  addSilence("s-all", "alertname=DiskFull", start + 3'600'000);
  EXPECT_EQ(accept({alert("a", start)}).silenced, 1);
  auto expired = store_->commitSync([&](store::WriteTx& tx) -> core::Status {
    auto r = tx.expireSilence("s-all", clock_.nowMs());
    if (!r) return core::fail(r.error());
    EXPECT_TRUE(*r);
    return {};
  });
  ASSERT_TRUE(expired);
  intake_->silencesChanged();
  clock_.advance(std::chrono::milliseconds(1));
  auto r = accept({alert("b", start)});
  EXPECT_EQ(r.silenced, 0);
  EXPECT_EQ(r.runs.size(), 1u);
  // A second expiry finds nothing to end.
  ASSERT_TRUE(store_->commitSync([&](store::WriteTx& tx) -> core::Status {
    auto again = tx.expireSilence("s-all", clock_.nowMs());
    if (!again) return core::fail(again.error());
    EXPECT_FALSE(*again);
    return {};
  }));
  auto listed = store_->silences(clock_.nowMs(), true);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].created_by, "oncall");
  EXPECT_TRUE(store_->silences(clock_.nowMs(), false)->empty());
}

}  // namespace
}  // namespace firebreak::intake
