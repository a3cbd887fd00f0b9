// The `sns` source against the signed vectors in ../shared/fixtures/sns (a local test key and
// certificate, see its README): the string to sign byte for byte, signatures valid and
// tampered, the certificate URL rules, message age, and the CloudWatch alarm inside.
#include "daemon/sources/sns.h"

#include <gtest/gtest.h>

#include "tests/fakes/test_env.h"

namespace firebreak::sources {
namespace {

using core::ErrorCode;

const std::string kFixtures = FIREBREAK_SOURCE_DIR "/../shared/fixtures/sns/";

SnsMessage parsed(const std::string& stem) {
  auto m = parseSnsMessage(testing::readFile(kFixtures + stem + ".json"));
  EXPECT_TRUE(m) << stem << ": " << (m ? "" : m.error().message());
  return m ? *m : SnsMessage{};
}

struct Vector {
  const char* stem;
  bool valid;
};

class SnsVectorTest : public ::testing::TestWithParam<Vector> {};

TEST_P(SnsVectorTest, StringToSignAndSignature) {
  const auto& v = GetParam();
  SnsMessage m = parsed(v.stem);
  // For the INVALID vectors the file holds what a verifier rebuilds from the tampered body.
  EXPECT_EQ(snsStringToSign(m), testing::readFile(kFixtures + v.stem + ".string-to-sign.txt"));
  auto verified = verifySnsSignature(m, testing::readFile(kFixtures + "signing-cert.pem"));
  if (v.valid) {
    EXPECT_TRUE(verified) << verified.error().message();
  } else {
    ASSERT_FALSE(verified);
    EXPECT_EQ(verified.error().code(), ErrorCode::kPermissionDenied);
    EXPECT_EQ(verified.error().message(),
              "the message's signature does not verify with its signing certificate");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, SnsVectorTest,
    ::testing::Values(Vector{"01-notification-lambda-errors-ALARM-sv1", true},
                      Vector{"02-notification-lambda-errors-ALARM-sv2", true},
                      Vector{"03-subscription-confirmation-sv1", true},
                      Vector{"04-subscription-confirmation-sv2", true},
                      Vector{"05-notification-lambda-throttles-ALARM-sv2", true},
                      Vector{"06-notification-lambda-errors-OK-sv2", true},
                      Vector{"07-notification-no-subject-sv1", true},
                      Vector{"08-unsubscribe-confirmation-sv2", true},
                      Vector{"90-INVALID-notification-tampered-message-sv2", false},
                      Vector{"91-INVALID-notification-sv2-signature-labelled-sv1", false}),
    [](const auto& info) {
      std::string name = std::string(info.param.stem).substr(0, 2);
      return "v" + name;
    });

TEST(SnsTest, AnUnreadableCertificateOrVersionIsRefused) {
  SnsMessage m = parsed("02-notification-lambda-errors-ALARM-sv2");
  // Not PEM at all: a different error from a signature that does not verify.
  auto garbage = verifySnsSignature(m, "not a certificate");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(garbage.error().message(), "the signing certificate is not a PEM certificate");
  m.signature_version = "3";
  auto v3 = verifySnsSignature(m, testing::readFile(kFixtures + "signing-cert.pem"));
  ASSERT_FALSE(v3);
  EXPECT_EQ(v3.error().message(), "SignatureVersion '3' is not 1 or 2");
}

TEST(SnsTest, SigningCertUrlMustBeHttpsOnAnAllowedHostAndAPemPath) {
  const std::vector<std::string> any;
  EXPECT_TRUE(checkSigningCertUrl(
      "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-70a1ea66d0a36df605047fde42ed91f0.pem", any));
  struct Case {
    const char* url;
    const char* why;
  } cases[] = {
      {"http://sns.us-east-1.amazonaws.com/x.pem", "SigningCertURL is not an https:// URL"},
      {"https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
       "SigningCertURL host 'sns.us-east-1.amazonaws.com.evil.example' is not an allowed certificate host"},
      {"https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
       "SigningCertURL host 'evil.example' is not an allowed certificate host"},
      {"https://user@sns.us-east-1.amazonaws.com/x.pem", "SigningCertURL may not carry user info or a port"},
      {"https://sns.us-east-1.amazonaws.com:8443/x.pem", "SigningCertURL may not carry user info or a port"},
      {"https://sns.us-east-1.amazonaws.com/x.pem?y", "SigningCertURL does not name a .pem file"},
      {"https://sns.us-east-1.amazonaws.com/x.txt", "SigningCertURL does not name a .pem file"},
      {"https://sns.us-east-1.amazonaws.com", "SigningCertURL has no path"},
  };
  for (const auto& c : cases) {
    auto s = checkSigningCertUrl(c.url, any);
    ASSERT_FALSE(s) << c.url;
    EXPECT_EQ(s.error().code(), ErrorCode::kPermissionDenied);
    EXPECT_EQ(s.error().message(), c.why) << c.url;
  }
  EXPECT_TRUE(checkSigningCertUrl("https://certs.internal/sns.pem", {"certs.internal"}));
}

TEST(SnsTest, AMessageTooOldOrFromTheFutureIsARefusedReplay) {
  SnsMessage m = parsed("02-notification-lambda-errors-ALARM-sv2");
  const int64_t hour = 3'600'000;
  EXPECT_TRUE(checkSnsAge(m, m.timestamp_ms + hour - 1, hour));
  EXPECT_TRUE(checkSnsAge(m, m.timestamp_ms - hour + 1, hour));
  auto old = checkSnsAge(m, m.timestamp_ms + hour + 1, hour);
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(old.error().message(),
            "message Timestamp '2025-06-12T09:26:53.589Z' is more than 3600 s from now: refused "
            "as a replay");
  EXPECT_FALSE(checkSnsAge(m, m.timestamp_ms - hour - 1, hour));
}

TEST(SnsTest, ACloudWatchAlarmBecomesOneAlertAndItsOkResolvesTheSameIdentity) {
  auto firing = cloudWatchAlarmAlerts(parsed("01-notification-lambda-errors-ALARM-sv1"), "cloudwatch");
  ASSERT_TRUE(firing) << firing.error().message();
  ASSERT_EQ(firing->alerts.size(), 1u);
  const core::Alert& a = firing->alerts[0];
  EXPECT_EQ(a.name, "payments-handler-Errors-critical");
  EXPECT_EQ(a.status, "firing");
  EXPECT_EQ(a.source, "cloudwatch");
  EXPECT_EQ(a.source_type, "sns");
  EXPECT_EQ(a.fingerprint,
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:payments-handler-Errors-critical");
  EXPECT_EQ(a.starts_at_ms, 0);
  EXPECT_EQ(a.labels, (core::StringMap{{"alertname", "payments-handler-Errors-critical"},
                                       {"account", "123456789012"},
                                       {"region", "us-east-1"},
                                       {"namespace", "AWS/Lambda"},
                                       {"metric", "Errors"},
                                       {"FunctionName", "payments-handler"}}));
  EXPECT_EQ(a.annotations.at("description"),
            "Lambda payments-handler is throwing errors (>= 5 per minute)");
  EXPECT_EQ(a.annotations.at("summary"),
            "ALARM: \"payments-handler-Errors-critical\" in US East (N. Virginia)");
  EXPECT_EQ(a.annotations.at("state_change_time"), "2025-06-12T09:26:53.471+0000");
  EXPECT_EQ(a.generator_url,
            "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/"
            "payments-handler-Errors-critical");
  EXPECT_FALSE(a.ends_at_ms);

  auto ok = cloudWatchAlarmAlerts(parsed("06-notification-lambda-errors-OK-sv2"), "cloudwatch");
  ASSERT_TRUE(ok) << ok.error().message();
  ASSERT_EQ(ok->alerts.size(), 1u);
  EXPECT_EQ(ok->alerts[0].status, "resolved");
  EXPECT_EQ(ok->alerts[0].identity(), a.identity());  // the OK meets the ALARM it ends
  EXPECT_TRUE(ok->alerts[0].ends_at_ms);

  // Confirmations carry no alarm.
  auto confirmation = cloudWatchAlarmAlerts(parsed("03-subscription-confirmation-sv1"), "cloudwatch");
  ASSERT_TRUE(confirmation);
  EXPECT_TRUE(confirmation->alerts.empty());
}

TEST(SnsTest, BadBodiesSayWhichField) {
  struct Case {
    std::string body;
    std::string why;
  } cases[] = {
      {"[]", "body: expected an object, got an array"},
      {R"({"Type":"Other"})",
       "Type: expected one of Notification, SubscriptionConfirmation, UnsubscribeConfirmation, "
       "got 'Other'"},
      {R"({"Type":"Notification","MessageId":"m","TopicArn":"t","Message":"x",
          "Timestamp":"2025-06-12T09:26:53.589Z","SignatureVersion":"2"})",
       "body: missing 'Signature'"},
      {R"({"Type":"Notification","MessageId":"m","TopicArn":"t","Message":"x",
          "Timestamp":"yesterday","SignatureVersion":"2","Signature":"AAAA",
          "SigningCertURL":"https://sns.us-east-1.amazonaws.com/x.pem"})",
       "Timestamp: not an RFC 3339 time: 'yesterday'"},
      {R"({"Type":"SubscriptionConfirmation","MessageId":"m","TopicArn":"t","Message":"x",
          "Timestamp":"2025-06-12T09:26:53.589Z","SignatureVersion":"2","Signature":"AAAA",
          "SigningCertURL":"https://sns.us-east-1.amazonaws.com/x.pem","Token":"t"})",
       "body: missing 'SubscribeURL'"},
  };
  for (const auto& c : cases) {
    auto m = parseSnsMessage(c.body);
    ASSERT_FALSE(m) << c.body;
    EXPECT_EQ(m.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(m.error().message(), c.why);
  }
  SnsMessage notJson = parsed("07-notification-no-subject-sv1");
  notJson.message = "{\"AlarmName\":\"x\",\"NewStateValue\":\"MAYBE\",\"AlarmArn\":\"a\"}";
  auto alerts = cloudWatchAlarmAlerts(notJson, "cloudwatch");
  ASSERT_FALSE(alerts);
  EXPECT_EQ(alerts.error().message(),
            "Message.NewStateValue: expected ALARM, OK or INSUFFICIENT_DATA, got 'MAYBE'");
}

}  // namespace
}  // namespace firebreak::sources
