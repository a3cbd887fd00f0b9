// The request layer on a scripted HTTP stand-in: endpoints, what each protocol sends, each
// protocol's error shape parsed and classified.
#include "actions/aws/client.h"

#include <gtest/gtest.h>

#include "tests/actions/aws/fake_http.h"
#include "tests/fakes/fake_clock.h"

namespace firebreak::actions::aws {
namespace {

namespace fbt = firebreak::testing;
using testing::FakeHttp;
using testing::headerOf;
using testing::reply;
using Outcome = core::ActionResult::Outcome;

ClientConfig config(std::string region = "us-east-1", std::string endpoint_url = "") {
  ClientConfig c;
  c.region = std::move(region);
  c.endpoint_url = std::move(endpoint_url);
  return c;
}

std::string endpointOf(std::string_view service, const ClientConfig& c) {
  auto ep = resolveEndpoint(service, c);
  if (!ep) return "error: " + ep.error().message;
  return ep->url() + " @" + ep->signing_region;
}

// ---- endpoints ----

TEST(Endpoints, RegionalGlobalAndOverridden) {
  EXPECT_EQ(endpointOf("lambda", config("eu-west-1")),
            "https://lambda.eu-west-1.amazonaws.com @eu-west-1");
  EXPECT_EQ(endpointOf("iam", config("eu-west-1")), "https://iam.amazonaws.com @us-east-1");
  EXPECT_EQ(endpointOf("iam", config("cn-northwest-1")),
            "https://iam.cn-north-1.amazonaws.com.cn @cn-north-1");
  EXPECT_EQ(endpointOf("iam", config("us-gov-east-1")),
            "https://iam.us-gov.amazonaws.com @us-gov-west-1");
  EXPECT_EQ(endpointOf("ec2", config("cn-north-1")),
            "https://ec2.cn-north-1.amazonaws.com.cn @cn-north-1");
  EXPECT_EQ(endpointOf("sts", config("eu-west-1")),
            "https://sts.eu-west-1.amazonaws.com @eu-west-1");
  ClientConfig legacy = config("eu-west-1");
  legacy.sts_regional = false;
  EXPECT_EQ(endpointOf("sts", legacy), "https://sts.amazonaws.com @us-east-1");
  legacy.region = "ap-east-1";  // opted-in regions never had the global endpoint
  EXPECT_EQ(endpointOf("sts", legacy), "https://sts.ap-east-1.amazonaws.com @ap-east-1");

  EXPECT_EQ(endpointOf("iam", config("us-west-2", "http://127.0.0.1:5000/")),
            "http://127.0.0.1:5000 @us-west-2");
  EXPECT_EQ(endpointOf("s3", config("us-west-2", "https://proxy.example:443/aws/")),
            "https://proxy.example/aws @us-west-2");
}

TEST(Endpoints, RefusesWhatCouldRedirectTheSignedRequest) {
  EXPECT_EQ(endpointOf("iam", config("us-east-1.evil.com/")),
            "error: region 'us-east-1.evil.com/' is not a region name (like us-east-1)");
  EXPECT_EQ(endpointOf("iam", config("")),
            "error: region '' is not a region name (like us-east-1)");
  EXPECT_EQ(endpointOf("iam", config("us-east-1", "ftp://x")),
            "error: endpoint_url 'ftp://x': only http and https are supported");
  EXPECT_EQ(endpointOf("iam", config("us-east-1", "127.0.0.1:5000")),
            "error: endpoint_url '127.0.0.1:5000' has no scheme (http:// or https://)");
  EXPECT_EQ(endpointOf("iam", config("us-east-1", "http://user:pw@host")),
            "error: endpoint_url 'http://user:pw@host' needs a host and no user info");
}

// ---- error shapes ----

struct ErrorCase {
  std::string name;
  Protocol protocol;
  int status;
  std::map<std::string, std::string> headers;
  std::string body;
  std::string code;
  std::string message;
  std::string request_id;
  Outcome outcome;
  core::ErrorCode core_code;
};

class ErrorShapes : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ErrorShapes, ParsedAndClassified) {
  const ErrorCase& c = GetParam();
  AwsError e = parseErrorResponse(c.protocol, c.status, c.headers, c.body);
  EXPECT_EQ(e.code, c.code);
  EXPECT_EQ(e.message, c.message);
  EXPECT_EQ(e.request_id, c.request_id);
  EXPECT_EQ(e.http_status, c.status);
  EXPECT_EQ(outcomeFor(e), c.outcome);
  EXPECT_EQ(e.toError().code(), c.core_code) << e.toError().str();
}

INSTANTIATE_TEST_SUITE_P(
    EachProtocol, ErrorShapes,
    ::testing::Values(
        ErrorCase{"query_iam_no_such_entity",
                  Protocol::kQuery,
                  404,
                  {},
                  "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>"
                  "<Type>Sender</Type><Code>NoSuchEntity</Code><Message>The role with name x "
                  "cannot be found.</Message></Error><RequestId>4f0e</RequestId></ErrorResponse>",
                  "NoSuchEntity",
                  "The role with name x cannot be found.",
                  "4f0e",
                  Outcome::kPermanent,
                  core::ErrorCode::kNotFound},
        ErrorCase{"query_throttling",
                  Protocol::kQuery,
                  400,
                  {},
                  "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate "
                  "exceeded</Message></Error><RequestId>r2</RequestId></ErrorResponse>",
                  "Throttling",
                  "Rate exceeded",
                  "r2",
                  Outcome::kRetryable,
                  core::ErrorCode::kUnavailable},
        ErrorCase{"query_access_denied",
                  Protocol::kQuery,
                  403,
                  {},
                  "<ErrorResponse><Error><Code>AccessDenied</Code><Message>not authorized"
                  "</Message></Error></ErrorResponse>",
                  "AccessDenied",
                  "not authorized",
                  "",
                  Outcome::kPermanent,
                  core::ErrorCode::kPermissionDenied},
        ErrorCase{"query_already_exists",
                  Protocol::kQuery,
                  409,
                  {},
                  "<ErrorResponse><Error><Code>EntityAlreadyExists</Code><Message>Role with name "
                  "r already exists.</Message></Error></ErrorResponse>",
                  "EntityAlreadyExists",
                  "Role with name r already exists.",
                  "",
                  Outcome::kPermanent,
                  core::ErrorCode::kAlreadyExists},
        ErrorCase{"query_service_failure",
                  Protocol::kQuery,
                  500,
                  {},
                  "<ErrorResponse><Error><Code>ServiceFailure</Code><Message>oops</Message>"
                  "</Error></ErrorResponse>",
                  "ServiceFailure",
                  "oops",
                  "",
                  Outcome::kRetryable,
                  core::ErrorCode::kUnavailable},
        ErrorCase{"ec2_not_found",
                  Protocol::kEc2Query,
                  400,
                  {},
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>"
                  "InvalidInstanceID.NotFound</Code><Message>The instance ID 'i-1' does not "
                  "exist</Message></Error></Errors><RequestID>ea96</RequestID></Response>",
                  "InvalidInstanceID.NotFound",
                  "The instance ID 'i-1' does not exist",
                  "ea96",
                  Outcome::kPermanent,
                  core::ErrorCode::kNotFound},
        ErrorCase{"ec2_request_limit",
                  Protocol::kEc2Query,
                  503,
                  {},
                  "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request "
                  "limit exceeded.</Message></Error></Errors><RequestID>x</RequestID></Response>",
                  "RequestLimitExceeded",
                  "Request limit exceeded.",
                  "x",
                  Outcome::kRetryable,
                  core::ErrorCode::kUnavailable},
        ErrorCase{"ec2_unauthorized",
                  Protocol::kEc2Query,
                  403,
                  {},
                  "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are "
                  "not authorized to perform this operation.</Message></Error></Errors>"
                  "</Response>",
                  "UnauthorizedOperation",
                  "You are not authorized to perform this operation.",
                  "",
                  Outcome::kPermanent,
                  core::ErrorCode::kPermissionDenied},
        ErrorCase{"json_secretsmanager_not_found",
                  Protocol::kJson,
                  400,
                  {{"x-amzn-requestid", "abc-1"}},
                  R"({"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException",)"
                  R"("Message":"Secrets Manager can't find the specified secret."})",
                  "ResourceNotFoundException",
                  "Secrets Manager can't find the specified secret.",
                  "abc-1",
                  Outcome::kPermanent,
                  core::ErrorCode::kNotFound},
        ErrorCase{"json_throttling",
                  Protocol::kJson,
                  400,
                  {},
                  R"({"__type":"ThrottlingException","message":"Rate exceeded"})",
                  "ThrottlingException",
                  "Rate exceeded",
                  "",
                  Outcome::kRetryable,
                  core::ErrorCode::kUnavailable},
        ErrorCase{
            "rest_json_lambda_not_found",
            Protocol::kRestJson,
            404,
            {{"x-amzn-errortype", "ResourceNotFoundException:http://internal.amazon.com/"},
             {"x-amzn-requestid", "lam-1"}},
            R"({"Type":"User","message":"Function not found: arn:aws:lambda:us-east-1:1:function:f"})",
            "ResourceNotFoundException",
            "Function not found: arn:aws:lambda:us-east-1:1:function:f",
            "lam-1",
            Outcome::kPermanent,
            core::ErrorCode::kNotFound},
        ErrorCase{
            "rest_json_lambda_too_many_requests",
            Protocol::kRestJson,
            429,
            {{"x-amzn-errortype", "TooManyRequestsException"}},
            R"({"Type":"User","message":"Rate Exceeded.","Reason":"CallerRateLimitExceeded"})",
            "TooManyRequestsException",
            "Rate Exceeded.",
            "",
            Outcome::kRetryable,
            core::ErrorCode::kUnavailable},
        ErrorCase{"rest_json_code_in_body_only",
                  Protocol::kRestJson,
                  400,
                  {},
                  R"({"code":"InvalidParameterValueException","message":"bad"})",
                  "InvalidParameterValueException",
                  "bad",
                  "",
                  Outcome::kPermanent,
                  core::ErrorCode::kInvalidArgument},
        ErrorCase{"rest_json_answered_with_an_xml_error",
                  Protocol::kRestJson,
                  403,
                  {},
                  "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ErrorResponse><Errors><Error>"
                  "<Code>SignatureDoesNotMatch</Code><Message>The request signature we "
                  "calculated does not match</Message><Type>Sender</Type></Error></Errors>"
                  "</ErrorResponse>",
                  "SignatureDoesNotMatch",
                  "The request signature we calculated does not match",
                  "",
                  Outcome::kPermanent,
                  core::ErrorCode::kPermissionDenied},
        ErrorCase{"rest_xml_s3_no_config",
                  Protocol::kRestXml,
                  404,
                  {{"x-amz-request-id", "s3-req"}},
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"
                  "NoSuchPublicAccessBlockConfiguration</Code><Message>The public access block "
                  "configuration was not found</Message><BucketName>b</BucketName><RequestId>"
                  "s3-req</RequestId></Error>",
                  "NoSuchPublicAccessBlockConfiguration",
                  "The public access block configuration was not found",
                  "s3-req",
                  Outcome::kPermanent,
                  core::ErrorCode::kNotFound},
        ErrorCase{"rest_xml_s3_slow_down",
                  Protocol::kRestXml,
                  503,
                  {},
                  "<Error><Code>SlowDown</Code><Message>Please reduce your request rate."
                  "</Message></Error>",
                  "SlowDown",
                  "Please reduce your request rate.",
                  "",
                  Outcome::kRetryable,
                  core::ErrorCode::kUnavailable},
        ErrorCase{"rest_xml_head_without_body",
                  Protocol::kRestXml,
                  404,
                  {},
                  "",
                  "404",
                  "no error details in the response",
                  "",
                  Outcome::kPermanent,
                  core::ErrorCode::kNotFound},
        ErrorCase{"proxy_html_502",
                  Protocol::kQuery,
                  502,
                  {},
                  "<html><body>Bad Gateway</body></html>",
                  "502",
                  "the response body is not an AWS query error",
                  "",
                  Outcome::kRetryable,
                  core::ErrorCode::kUnavailable},
        ErrorCase{"json_not_json_400",
                  Protocol::kJson,
                  400,
                  {},
                  "nope",
                  "400",
                  "the response body is not an AWS json error",
                  "",
                  Outcome::kPermanent,
                  core::ErrorCode::kInvalidArgument}),
    [](const auto& info) { return info.param.name; });

TEST(Errors, StrNamesOperationCodeStatusAndTrail) {
  AwsError e = parseErrorResponse(Protocol::kQuery, 404, {},
                                  "<ErrorResponse><Error><Code>NoSuchEntity</Code><Message>gone"
                                  "</Message></Error><RequestId>r1</RequestId></ErrorResponse>");
  e.operation = "iam:GetRole";
  e.context("checking role 'x'");
  EXPECT_EQ(e.str(),
            "iam:GetRole: NoSuchEntity: gone (HTTP 404, request id r1, while checking role 'x')");
  EXPECT_EQ(e.toError().message(), e.str());
}

TEST(Errors, ThrottlingCodesAsTheSdksListThem) {
  for (const char* code : {"Throttling", "ThrottlingException", "TooManyRequestsException",
                           "RequestLimitExceeded", "SlowDown", "EC2ThrottledException"})
    EXPECT_TRUE(isThrottlingCode(code)) << code;
  // IAM's LimitExceeded is a quota (too many roles), not a rate: retrying does not help.
  EXPECT_FALSE(isRetryable("LimitExceeded", 409));
  EXPECT_FALSE(isRetryable("ValidationError", 400));
  EXPECT_TRUE(isRetryable("Anything", 500));
  EXPECT_TRUE(isRetryable("Anything", 429));
}

TEST(Errors, TransportFailures) {
  auto timeout =
      transportError(core::Error(core::ErrorCode::kTimeout, "POST failed: Timeout"), "iam:GetRole");
  EXPECT_EQ(timeout.code, "Timeout");
  EXPECT_EQ(outcomeFor(timeout), Outcome::kRetryable);
  EXPECT_EQ(timeout.toError().code(), core::ErrorCode::kTimeout);
  auto refused = transportError(core::Error(core::ErrorCode::kUnavailable, "refused"), "x:Y");
  EXPECT_EQ(outcomeFor(refused), Outcome::kRetryable);
  EXPECT_EQ(refused.toError().code(), core::ErrorCode::kUnavailable);
  auto tls = transportError(core::Error(core::ErrorCode::kPermissionDenied, "cert"), "x:Y");
  EXPECT_EQ(outcomeFor(tls), Outcome::kPermanent);
  EXPECT_EQ(tls.toError().code(), core::ErrorCode::kPermissionDenied);
}

// ---- requests per protocol ----

class ClientTest : public ::testing::Test {
 protected:
  fbt::FakeClock clock{1'440'938'160'000};  // 2015-08-30T12:36:00Z
  std::shared_ptr<CredentialsProvider> creds = std::make_shared<StaticProvider>(
      Credentials{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", {}, "test"});
};

TEST_F(ClientTest, QueryPostsASignedForm) {
  FakeHttp http([](const builtin::HttpCall&) -> core::Result<builtin::HttpResponse> {
    return reply(200,
                 "<GetRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"
                 "<GetRoleResult><Role><RoleName>r</RoleName><Arn>arn:aws:iam::1:role/r</Arn>"
                 "</Role></GetRoleResult><ResponseMetadata><RequestId>q-1</RequestId>"
                 "</ResponseMetadata></GetRoleResponse>");
  });
  Client client(config("eu-west-1"), creds, clock, http.fn());
  auto r = client.query("iam", "GetRole", "2010-05-08", {{"RoleName", "r"}});
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_STREQ(r->result().child("Role").child_value("Arn"), "arn:aws:iam::1:role/r");
  EXPECT_EQ(r->http.request_id, "q-1");

  const auto call = http.calls().at(0);
  EXPECT_EQ(call.method, "POST");
  EXPECT_EQ(call.url, "https://iam.amazonaws.com/");
  EXPECT_EQ(*call.body, "Action=GetRole&Version=2010-05-08&RoleName=r");
  EXPECT_EQ(headerOf(call, "Host"), "iam.amazonaws.com");
  EXPECT_EQ(headerOf(call, "Content-Type"), "application/x-www-form-urlencoded; charset=utf-8");
  EXPECT_EQ(headerOf(call, "X-Amz-Date"), "20150830T123600Z");
  EXPECT_EQ(headerOf(call, "X-Amz-Security-Token"), "");

  // The same signature signRequest() computes for what was sent (IAM: us-east-1).
  SigningRequest sent{"POST", "/", "", {}, sha256Hex(*call.body)};
  for (const auto& h : call.headers)
    if (h.first != "Authorization" && h.first != "X-Amz-Date") sent.headers.push_back(h);
  SigningOptions opts;
  opts.region = "us-east-1";
  opts.service = "iam";
  opts.time = clock.now();
  EXPECT_EQ(headerOf(call, "Authorization"),
            signRequest(sent, *creds->credentials(), opts).authorization);
  EXPECT_NE(headerOf(call, "Authorization").find("/20150830/us-east-1/iam/aws4_request"),
            std::string::npos);
}

TEST_F(ClientTest, Ec2ResultIsTheRootAndErrorsUseItsShape) {
  FakeHttp http([](const builtin::HttpCall& call) -> core::Result<builtin::HttpResponse> {
    if (call.body->find("DescribeInstances") != std::string::npos)
      return reply(200,
                   "<DescribeInstancesResponse><requestId>e-1</requestId><reservationSet/>"
                   "</DescribeInstancesResponse>");
    return reply(400,
                 "<Response><Errors><Error><Code>InvalidGroup.NotFound</Code><Message>"
                 "no group</Message></Error></Errors><RequestID>e-2</RequestID></Response>");
  });
  Client client(config("eu-west-1"), creds, clock, http.fn());
  auto ok = client.query("ec2", "DescribeInstances", "2016-11-15", {{"InstanceId.1", "i-1"}});
  ASSERT_TRUE(ok) << ok.error().str();
  EXPECT_STREQ(ok->result().name(), "DescribeInstancesResponse");
  EXPECT_EQ(ok->http.request_id, "e-1");
  EXPECT_EQ(http.calls()[0].url, "https://ec2.eu-west-1.amazonaws.com/");

  auto bad = client.query("ec2", "DeleteSecurityGroup", "2016-11-15", {{"GroupId", "sg-1"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().str(),
            "ec2:DeleteSecurityGroup: InvalidGroup.NotFound: no group (HTTP 400, request id e-2)");
}

TEST_F(ClientTest, JsonSendsTheTarget) {
  FakeHttp http([](const builtin::HttpCall&) -> core::Result<builtin::HttpResponse> {
    return reply(200, R"({"ARN":"arn:aws:secretsmanager:us-east-1:1:secret:s","Name":"s"})");
  });
  Client client(config(), creds, clock, http.fn());
  auto r = client.json("secretsmanager", "secretsmanager", "DescribeSecret", {{"SecretId", "s"}});
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->body["Name"], "s");
  const auto call = http.calls().at(0);
  EXPECT_EQ(call.url, "https://secretsmanager.us-east-1.amazonaws.com/");
  EXPECT_EQ(headerOf(call, "X-Amz-Target"), "secretsmanager.DescribeSecret");
  EXPECT_EQ(headerOf(call, "Content-Type"), "application/x-amz-json-1.1");
  EXPECT_EQ(*call.body, R"({"SecretId":"s"})");
}

TEST_F(ClientTest, RestJsonPathAndEmptyAnswer) {
  FakeHttp http([](const builtin::HttpCall&) -> core::Result<builtin::HttpResponse> {
    return reply(200, "");
  });
  Client client(config("us-west-2"), creds, clock, http.fn());
  RestRequest req;
  req.service = "lambda";
  req.operation = "GetFunctionConcurrency";
  req.path = "/2019-09-30/functions/" + uriEncode("arn:aws:lambda:us-west-2:1:function:f") +
             "/concurrency";
  auto r = client.restJson(req);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_TRUE(r->body.is_object() && r->body.empty());
  const auto call = http.calls().at(0);
  EXPECT_EQ(call.method, "GET");
  EXPECT_FALSE(call.body);
  EXPECT_EQ(call.url,
            "https://lambda.us-west-2.amazonaws.com/2019-09-30/functions/"
            "arn%3Aaws%3Alambda%3Aus-west-2%3A1%3Afunction%3Af/concurrency");
  EXPECT_EQ(headerOf(call, "Content-Type"), "");
}

TEST_F(ClientTest, RestXmlS3AddressingAndPayloadHash) {
  FakeHttp http([](const builtin::HttpCall&) -> core::Result<builtin::HttpResponse> {
    return reply(200,
                 "<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls>"
                 "</PublicAccessBlockConfiguration>");
  });
  RestRequest req;
  req.service = "s3";
  req.operation = "PutPublicAccessBlock";
  req.method = "PUT";
  req.bucket = "logs-bucket";
  req.query = {{"publicAccessBlock", ""}};
  req.body = "<PublicAccessBlockConfiguration/>";
  req.content_md5 = true;

  Client aws(config("eu-west-1"), creds, clock, http.fn());
  auto r = aws.restXml(req);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_STREQ(r->root().child_value("BlockPublicAcls"), "true");
  auto call = http.calls().at(0);
  EXPECT_EQ(call.url, "https://logs-bucket.s3.eu-west-1.amazonaws.com/?publicAccessBlock");
  EXPECT_EQ(headerOf(call, "X-Amz-Content-SHA256"), sha256Hex(*req.body));
  EXPECT_EQ(headerOf(call, "Content-MD5"), contentMd5(*req.body));
  EXPECT_NE(headerOf(call, "Authorization")
                .find("SignedHeaders=content-md5;content-type;host;x-amz-content-sha256;"
                      "x-amz-date,"),
            std::string::npos);

  // Path style for an emulator, and for names that cannot be a TLS host label.
  Client moto(config("eu-west-1", "http://127.0.0.1:5000"), creds, clock, http.fn());
  ASSERT_TRUE(moto.restXml(req));
  EXPECT_EQ(http.calls().at(1).url, "http://127.0.0.1:5000/logs-bucket?publicAccessBlock");
  EXPECT_EQ(headerOf(http.calls().at(1), "Host"), "127.0.0.1:5000");
  req.bucket = "dotted.bucket.name";
  ASSERT_TRUE(aws.restXml(req));
  EXPECT_EQ(http.calls().at(2).url,
            "https://s3.eu-west-1.amazonaws.com/dotted.bucket.name?publicAccessBlock");
}

TEST_F(ClientTest, SessionCredentialsSendTheToken) {
  FakeHttp http([](const builtin::HttpCall&) -> core::Result<builtin::HttpResponse> {
    return reply(200,
                 "<GetCallerIdentityResponse><GetCallerIdentityResult/>"
                 "</GetCallerIdentityResponse>");
  });
  auto session = std::make_shared<StaticProvider>(Credentials{"ASIA", "s", "the-token", {}, ""});
  Client client(config(), session, clock, http.fn());
  ASSERT_TRUE(client.query("sts", "GetCallerIdentity", "2011-06-15"));
  EXPECT_EQ(headerOf(http.calls()[0], "X-Amz-Security-Token"), "the-token");
  EXPECT_NE(headerOf(http.calls()[0], "Authorization")
                .find("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"),
            std::string::npos);
}

TEST_F(ClientTest, FailuresBeforeAndAfterTheExchange) {
  FakeHttp timeout([](const builtin::HttpCall&) -> core::Result<builtin::HttpResponse> {
    return core::fail(core::ErrorCode::kTimeout, "POST failed: Timeout was reached");
  });
  Client slow(config(), creds, clock, timeout.fn());
  auto t = slow.query("sns", "Publish", "2010-03-31", {{"Message", "hi"}});
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().str(),
            "sns:Publish: Timeout: POST failed: Timeout was reached (while calling "
            "https://sns.us-east-1.amazonaws.com)");
  EXPECT_EQ(outcomeFor(t.error()), Outcome::kRetryable);

  FakeHttp big([](const builtin::HttpCall& call) -> core::Result<builtin::HttpResponse> {
    auto r = reply(200, std::string(call.max_body, 'x'));
    r.truncated = true;
    return r;
  });
  Client truncated(config(), creds, clock, big.fn());
  auto b = truncated.query("iam", "ListRoles", "2010-05-08");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, "ResponseTooLarge");

  FakeHttp garbage([](const builtin::HttpCall&) -> core::Result<builtin::HttpResponse> {
    return reply(200, "<unclosed");
  });
  Client unreadable(config(), creds, clock, garbage.fn());
  auto g = unreadable.query("iam", "ListRoles", "2010-05-08");
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code, "MalformedResponse");
  EXPECT_EQ(g.error().toError().code(), core::ErrorCode::kIo);

