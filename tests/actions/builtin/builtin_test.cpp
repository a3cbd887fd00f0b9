// Registration, the declared specs, `log`, `wait` and the shared helpers.
#include "actions/builtin/builtin.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include "actions/builtin/common.h"
#include "tests/fakes/test_env.h"

namespace firebreak::actions::builtin {
namespace {

namespace fbt = firebreak::testing;
using core::ActionResult;
using core::Json;

class BuiltinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.blocking = &pool_;
    env_.secrets = &secrets_;
    ASSERT_TRUE(registerActions(registry_, env_));
  }

  ActionResult call(const std::string& action, Json params, bool plan = false,
                    std::shared_ptr<core::CancelFlag> cancel = nullptr,
                    std::shared_ptr<spdlog::logger> log = nullptr) {
    auto* provider = registry_.find(action);
    EXPECT_NE(provider, nullptr) << action;
    auto issues = core::checkParams(provider->spec(), params, false, true);
    EXPECT_TRUE(issues.empty()) << issues.front().message;
    EXPECT_TRUE(provider->validate(params));
    core::ActionRequest request;
    request.step_id = "s1";
    request.attempt = 2;
    request.params = std::move(params);
    if (cancel) request.cancel = cancel;
    request.log = std::move(log);
    return fbt::runAwaitable(plan ? provider->plan(request) : provider->execute(request));
  }

  asio::thread_pool pool_{2};
  fbt::MapSecretResolver secrets_;
  core::ActionEnv env_;
  core::ProviderRegistry registry_;
};

TEST_F(BuiltinTest, RegistersTheSixActions) {
  EXPECT_EQ(registry_.names(), (std::vector<std::string>{"exec.run", "http.probe", "http.request",
                                                         "log", "notify.webhook", "wait"}));
}

TEST_F(BuiltinTest, RegisteringTwiceNamesTheDuplicate) {
  auto s = registerActions(registry_, env_);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(), "action 'log' is registered twice");
}

TEST_F(BuiltinTest, SpecsDeclareSafetyAsData) {
  struct Want {
    const char* name;
    bool idempotent;
    bool may_declare;
    core::Phase phase;
  };
  for (const auto& w : std::vector<Want>{
           {"log", true, false, core::Phase::kObserve},
           {"wait", true, false, core::Phase::kObserve},
           {"exec.run", false, true, core::Phase::kRecover},
           {"http.request", false, true, core::Phase::kObserve},
           {"http.probe", true, false, core::Phase::kObserve},
           {"notify.webhook", false, true, core::Phase::kNotify},
       }) {
    SCOPED_TRACE(w.name);
    const auto& spec = registry_.find(w.name)->spec();
    EXPECT_EQ(spec.idempotent, w.idempotent);
    EXPECT_EQ(spec.step_may_declare_idempotent, w.may_declare);
    EXPECT_EQ(spec.phase, w.phase);
    EXPECT_FALSE(spec.destructive);
    EXPECT_TRUE(spec.undo.empty());
    EXPECT_TRUE(spec.permissions.empty());
    EXPECT_FALSE(spec.outputs.empty());
    EXPECT_FALSE(spec.summary.empty());
    for (const auto& p : spec.params) EXPECT_FALSE(p.description.empty()) << p.name;
  }
  const auto& exec = registry_.find("exec.run")->spec();
  EXPECT_EQ(exec.param("timeout")->default_value, "60s");
  EXPECT_EQ(exec.param("max_output")->default_value, 65536);
  EXPECT_EQ(exec.param("cwd")->default_value, "/");
  EXPECT_TRUE(exec.param("argv")->required);
  EXPECT_EQ(registry_.find("notify.webhook")->spec().param("url")->type,
            core::ParamType::kSecret);
  EXPECT_TRUE(
      registry_.find("http.request")->spec().param("expect_status")->default_value.is_null());
  EXPECT_EQ(registry_.find("http.probe")->spec().param("expect_status")->default_value, 200);
  EXPECT_EQ(registry_.find("log")->spec().param("level")->one_of,
            (std::vector<std::string>{"debug", "info", "warn", "error"}));
}

