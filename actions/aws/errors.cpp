#include "actions/aws/errors.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <pugixml.hpp>

#include "daemon/core/json.h"

namespace firebreak::actions::aws {
namespace {

using core::ErrorCode;

// As the AWS SDKs list them (botocore's standard retry mode, the Java and Go SDKs agree).
constexpr std::array<std::string_view, 14> kThrottlingCodes = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
};

constexpr std::array<std::string_view, 12> kTransientCodes = {
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServiceError",
    "InternalServiceErrorException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ServiceFailure",         // IAM's 500
    "Unavailable",            // EC2
    "IDPCommunicationError",  // STS: the web identity provider did not answer
};

constexpr std::array<std::string_view, 15> kAccessDeniedCodes = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",  // EC2
    "UnauthorizedAccess",
    "AuthFailure",  // EC2
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",  // S3
    "InvalidToken",
    "MissingAuthenticationToken",
    "IncompleteSignature",
    "AccessDeniedForDependencyException",
};

template <size_t N>
bool contains(const std::array<std::string_view, N>& list, std::string_view code) {
  return std::find(list.begin(), list.end(), code) != list.end();
}

std::string trimmed(std::string_view s, size_t max = 1000) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  std::string out(s.substr(0, max));
  if (s.size() > max) out += "...";
  return out;
}

std::string header(const std::map<std::string, std::string>& headers, const std::string& name) {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::string requestIdFromHeaders(const std::map<std::string, std::string>& headers) {
  for (const char* name : {"x-amzn-requestid", "x-amz-request-id", "x-amzn-request-id"}) {
    auto value = header(headers, name);
    if (!value.empty()) return value;
  }
  return {};
}

// "com.amazonaws.secretsmanager#ResourceNotFoundException" and
// "ResourceNotFoundException:http://internal.amazon.com/coral/..." both mean the bare name.
std::string bareCode(std::string_view code) {
  if (auto hash = code.rfind('#'); hash != std::string_view::npos) code = code.substr(hash + 1);
  if (auto colon = code.find(':'); colon != std::string_view::npos) code = code.substr(0, colon);
  return trimmed(code, 200);
}

bool parseXmlError(std::string_view body, AwsError& out) {
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size())) return false;
  // <ErrorResponse><Error> (Query), <Response><Errors><Error> (EC2), <Error> (S3).
  pugi::xml_node error = doc.select_node("//Error[Code]").node();
  if (!error) return false;
  out.code = bareCode(error.child_value("Code"));
  out.message = trimmed(error.child_value("Message"));
  for (const char* name : {"RequestId", "RequestID"}) {
    if (!out.request_id.empty()) break;
    if (auto node = error.child(name))
      out.request_id = trimmed(node.child_value(), 200);
    else if (auto found = doc.select_node((std::string("//") + name).c_str()))
      out.request_id = trimmed(found.node().child_value(), 200);
  }
  return !out.code.empty();
}

std::string jsonString(const core::Json& body, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    auto it = body.find(name);
    if (it != body.end() && it->is_string()) return it->get<std::string>();
  }
  return {};
}

bool parseJsonError(const std::map<std::string, std::string>& headers, std::string_view body,
                    AwsError& out) {
  core::Json json = core::Json::parse(body, nullptr, /*allow_exceptions=*/false);
  bool is_object = json.is_object();
  // The header is authoritative where both exist: Lambda puts "Type": "User" in the body.
  std::string code = header(headers, "x-amzn-errortype");
  if (code.empty() && is_object) code = jsonString(json, {"__type", "code", "Code"});
  if (code.empty()) return false;
  out.code = bareCode(code);
  if (is_object) out.message = trimmed(jsonString(json, {"message", "Message", "errorMessage"}));
  return !out.code.empty();
}

}  // namespace

const char* protocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kQuery:
      return "query";
    case Protocol::kEc2Query:
      return "ec2";
    case Protocol::kJson:
      return "json";
    case Protocol::kRestJson:
      return "rest-json";
    case Protocol::kRestXml:
      return "rest-xml";
  }
  return "?";
}

