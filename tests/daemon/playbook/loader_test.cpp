// The playbook loader: good files become the expected model; every bad file in
// tests/data/playbooks/bad/ reports exactly the expected messages, locations included.
#include "daemon/playbook/loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>

#include "tests/fakes/bad_files.h"
#include "tests/fakes/test_env.h"

namespace firebreak::playbook {
namespace {

using testing::messages;

using core::ActionSpec;
using core::ParamSpec;
using core::ParamType;

// A provider that is only a spec: the loader never runs actions.
class SpecOnlyAction final : public core::ActionProvider {
 public:
  explicit SpecOnlyAction(ActionSpec spec) : spec_(std::move(spec)) {}
  const ActionSpec& spec() const override { return spec_; }
  core::Status validate(const Json& params) const override {
    // Like the real http actions: a scheme the provider cannot speak is refused early.
    if (params.contains("url") && params["url"].is_string()) {
      const auto& url = params["url"].get_ref<const std::string&>();
      if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0 &&
          !core::isSecretReference(url))
        return core::fail(core::ErrorCode::kInvalidArgument,
                          "url '" + url + "' must start with http:// or https://");
    }
    return {};
  }
  core::awaitable<core::ActionResult> plan(const core::ActionRequest&) override {
    co_return core::ActionResult::success();
  }
  core::awaitable<core::ActionResult> execute(const core::ActionRequest&) override {
    co_return core::ActionResult::success();
  }

 private:
  ActionSpec spec_;
};

ParamSpec param(std::string name, ParamType type, bool required = false, Json def = nullptr,
                std::vector<std::string> one_of = {}) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = type;
  p.required = required;
  p.default_value = std::move(def);
  p.one_of = std::move(one_of);
  return p;
}

// Mirrors the built-in actions' specs (FORMATS.md), plus a resource-counting one.
const core::ProviderRegistry& registry() {
  static const core::ProviderRegistry* instance = [] {
    auto* r = new core::ProviderRegistry;
    auto add = [&](ActionSpec spec) {
      auto s = r->add(std::make_unique<SpecOnlyAction>(std::move(spec)));
      if (!s) std::abort();
    };
    ActionSpec log{.name = "log", .params = {param("message", ParamType::kString, true),
                                             param("level", ParamType::kString, false, "info",
                                                   {"debug", "info", "warn", "error"})}};
    log.idempotent = true;
    log.phase = core::Phase::kNotify;
    add(log);

    // Retries on its own, as the AWS actions do.
    ActionSpec poke{.name = "cloud.poke", .params = {param("target", ParamType::kString)}};
    poke.idempotent = true;
    poke.retry = {3, std::chrono::seconds(1), std::chrono::seconds(20)};
    add(poke);

    ActionSpec exec{.name = "exec.run",
                    .params = {param("argv", ParamType::kStringList, true),
                               param("env", ParamType::kStringMap),
                               param("cwd", ParamType::kString),
                               param("timeout", ParamType::kDuration, false, "60s"),
                               param("max_output", ParamType::kInt, false, 65536),
                               param("stdin", ParamType::kString)}};
    exec.step_may_declare_idempotent = true;
    exec.outputs = {"exit_code", "stdout", "stderr"};
    add(exec);

    ActionSpec request{.name = "http.request",
                       .params = {param("method", ParamType::kString, false, "GET"),
                                  param("url", ParamType::kString, true),
                                  param("headers", ParamType::kStringMap),
                                  param("body", ParamType::kString),
                                  param("expect_status", ParamType::kIntOrIntList),
                                  param("timeout", ParamType::kDuration)}};
    request.step_may_declare_idempotent = true;
    request.outputs = {"status", "body"};
    add(request);

    ActionSpec probe{.name = "http.probe",
                     .params = {param("url", ParamType::kString, true),
                                param("expect_status", ParamType::kIntOrIntList, false, 200),
                                param("timeout", ParamType::kDuration, false, "5s"),
                                param("expect_body_contains", ParamType::kString)}};
    probe.idempotent = true;
    probe.outputs = {"status", "body"};
    add(probe);

    ActionSpec notify{.name = "notify.webhook",
                      .params = {param("url", ParamType::kSecret, true),
                                 param("text", ParamType::kString, true),
                                 param("channel", ParamType::kString)}};
    notify.phase = core::Phase::kNotify;
    add(notify);

    ActionSpec restore{.name = "backup.restore",
                       .params = {param("kind", ParamType::kString, true, nullptr,
                                        {"directory", "sqlite"}),
                                  param("backup", ParamType::kString, true),
                                  param("dest_dir", ParamType::kString, true),
                                  param("target", ParamType::kString, true)}};
    restore.destructive = true;
    restore.undo = "backup.undo_restore";
    restore.phase = core::Phase::kRecover;
    restore.outputs = {"previous", "restored"};
    add(restore);

    add(ActionSpec{.name = "backup.undo_restore",
                   .params = {param("target", ParamType::kString, true),
                              param("previous", ParamType::kString, true)}});

    ActionSpec del{.name = "cloud.delete_instances",
                   .params = {param("instances", ParamType::kStringList, true)}};
    del.destructive = true;
    del.resources_param = "instances";
    del.phase = core::Phase::kContain;
    add(del);
    return r;
  }();
  return *instance;
}

