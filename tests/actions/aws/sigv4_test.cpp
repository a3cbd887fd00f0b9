// Signature Version 4 against every case of the AWS signing test suite in
// ../shared/fixtures/sigv4 (header signing), and the building blocks on their own.
#include "actions/aws/sigv4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "daemon/core/json.h"
#include "tests/fakes/test_env.h"

namespace firebreak::actions::aws {
namespace {

namespace fs = std::filesystem;
namespace fbt = firebreak::testing;

const std::string kSuite = FIREBREAK_SOURCE_DIR "/../shared/fixtures/sigv4";

// request.txt: "METHOD TARGET HTTP/1.1", "Name:value" lines (an indented line continues the
// previous value), an empty line, the body.
SigningRequest parseRequest(const std::string& text, std::string* body) {
  SigningRequest req;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  auto sp1 = line.find(' ');
  auto sp2 = line.rfind(' ');
  req.method = line.substr(0, sp1);
  std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  auto q = target.find('?');
  req.path = target.substr(0, q);
  if (q != std::string::npos) req.query = target.substr(q + 1);
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) break;
    if ((line.front() == ' ' || line.front() == '\t') && !req.headers.empty()) {
      req.headers.back().second += "\n" + line;
      continue;
    }
    auto colon = line.find(':');
    req.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  std::ostringstream rest;
  rest << in.rdbuf();
  *body = rest.str();
  return req;
}

std::string authorizationLine(const std::string& signed_request) {
  std::istringstream in(signed_request);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Authorization:", 0) == 0) return line.substr(14);
  return {};
}

std::vector<std::string> suiteCases() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kSuite))
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(SigV4Suite, HasEveryCase) {
  // The suite as copied holds 38 cases; fewer means the fixtures moved or were cut.
  EXPECT_EQ(suiteCases().size(), 38u) << kSuite;
}

class SigV4SuiteCase : public ::testing::TestWithParam<std::string> {};

TEST_P(SigV4SuiteCase, HeaderSigning) {
  const std::string dir = kSuite + "/" + GetParam() + "/";
  if (!fs::exists(dir + "header-canonical-request.txt"))
    GTEST_SKIP() << "the suite has no header-signing vectors for this case (query signing only)";

  core::Json context = core::Json::parse(fbt::readFile(dir + "context.json"));
  Credentials creds;
  creds.access_key_id = context["credentials"]["access_key_id"];
  creds.secret_access_key = context["credentials"]["secret_access_key"];
  creds.session_token = context["credentials"].value("token", "");

  std::string body;
  SigningRequest req = parseRequest(fbt::readFile(dir + "request.txt"), &body);
  req.payload_hash = sha256Hex(body);

  SigningOptions opts;
  opts.region = context["region"];
  opts.service = context["service"];
  auto time = parseAwsTime(context["timestamp"].get<std::string>());
  ASSERT_TRUE(time);
  opts.time = *time;
  opts.normalize_path = context.value("normalize", true);
  opts.content_sha256_header = context.value("sign_body", false);
  opts.sign_session_token = !context.value("omit_session_token", false);

  Signature sig = signRequest(req, creds, opts);
  EXPECT_EQ(sig.canonical_request, fbt::readFile(dir + "header-canonical-request.txt"));
  EXPECT_EQ(sig.string_to_sign, fbt::readFile(dir + "header-string-to-sign.txt"));
  EXPECT_EQ(sig.signature, fbt::readFile(dir + "header-signature.txt"));
  EXPECT_EQ(sig.authorization, authorizationLine(fbt::readFile(dir + "header-signed-request.txt")));
  // The session token is sent whether or not it is signed.
  bool sends_token = std::any_of(sig.headers.begin(), sig.headers.end(),
                                 [](const auto& h) { return h.first == "X-Amz-Security-Token"; });
  EXPECT_EQ(sends_token, !creds.session_token.empty());
}

