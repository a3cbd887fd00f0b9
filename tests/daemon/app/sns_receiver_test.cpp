// SnsReceiver on the signed vectors of ../shared/fixtures/sns: its certificate URL is mapped to
// the test certificate by a fetcher that counts its calls, and the clock is set to the vectors'
// time (2025), as their README asks.
#include "daemon/app/sns_receiver.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.h"
#include "tests/fakes/test_env.h"

namespace firebreak::app {
namespace {

using core::ErrorCode;

const std::string kFixtures = FIREBREAK_SOURCE_DIR "/../shared/fixtures/sns/";
const std::string kCertUrl =
    "https://sns.us-east-1.amazonaws.com/"
    "SimpleNotificationService-70a1ea66d0a36df605047fde42ed91f0.pem";
const std::string kTopic = "arn:aws:sns:us-east-1:123456789012:incident-alerts";
constexpr int64_t kVectorTimeMs = 1'749'720'413'589;  // 2025-06-12T09:26:53.589Z, vector 02
constexpr int64_t kConfirmationTimeMs = 1'749'564'131'077;  // 2025-06-10T14:02:11.077Z, 03 and 04

config::SnsSettings topics(std::vector<std::string> patterns) {
  config::SnsSettings s;
  s.topics = std::move(patterns);
  return s;
}

std::string body(const std::string& stem) { return testing::readFile(kFixtures + stem + ".json"); }

class SnsReceiverTest : public ::testing::Test {
 protected:
  std::unique_ptr<SnsReceiver> make(config::SnsSettings settings = {}) {
    if (settings.topics.empty()) settings.topics = {kTopic};
    auto r = SnsReceiver::create(settings, clock_, [this](const std::string& url) {
      fetched_.push_back(url);
      if (url == kCertUrl) return core::Result<std::string>(testing::readFile(kFixtures + "signing-cert.pem"));
      if (url.find("Action=ConfirmSubscription") != std::string::npos) {
        if (confirm_fails_) return core::Result<std::string>(core::fail(ErrorCode::kUnavailable, "connection refused"));
        return core::Result<std::string>("<ConfirmSubscriptionResponse/>");
      }
      return core::Result<std::string>(core::fail(ErrorCode::kPermissionDenied, "answered HTTP 404"));
    });
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    return r ? std::move(*r) : nullptr;
  }
  core::Result<SnsOutcome> receive(SnsReceiver& r, const std::string& stem,
                                   std::string_view type = "") {
    return r.receive(body(stem), type, "cloudwatch", {});
  }

  testing::FakeClock clock_{kVectorTimeMs};
  std::vector<std::string> fetched_;
  bool confirm_fails_ = false;
};

TEST_F(SnsReceiverTest, NotificationOfAnAllowedTopicBecomesAFiringAlert) {
  auto r = make();
  auto out = receive(*r, "02-notification-lambda-errors-ALARM-sv2", "Notification");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, SnsOutcome::Kind::kAlerts);
  ASSERT_EQ(out->parsed.alerts.size(), 1u);
  EXPECT_EQ(out->parsed.alerts[0].labels.at("FunctionName"), "payments-handler");
  EXPECT_EQ(out->parsed.alerts[0].status, "firing");
}

TEST_F(SnsReceiverTest, BothSignatureVersionsVerifyAndTheCertificateIsFetchedOnce) {
  auto r = make();
  ASSERT_TRUE(receive(*r, "01-notification-lambda-errors-ALARM-sv1"));
  ASSERT_TRUE(receive(*r, "02-notification-lambda-errors-ALARM-sv2"));
  ASSERT_TRUE(receive(*r, "06-notification-lambda-errors-OK-sv2"));
  EXPECT_EQ(fetched_, std::vector<std::string>{kCertUrl});
}

TEST_F(SnsReceiverTest, OkBecomesResolved) {
  auto r = make();
  auto out = receive(*r, "06-notification-lambda-errors-OK-sv2");
  ASSERT_TRUE(out) << out.error().message();
  ASSERT_EQ(out->parsed.alerts.size(), 1u);
  EXPECT_EQ(out->parsed.alerts[0].status, "resolved");
}

TEST_F(SnsReceiverTest, TamperedAndMislabelledMessagesAreRefused) {
  auto r = make();
  for (const char* stem : {"90-INVALID-notification-tampered-message-sv2",
                           "91-INVALID-notification-sv2-signature-labelled-sv1"}) {
    auto out = receive(*r, stem);
    ASSERT_FALSE(out) << stem;
    EXPECT_EQ(out.error().code(), ErrorCode::kPermissionDenied) << stem;
  }
}

TEST_F(SnsReceiverTest, AnotherTopicIsRefusedBeforeAnyFetch) {
  auto r = make(topics({"arn:aws:sns:us-east-1:123456789012:other"}));
  auto out = receive(*r, "04-subscription-confirmation-sv2");
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(out.error().message().find("is not one of the source's sns.topics"), std::string::npos);
  EXPECT_TRUE(fetched_.empty());  // neither the certificate nor the SubscribeURL
}

TEST_F(SnsReceiverTest, TopicsAreGlobs) {
  auto r = make(topics({"arn:aws:sns:*:123456789012:incident-*"}));
  EXPECT_TRUE(receive(*r, "02-notification-lambda-errors-ALARM-sv2"));
}

TEST_F(SnsReceiverTest, ConfirmationOfAnAllowedTopicFetchesItsSubscribeUrl) {
  clock_.set(kConfirmationTimeMs);
  auto r = make();
  auto out = receive(*r, "04-subscription-confirmation-sv2", "SubscriptionConfirmation");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, SnsOutcome::Kind::kConfirmed);
  ASSERT_EQ(fetched_.size(), 2u);
  EXPECT_EQ(fetched_[1].rfind("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription", 0),
            0u);
}