std::string dataDir() { return testing::sourceDir() + "/tests/data/playbooks"; }

PlaybookPtr loadGood(const std::string& name) {
  auto pb = loadPlaybookFile(dataDir() + "/good/" + name, registry());
  if (!pb) {
    for (const auto& m : messages(pb.error())) ADD_FAILURE() << m;
    return nullptr;
  }
  return *pb;
}

std::vector<std::string> compileErrors(const std::string& yaml) {
  auto pb = compilePlaybook(yaml, "t.yaml", registry());
  if (pb) return {};
  return messages(pb.error());
}

// ---------------------------------------------------------------------------------------------
// Bad files: the full message of every error, in order, with file:line:col.

const std::vector<testing::BadFile>& badCases() {
  static const std::vector<testing::BadFile> cases = {
      {"unknown-top-key.yaml",
       {"4:1: error: unknown key 'dry_rnu' (did you mean 'dry_run'?)"}},
      {"unknown-step-key.yaml",
       {"13:5: error: unknown key 'timout' in step[2] 'revoke' (did you mean 'timeout'?)"}},
      {"unknown-nested-key.yaml",
       {"9:7: error: unknown key 'attemps' in step[0] 'restart' > retry (did you mean "
        "'attempts'?)"}},
      {"unknown-key-no-suggestion.yaml",
       {"5:3: error: unknown key 'owner' in metadata (known keys: name, description, labels)"}},
      {"wrong-type.yaml",
       {"8:14: error: 'timeout' must be a duration like 30s, not a list in step[0] 'restart'"}},
      {"bad-duration.yaml",
       {"4:54: error: 'window': invalid duration '5x': unknown unit 'x' in dedup (write for "
        "example 500ms, 30s, 10m, 1h30m, 2d)"}},
      {"unknown-action.yaml",
       {"6:13: error: unknown action 'exec.rnu' in step[0] 'restart' (did you mean "
        "'exec.run'?)"}},
      {"unknown-param.yaml",
       {"9:7: error: unknown parameter 'levle' for action 'log' in step[0] 'say' (did you mean "
        "'level'?)"}},
      {"missing-required-param.yaml",
       {"7:11: error: missing required parameter 'text' (string) for action 'notify.webhook' in "
        "step[0] 'tell'"}},
      {"wrong-param-type.yaml",
       {"10:11: error: parameter 'argv' item 1 must be a string, not a mapping in step[0] "
        "'restart'"}},
      {"duplicate-id.yaml",
       {"9:13: error: duplicate step id 'notify' (first used on line 5) in step[1] 'parallel-1' "
        "> parallel[0] 'notify'"}},
      {"missing-id.yaml",
       {"8:5: error: missing required key 'id' in step[1] (every step needs a unique id)"}},
      {"bad-expression.yaml",
       {"9:31: error: invalid expression: expected an expression in step[1] 'say' > if"}},
      {"bad-template.yaml",
       {"9:22: error: invalid template: '{{' without '}}' in step[0] 'tell' > with.text"}},
      {"unknown-step-ref.yaml",
       {"9:9: error: unknown step 'restrat' in step[1] 'tell' > if (did you mean 'restart'?)"}},
      {"undeclared-param.yaml",
       {"9:53: error: undeclared parameter 'unit' in step[0] 'restart' > with.argv.2 (declare "
        "it under 'params')"}},
      {"bad-regex.yaml",
       {"7:18: error: invalid regular expression 'critical|(high': missing ): critical|(high in "
        "trigger.match"}},
      {"yaml-syntax.yaml", {"7:26: error: YAML syntax error: illegal flow end"}},
      // yaml-cpp 0.7 alone would loop here until memory runs out.
      {"comma-after-document.yaml",
       {"2:45: error: YAML syntax error: ',' after the end of the document"}},
      {"empty.yaml", {"1:1: error: empty file"}},
      {"wrong-api-version.yaml",
       {"1:13: error: 'apiVersion' must be 'firebreak/v1', not 'firebreak/v2'"}},
      {"wrong-kind.yaml", {"2:7: error: 'kind' must be 'Playbook', not 'Playbok' (did you mean "
                           "'Playbook'?)"}},
      {"idempotent-always.yaml",
       {"8:5: error: 'idempotent' cannot be set here: action 'log' is always idempotent in "
        "step[0] 'say' (only these actions take the step's word: exec.run, http.request)"}},
      {"idempotent-never.yaml",
       {"8:5: error: 'idempotent' cannot be set here: action 'backup.restore' is never "
        "idempotent in step[0] 'restore' (only these actions take the step's word: exec.run, "
        "http.request)"}},
      {"nested-too-deep.yaml",
       {"7:338: error: nested deeper than 64 levels in step[0] 'say' > with"}},
      {"several-errors.yaml",
       {"3:19: error: 'name' must be 1 to 63 lowercase letters, digits and '-', starting with a "
        "letter or digit, not 'Several_Errors' in metadata",
        "6:7: error: 'on' must be one of firing, resolved, both, not 'fireing' in trigger (did "
        "you mean 'firing'?)",
        "11:24: error: 'attempts' must be between 1 and 20, not 50 in step[0] 'restart' > retry",
        "14:51: error: undeclared parameter 'service' in step[1] 'tell' > with.text (declare it "
        "under 'params')",
        "16:9: error: duplicate step id 'restart' (first used on line 8) in on_failure[0] "
        "'restart'"}},
      {"matcher-tag.yaml",
       {"7:10: error: unknown YAML tag '!=staging' in trigger.match (YAML reads a leading '!' as "
        "a tag; quote the value, like \"!=staging\")"}},
      {"steps-in-when.yaml",
       {"6:39: error: 'steps' cannot be read here in trigger.when (trigger.when is evaluated "
        "before a run starts; it reads alert, incident and env)"}},
      {"two-kinds.yaml",
       {"7:5: error: a step does one thing; this one has both 'approval' and 'action' in "
        "step[0] 'gate'"}},
      {"yes-not-bool.yaml", {"4:10: error: 'dry_run' must be true or false, not 'yes'"}},
      {"param-order.yaml",
       {"5:24: error: parameter 'service' is declared after 'unit' in params.unit.default (a "
        "default reads only the parameters declared before it)"}},
      {"unknown-output.yaml",
       {"9:9: error: action 'exec.run' has no output 'exitcode' in step[1] 'say' > if (did you "
        "mean 'exit_code'?)"}},
      {"invalid-literal-param.yaml",
       {"7:11: error: url 'ftp://127.0.0.1/health' must start with http:// or https:// in "
        "step[0] 'probe'"}},
      {"invalid-utf8.yaml", {"5:50: error: invalid UTF-8 (byte 0xe9)"}},
  };
  return cases;
}