AwsError makeError(AwsError::Source source, std::string code, std::string message, bool retryable) {
  AwsError e;
  e.source = source;
  e.code = std::move(code);
  e.message = std::move(message);
  e.retryable = retryable;
  return e;
}

bool isThrottlingCode(std::string_view code) { return contains(kThrottlingCodes, code); }
bool isTransientCode(std::string_view code) { return contains(kTransientCodes, code); }
bool isAccessDeniedCode(std::string_view code) { return contains(kAccessDeniedCodes, code); }

bool isRetryable(std::string_view code, int http_status) {
  return isThrottlingCode(code) || isTransientCode(code) || http_status == 429 ||
         http_status >= 500;
}

core::ActionResult::Outcome outcomeFor(const AwsError& error) {
  return error.retryable ? core::ActionResult::Outcome::kRetryable
                         : core::ActionResult::Outcome::kPermanent;
}

std::string AwsError::str() const {
  std::string out;
  if (!operation.empty()) out += operation + ": ";
  out += code;
  if (!message.empty()) out += ": " + message;
  std::vector<std::string> notes;
  if (http_status) notes.push_back("HTTP " + std::to_string(http_status));
  if (!request_id.empty()) notes.push_back("request id " + request_id);
  for (const auto& what : trail) notes.push_back("while " + what);
  if (!notes.empty()) {
    out += " (";
    for (size_t i = 0; i < notes.size(); ++i) out += (i ? ", " : "") + notes[i];
    out += ")";
  }
  return out;
}

core::Error AwsError::toError() const {
  ErrorCode c = ErrorCode::kInvalidArgument;
  if (source == Source::kTransport) {
    c = code == "Timeout" ? ErrorCode::kTimeout : ErrorCode::kUnavailable;
    if (!retryable) c = code == "TlsError" ? ErrorCode::kPermissionDenied : ErrorCode::kIo;
  } else if (source == Source::kCredentials) {
    c = retryable ? ErrorCode::kUnavailable : ErrorCode::kFailedPrecondition;
    if (isAccessDeniedCode(code)) c = ErrorCode::kPermissionDenied;
  } else if (source == Source::kResponse) {
    c = ErrorCode::kIo;
  } else if (source == Source::kRequest) {
    c = ErrorCode::kInvalidArgument;
  } else if (retryable) {
    c = ErrorCode::kUnavailable;
  } else if (isAccessDeniedCode(code) || http_status == 403) {
    c = ErrorCode::kPermissionDenied;
  } else if (code.rfind("NoSuch", 0) == 0 || code.find("NotFound") != std::string::npos ||
             http_status == 404) {
    c = ErrorCode::kNotFound;
  } else if (code.find("AlreadyExists") != std::string::npos ||
             code.find("Duplicate") != std::string::npos || code == "ResourceExistsException") {
    c = ErrorCode::kAlreadyExists;
  }
  // The message carries everything (operation, code, status); no trail, it is in str().
  return core::Error(c, str());
}

AwsError parseErrorResponse(Protocol protocol, int http_status,
                            const std::map<std::string, std::string>& headers,
                            std::string_view body) {
  AwsError out;
  out.source = AwsError::Source::kService;
  out.http_status = http_status;
  bool parsed = false;
  // The protocol's own shape first, then the other family's: fronting layers (and moto's
  // authentication) answer JSON services with XML errors and the reverse.
  bool xml_first = protocol == Protocol::kQuery || protocol == Protocol::kEc2Query ||
                   protocol == Protocol::kRestXml;
  if (xml_first)
    parsed = parseXmlError(body, out) || parseJsonError(headers, body, out);
  else
    parsed = parseJsonError(headers, body, out) || parseXmlError(body, out);
  if (!parsed) {
    out.code = std::to_string(http_status);
    out.message = body.empty() ? "no error details in the response"
                               : "the response body is not an AWS " +
                                     std::string(protocolName(protocol)) + " error";
  }
  std::string from_headers = requestIdFromHeaders(headers);
  if (!from_headers.empty()) out.request_id = from_headers;
  out.retryable = isRetryable(out.code, http_status);
  return out;
}

}  // namespace firebreak::actions::aws
