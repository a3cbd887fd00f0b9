// The AWS actions (aws.lambda.*, aws.iam.*): their registration, and the pure pieces they are
// built from (settings, names, policy documents) so that tests can check them without AWS.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "actions/aws/client.h"
#include "actions/aws/credentials.h"
#include "daemon/core/action.h"

namespace firebreak::actions::aws {

// Registers every AWS action. Nothing is read or resolved here: `firebreak actions` and
// `validate` must work without AWS settings or credentials. The settings come from
// env.providers["aws"]; `environment` is the process environment (AWS_REGION, credentials).
core::Status registerActions(core::ProviderRegistry& registry, const core::ActionEnv& env,
                             Environment environment);
// The same, with the process's own environment.
core::Status registerActions(core::ProviderRegistry& registry, const core::ActionEnv& env);

// AWS's own deny-everything managed policy.
inline constexpr const char* kDefaultQuarantinePolicyArn = "arn:aws:iam::aws:policy/AWSDenyAll";

// providers.aws, with the environment's defaults filled in.
struct Settings {
  std::string region;        // providers.aws.region, else AWS_REGION, else AWS_DEFAULT_REGION
  std::string endpoint_url;  // providers.aws.endpoint_url, else AWS_ENDPOINT_URL
  std::string profile;       // providers.aws.profile: the shared-files profile; "" the default
  std::optional<AssumeRoleOptions> assume_role;  // providers.aws.assume_role
  // providers.aws.quarantine_policy_arn: the deny-all managed policy aws.iam.quarantine_*
  // attach when a step names none.
  std::string quarantine_policy_arn = kDefaultQuarantinePolicyArn;
};
// A missing region, or a key of the wrong type, is a Permanent error naming the key.
AwsResult<Settings> readSettings(const core::Json& providers, const Environment& environment);

// "arn:aws:iam::1:role/path/name" -> "name"; a plain name is returned as it is.
std::string roleNameOf(std::string_view role);

// The inline policy the AWS console's "Revoke active sessions" puts on a role: deny
// everything to sessions whose credentials were issued before `issued_before` (ISO 8601).
core::Json revokeOlderSessionsPolicy(std::string_view issued_before);
inline constexpr const char* kRevokePolicyName = "AWSRevokeOlderSessions";
// A policy document as IAM returns it (percent-encoded JSON) or as moto may (plain JSON).
std::optional<core::Json> parsePolicyDocument(std::string_view text);
// The Lambda REST path of a function's sub-resource: "/2017-10-31/functions/<fn>/concurrency",
// the name (or ARN) percent-encoded as one label.
std::string lambdaPath(std::string_view version, std::string_view function,
                       std::string_view suffix = {});

// Secrets Manager's ClientRequestToken for a rotation, from the step's idempotency key: the
// same token for every retry of the step (so AWS makes one new version, not two), shaped as a
// UUID (version 8, "custom"; 36 characters, within the 32-64 AWS accepts).
std::string rotationRequestToken(std::string_view idempotency_key);
// An SNS FIFO MessageDeduplicationId from the step's idempotency key: 64 hex characters.
std::string snsDeduplicationId(std::string_view idempotency_key);
// {name: value} as Publish's MessageAttributes.entry.N.{Name, Value.DataType=String,
// Value.StringValue}, by name; nullopt when a value is not a string.
std::optional<QueryParams> snsMessageAttributes(const core::Json& attributes);
// The evidence kept of a Lambda function from its GetFunctionConfiguration answer: runtime,
// handler, role, code hash and size, last modified, version, layers, and the NAMES of its
// environment variables, never their values (they are often secrets).
core::Json functionEvidence(const core::Json& configuration);

}  // namespace firebreak::actions::aws