class BadPlaybookTest : public ::testing::TestWithParam<testing::BadFile> {};

TEST_P(BadPlaybookTest, ReportsEveryErrorWithItsLocation) {
  const testing::BadFile& c = GetParam();
  std::string path = dataDir() + "/bad/" + c.file;
  auto pb = loadPlaybookFile(path, registry());
  ASSERT_FALSE(pb) << c.file << " loaded";
  EXPECT_EQ(messages(pb.error()), testing::expectedMessages(path, c));
}

INSTANTIATE_TEST_SUITE_P(Files, BadPlaybookTest, ::testing::ValuesIn(badCases()),
                         testing::badFileTestName);

TEST(BadPlaybookFiles, EveryFileHasItsExpectation) {
  testing::expectEveryFileHasAnExpectation(dataDir() + "/bad", badCases(), "loader_test.cpp");
}

// ---------------------------------------------------------------------------------------------
// Good files: the model.

TEST(LoaderTest, FullPlaybookModel) {
  auto pb = loadGood("full.yaml");
  ASSERT_TRUE(pb);
  EXPECT_EQ(pb->name, "full-featured");
  EXPECT_EQ(pb->description, "Exercises every key.");
  EXPECT_EQ(pb->labels, (std::map<std::string, std::string>{{"team", "sre"}, {"tier", "1"}}));
  EXPECT_EQ(pb->file, dataDir() + "/good/full.yaml");
  EXPECT_EQ(pb->loc.line, 5);
  EXPECT_EQ(pb->source, testing::readFile(pb->file));
  EXPECT_EQ(pb->hash.size(), 64u);
  EXPECT_TRUE(pb->dry_run);

  const Trigger& t = pb->trigger;
  EXPECT_FALSE(t.manual_only);
  EXPECT_EQ(t.sources, (std::vector<std::string>{"prometheus", "grafana"}));
  ASSERT_EQ(t.match.size(), 5u);
  EXPECT_EQ(t.match[0].label, "alertname");
  EXPECT_EQ(t.match[0].op, LabelMatcher::Op::kEq);
  EXPECT_EQ(t.match[0].value, "ServiceDown");
  EXPECT_EQ(t.match[1].op, LabelMatcher::Op::kRe);
  EXPECT_EQ(t.match[1].value, "critical|high");
  ASSERT_TRUE(t.match[1].re);
  EXPECT_EQ(t.match[2].op, LabelMatcher::Op::kNe);
  EXPECT_EQ(t.match[2].value, "staging");
  EXPECT_EQ(t.match[3].op, LabelMatcher::Op::kNre);
  EXPECT_EQ(t.match[4].op, LabelMatcher::Op::kEq);
  EXPECT_EQ(t.match[4].value, "eu-west-1");
  // Anchored: "critical-ish" is not "critical".
  EXPECT_TRUE(t.match[1].matches({{"severity", "high"}}));
  EXPECT_FALSE(t.match[1].matches({{"severity", "critical-ish"}}));
  EXPECT_TRUE(t.match[3].matches({{"instance", "prod-1"}}));
  EXPECT_FALSE(t.match[3].matches({{"instance", "test-1"}}));
  ASSERT_TRUE(t.when);
  EXPECT_EQ(t.when->text(), "alert.labels.env == \"prod\"");
  EXPECT_EQ(t.on, Trigger::On::kBoth);

  ASSERT_TRUE(pb->dedup);
  EXPECT_EQ(pb->dedup->key, "{{ alert.labels.instance }}");
  EXPECT_EQ(pb->dedup->window, std::chrono::minutes(30));
  ASSERT_TRUE(pb->concurrency);
  EXPECT_EQ(pb->concurrency->key, "{{ params.service }}");
  EXPECT_EQ(pb->concurrency->count, 2);
  ASSERT_TRUE(pb->max_runs);
  EXPECT_EQ(pb->max_runs->count, 3);
  EXPECT_EQ(pb->max_runs->window, std::chrono::hours(1));
  EXPECT_EQ(pb->deadline, std::chrono::minutes(45));

  ASSERT_EQ(pb->params.size(), 4u);
  EXPECT_EQ(pb->params[0].name, "service");
  EXPECT_EQ(pb->params[0].default_value, "{{ alert.labels.service }}");
  EXPECT_TRUE(pb->params[0].required);
  EXPECT_EQ(pb->params[0].description, "The unit.");
  EXPECT_EQ(pb->params[1].default_value, "/var/lib/app/app.db");
  EXPECT_FALSE(pb->params[1].required);
  EXPECT_EQ(pb->params[3].name, "nothing");
  EXPECT_TRUE(pb->params[3].default_value.is_null());

  ASSERT_EQ(pb->steps.size(), 6u);
  const Step& probe = pb->steps[0];
  EXPECT_EQ(probe.id, "probe");
  EXPECT_EQ(probe.kind, Step::Kind::kAction);
  EXPECT_EQ(probe.action, "http.probe");
  EXPECT_EQ(probe.provider, registry().find("http.probe"));
  // Defaults filled in from the action's spec.
  EXPECT_EQ(probe.with, (Json{{"url", "http://127.0.0.1:8080/health"},
                              {"expect_status", 200},
                              {"timeout", "5s"}}));
  EXPECT_EQ(probe.timeout, std::chrono::seconds(10));
  EXPECT_EQ(probe.retry.attempts, 3);
  EXPECT_EQ(probe.retry.backoff, std::chrono::seconds(2));
  EXPECT_EQ(probe.retry.max_backoff, std::chrono::seconds(20));
  EXPECT_EQ(probe.loc.line, 29);
  EXPECT_EQ(probe.loc.column, 5);

  const Step& stop = pb->steps[1];
  ASSERT_TRUE(stop.condition);
  EXPECT_EQ(stop.condition->text(), "steps.probe.status == \"failed\"");
  EXPECT_EQ(stop.with["argv"], (Json{"/usr/bin/systemctl", "stop", "{{ params.unit }}"}));
  EXPECT_EQ(stop.idempotent, true);
  EXPECT_TRUE(stop.isIdempotent());
  EXPECT_EQ(stop.phase, core::Phase::kContain);
  EXPECT_EQ(stop.description, "Stop the unit before touching its data.");

  const Step& approve = pb->steps[2];
  EXPECT_EQ(approve.kind, Step::Kind::kApproval);
  EXPECT_EQ(approve.approval.role, "admin");
  EXPECT_EQ(approve.approval.timeout, std::chrono::minutes(10));
  EXPECT_EQ(approve.approval.on_timeout, OnTimeout::kDeny);
  EXPECT_EQ(approve.approval.message, "Restore {{ params.db }}?");

  const Step& restore = pb->steps[3];
  EXPECT_TRUE(restore.isDestructive());
  EXPECT_TRUE(restore.continue_on_failure);
  ASSERT_TRUE(restore.undo);
  EXPECT_EQ(restore.undo->action, "backup.undo_restore");
  EXPECT_EQ(restore.undo->provider, registry().find("backup.undo_restore"));
  EXPECT_EQ(restore.undo->with["previous"], "{{ steps.restore.output.previous }}");
  EXPECT_EQ(restore.undo->loc.line, 46);

  const Step& group = pb->steps[4];
  EXPECT_EQ(group.kind, Step::Kind::kParallel);
  EXPECT_EQ(group.id, "parallel-4");
  EXPECT_EQ(group.timeout, std::chrono::minutes(5));
  ASSERT_EQ(group.parallel.size(), 2u);
  EXPECT_EQ(group.parallel[0].id, "cleanup");
  EXPECT_EQ(group.parallel[0].max_resources, 5);
  EXPECT_EQ(group.parallel[1].id, "start");
  EXPECT_EQ(group.parallel[1].with["timeout"], "2m");
  EXPECT_EQ(pb->steps[5].id, "fanout");

  ASSERT_EQ(pb->on_failure.size(), 1u);
  EXPECT_EQ(pb->on_failure[0].id, "escalate");
  EXPECT_EQ(pb->findStep("start"), &group.parallel[1]);
  EXPECT_EQ(pb->allSteps().size(), 8u);  // action and approval steps, groups flattened
}

