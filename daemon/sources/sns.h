// The `sns` source: Amazon SNS deliveries to an HTTP(S) subscription, and the CloudWatch alarm
// a Notification carries. Pure functions: fetching the signing certificate, confirming a
// subscription and the clock belong to the caller, so that each step can be tested alone.
//
// The order a receiver must follow: parseSnsMessage, checkSigningCertUrl, fetch the
// certificate (HTTPS only), verifySnsSignature, checkSnsAge; only then act on the message.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/result.h"
#include "daemon/sources/parsed_request.h"

namespace firebreak::sources {

struct SnsMessage {
  std::string type;  // Notification | SubscriptionConfirmation | UnsubscribeConfirmation
  std::string message_id;
  std::string topic_arn;
  bool has_subject = false;  // an absent Subject is left out of the string to sign
  std::string subject;
  std::string message;
  std::string timestamp;  // as sent: part of the string to sign
  int64_t timestamp_ms = 0;
  std::string signature_version;  // "1" (SHA1withRSA) or "2" (SHA256withRSA)
  std::string signature;          // base64
  std::string signing_cert_url;
  std::string subscribe_url;  // confirmations only
  std::string token;          // confirmations only
  std::string unsubscribe_url;
};

// The JSON body (SNS sends it as text/plain). Errors (kInvalidArgument) name the field:
// "body: missing 'Signature'", "Type: expected one of Notification, SubscriptionConfirmation,
// UnsubscribeConfirmation, got 'Other'".
core::Result<SnsMessage> parseSnsMessage(std::string_view body, const ParseOptions& options = {});

// What SNS signed: for each present key of the type's list, in byte order, key LF value LF.
std::string snsStringToSign(const SnsMessage& message);

// The URL must be https on the default port, with no user info, a host matching one of
// `host_patterns` (globs, "sns.*.amazonaws.com" when empty) and a path ending in ".pem":
// anything else could make the daemon trust a certificate anyone can mint.
core::Status checkSigningCertUrl(std::string_view url, const std::vector<std::string>& host_patterns);

// Verifies the signature with the certificate's public key (PEM). SignatureVersion 1 is
// SHA1withRSA, 2 is SHA256withRSA; any other version is refused. kPermissionDenied when the
// signature does not verify, kInvalidArgument for a certificate or signature that cannot be
// read.
core::Status verifySnsSignature(const SnsMessage& message, std::string_view certificate_pem);

// A message signed more than `max_age_ms` before `now_ms` (or that far in the future) is
// refused (kPermissionDenied): a captured delivery cannot be replayed later.
core::Status checkSnsAge(const SnsMessage& message, int64_t now_ms, int64_t max_age_ms);

// A Notification's Message read as a CloudWatch alarm state change: one alert, named after
// the alarm, firing for ALARM and resolved for OK (INSUFFICIENT_DATA gives none: nothing is
// known to be wrong or right). CloudWatch says when the state changed, not when the episode
// began, so the alert's fingerprint is the alarm's ARN and its start is 0: a retry of the same
// state is a repeat, the next state is news. Labels: alertname, account, region, namespace,
// metric, and each dimension under its own name (FunctionName, InstanceId, ...). Errors name
// the field inside Message ("Message.NewStateValue: ...").
core::Result<ParsedRequest> cloudWatchAlarmAlerts(const SnsMessage& message,
                                                  const std::string& source_name,
                                                  const ParseOptions& options = {});

}  // namespace firebreak::sources