TEST_F(BuiltinTest, LogWritesToTheRequestLogger) {
  std::ostringstream out;
  auto log = std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  log->set_pattern("%l %v");
  log->set_level(spdlog::level::debug);
  auto r = call("log", {{"message", "restarted {app}"}, {"level", "warn"}}, false, nullptr, log);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(out.str(), "warning restarted {app}\n");
  EXPECT_EQ(r.output, (Json{{"message", "restarted {app}"}}));
  EXPECT_EQ(r.message, "log: logged at warn (step s1, attempt 2)");
}

TEST_F(BuiltinTest, LogPlanDoesNotLog) {
  std::ostringstream out;
  auto log = std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  auto r = call("log", {{"message", "hello"}}, true, nullptr, log);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.output["plan"], "would log at info: hello");
  EXPECT_EQ(out.str(), "");
}

TEST_F(BuiltinTest, WaitWaits) {
  auto start = std::chrono::steady_clock::now();
  auto r = call("wait", {{"duration", "60ms"}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(60));
  EXPECT_GE(r.output["waited_ms"].get<int64_t>(), 60);
}

TEST_F(BuiltinTest, WaitStopsWhenCancelled) {
  auto cancel = std::make_shared<core::CancelFlag>();
  cancel->cancel();
  auto start = std::chrono::steady_clock::now();
  auto r = call("wait", {{"duration", "30s"}}, false, cancel);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(r.outcome, ActionResult::Outcome::kRetryable);
  EXPECT_NE(r.message.find("wait: cancelled after"), std::string::npos) << r.message;
}

TEST_F(BuiltinTest, WaitPlan) {
  auto r = call("wait", {{"duration", "90s"}}, true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.output["plan"], "would wait 90s");
}

TEST_F(BuiltinTest, ValidateSkipsUnrenderedTemplates) {
  auto* exec = registry_.find("exec.run");
  EXPECT_TRUE(exec->validate({{"argv", {"{{ params.cmd }}"}}, {"timeout", "{{ params.t }}"}}));
  EXPECT_FALSE(exec->validate({{"argv", {"bin/sh"}}}));
  EXPECT_TRUE(registry_.find("http.request")->validate({{"url", "{{ params.url }}"}}));
  EXPECT_TRUE(registry_.find("wait")->validate({{"duration", "{{ params.d }}"}}));
}

TEST(CommonTest, ToValidUtf8ReplacesBadBytes) {
  EXPECT_EQ(toValidUtf8("plain"), "plain");
  EXPECT_EQ(toValidUtf8("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(toValidUtf8("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(toValidUtf8("cut \xE2\x82"), "cut \xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(toValidUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
  EXPECT_NO_THROW(Json(toValidUtf8("\x80\x81")).dump());
}

TEST(CommonTest, RedactUrlKeepsSchemeAndHost) {
  EXPECT_EQ(redactUrl("https://hooks.slack.com/services/T0/B0/xyz"), "https://hooks.slack.com/...");
  EXPECT_EQ(redactUrl("https://user:pw@example.com/a?b"), "https://example.com/...");
  EXPECT_EQ(redactUrl("http://example.com"), "http://example.com");
}

TEST(CommonTest, CheckHttpUrl) {
  EXPECT_TRUE(checkHttpUrl("https://example.com/x", "url"));
  EXPECT_TRUE(checkHttpUrl("HTTP://example.com", "url"));
  EXPECT_EQ(checkHttpUrl("ftp://example.com", "url").error().message(),
            "url must be an http:// or https:// URL");
  EXPECT_FALSE(checkHttpUrl("file:///etc/passwd", "url"));
  EXPECT_FALSE(checkHttpUrl("http:///path", "url"));
  EXPECT_FALSE(checkHttpUrl("http://a b", "url"));
}

TEST(CommonTest, ShellQuoteAndLastLine) {
  EXPECT_EQ(shellQuote("/usr/bin/systemctl"), "/usr/bin/systemctl");
  EXPECT_EQ(shellQuote("a b"), "'a b'");
  EXPECT_EQ(shellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(shellQuote(""), "''");
  EXPECT_EQ(lastLine("first\nsecond\n\n"), "second");
  EXPECT_EQ(lastLine(""), "");
}

}  // namespace
}  // namespace firebreak::actions::builtin