TEST(LoaderTest, MinimalPlaybookDefaults) {
  auto pb = loadGood("minimal.yaml");
  ASSERT_TRUE(pb);
  EXPECT_TRUE(pb->trigger.manual_only);
  EXPECT_FALSE(pb->dry_run);
  EXPECT_FALSE(pb->dedup);
  EXPECT_FALSE(pb->concurrency);
  EXPECT_FALSE(pb->deadline);
  EXPECT_EQ(pb->steps[0].with, (Json{{"message", "hello"}, {"level", "info"}}));
  EXPECT_EQ(pb->steps[0].retry.attempts, 1);
  EXPECT_FALSE(pb->steps[0].timeout);
  EXPECT_FALSE(pb->steps[0].condition);
  EXPECT_EQ(pb->steps[1].kind, Step::Kind::kApproval);
  EXPECT_EQ(pb->steps[1].approval.role, "responder");
  EXPECT_EQ(pb->steps[1].approval.timeout, std::chrono::hours(1));
  EXPECT_EQ(pb->steps[1].approval.on_timeout, OnTimeout::kAbort);
}

TEST(LoaderTest, HashIsSha256OfTheText) {
  const std::string text =
      "apiVersion: firebreak/v1\nkind: Playbook\nmetadata: { name: h }\n"
      "steps: [{ id: a, action: log, with: { message: x } }]\n";
  auto pb = compilePlaybook(text, "h.yaml", registry());
  ASSERT_TRUE(pb);
  EXPECT_EQ((*pb)->source, text);
  // printf '%s' "$text" | sha256sum
  EXPECT_EQ((*pb)->hash, "554f3420561a233cbe88c9539dcd77001118437df88a22d1fac70d60051074de");
}