TEST_F(SnsReceiverTest, AFailedConfirmationIsWorthARetry) {
  confirm_fails_ = true;
  clock_.set(kConfirmationTimeMs);
  auto r = make();
  auto out = receive(*r, "03-subscription-confirmation-sv1");
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(out.error().message().find("confirming the subscription to " + kTopic),
            std::string::npos);
}

TEST_F(SnsReceiverTest, UnsubscribeConfirmationIsOnlyAcknowledged) {
  auto r = make();
  clock_.set(kVectorTimeMs + 8 * 86'400'000LL);  // vector 08 is from 2025-06-20
  auto out = receive(*r, "08-unsubscribe-confirmation-sv2");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, SnsOutcome::Kind::kUnsubscribed);
  EXPECT_EQ(fetched_.size(), 1u);  // the certificate; never its SubscribeURL
}

TEST_F(SnsReceiverTest, AnOldMessageIsRefused) {
  auto settings = topics({kTopic});
  settings.max_age = std::chrono::minutes(5);
  auto r = make(settings);
  clock_.advance(std::chrono::minutes(6));
  auto out = receive(*r, "02-notification-lambda-errors-ALARM-sv2");
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kPermissionDenied);
}

TEST_F(SnsReceiverTest, ACertificateFromAnotherHostIsNeverFetched) {
  auto settings = topics({kTopic});
  settings.cert_hosts = {"sns.eu-west-1.amazonaws.com"};
  auto r = make(settings);
  auto out = receive(*r, "02-notification-lambda-errors-ALARM-sv2");
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_TRUE(fetched_.empty());
}

TEST_F(SnsReceiverTest, PinnedCertificatesAreNeverFetched) {
  config::SnsSettings settings;
  settings.topics = {kTopic};
  settings.certificates = {{kCertUrl, kFixtures + "signing-cert.pem"}};
  auto r = make(settings);
  ASSERT_TRUE(receive(*r, "02-notification-lambda-errors-ALARM-sv2"));
  EXPECT_TRUE(fetched_.empty());
}

TEST_F(SnsReceiverTest, AnUnreadablePinnedCertificateFailsCreation) {
  config::SnsSettings settings;
  settings.topics = {kTopic};
  settings.certificates = {{kCertUrl, "/nonexistent/cert.pem"}};
  auto r = SnsReceiver::create(settings, clock_, nullptr);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("/nonexistent/cert.pem"), std::string::npos);
}

TEST_F(SnsReceiverTest, HeaderAndBodyMustAgreeOnTheType) {
  auto r = make();
  auto out = receive(*r, "02-notification-lambda-errors-ALARM-sv2", "SubscriptionConfirmation");
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(out.error().message().find("x-amz-sns-message-type"), std::string::npos);
}

TEST_F(SnsReceiverTest, AFailedCertificateFetchIsRetryableOnlyWhenTransient) {
  auto r = SnsReceiver::create(topics({kTopic}), clock_, [](const std::string&) {
    return core::Result<std::string>(core::fail(ErrorCode::kTimeout, "timed out"));
  });
  ASSERT_TRUE(r);
  auto out = (*r)->receive(body("02-notification-lambda-errors-ALARM-sv2"), "", "cw", {});
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kUnavailable);

  int fetches = 0;
  auto forged = SnsReceiver::create(topics({kTopic}), clock_, [&](const std::string&) {
    ++fetches;
    return core::Result<std::string>(core::fail(ErrorCode::kPermissionDenied, "answered HTTP 404"));
  });
  ASSERT_TRUE(forged);
  out = (*forged)->receive(body("02-notification-lambda-errors-ALARM-sv2"), "", "cw", {});
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kPermissionDenied);
  // A refused certificate is not fetched again for every message naming it, for a while.
  out = (*forged)->receive(body("02-notification-lambda-errors-ALARM-sv2"), "", "cw", {});
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(fetches, 1);
  clock_.advance(std::chrono::minutes(11));
  out = (*forged)->receive(body("02-notification-lambda-errors-ALARM-sv2"), "", "cw", {});
  EXPECT_EQ(fetches, 2);
}

}  // namespace
}  // namespace firebreak::app
