// The pure pieces of the quarantine, event source, snapshot, SNS and Secrets Manager actions:
// the rotation token and deduplication id derived from a step's key, SNS message attributes,
// the function evidence (environment variable names, never values), the quarantine policy
// setting; and the actions' specs as registered.
#include <gtest/gtest.h>

#include <regex>

#include "actions/aws/provider.h"

namespace firebreak::actions::aws {
namespace {

using core::Json;

TEST(AwsRotationToken, UuidShapedDeterministicAndPerKey) {
  const std::string a = rotationRequestToken("run-1/step-rotate");
  EXPECT_EQ(a, rotationRequestToken("run-1/step-rotate"));
  EXPECT_NE(a, rotationRequestToken("run-1/step-rotate2"));
  EXPECT_NE(a, rotationRequestToken(""));
  // 36 characters (AWS wants 32-64), version 8, the RFC 9562 variant.
  EXPECT_EQ(a.size(), 36u);
  EXPECT_TRUE(std::regex_match(
      a, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << a;
  for (const char* key : {"k", "tool:key", "another key", "x/y/z"})
    EXPECT_TRUE(std::regex_match(
        rotationRequestToken(key),
        std::regex("[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
        << key;
  // Not the plain hash of the key, nor the SNS id of the same key.
  EXPECT_NE(a.substr(0, 8), sha256Hex("run-1/step-rotate").substr(0, 8));
  EXPECT_NE(a.substr(0, 8), snsDeduplicationId("run-1/step-rotate").substr(0, 8));
}

TEST(AwsSnsDeduplication, SixtyFourHexPerKey) {
  const std::string a = snsDeduplicationId("run-1/notify");
  EXPECT_EQ(a, snsDeduplicationId("run-1/notify"));
  EXPECT_NE(a, snsDeduplicationId("run-2/notify"));
  EXPECT_TRUE(std::regex_match(a, std::regex("[0-9a-f]{64}"))) << a;
}

TEST(AwsSnsAttributes, EntriesByNameStringsOnly) {
  auto none = snsMessageAttributes(Json());
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto two = snsMessageAttributes(Json{{"team", "payments"}, {"severity", "critical"}});
  ASSERT_TRUE(two);
  QueryParams want = {{"MessageAttributes.entry.1.Name", "severity"},
                      {"MessageAttributes.entry.1.Value.DataType", "String"},
                      {"MessageAttributes.entry.1.Value.StringValue", "critical"},
                      {"MessageAttributes.entry.2.Name", "team"},
                      {"MessageAttributes.entry.2.Value.DataType", "String"},
                      {"MessageAttributes.entry.2.Value.StringValue", "payments"}};
  EXPECT_EQ(*two, want);
  EXPECT_FALSE(snsMessageAttributes(Json{{"count", 3}}));
  EXPECT_FALSE(snsMessageAttributes(Json::array({"a"})));
}

TEST(AwsFunctionEvidence, NamesOfEnvironmentVariablesNeverValues) {
  Json config = Json::parse(R"({
    "FunctionName": "payments", "FunctionArn": "arn:aws:lambda:us-east-1:1:function:payments",
    "Runtime": "python3.12", "Handler": "app.handler", "Role": "arn:aws:iam::1:role/exec",
    "CodeSha256": "abc=", "CodeSize": 1234, "LastModified": "2026-01-01T00:00:00.000+0000",
    "Version": "$LATEST", "PackageType": "Zip", "MemorySize": 256, "Timeout": 30,
    "Layers": [{"Arn": "arn:aws:lambda:us-east-1:1:layer:deps:3", "CodeSize": 99}],
    "Environment": {"Variables": {"DB_PASSWORD": "hunter2", "API_TOKEN": "tok-123"}}
  })");
  Json e = functionEvidence(config);
  EXPECT_EQ(e["function_arn"], "arn:aws:lambda:us-east-1:1:function:payments");
  EXPECT_EQ(e["runtime"], "python3.12");
  EXPECT_EQ(e["handler"], "app.handler");
  EXPECT_EQ(e["role"], "arn:aws:iam::1:role/exec");
  EXPECT_EQ(e["code_sha256"], "abc=");
  EXPECT_EQ(e["code_size"], 1234);
  EXPECT_EQ(e["last_modified"], "2026-01-01T00:00:00.000+0000");
  EXPECT_EQ(e["version"], "$LATEST");
  EXPECT_EQ(e["layers"], Json::parse(R"([{"arn": "arn:aws:lambda:us-east-1:1:layer:deps:3",
                                          "code_size": 99}])"));
  EXPECT_EQ(e["environment_variable_names"], Json::array({"API_TOKEN", "DB_PASSWORD"}));
  const std::string text = e.dump();
  EXPECT_EQ(text.find("hunter2"), std::string::npos);
  EXPECT_EQ(text.find("tok-123"), std::string::npos);
  // A function without environment or layers, or with fields missing: nulls, empty lists.
  Json bare = functionEvidence(Json{{"FunctionName", "x"}});
  EXPECT_EQ(bare["environment_variable_names"], Json::array());
  EXPECT_EQ(bare["layers"], Json::array());
  EXPECT_TRUE(bare["runtime"].is_null());
}

TEST(AwsSettings, QuarantinePolicyDefaultConfiguredOrRefused) {
  Environment env;
  env.set("AWS_REGION", "eu-west-1");
  auto plain = readSettings(Json::object(), env);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->quarantine_policy_arn, "arn:aws:iam::aws:policy/AWSDenyAll");
  auto set = readSettings(
      Json{{"aws", {{"quarantine_policy_arn", "arn:aws:iam::111122223333:policy/deny"}}}}, env);
  ASSERT_TRUE(set);
  EXPECT_EQ(set->quarantine_policy_arn, "arn:aws:iam::111122223333:policy/deny");
  auto bad = readSettings(Json{{"aws", {{"quarantine_policy_arn", "AWSDenyAll"}}}}, env);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("providers.aws.quarantine_policy_arn"), std::string::npos);
  EXPECT_FALSE(readSettings(Json{{"aws", {{"quarantine_policy_arn", 7}}}}, env));
}

TEST(AwsActions, MoreActionsRegisteredWithTheirSafetyProperties) {
  core::ProviderRegistry registry;
  core::ActionEnv env;
  ASSERT_TRUE(registerActions(registry, env, Environment{}));
  struct Want {
    const char* name;
    bool destructive;
    const char* undo;
    core::Phase phase;
    const char* resource_param;  // "" when no parameter is protected-checked by the engine
  };
  for (const Want& w : std::initializer_list<Want>{
           {"aws.iam.quarantine_role", true, "aws.iam.release_role", core::Phase::kContain, "role"},
           {"aws.iam.release_role", true, "", core::Phase::kRecover, "role"},
           {"aws.iam.quarantine_user", true, "aws.iam.release_user", core::Phase::kContain, "user"},
           {"aws.iam.release_user", true, "", core::Phase::kRecover, "user"},
           {"aws.lambda.disable_event_sources", true, "aws.lambda.enable_event_sources",
            core::Phase::kContain, "function"},
           {"aws.lambda.enable_event_sources", true, "", core::Phase::kRecover, "function"},
           {"aws.lambda.snapshot_function", false, "", core::Phase::kObserve, ""},
           {"aws.sns.publish", false, "", core::Phase::kNotify, "topic_arn"},
           {"aws.secretsmanager.rotate_secret", true, "", core::Phase::kContain, "secret_id"},
       }) {
    auto* p = registry.find(w.name);
    ASSERT_NE(p, nullptr) << w.name;
    const auto& s = p->spec();
    EXPECT_EQ(s.destructive, w.destructive) << w.name;
    EXPECT_EQ(s.undo, w.undo) << w.name;
    EXPECT_EQ(s.phase, w.phase) << w.name;
    EXPECT_FALSE(s.summary.empty()) << w.name;
    EXPECT_FALSE(s.outputs.empty()) << w.name;
    ASSERT_FALSE(s.permissions.empty()) << w.name;
    for (const auto& perm : s.permissions) EXPECT_NE(perm.action.find(':'), std::string::npos);
    if (*w.resource_param) {
      ASSERT_NE(s.param(w.resource_param), nullptr) << w.name;
      EXPECT_TRUE(s.param(w.resource_param)->resource) << w.name;
    }
    for (const auto& param : s.params) {
      if (!*w.resource_param) {
        EXPECT_FALSE(param.resource) << w.name << " " << param.name;
      }
    }
    if (!s.undo.empty()) {
      EXPECT_NE(registry.find(s.undo), nullptr) << s.undo;
    }
  }
  // A publish is a second message unless the topic is FIFO: only the step can say so.
  const auto& publish = registry.find("aws.sns.publish")->spec();
  EXPECT_FALSE(publish.idempotent);
  EXPECT_TRUE(publish.step_may_declare_idempotent);
  EXPECT_TRUE(registry.find("aws.secretsmanager.rotate_secret")->spec().idempotent);
  // Resource patterns: the role's ARN for the attach, none for ListEventSourceMappings.
  auto resourceOf = [&](const char* action, const char* permission) {
    for (const auto& p : registry.find(action)->spec().permissions)
      if (p.action == permission) return p.resource;
    return std::string("(absent)");
  };
  EXPECT_EQ(resourceOf("aws.iam.quarantine_role", "iam:AttachRolePolicy"),
            "arn:aws:iam::*:role/{role}");
  EXPECT_EQ(resourceOf("aws.iam.release_user", "iam:DetachUserPolicy"),
            "arn:aws:iam::*:user/{user}");
  EXPECT_EQ(resourceOf("aws.iam.quarantine_user", "iam:GetPolicy"), "arn:aws:iam::*:policy/*");
  EXPECT_EQ(resourceOf("aws.lambda.disable_event_sources", "lambda:ListEventSourceMappings"), "");
  EXPECT_EQ(resourceOf("aws.sns.publish", "sns:Publish"), "{topic_arn}");
  // Parameter checks without I/O.
  auto* quarantine = registry.find("aws.iam.quarantine_role");
  EXPECT_FALSE(quarantine->validate(Json{{"role", "r"}, {"policy_arn", "AWSDenyAll"}}));
  EXPECT_TRUE(quarantine->validate(
      Json{{"role", "r"}, {"policy_arn", "arn:aws:iam::aws:policy/AWSDenyAll"}}));
  auto* sns = registry.find("aws.sns.publish");
  EXPECT_FALSE(sns->validate(Json{{"subject", std::string(101, 's')}}));
  EXPECT_FALSE(sns->validate(Json{{"subject", "two\nlines"}}));
  EXPECT_TRUE(sns->validate(Json{{"subject", "firebreak: contained"}}));
}

}  // namespace
}  // namespace firebreak::actions::aws