TEST(LoaderTest, ConcurrencyDefaultsToOneAndRetryBackoffRaisesItsCap) {
  auto pb = compilePlaybook(R"(apiVersion: firebreak/v1
kind: Playbook
metadata: { name: c }
concurrency: {}
steps:
  - { id: a, action: log, with: { message: x }, retry: { attempts: 2, backoff: 1m } }
)",
                            "c.yaml", registry());
  ASSERT_TRUE(pb) << messages(pb.error())[0];
  EXPECT_EQ((*pb)->concurrency->count, 1);
  EXPECT_EQ((*pb)->concurrency->key, "");
  EXPECT_EQ((*pb)->steps[0].retry.max_backoff, std::chrono::minutes(1));
}

// A step without `retry` gets its action's; keys it leaves out come from the action too.
TEST(LoaderTest, RetryDefaultsComeFromTheAction) {
  auto pb = compilePlaybook(R"(apiVersion: firebreak/v1
kind: Playbook
metadata: { name: r }
steps:
  - { id: a, action: cloud.poke }
  - { id: b, action: cloud.poke, retry: { attempts: 5 } }
  - { id: c, action: log, with: { message: x } }
)",
                            "r.yaml", registry());
  ASSERT_TRUE(pb) << messages(pb.error())[0];
  const auto& s = (*pb)->steps;
  EXPECT_EQ(s[0].retry.attempts, 3);
  EXPECT_EQ(s[0].retry.max_backoff, std::chrono::seconds(20));
  EXPECT_EQ(s[1].retry.attempts, 5);
  EXPECT_EQ(s[1].retry.backoff, std::chrono::seconds(1));
  EXPECT_EQ(s[1].retry.max_backoff, std::chrono::seconds(20));
  EXPECT_EQ(s[2].retry.attempts, 1);
}

