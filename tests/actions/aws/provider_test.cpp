// The AWS actions' pure pieces: settings, names, paths, the revoke policy document; and that
// registering them needs no settings or credentials.
#include "actions/aws/provider.h"

#include <gtest/gtest.h>

namespace firebreak::actions::aws {
namespace {

using core::Json;

TEST(AwsSettings, ConfigWinsOverEnvironment) {
  Environment env{{"AWS_REGION", "eu-west-1"}, {"AWS_ENDPOINT_URL", "http://127.0.0.1:1"}};
  auto s = readSettings(Json{{"aws", {{"region", "us-east-1"},
                                      {"endpoint_url", "http://127.0.0.1:5000"},
                                      {"profile", "ops"}}}},
                        env);
  ASSERT_TRUE(s) << s.error().str();
  EXPECT_EQ(s->region, "us-east-1");
  EXPECT_EQ(s->endpoint_url, "http://127.0.0.1:5000");
  EXPECT_EQ(s->profile, "ops");
  EXPECT_FALSE(s->assume_role);
}

TEST(AwsSettings, EnvironmentFallbacks) {
  auto s = readSettings(Json::object(), Environment{{"AWS_DEFAULT_REGION", "ap-south-1"},
                                                    {"AWS_ENDPOINT_URL", "http://h:1"}});
  ASSERT_TRUE(s) << s.error().str();
  EXPECT_EQ(s->region, "ap-south-1");
  EXPECT_EQ(s->endpoint_url, "http://h:1");
  auto r = readSettings(Json::object(), Environment{{"AWS_REGION", "us-west-2"},
                                                    {"AWS_DEFAULT_REGION", "ap-south-1"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->region, "us-west-2");
}

TEST(AwsSettings, MissingRegionIsAPermanentErrorNamingTheKey) {
  auto s = readSettings(Json{{"aws", Json::object()}}, Environment{});
  ASSERT_FALSE(s);
  EXPECT_FALSE(s.error().retryable);
  EXPECT_EQ(outcomeFor(s.error()), core::ActionResult::Outcome::kPermanent);
  EXPECT_NE(s.error().message.find("providers.aws.region"), std::string::npos);
}

TEST(AwsSettings, AssumeRoleAndTypeErrors) {
  auto s = readSettings(
      Json{{"aws", {{"region", "us-east-1"},
                    {"role_arn", "arn:aws:iam::111122223333:role/responder"},
                    {"external_id", "x-1"},
                    {"session_name", "fb"}}}},
      Environment{});
  ASSERT_TRUE(s) << s.error().str();
  ASSERT_TRUE(s->assume_role);
  EXPECT_EQ(s->assume_role->role_arn, "arn:aws:iam::111122223333:role/responder");
  EXPECT_EQ(s->assume_role->external_id, "x-1");
  EXPECT_EQ(s->assume_role->session_name, "fb");

  auto bad = readSettings(Json{{"aws", {{"region", 5}}}}, Environment{});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("providers.aws.region must be a string"), std::string::npos);
  auto no_arn = readSettings(Json{{"aws", {{"region", "us-east-1"}, {"external_id", "x-1"}}}},
                             Environment{});
  ASSERT_FALSE(no_arn);
  EXPECT_NE(no_arn.error().message.find("role_arn"), std::string::npos);
}

TEST(AwsNames, RoleNameOfArnOrName) {
  EXPECT_EQ(roleNameOf("ops"), "ops");
  EXPECT_EQ(roleNameOf("arn:aws:iam::123456789012:role/ops"), "ops");
  EXPECT_EQ(roleNameOf("arn:aws:iam::123456789012:role/team/a/ops"), "ops");
}

TEST(AwsNames, LambdaPathEncodesAnArnAsOneLabel) {
  EXPECT_EQ(lambdaPath("2017-10-31", "fn", "/concurrency"), "/2017-10-31/functions/fn/concurrency");
  EXPECT_EQ(lambdaPath("2015-03-31", "arn:aws:lambda:us-east-1:1:function:fn"),
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Afn");
}

TEST(AwsPolicy, RevokeOlderSessionsIsTheConsolesDocument) {
  Json doc = revokeOlderSessionsPolicy("2026-12-01T16:00:00.123Z");
  EXPECT_EQ(doc, Json::parse(R"({
    "Version": "2012-10-17",
    "Statement": [{
      "Effect": "Deny", "Action": "*", "Resource": "*",
      "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2026-12-01T16:00:00.123Z"}}
    }]})"));
  EXPECT_STREQ(kRevokePolicyName, "AWSRevokeOlderSessions");
}

TEST(AwsPolicy, DocumentsPlainOrPercentEncoded) {
  Json doc = revokeOlderSessionsPolicy("2026-12-01T16:00:00.000Z");
  EXPECT_EQ(parsePolicyDocument(doc.dump()), doc);
  EXPECT_EQ(parsePolicyDocument(uriEncode(doc.dump())), doc);
  EXPECT_EQ(parsePolicyDocument("%7B%22a%22%3A%22b+c%22%7D"), Json({{"a", "b+c"}}));
  EXPECT_FALSE(parsePolicyDocument("not json"));
}

TEST(AwsActions, RegisterWithoutSettingsOrCredentials) {
  core::ProviderRegistry registry;
  core::ActionEnv env;  // no pool, no clock, no providers: registration reads none of them
  ASSERT_TRUE(registerActions(registry, env, Environment{}));
  for (const char* name : {"aws.lambda.set_concurrency", "aws.lambda.restore_concurrency",
                           "aws.iam.revoke_role_sessions", "aws.iam.restore_role_sessions",
                           "aws.iam.deactivate_access_key", "aws.iam.reactivate_access_key"}) {
    auto* p = registry.find(name);
    ASSERT_NE(p, nullptr) << name;
    EXPECT_FALSE(p->spec().permissions.empty()) << name;
    EXPECT_FALSE(p->spec().summary.empty()) << name;
  }
  const auto& set = registry.find("aws.lambda.set_concurrency")->spec();
  EXPECT_TRUE(set.destructive);
  EXPECT_TRUE(set.idempotent);
  EXPECT_EQ(set.undo, "aws.lambda.restore_concurrency");
  EXPECT_EQ(set.phase, core::Phase::kContain);
  ASSERT_NE(set.param("function"), nullptr);
  EXPECT_TRUE(set.param("function")->resource);
  EXPECT_FALSE(registry.find("aws.lambda.set_concurrency")->validate(Json{{"function", "f"}, {"reserved", -1}}));
  EXPECT_TRUE(registry.find("aws.lambda.set_concurrency")->validate(Json{{"function", "f"}, {"reserved", 0}}));
  const auto& revoke = registry.find("aws.iam.revoke_role_sessions")->spec();
  EXPECT_EQ(revoke.undo, "aws.iam.restore_role_sessions");
  EXPECT_TRUE(revoke.param("role")->resource);
  const auto& keys = registry.find("aws.iam.deactivate_access_key")->spec();
  EXPECT_EQ(keys.undo, "aws.iam.reactivate_access_key");
  EXPECT_TRUE(keys.param("user")->resource);
  EXPECT_FALSE(keys.param("access_key_id")->required);
}

}  // namespace
}  // namespace firebreak::actions::aws