  Client anonymous_only(config(), nullptr, clock, garbage.fn());
  auto n = anonymous_only.query("iam", "ListRoles", "2010-05-08");
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().str(),
            "iam:ListRoles: NoCredentials: this client has no credentials provider");
}

TEST_F(ClientTest, CredentialErrorsNameTheOperation) {
  FakeHttp http([](const builtin::HttpCall&) -> core::Result<builtin::HttpResponse> {
    return reply(200, "");
  });
  struct Broken : CredentialsProvider {
    AwsResult<Credentials> credentials() override {
      return awsFail(makeError(AwsError::Source::kCredentials, "CredentialsError",
                               "the container credentials endpoint on 169.254.170.2 did not "
                               "answer",
                               true));
    }
    std::string name() const override { return "broken"; }
  };
  Client client(config(), std::make_shared<Broken>(), clock, http.fn());
  auto r = client.json("secretsmanager", "secretsmanager", "DescribeSecret", {{"SecretId", "s"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().operation, "secretsmanager:DescribeSecret");
  EXPECT_EQ(outcomeFor(r.error()), Outcome::kRetryable);
  EXPECT_TRUE(http.calls().empty());
}

// As botocore's query serializer: a space is '+', a '+' is %2B.
TEST(FormEncode, StrictPercentEncodingWithPlusForSpace) {
  EXPECT_EQ(formEncode({{"Action", "Publish"}, {"Message", "a b+c&d=é~"}}),
            "Action=Publish&Message=a+b%2Bc%26d%3D%C3%A9~");
}

}  // namespace
}  // namespace firebreak::actions::aws