TEST(LoaderTest, YamlScalarsFollowTheCoreSchema) {
  auto pb = compilePlaybook(R"(apiVersion: firebreak/v1
kind: Playbook
metadata: { name: scalars }
steps:
  - id: a
    action: exec.run
    with:
      argv: [sleep, 5, "5", yes, on, 1.5]
      env: { A: "1", B: 2, C: "true" }
)",
                            "s.yaml", registry());
  ASSERT_TRUE(pb) << messages(pb.error())[0];
  // Numbers in a string list become their text; yes/on are strings, not YAML 1.1 booleans.
  EXPECT_EQ((*pb)->steps[0].with["argv"], (Json{"sleep", "5", "5", "yes", "on", "1.5"}));
  EXPECT_EQ((*pb)->steps[0].with["env"], (Json{{"A", "1"}, {"B", "2"}, {"C", "true"}}));
}

// ---------------------------------------------------------------------------------------------
// Locations inside strings, and messages not covered by a file.

TEST(LoaderTest, ExpressionErrorColumnsInQuotedAndBlockScalars) {
  const std::string head =
      "apiVersion: firebreak/v1\nkind: Playbook\nmetadata: { name: cols }\nsteps:\n";
  // Plain: the mark is the first character.
  EXPECT_EQ(compileErrors(head + "  - { id: a, action: log, with: { message: x }, if: 1 == }\n"),
            (std::vector<std::string>{
                "t.yaml:5:57: error: invalid expression: expected an expression in step[0] 'a' > "
                "if"}));
  // Double quoted: one more for the quote.
  EXPECT_EQ(compileErrors(head + "  - id: a\n    action: log\n    with: { message: x }\n"
                                 "    if: \"1 == \"\n"),
            (std::vector<std::string>{
                "t.yaml:8:15: error: invalid expression: expected an expression in step[0] 'a' > "
                "if"}));
  // Literal block: the line and column inside the block.
  EXPECT_EQ(compileErrors(head + "  - id: a\n    action: log\n    with: { message: x }\n"
                                 "    if: |\n      true &&\n        (1 ==)\n"),
            (std::vector<std::string>{
                "t.yaml:10:14: error: invalid expression: expected an expression in step[0] 'a' > "
                "if"}));
}

TEST(LoaderTest, TemplatesEverywhereAreChecked) {
  auto errors = compileErrors(R"(apiVersion: firebreak/v1
kind: Playbook
metadata: { name: templates }
dedup: { key: "{{ steps.a.status }}", window: 1m }
params:
  p: { default: { nested: ["{{ alrt.labels.x }}"] } }
steps:
  - id: a
    approval: { message: "ok {{ params.q }}?" }
  - id: b
    action: backup.restore
    with: { kind: sqlite, backup: latest, dest_dir: /b, target: /t }
    undo: { action: backup.undo_restor, with: { target: "{{ run.id" } }
)");
  EXPECT_EQ(errors,
            (std::vector<std::string>{
                "t.yaml:4:19: error: 'steps' cannot be read here in dedup.key (no step has run "
                "yet)",
                "t.yaml:6:32: error: unknown name 'alrt' in params.p.default.nested.0 (did you "
                "mean 'alert'?)",
                "t.yaml:9:33: error: undeclared parameter 'q' in step[0] 'a' > approval.message "
                "(did you mean 'p'?)",
                "t.yaml:13:21: error: unknown action 'backup.undo_restor' in step[1] 'b' > undo "
                "(did you mean 'backup.undo_restore'?)",
                "t.yaml:13:58: error: invalid template: '{{' without '}}' in step[1] 'b' > undo "
                "> with.target",
            }));
}

TEST(LoaderTest, StepShapeErrors) {
  auto errors = compileErrors(R"(apiVersion: firebreak/v1
kind: Playbook
metadata: { name: shapes }
steps:
  - id: Bad Id
    action: log
    with: { message: x }
  - id: nothing
  - id: appr
    approval: { role: root, timeout: 1h }
    timeout: 5m
  - id: grp
    parallel: []
  - just a string
)");
  EXPECT_EQ(errors,
            (std::vector<std::string>{
                "t.yaml:5:9: error: step id 'Bad Id' must be lowercase letters, digits, '-' and "
                "'_', starting with a letter or digit in step[0] 'Bad Id'",
                "t.yaml:8:5: error: a step needs one of 'action', 'approval' or 'parallel' in "
                "step[1] 'nothing'",
                "t.yaml:10:23: error: 'role' must be one of viewer, responder, admin, not 'root' "
                "in step[2] 'appr' > approval",
                "t.yaml:11:5: error: 'timeout' is not allowed on an approval step in step[2] "
                "'appr' (set approval.timeout)",
                "t.yaml:13:15: error: 'parallel' must list at least one step in step[3] 'grp'",
                "t.yaml:14:5: error: a step must be a mapping, not a string in step[4]",
            }));
}

