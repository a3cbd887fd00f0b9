// Errors of the AWS layer: what AWS answered (code, message, status, request id) or what went
// wrong before it could answer, classified once so that actions map it to Retryable or
// Permanent and the engine alone retries.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "daemon/core/action.h"
#include "daemon/core/result.h"

namespace firebreak::actions::aws {

// The wire protocols, each with its own error shape.
enum class Protocol {
  kQuery,     // IAM, STS, SNS: <ErrorResponse><Error><Code>
  kEc2Query,  // EC2: <Response><Errors><Error><Code>
  kJson,      // JSON 1.1 (Secrets Manager): {"__type": "...#Code", "message"}
  kRestJson,  // Lambda: x-amzn-ErrorType header, {"Type", "message"}
  kRestXml,   // S3: <Error><Code>
};
const char* protocolName(Protocol protocol);

struct AwsError {
  enum class Source {
    kService,      // AWS answered with an error
    kTransport,    // no answer: timeout, connection refused, TLS, cancelled
    kCredentials,  // no usable credentials (see kNoCredentials)
    kResponse,     // an answer this layer cannot read (not XML, truncated)
    kRequest,      // a request this layer refuses to send (bad region, bad URL)
  };

  Source source = Source::kService;
  // AWS's code ("NoSuchEntity", "Throttling"); for the other sources one of ours:
  // "Timeout", "TransportError", "NoCredentials", "CredentialsError", "MalformedResponse",
  // "InvalidRequest"; or the HTTP status ("503") when a failed response names no code.
  std::string code;
  std::string message;  // AWS's words, or ours; never a secret
  int http_status = 0;  // 0: no response
  std::string request_id;
  std::string operation;  // "iam:GetRole"
  bool retryable = false;
  std::vector<std::string> trail;  // what callers were doing, innermost first

  AwsError& context(std::string what) & {
    trail.push_back(std::move(what));
    return *this;
  }
  AwsError&& context(std::string what) && {
    trail.push_back(std::move(what));
    return std::move(*this);
  }

  // "iam:GetRole: NoSuchEntity: The role with name x cannot be found. (HTTP 404, request id
  // 4f0..., while checking role 'x')"
  std::string str() const;
  // For callers that speak core::Error: the code maps to kPermissionDenied (access denied,
  // bad signature), kNotFound, kAlreadyExists, kUnavailable (retryable), kTimeout,
  // kFailedPrecondition (no credentials), kIo (unreadable response), else kInvalidArgument.
  core::Error toError() const;
};

template <typename T>
using AwsResult = tl::expected<T, AwsError>;
using AwsStatus = AwsResult<void>;

inline tl::unexpected<AwsError> awsFail(AwsError error) {
  return tl::unexpected<AwsError>(std::move(error));
}
AwsError makeError(AwsError::Source source, std::string code, std::string message, bool retryable);

// The codes AWS services use for "slow down", as the AWS SDKs list them.
bool isThrottlingCode(std::string_view code);
// Codes of transient server-side failures worth retrying (InternalError, RequestTimeout, ...).
bool isTransientCode(std::string_view code);
// Throttling codes, transient codes, 429 and 5xx: retryable. Everything else (other 4xx) is not.
bool isRetryable(std::string_view code, int http_status);
// AccessDenied and its relatives, across services.
bool isAccessDeniedCode(std::string_view code);

// What an action answers for this error: Retryable or Permanent.
core::ActionResult::Outcome outcomeFor(const AwsError& error);

// The error in a failed response of `protocol`. A body that is not the protocol's error
// shape (a proxy's HTML page, an empty HEAD answer) gives the HTTP status as the code.
// `headers` names are lowercase (as httpCall gives them).
AwsError parseErrorResponse(Protocol protocol, int http_status,
                            const std::map<std::string, std::string>& headers,
                            std::string_view body);

}  // namespace firebreak::actions::aws
