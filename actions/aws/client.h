// The AWS request layer: endpoints, signing, the four wire protocols the actions need, and
// errors parsed from each protocol's error shape. Blocking (libcurl): run it off the io thread.
// One call is one HTTP exchange: the engine owns retries.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <pugixml.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "actions/aws/credentials.h"
#include "actions/aws/errors.h"
#include "actions/aws/sigv4.h"
#include "daemon/core/clock.h"
#include "daemon/core/json.h"

namespace firebreak::actions::aws {

struct ClientConfig {
  std::string region;        // required: us-east-1, eu-west-1, ...
  std::string endpoint_url;  // every service at this URL (moto_server); empty: AWS's endpoints
  // STS at sts.<region>.amazonaws.com (what the SDKs do now); false: the global
  // sts.amazonaws.com for the regions that had it.
  bool sts_regional = true;
  std::chrono::milliseconds timeout{30'000};  // one exchange, connect included
  size_t max_response = size_t{16} << 20;     // a larger answer is an error, not truncated
  std::shared_ptr<spdlog::logger> log;        // optional: one debug line per call, no secrets
};

struct Endpoint {
  std::string scheme;          // https, or http for an emulator
  std::string authority;       // host[:port], the Host header
  std::string base_path;       // "" or "/prefix" of an endpoint_url
  std::string signing_region;  // us-east-1 for the global endpoints
  std::string url() const { return scheme + "://" + authority + base_path; }
};

// Where `service` lives: endpoint_url when set, else https://<service>.<region>.amazonaws.com
// (amazonaws.com.cn in China), IAM's global endpoint (signed for us-east-1, cn-north-1 or
// us-gov-west-1) and STS per ClientConfig::sts_regional.
AwsResult<Endpoint> resolveEndpoint(std::string_view service, const ClientConfig& config);

using QueryParams = std::vector<std::pair<std::string, std::string>>;

struct CallOptions {
  std::chrono::milliseconds timeout{0};      // 0: the client's
  const core::CancelFlag* cancel = nullptr;  // aborts the exchange (a Retryable error)
  bool anonymous = false;                    // unsigned (sts:AssumeRoleWithWebIdentity)
};

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercase
  std::string body;
  std::string request_id;
};

struct XmlResponse {
  Response http;
  std::shared_ptr<pugi::xml_document> doc;
  // The document element (<GetRoleResponse>, <DescribeInstancesResponse>,
  // <PublicAccessBlockConfiguration>).
  pugi::xml_node root() const { return doc->document_element(); }
  // Query: <ActionResult> under the root; EC2 and REST-XML have none and give the root.
  pugi::xml_node result() const;
};

struct JsonResponse {
  Response http;
  core::Json body;  // {} for an empty body
};

// A REST call (Lambda, S3) or, with Protocol::kQuery/kJson, the raw form of the others.
struct RestRequest {
  std::string service;    // "lambda", "s3": the endpoint and signing name
  std::string operation;  // "GetFunctionConcurrency": named in errors and logs
  std::string method = "GET";
  std::string path = "/";  // percent-encoded: build labels with uriEncode()
  QueryParams query;       // encoded by the client
  Headers headers;
  std::optional<std::string> body;
  std::string bucket;        // S3: the bucket, addressed virtual-host style on AWS
  bool content_md5 = false;  // S3 calls that require a Content-MD5 of the body
};

class Client {
 public:
  // `credentials` may be null for a client that only makes anonymous calls.
  Client(ClientConfig config, std::shared_ptr<CredentialsProvider> credentials,
         const core::Clock& clock, HttpFn http = builtin::httpCall);

  // Query protocol (IAM, STS, SNS; EC2's variant): POST Action=...&Version=...&params as a
  // form; list members are the caller's ("Member.1", "Filter.1.Name").
  AwsResult<XmlResponse> query(std::string_view service, std::string_view action,
                               std::string_view version, const QueryParams& params = {},
                               const CallOptions& options = {});
  // JSON 1.1 (Secrets Manager): POST / with X-Amz-Target: <target_prefix>.<operation>.
  AwsResult<JsonResponse> json(std::string_view service, std::string_view target_prefix,
                               std::string_view operation, const core::Json& body,
                               const CallOptions& options = {});
  // REST-JSON (Lambda): a JSON body is sent with Content-Type application/json.
  AwsResult<JsonResponse> restJson(const RestRequest& request, const CallOptions& options = {});
  // REST-XML (S3): the payload is signed (x-amz-content-sha256), the path is not normalized;
  // a body goes as application/xml unless the request names a type.
  AwsResult<XmlResponse> restXml(const RestRequest& request, const CallOptions& options = {});

  // One signed exchange; a status >= 300 becomes the error parsed per `protocol`.
  AwsResult<Response> send(Protocol protocol, const RestRequest& request,
                           const CallOptions& options = {});

  const ClientConfig& config() const { return config_; }

 private:
  ClientConfig config_;
  std::shared_ptr<CredentialsProvider> credentials_;
  const core::Clock& clock_;
  HttpFn http_;
};

// "Action=GetRole&RoleName=x&Version=2010-05-08": a form body, names and values
// percent-encoded but for the unreserved characters, a space as '+'.
std::string formEncode(const QueryParams& params);

// Maps an httpCall() failure to an AwsError: timeouts, connection and receive failures are
// Retryable; a malformed URL or failed TLS verification is not.
AwsError transportError(const core::Error& error, const std::string& operation);

}  // namespace firebreak::actions::aws