TEST(LoaderTest, DocumentShapeErrors) {
  EXPECT_EQ(compileErrors("- a\n- b\n"),
            (std::vector<std::string>{"t.yaml:1:1: error: a playbook must be a mapping with "
                                      "apiVersion, kind, metadata and steps, not a list"}));
  EXPECT_EQ(compileErrors("# only a comment\n"),
            (std::vector<std::string>{"t.yaml:1:1: error: empty file"}));
  EXPECT_EQ(compileErrors("kind: Playbook\n"),
            (std::vector<std::string>{
                "t.yaml:1:1: error: missing required key 'apiVersion'",
                "t.yaml:1:1: error: missing required key 'metadata'",
                "t.yaml:1:1: error: missing required key 'steps'",
            }));
  EXPECT_EQ(compileErrors("kind: Playbook\n---\nkind: Playbook\n"),
            (std::vector<std::string>{
                "t.yaml:3:1: error: a second YAML document; a file holds exactly one"}));
  EXPECT_EQ(compileErrors("a: 1\nb: \x01\n"),
            (std::vector<std::string>{
                "t.yaml:2:4: error: control character 0x01 is not allowed in YAML"}));
  EXPECT_EQ(compileErrors("kind: Drill\nschedule: x\n"),
            (std::vector<std::string>{
                "t.yaml:1:7: error: 'kind' must be 'Playbook', not 'Drill'"}));
}

TEST(LoaderTest, TriggerErrors) {
  auto errors = compileErrors(R"(apiVersion: firebreak/v1
kind: Playbook
metadata: { name: trig }
trigger:
  sources: prometheus
  match:
    alert-name: x
    severity:
    env: [prod]
  when: alert.labels.env ==
steps:
  - { id: a, action: log, with: { message: x } }
)");
  EXPECT_EQ(errors,
            (std::vector<std::string>{
                "t.yaml:5:12: error: 'sources' must be a list of strings, not a string in trigger",
                "t.yaml:7:5: error: invalid label name 'alert-name' in trigger.match (label names "
                "are letters, digits and '_', not starting with a digit)",
                "t.yaml:8:5: error: the matcher for 'severity' is empty in trigger.match (write "
                "\"\" to match alerts without this label)",
                "t.yaml:9:10: error: 'env' must be a string, not a list in trigger.match",
                "t.yaml:10:28: error: invalid expression: expected an expression in trigger.when",
            }));
}

TEST(LoaderTest, DuplicateKeysAreErrors) {
  auto errors = compileErrors(R"(apiVersion: firebreak/v1
kind: Playbook
metadata: { name: dup }
dry_run: false
dry_run: true
steps:
  - { id: a, action: log, with: { message: x, message: y } }
)");
  EXPECT_EQ(errors, (std::vector<std::string>{
                        "t.yaml:5:1: error: duplicate key 'dry_run' (first on line 4)",
                        "t.yaml:7:47: error: duplicate key 'message' in step[0] 'a' > with",
                    }));
}

// ---------------------------------------------------------------------------------------------
// Directories.

TEST(LoadPlaybooksTest, GoodDirectoryLoadsPlaybooksAndSkipsOtherKinds) {
  auto report = loadPlaybooks({dataDir() + "/good"}, registry());
  EXPECT_EQ(messages(report.errors), std::vector<std::string>{});
  std::vector<std::string> names;
  for (const auto& pb : report.playbooks) names.push_back(pb->name);
  EXPECT_EQ(names, (std::vector<std::string>{"full-featured", "minimal"}));
}

TEST(LoadPlaybooksTest, OneBadFileDoesNotStopTheOthers) {
  testing::TempDir dir;
  const std::string good =
      "apiVersion: firebreak/v1\nkind: Playbook\nmetadata: { name: NAME }\n"
      "steps: [{ id: a, action: log, with: { message: x } }]\n";
  auto named = [&](const std::string& n) {
    std::string s = good;
    s.replace(s.find("NAME"), 4, n);
    return s;
  };
  std::filesystem::create_directories(dir.path() / "team" / "schema");
  std::filesystem::create_directories(dir.path() / ".hidden");
  testing::writeFile(dir.file("a.yaml"), named("alpha"));
  testing::writeFile(dir.file("b.yml"), "apiVersion: firebreak/v1\nkind: Playbook\n");
  testing::writeFile(dir.file("team/c.yaml"), named("gamma"));
  testing::writeFile(dir.file("team/d.yaml"), named("alpha"));  // a duplicate name
  testing::writeFile(dir.file("team/drill.yaml"), "kind: Drill\nwhatever: 1\n");
  testing::writeFile(dir.file("team/schema/x.yaml"), "not: [valid");
  testing::writeFile(dir.file(".hidden/e.yaml"), "not: [valid");
  testing::writeFile(dir.file("notes.txt"), "not: [valid");

  // The directory and a file in it: the file is read once.
  auto report = loadPlaybooks({dir.path().string(), dir.file("a.yaml")}, registry());
  std::vector<std::string> names;
  for (const auto& pb : report.playbooks) names.push_back(pb->name);
  EXPECT_EQ(names, (std::vector<std::string>{"alpha", "gamma"}));
  EXPECT_EQ(messages(report.errors),
            (std::vector<std::string>{
                dir.file("b.yml") + ":1:1: error: missing required key 'metadata'",
                dir.file("b.yml") + ":1:1: error: missing required key 'steps'",
                dir.file("team/d.yaml") +
                    ":3:19: error: duplicate playbook name 'alpha' (also in " +
                    dir.file("a.yaml") + ":3:19)",
            }));
}

