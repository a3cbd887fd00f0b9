#include "actions/aws/client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace firebreak::actions::aws {
namespace {

using Source = AwsError::Source;

AwsError requestError(std::string message) {
  return makeError(Source::kRequest, "InvalidRequest", std::move(message), false);
}

bool isLabel(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// Bucket names that can be a DNS label under s3.<region>.amazonaws.com over TLS (no dots:
// the wildcard certificate covers one label only).
bool virtualHostable(std::string_view bucket) {
  return bucket.size() >= 3 && bucket.size() <= 63 && isLabel(bucket) && bucket.front() != '-' &&
         bucket.back() != '-';
}

std::string partitionSuffix(std::string_view region) {
  return region.rfind("cn-", 0) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
}

// The regions where the SDKs' "legacy" STS setting still meant the global endpoint.
constexpr std::array<std::string_view, 16> kStsLegacyGlobalRegions = {
    "ap-northeast-1", "ap-south-1",   "ap-southeast-1", "ap-southeast-2",
    "aws-global",     "ca-central-1", "eu-central-1",   "eu-north-1",
    "eu-west-1",      "eu-west-2",    "eu-west-3",      "sa-east-1",
    "us-east-1",      "us-east-2",    "us-west-1",      "us-west-2",
};

AwsResult<Endpoint> parseEndpointUrl(const std::string& url, const std::string& region) {
  Endpoint ep;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos)
    return awsFail(requestError("endpoint_url '" + url + "' has no scheme (http:// or https://)"));
  ep.scheme = url.substr(0, scheme_end);
  for (char& c : ep.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ep.scheme != "http" && ep.scheme != "https")
    return awsFail(requestError("endpoint_url '" + url + "': only http and https are supported"));
  std::string rest = url.substr(scheme_end + 3);
  auto slash = rest.find_first_of("/?#");
  ep.authority = rest.substr(0, slash);
  if (slash != std::string::npos) {
    if (rest[slash] != '/')
      return awsFail(requestError("endpoint_url '" + url + "' may not have a query or fragment"));
    ep.base_path = rest.substr(slash);
    while (!ep.base_path.empty() && ep.base_path.back() == '/') ep.base_path.pop_back();
  }
  if (ep.authority.empty() || ep.authority.find('@') != std::string::npos)
    return awsFail(requestError("endpoint_url '" + url + "' needs a host and no user info"));
  // The Host header (and so the signature) leaves out a default port, as the SDKs do.
  auto strip = [&](std::string_view port) {
    if (ep.authority.size() > port.size() &&
        ep.authority.compare(ep.authority.size() - port.size(), port.size(), port) == 0)
      ep.authority.resize(ep.authority.size() - port.size());
  };
  if (ep.scheme == "https") strip(":443");
  if (ep.scheme == "http") strip(":80");
  ep.signing_region = region;
  return ep;
}

std::string queryString(const QueryParams& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += uriEncode(name);
    // A sub-resource ("?publicAccessBlock") goes as a bare name, as the SDKs send it.
    if (!value.empty()) out += "=" + uriEncode(value);
  }
  return out;
}

bool hasHeader(const Headers& headers, std::string_view lname) {
  return std::any_of(headers.begin(), headers.end(), [&](const auto& h) {
    if (h.first.size() != lname.size()) return false;
    for (size_t i = 0; i < lname.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(h.first[i])) != lname[i]) return false;
    return true;
  });
}

AwsResult<std::shared_ptr<pugi::xml_document>> parseXml(const Response& response,
                                                        const std::string& operation) {
  auto doc = std::make_shared<pugi::xml_document>();
  if (response.body.empty()) return doc;
  pugi::xml_parse_result parsed = doc->load_buffer(response.body.data(), response.body.size());
  if (!parsed) {
    AwsError e = makeError(Source::kResponse, "MalformedResponse",
                           std::string("the response is not XML: ") + parsed.description() +
                               " at byte " + std::to_string(parsed.offset),
                           false);
    e.operation = operation;
    e.http_status = response.status;
    e.request_id = response.request_id;
    return awsFail(std::move(e));
  }
  return doc;
}

AwsResult<core::Json> parseJson(const Response& response, const std::string& operation) {
  if (response.body.empty()) return core::Json::object();
  core::Json json = core::Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    AwsError e =
        makeError(Source::kResponse, "MalformedResponse", "the response is not JSON", false);
    e.operation = operation;
    e.http_status = response.status;
    e.request_id = response.request_id;
    return awsFail(std::move(e));
  }
  return json;
}

std::string xmlRequestId(const pugi::xml_document& doc) {
  for (const char* path : {"//RequestId", "//RequestID", "//requestId"})
    if (auto node = doc.select_node(path)) return node.node().child_value();
  return {};
}

}  // namespace