INSTANTIATE_TEST_SUITE_P(AwsSigningTestSuite, SigV4SuiteCase, ::testing::ValuesIn(suiteCases()),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(SigV4, SigningKeyMatchesTheDocumentedExample) {
  // From the AWS documentation's "derive a signing key" example.
  EXPECT_EQ(
      toHex(signingKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")),
      "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

TEST(SigV4, AmzDateIsUtc) {
  EXPECT_EQ(amzDate(core::TimePoint(std::chrono::seconds(1440938160))), "20150830T123600Z");
}

TEST(SigV4, UriEncodeKeepsOnlyUnreserved) {
  EXPECT_EQ(uriEncode("a b/c~d_e.f-g+h=i&j%"), "a%20b%2Fc~d_e.f-g%2Bh%3Di%26j%25");
  EXPECT_EQ(uriEncode("a b/c", /*keep_slash=*/true), "a%20b/c");
  EXPECT_EQ(uriEncode("\xe1\x88\xb4"), "%E1%88%B4");
}

TEST(SigV4, CanonicalQuerySortsAndEncodes) {
  EXPECT_EQ(canonicalQuery(""), "");
  EXPECT_EQ(canonicalQuery("b=2&a=1&a=0"), "a=0&a=1&b=2");
  EXPECT_EQ(canonicalQuery("publicAccessBlock"), "publicAccessBlock=");
  // Already encoded stays as it is; raw bytes get encoded.
  EXPECT_EQ(canonicalQuery("k=%2F%20x&r=a b"), "k=%2F%20x&r=a%20b");
}

TEST(SigV4, CanonicalPathPerService) {
  // Other services: normalized and encoded once more ("%3A" in a Lambda ARN becomes "%253A").
  EXPECT_EQ(canonicalPath("/2015-03-31/functions/arn%3Aaws%3Alambda/x", true, true),
            "/2015-03-31/functions/arn%253Aaws%253Alambda/x");
  EXPECT_EQ(canonicalPath("", true, true), "/");
  // S3: exactly as sent.
  EXPECT_EQ(canonicalPath("/bucket/a//b/../c%20d", false, false), "/bucket/a//b/../c%20d");
}

TEST(SigV4, S3SignsThePayloadHashHeader) {
  SigningRequest req{
      "PUT", "/bucket", "publicAccessBlock", {{"Host", "s3.amazonaws.com"}}, sha256Hex("<x/>")};
  SigningOptions opts{"us-east-1", "s3",  core::TimePoint(std::chrono::seconds(1440938160)),
                      false,       false, true,
                      true};
  Signature sig = signRequest(req, {"AKIDEXAMPLE", "secret", "", {}, ""}, opts);
  EXPECT_NE(sig.canonical_request.find("x-amz-content-sha256:" + sha256Hex("<x/>") + "\n"),
            std::string::npos);
  EXPECT_NE(sig.authorization.find("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"),
            std::string::npos);
}

TEST(SigV4, HeadersItSetsReplaceTheCallers) {
  SigningRequest req{
      "GET",
      "/",
      "",
      {{"Host", "h"}, {"X-Amz-Date", "old"}, {"Authorization", "old"}, {"User-Agent", "x"}},
      ""};
  SigningOptions opts{"us-east-1", "service", core::TimePoint(std::chrono::seconds(1440938160)),
                      true,        true,      false,
                      true};
  Signature sig = signRequest(req, {"AKIDEXAMPLE", "secret", "tok", {}, ""}, opts);
  EXPECT_EQ(sig.canonical_request.find("old"), std::string::npos);
  EXPECT_EQ(sig.canonical_request.find("user-agent"), std::string::npos);
  ASSERT_EQ(sig.headers.size(), 3u);
  EXPECT_EQ(sig.headers[0].first, "X-Amz-Date");
  EXPECT_EQ(sig.headers[1], (std::pair<std::string, std::string>{"X-Amz-Security-Token", "tok"}));
  EXPECT_EQ(sig.headers[2].first, "Authorization");
}

TEST(SigV4, ContentMd5IsBase64) {
  EXPECT_EQ(contentMd5(""), "1B2M2Y8AsgTpgAmY7PhCfg==");
  EXPECT_EQ(base64("abc"), "YWJj");
}

}  // namespace
}  // namespace firebreak::actions::aws