TEST(LoadPlaybooksTest, MissingPathsAndOversizedFiles) {
  testing::TempDir dir;
  testing::writeFile(dir.file("big.yaml"), std::string((1 << 20) + 1, '#'));
  auto report = loadPlaybooks({dir.file("nope"), dir.file("big.yaml")}, registry());
  EXPECT_TRUE(report.playbooks.empty());
  EXPECT_EQ(messages(report.errors),
            (std::vector<std::string>{
                dir.file("nope") + ": error: no such file or directory",
                dir.file("big.yaml") + ":1:1: error: file is larger than 1 MiB (1048577 bytes)",
            }));
  auto one = loadPlaybookFile(dir.file("nope"), registry());
  ASSERT_FALSE(one);
  EXPECT_EQ(one.error()[0].str(), dir.file("nope") + ": error: no such file or directory");
}

// ---------------------------------------------------------------------------------------------
// Hostile input: never a crash, always an answer.

TEST(LoaderRobustnessTest, PathologicalDocuments) {
  std::vector<std::string> inputs = {
      "a: &a [*a]\n",                                       // a cycle through an alias
      "steps: &s [{ id: x, parallel: *s }]\n",              // a cycle through steps
      std::string(100000, '[') + std::string(100000, ']'),  // deeper than yaml-cpp allows
      "a: \"\\0\"\n",
      "\xef\xbb\xbf" "apiVersion: firebreak/v1\n",
      std::string("a: b\0c\n", 7),
      "!!binary x: y\n",
      "? [a, b]\n: c\n",
      "apiVersion: firebreak/v1\nkind: Playbook\nmetadata: { name: x }\n"
      "steps: [{ id: a, action: log, with: { message: !!int x } }]\n",
  };
  // An alias bomb: 10 levels of 10 references each.
  std::string bomb = "apiVersion: firebreak/v1\nkind: Playbook\nmetadata: { name: x }\n"
                     "b0: &b0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 10; ++i) {
    std::string p = "*b" + std::to_string(i - 1);
    bomb += "b" + std::to_string(i) + ": &b" + std::to_string(i) + " [" + p;
    for (int k = 0; k < 9; ++k) bomb += ", " + p;
    bomb += "]\n";
  }
  bomb += "steps: [{ id: a, action: log, with: { message: x, extra: *b9 } }]\n";
  inputs.push_back(bomb);
  for (const auto& in : inputs) {
    auto pb = compilePlaybook(in, "t.yaml", registry());
    EXPECT_FALSE(pb) << in.substr(0, 80);
  }
  auto bombed = compileErrors(bomb);
  ASSERT_FALSE(bombed.empty());
  EXPECT_TRUE(std::any_of(bombed.begin(), bombed.end(), [](const std::string& m) {
    return m.find("too many values: more than 100000 (with aliases expanded)") != std::string::npos;
  }));
}

TEST(LoaderRobustnessTest, MutatedFilesNeverCrash) {
  std::vector<std::string> seeds;
  for (const auto& dir : {dataDir() + "/good", dataDir() + "/bad"})
    for (const auto& entry : std::filesystem::directory_iterator(dir))
      seeds.push_back(testing::readFile(entry.path().string()));
  std::mt19937 rng(20261123);  // fixed: a failure must reproduce
  const std::string alphabet = "{}[]:-,&*!|>'\"#\n \t{{}}%@`?~=\\";
  for (int round = 0; round < 3000; ++round) {
    std::string s = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      size_t at = rng() % s.size();
      switch (rng() % 4) {
        case 0: s[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: s.erase(at, 1 + rng() % 8); break;
        case 2: s.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
        case 3: s.insert(at, s.substr(rng() % s.size(), rng() % 40)); break;
      }
    }
    auto pb = compilePlaybook(s, "fuzz.yaml", registry());
    if (!pb) {
      for (const auto& e : pb.error()) EXPECT_FALSE(e.message().empty());
    }
  }
}

}  // namespace
}  // namespace firebreak::playbook