AwsResult<Endpoint> resolveEndpoint(std::string_view service, const ClientConfig& config) {
  if (!isLabel(config.region))
    return awsFail(
        requestError("region '" + config.region + "' is not a region name (like us-east-1)"));
  if (!isLabel(service))
    return awsFail(requestError("service '" + std::string(service) + "' is not a service name"));
  if (!config.endpoint_url.empty()) return parseEndpointUrl(config.endpoint_url, config.region);

  const std::string& region = config.region;
  const std::string suffix = partitionSuffix(region);
  Endpoint ep{"https", std::string(service) + "." + region + "." + suffix, "", region};
  if (service == "iam") {
    // IAM is global: one endpoint per partition, signed for that partition's home region.
    if (region.rfind("cn-", 0) == 0) {
      ep.authority = "iam.cn-north-1.amazonaws.com.cn";
      ep.signing_region = "cn-north-1";
    } else if (region.rfind("us-gov-", 0) == 0) {
      ep.authority = "iam.us-gov.amazonaws.com";
      ep.signing_region = "us-gov-west-1";
    } else {
      ep.authority = "iam.amazonaws.com";
      ep.signing_region = "us-east-1";
    }
  } else if (service == "sts") {
    bool legacy = std::find(kStsLegacyGlobalRegions.begin(), kStsLegacyGlobalRegions.end(),
                            region) != kStsLegacyGlobalRegions.end();
    if (region == "aws-global" || (!config.sts_regional && legacy)) {
      ep.authority = "sts.amazonaws.com";
      ep.signing_region = "us-east-1";
    }
  }
  return ep;
}

pugi::xml_node XmlResponse::result() const {
  pugi::xml_node root = this->root();
  for (pugi::xml_node child : root.children()) {
    std::string_view name = child.name();
    if (name.size() > 6 && name.substr(name.size() - 6) == "Result") return child;
  }
  return root;
}

std::string formEncode(const QueryParams& params) {
  // A space is '+', as in every form body and as botocore sends it: moto (and anything that
  // re-encodes the form to check the signature) computes the payload hash from that form.
  auto encode = [](const std::string& text) {
    std::string e = uriEncode(text), out;
    for (size_t i = 0; i < e.size(); ++i) {
      if (e.compare(i, 3, "%20") == 0) {
        out += '+';
        i += 2;
      } else {
        out += e[i];
      }
    }
    return out;
  };
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += encode(name) + "=" + encode(value);
  }
  return out;
}

AwsError transportError(const core::Error& error, const std::string& operation) {
  AwsError e;
  e.source = Source::kTransport;
  e.operation = operation;
  e.message = error.message();
  switch (error.code()) {
    case core::ErrorCode::kTimeout:
      e.code = "Timeout";
      e.retryable = true;
      break;
    case core::ErrorCode::kUnavailable:
    case core::ErrorCode::kIo:
      e.code = "TransportError";
      e.retryable = true;
      break;
    case core::ErrorCode::kPermissionDenied:
      e.code = "TlsError";
      break;
    case core::ErrorCode::kInvalidArgument:
      e.source = Source::kRequest;
      e.code = "InvalidRequest";
      break;
    default:
      e.code = "TransportError";
      break;
  }
  return e;
}

Client::Client(ClientConfig config, std::shared_ptr<CredentialsProvider> credentials,
               const core::Clock& clock, HttpFn http)
    : config_(std::move(config)),
      credentials_(std::move(credentials)),
      clock_(clock),
      http_(std::move(http)) {}

