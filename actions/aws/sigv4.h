// AWS Signature Version 4, header signing: pure functions of the request, the credentials and
// the time, so that the AWS test-suite vectors and botocore can check them byte for byte.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "actions/aws/credentials.h"
#include "daemon/core/clock.h"

namespace firebreak::actions::aws {

using Headers = std::vector<std::pair<std::string, std::string>>;

// A request as it goes on the wire: the input of signing.
struct SigningRequest {
  std::string method = "GET";
  std::string path = "/";    // as sent: already percent-encoded, without the query
  std::string query;         // as sent, without '?'; empty for none
  Headers headers;           // must hold Host; all but the few below are signed
  std::string payload_hash;  // sha256Hex(body); empty: the hash of an empty body
};

struct SigningOptions {
  std::string region;
  std::string service;
  core::TimePoint time;
  // S3 signs the path exactly as sent; every other service normalizes it (dot segments,
  // repeated slashes) and percent-encodes it once more.
  bool normalize_path = true;
  bool double_encode_path = true;
  // S3 wants the payload hash in a signed x-amz-content-sha256 header.
  bool content_sha256_header = false;
  // A few services want X-Amz-Security-Token added after signing, outside the signature.
  bool sign_session_token = true;
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;  // lowercase hex
  std::string authorization;
  // What to add to the request, Authorization last: X-Amz-Date, x-amz-content-sha256 (when
  // asked), X-Amz-Security-Token (for session credentials), Authorization.
  Headers headers;
};

// Signs `request` with `credentials` at `options.time`. Headers never signed (as botocore):
// authorization, user-agent, expect, transfer-encoding, x-amzn-trace-id; an X-Amz-Date,
// X-Amz-Security-Token or x-amz-content-sha256 already in the request is replaced.
Signature signRequest(const SigningRequest& request, const Credentials& credentials,
                      const SigningOptions& options);

// The building blocks, exposed for tests and for callers that build paths and queries.

// 20150830T123600Z
std::string amzDate(core::TimePoint time);
// RFC 3986 percent-encoding: only A-Z a-z 0-9 - _ . ~ (and '/' when keep_slash) stay as is.
std::string uriEncode(std::string_view text, bool keep_slash = false);
// The query string in canonical form: each name and value decoded, encoded with
// uriEncode(), sorted by name then value; "a" becomes "a=".
std::string canonicalQuery(std::string_view query);
// The canonical URI of `path` (see SigningOptions).
std::string canonicalPath(std::string_view path, bool normalize, bool double_encode);
// Lowercase hex of the SHA-256 of `data`.
std::string sha256Hex(std::string_view data);
// Raw HMAC-SHA256 of `data` under `key`.
std::string hmacSha256(std::string_view key, std::string_view data);
// kSigning = HMAC chain of "AWS4" + secret over date (YYYYMMDD), region, service, "aws4_request".
std::string signingKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service);
std::string toHex(std::string_view bytes);
std::string base64(std::string_view bytes);
// Base64 of the MD5 of `data`: the Content-MD5 header some S3 calls require.
std::string contentMd5(std::string_view data);

}  // namespace firebreak::actions::aws