AwsResult<Response> Client::send(Protocol protocol, const RestRequest& request,
                                 const CallOptions& options) {
  const std::string operation = request.service + ":" + request.operation;
  auto fail = [&](AwsError e) {
    if (e.operation.empty()) e.operation = operation;
    return awsFail(std::move(e));
  };

  auto ep = resolveEndpoint(request.service, config_);
  if (!ep) return fail(std::move(ep.error()));
  if (request.path.empty() || request.path.front() != '/')
    return fail(requestError("the request path must start with '/'"));

  const bool s3 = protocol == Protocol::kRestXml && request.service == "s3";
  std::string authority = ep->authority;
  std::string path = ep->base_path + request.path;
  if (!request.bucket.empty()) {
    if (config_.endpoint_url.empty() && virtualHostable(request.bucket)) {
      authority = request.bucket + "." + authority;
    } else {
      path = ep->base_path + "/" + uriEncode(request.bucket) +
             (request.path == "/" ? std::string() : request.path);
    }
  }
  const std::string query = queryString(request.query);
  const std::string body = request.body.value_or("");

  Headers headers;
  headers.emplace_back("Host", authority);
  for (const auto& h : request.headers) headers.push_back(h);
  if (request.content_md5 && !hasHeader(headers, "content-md5"))
    headers.emplace_back("Content-MD5", contentMd5(body));

  if (!options.anonymous) {
    if (!credentials_)
      return fail(makeError(Source::kCredentials, "NoCredentials",
                            "this client has no credentials provider", false));
    auto creds = credentials_->credentials();
    if (!creds) return fail(std::move(creds.error()));
    SigningRequest to_sign{request.method, path, query, headers, sha256Hex(body)};
    SigningOptions signing;
    signing.region = ep->signing_region;
    signing.service = request.service;
    signing.time = clock_.now();
    signing.normalize_path = !s3;
    signing.double_encode_path = !s3;
    signing.content_sha256_header = s3;
    Signature sig = signRequest(to_sign, *creds, signing);
    // signRequest replaced these if the caller set them; so does the request.
    std::erase_if(headers, [](const auto& h) {
      std::string l;
      for (char c : h.first) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return l == "authorization" || l == "x-amz-date" || l == "x-amz-security-token" ||
             l == "x-amz-content-sha256";
    });
    for (auto& h : sig.headers) headers.push_back(std::move(h));
  }

  builtin::HttpCall call;
  call.method = request.method;
  call.url = ep->scheme + "://" + authority + path + (query.empty() ? "" : "?" + query);
  call.headers = std::move(headers);
  if (request.body) call.body = request.body;
  call.timeout = options.timeout.count() > 0 ? options.timeout : config_.timeout;
  call.max_body = config_.max_response;
  call.cancel = options.cancel;

  auto answer = http_(call);
  if (!answer) {
    AwsError e = transportError(answer.error(), operation);
    e.context("calling " + ep->scheme + "://" + authority);
    return fail(std::move(e));
  }
  Response response{answer->status, std::move(answer->headers), std::move(answer->body), {}};
  for (const char* name : {"x-amzn-requestid", "x-amz-request-id", "x-amzn-request-id"}) {
    auto it = response.headers.find(name);
    if (it != response.headers.end() && response.request_id.empty())
      response.request_id = it->second;
  }
  if (config_.log)
    config_.log->debug(
        "aws {} -> HTTP {} in {} ms{}", operation, response.status, answer->duration.count(),
        response.request_id.empty() ? "" : " (request id " + response.request_id + ")");
  if (answer->truncated) {
    AwsError e = makeError(
        Source::kResponse, "ResponseTooLarge",
        "the response is larger than " + std::to_string(config_.max_response) + " bytes", false);
    e.http_status = response.status;
    e.request_id = response.request_id;
    return fail(std::move(e));
  }
  if (response.status < 200 || response.status >= 300) {
    AwsError e = parseErrorResponse(protocol, response.status, response.headers, response.body);
    if (e.request_id.empty()) e.request_id = response.request_id;
    return fail(std::move(e));
  }
  return response;
}

AwsResult<XmlResponse> Client::query(std::string_view service, std::string_view action,
                                     std::string_view version, const QueryParams& params,
                                     const CallOptions& options) {
  QueryParams form{{"Action", std::string(action)}, {"Version", std::string(version)}};
  form.insert(form.end(), params.begin(), params.end());
  RestRequest request;
  request.service = std::string(service);
  request.operation = std::string(action);
  request.method = "POST";
  request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
  request.body = formEncode(form);
  Protocol protocol = service == "ec2" ? Protocol::kEc2Query : Protocol::kQuery;
  auto response = send(protocol, request, options);
  if (!response) return awsFail(std::move(response.error()));
  auto doc = parseXml(*response, request.service + ":" + request.operation);
  if (!doc) return awsFail(std::move(doc.error()));
  if (response->request_id.empty()) response->request_id = xmlRequestId(**doc);
  return XmlResponse{std::move(*response), std::move(*doc)};
}

AwsResult<JsonResponse> Client::json(std::string_view service, std::string_view target_prefix,
                                     std::string_view operation, const core::Json& body,
                                     const CallOptions& options) {
  RestRequest request;
  request.service = std::string(service);
  request.operation = std::string(operation);
  request.method = "POST";
  request.headers.emplace_back("Content-Type", "application/x-amz-json-1.1");
  request.headers.emplace_back("X-Amz-Target",
                               std::string(target_prefix) + "." + std::string(operation));
  request.body = body.is_null() ? std::string("{}") : body.dump();
  auto response = send(Protocol::kJson, request, options);
  if (!response) return awsFail(std::move(response.error()));
  auto json = parseJson(*response, request.service + ":" + request.operation);
  if (!json) return awsFail(std::move(json.error()));
  return JsonResponse{std::move(*response), std::move(*json)};
}

AwsResult<JsonResponse> Client::restJson(const RestRequest& request, const CallOptions& options) {
  RestRequest with_type = request;
  if (request.body && !hasHeader(request.headers, "content-type"))
    with_type.headers.emplace_back("Content-Type", "application/json");
  auto response = send(Protocol::kRestJson, with_type, options);
  if (!response) return awsFail(std::move(response.error()));
  auto json = parseJson(*response, request.service + ":" + request.operation);
  if (!json) return awsFail(std::move(json.error()));
  return JsonResponse{std::move(*response), std::move(*json)};
}

AwsResult<XmlResponse> Client::restXml(const RestRequest& request, const CallOptions& options) {
  // Without a type of our own libcurl labels the body a form, which servers may consume as one.
  RestRequest with_type = request;
  if (request.body && !hasHeader(request.headers, "content-type"))
    with_type.headers.emplace_back("Content-Type", "application/xml");
  auto response = send(Protocol::kRestXml, with_type, options);
  if (!response) return awsFail(std::move(response.error()));
  auto doc = parseXml(*response, request.service + ":" + request.operation);
  if (!doc) return awsFail(std::move(doc.error()));
  return XmlResponse{std::move(*response), std::move(*doc)};
}

}  // namespace firebreak::actions::aws
