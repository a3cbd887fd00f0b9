// Credential providers on a fake clock and a scripted HTTP stand-in: files and profiles, the
// environment, STS, the container endpoint, instance metadata, the chain, and refreshing.
#include "actions/aws/credentials.h"

#include <gtest/gtest.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <sstream>

#include "actions/aws/sigv4.h"
#include "daemon/core/clock.h"
#include "tests/actions/aws/fake_http.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/test_env.h"

namespace firebreak::actions::aws {
namespace {

namespace fbt = firebreak::testing;
using testing::FakeHttp;
using testing::headerOf;
using testing::reply;
using namespace std::chrono_literals;

constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

std::string stsAnswer(const std::string& action, const std::string& key,
                      const std::string& expiration) {
  return "<" + action + "Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><" + action +
         "Result><Credentials><AccessKeyId>" + key +
         "</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey>"
         "<SessionToken>assumed-token</SessionToken><Expiration>" +
         expiration + "</Expiration></Credentials></" + action +
         "Result><ResponseMetadata><RequestId>r-1"
         "</RequestId></ResponseMetadata></" +
         action + "Response>";
}

std::string rfc3339(const core::Clock& clock, std::chrono::seconds from_now) {
  return core::formatTime(clock.nowMs() + std::chrono::milliseconds(from_now).count());
}

void expectNoSecret(const AwsError& e) {
  EXPECT_EQ(e.str().find(kSecret), std::string::npos) << e.str();
  EXPECT_EQ(e.str().find("assumed-secret"), std::string::npos) << e.str();
  EXPECT_EQ(e.str().find("session-token-value"), std::string::npos) << e.str();
}

// ---- files ----

TEST(Ini, ReadsSectionsCommentsAndSkipsNestedBlocks) {
  auto ini = parseIni(
      "# comment\n"
      "[default]\n"
      "AWS_Access_Key_Id = AKIDEXAMPLE\r\n"
      "aws_secret_access_key=secret = with equals\n"
      "; another comment\n"
      "s3 =\n"
      "  max_concurrent_requests = 10\n"
      "\n"
      "[ profile dev ]\n"
      "region = eu-west-1\n",
      "creds");
  ASSERT_TRUE(ini) << ini.error().str();
  EXPECT_EQ((*ini)["default"]["aws_access_key_id"], "AKIDEXAMPLE");
  EXPECT_EQ((*ini)["default"]["aws_secret_access_key"], "secret = with equals");
  EXPECT_EQ((*ini)["default"]["s3"], "");
  EXPECT_EQ((*ini)["default"].count("max_concurrent_requests"), 0u);
  EXPECT_EQ((*ini)["profile dev"]["region"], "eu-west-1");
}

TEST(Ini, ErrorsNameFileAndLineButNeverTheLine) {
  auto ini = parseIni(std::string("[default]\naws_secret_access_key ") + kSecret + "\n", "creds");
  ASSERT_FALSE(ini);
  EXPECT_EQ(ini.error().message, "creds:2: expected 'name = value' or '[section]'");
  expectNoSecret(ini.error());

  auto before = parseIni("key = value\n", "cfg");
  ASSERT_FALSE(before);
  EXPECT_EQ(before.error().message, "cfg:1: a setting before any [section]");
  auto header = parseIni("[default\n", "cfg");
  ASSERT_FALSE(header);
  EXPECT_EQ(header.error().message, "cfg:1: a section header must end with ']'");
}

class ProfileTest : public ::testing::Test {
 protected:
  fbt::TempDir dir;
  fbt::FakeClock clock;
  Environment env;

  void SetUp() override {
    env.set("HOME", dir.path().string());
    env.set("AWS_SHARED_CREDENTIALS_FILE", dir.file("credentials"));
    env.set("AWS_CONFIG_FILE", dir.file("config"));
  }
  ProviderDeps deps(HttpFn http = nullptr) {
    ProviderDeps d;
    d.clock = &clock;
    d.region = "us-east-1";
    if (http) d.http = std::move(http);
    return d;
  }
};

TEST_F(ProfileTest, StaticKeysFromTheCredentialsFileWinOverTheConfigFile) {
  fbt::writeFile(dir.file("credentials"),
                 std::string("[dev]\naws_access_key_id = AKIDFROMCREDS\naws_secret_access_key = ") +
                     kSecret + "\naws_session_token = tok\n");
  fbt::writeFile(dir.file("config"),
                 "[profile dev]\naws_access_key_id = AKIDFROMCONFIG\nregion = eu-west-1\n"
                 "[sso-session corp]\nsso_region = us-east-1\n");
  auto files = loadProfileFiles(env);
  ASSERT_TRUE(files) << files.error().str();
  EXPECT_EQ(files->config.count("sso-session corp"), 0u);
  auto dev = files->profile("dev");
  ASSERT_TRUE(dev);
  EXPECT_EQ((*dev)["aws_access_key_id"], "AKIDFROMCREDS");
  EXPECT_EQ((*dev)["region"], "eu-west-1");

  ProfileProvider provider(env, "dev", true, deps());
  auto creds = provider.credentials();
  ASSERT_TRUE(creds) << creds.error().str();
  EXPECT_EQ(creds->access_key_id, "AKIDFROMCREDS");
  EXPECT_EQ(creds->secret_access_key, kSecret);
  EXPECT_EQ(creds->session_token, "tok");
  EXPECT_EQ(creds->source, "profile 'dev'");
  EXPECT_FALSE(creds->expiration);
  EXPECT_EQ(creds->describe(), "AKID...REDS from profile 'dev'");
}

TEST_F(ProfileTest, MissingDefaultProfileIsNotConfiguredButANamedOneIsAnError) {
  ProfileProvider fallback(env, "default", false, deps());
  auto none = fallback.credentials();
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, "NoCredentials");

  ProfileProvider named(env, "prod", true, deps());
  auto missing = named.credentials();
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "CredentialsError");
  EXPECT_EQ(missing.error().message,
            "profile 'prod' is not in " + dir.file("credentials") + " or " + dir.file("config"));
}

TEST_F(ProfileTest, DefaultProfileWithOnlyARegionIsNotConfigured) {
  fbt::writeFile(dir.file("config"), "[default]\nregion = eu-west-1\n");
  ProfileProvider provider(env, "default", false, deps());
  auto r = provider.credentials();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "NoCredentials");
  EXPECT_EQ(regionFrom(env), "eu-west-1");
  env.set("AWS_REGION", "ap-south-1");
  EXPECT_EQ(regionFrom(env), "ap-south-1");
}

TEST_F(ProfileTest, HalfAKeyPairIsAnErrorWithoutTheSecret) {
  fbt::writeFile(dir.file("credentials"),
                 std::string("[default]\naws_secret_access_key = ") + kSecret + "\n");
  ProfileProvider provider(env, "default", false, deps());
  auto r = provider.credentials();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "profile 'default' has only one of aws_access_key_id and aws_secret_access_key");
  expectNoSecret(r.error());
}

TEST_F(ProfileTest, RoleArnOverSourceProfileAssumesTheRoleWithTheSourceKeys) {
  fbt::writeFile(dir.file("credentials"),
                 std::string("[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = ") +
                     kSecret + "\n");
  fbt::writeFile(dir.file("config"),
                 "[profile ops]\nrole_arn = arn:aws:iam::123456789012:role/responder\n"
                 "source_profile = base\nexternal_id = ext-42\nrole_session_name = oncall\n"
                 "duration_seconds = 1800\n");
  FakeHttp http([&](const builtin::HttpCall&) -> core::Result<builtin::HttpResponse> {
    return reply(200, stsAnswer("AssumeRole", "ASIAASSUMED", rfc3339(clock, 1800s)));
  });
  ProfileProvider provider(env, "ops", true, deps(http.fn()));
  auto creds = provider.credentials();
  ASSERT_TRUE(creds) << creds.error().str();
  EXPECT_EQ(creds->access_key_id, "ASIAASSUMED");
  EXPECT_EQ(creds->session_token, "assumed-token");
  ASSERT_TRUE(creds->expiration);
  EXPECT_EQ(core::Clock::toMs(*creds->expiration), clock.nowMs() + 1'800'000);

  ASSERT_EQ(http.calls().size(), 1u);
  const auto call = http.calls()[0];
  EXPECT_EQ(call.method, "POST");
  EXPECT_EQ(call.url, "https://sts.us-east-1.amazonaws.com/");
  ASSERT_TRUE(call.body);
  EXPECT_EQ(*call.body,
            "Action=AssumeRole&Version=2011-06-15"
            "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fresponder"
            "&RoleSessionName=oncall&DurationSeconds=1800&ExternalId=ext-42");
  EXPECT_NE(headerOf(call, "Authorization").find("Credential=AKIDBASE/"), std::string::npos);

  // Cached: a second call within the validity makes no request.
  ASSERT_TRUE(provider.credentials());
  EXPECT_EQ(http.calls().size(), 1u);
}

TEST_F(ProfileTest, SourceProfileCycleIsAnError) {
  fbt::writeFile(dir.file("config"),
                 "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n"
                 "[profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = a\n");
  ProfileProvider provider(env, "a", true, deps());
  auto r = provider.credentials();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "source_profile makes a cycle: 'a' -> 'b' -> 'a'");
}

TEST_F(ProfileTest, CredentialProcessIsRefusedClearly) {
  fbt::writeFile(dir.file("config"), "[default]\ncredential_process = /bin/get-creds\n");
  ProfileProvider provider(env, "default", false, deps());
  auto r = provider.credentials();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "CredentialsError");
  EXPECT_NE(r.error().message.find("credential_process"), std::string::npos);
}

// ---- environment ----

TEST(EnvironmentCredentials, KeysTokenAndExpiry) {
  Environment env({{"AWS_ACCESS_KEY_ID", "AKIDENV"},
                   {"AWS_SECRET_ACCESS_KEY", kSecret},
                   {"AWS_SESSION_TOKEN", "session-token-value"},
                   {"AWS_CREDENTIAL_EXPIRATION", "2026-01-02T03:04:05Z"}});
  auto creds = EnvironmentProvider(env).credentials();
  ASSERT_TRUE(creds);
  EXPECT_EQ(creds->access_key_id, "AKIDENV");
  EXPECT_EQ(creds->session_token, "session-token-value");
  EXPECT_EQ(creds->expiration, parseAwsTime("2026-01-02T03:04:05Z"));
}

TEST(EnvironmentCredentials, NoneIsNotConfiguredHalfIsAnError) {
  auto none = EnvironmentProvider(Environment()).credentials();
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, "NoCredentials");
  auto half = EnvironmentProvider(Environment({{"AWS_SECRET_ACCESS_KEY", kSecret}})).credentials();
  ASSERT_FALSE(half);
  EXPECT_EQ(half.error().code, "CredentialsError");
  EXPECT_EQ(half.error().message, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
  expectNoSecret(half.error());
}

TEST(EnvironmentCredentials, FromEnvp) {
  const char* envp[] = {"A=1", "B=x=y", "EMPTY=", "noequals", nullptr};
  Environment env = Environment::fromEnvp(envp);
  EXPECT_EQ(env.get("A"), "1");
  EXPECT_EQ(env.get("B"), "x=y");
  EXPECT_EQ(env.get("EMPTY"), std::nullopt);
  EXPECT_EQ(env.get("noequals"), std::nullopt);
}

// ---- STS ----

TEST(AssumeRole, ValidatesBeforeAnyCall) {
  AssumeRoleOptions o;
  o.role_arn = "responder";
  EXPECT_EQ(validateAssumeRole(o).error().message,
            "role 'responder' is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)");
  o.role_arn = "arn:aws:iam::123456789012:role/r";
  o.session_name = "has space";
  EXPECT_FALSE(validateAssumeRole(o));
  o.session_name = "ok";
  o.duration = 60s;
  EXPECT_EQ(validateAssumeRole(o).error().message,
            "role session duration must be 900 to 43200 seconds, not 60");
  o.duration = 900s;
  EXPECT_TRUE(validateAssumeRole(o));
}

TEST(AssumeRole, AccessDeniedKeepsItsCodeAndNoSecret) {
  fbt::FakeClock clock;
  FakeHttp http([](const builtin::HttpCall&) -> core::Result<builtin::HttpResponse> {
    return reply(403,
                 "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>"
                 "User: arn:aws:iam::123456789012:user/fb is not authorized to perform: "
                 "sts:AssumeRole</Message></Error><RequestId>req-9</RequestId></ErrorResponse>");
  });
  ProviderDeps deps;
  deps.clock = &clock;
  deps.http = http.fn();
  auto base = std::make_shared<StaticProvider>(
      Credentials{"AKIDBASE", kSecret, "session-token-value", {}, "static"});
  AssumeRoleOptions o;
  o.role_arn = "arn:aws:iam::210987654321:role/other-account";
  AssumeRoleProvider provider(base, o, deps);
  auto r = provider.credentials();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "AccessDenied");
  EXPECT_FALSE(r.error().retryable);
  EXPECT_EQ(r.error().str(),
            "sts:AssumeRole: AccessDenied: User: arn:aws:iam::123456789012:user/fb is not "
            "authorized to perform: sts:AssumeRole (HTTP 403, request id req-9, while assuming "
            "role arn:aws:iam::210987654321:role/other-account)");
  expectNoSecret(r.error());
  // The session token of the base goes in a header, signed.
  EXPECT_EQ(headerOf(http.calls()[0], "X-Amz-Security-Token"), "session-token-value");
}

TEST(AssumeRole, ThrottlingIsRetryable) {
  fbt::FakeClock clock;
  FakeHttp http([](const builtin::HttpCall&) -> core::Result<builtin::HttpResponse> {
    return reply(400,
                 "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded"
                 "</Message></Error></ErrorResponse>");
  });
  ProviderDeps deps;
  deps.clock = &clock;
  deps.http = http.fn();
  AssumeRoleOptions o;
  o.role_arn = "arn:aws:iam::1:role/r";
  AssumeRoleProvider provider(std::make_shared<StaticProvider>(Credentials{"A", "B", "", {}, ""}),
                              o, deps);
  auto r = provider.credentials();
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().retryable);
  EXPECT_EQ(outcomeFor(r.error()), core::ActionResult::Outcome::kRetryable);
}

TEST(WebIdentity, ReadsTheTokenFileAndCallsStsUnsigned) {
  fbt::TempDir dir;
  fbt::FakeClock clock;
  fbt::writeFile(dir.file("token"), "eyJhbGciOi.token.value\n");
  FakeHttp http([&](const builtin::HttpCall&) -> core::Result<builtin::HttpResponse> {
    return reply(200, stsAnswer("AssumeRoleWithWebIdentity", "ASIAWEB", rfc3339(clock, 3600s)));
  });
  ProviderDeps deps;
  deps.clock = &clock;
  deps.http = http.fn();
  deps.region = "eu-west-1";
  auto provider = WebIdentityProvider::fromEnvironment(
      Environment({{"AWS_WEB_IDENTITY_TOKEN_FILE", dir.file("token")},
                   {"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/web"},
                   {"AWS_ROLE_SESSION_NAME", "pod-1"}}),
      deps);
  auto creds = provider->credentials();
  ASSERT_TRUE(creds) << creds.error().str();
  EXPECT_EQ(creds->access_key_id, "ASIAWEB");
  const auto call = http.calls().at(0);
  EXPECT_EQ(call.url, "https://sts.eu-west-1.amazonaws.com/");
  EXPECT_EQ(headerOf(call, "Authorization"), "");
  EXPECT_NE(call.body->find("&WebIdentityToken=eyJhbGciOi.token.value"), std::string::npos);
  EXPECT_NE(call.body->find("&RoleSessionName=pod-1"), std::string::npos);

  auto unset = WebIdentityProvider::fromEnvironment(Environment(), deps)->credentials();
  EXPECT_EQ(unset.error().code, "NoCredentials");
  auto role_only = WebIdentityProvider::fromEnvironment(
                       Environment({{"AWS_ROLE_ARN", "arn:aws:iam::1:role/r"}}), deps)
                       ->credentials();
  EXPECT_EQ(role_only.error().code, "NoCredentials");
  auto no_role = WebIdentityProvider::fromEnvironment(
                     Environment({{"AWS_WEB_IDENTITY_TOKEN_FILE", dir.file("token")}}), deps)
                     ->credentials();
  EXPECT_EQ(no_role.error().code, "CredentialsError");
}

// ---- container and instance metadata ----

TEST(Container, RelativeUriWithTokenFile) {
  fbt::TempDir dir;
  fbt::FakeClock clock;
  fbt::writeFile(dir.file("auth"), "Bearer first\n");
  FakeHttp http([&](const builtin::HttpCall&) -> core::Result<builtin::HttpResponse> {
    return reply(200, R"({"AccessKeyId":"ASIACONT","SecretAccessKey":"s","Token":"t",)"
                      R"("Expiration":")" +
                          rfc3339(clock, 3600s) + R"("})");
  });
  ProviderDeps deps;
  deps.clock = &clock;
  deps.http = http.fn();
  ContainerProvider provider(
      Environment({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc"},
                   {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", dir.file("auth")},
                   {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "ignored"}}),
      deps);
  auto creds = provider.credentials();
  ASSERT_TRUE(creds) << creds.error().str();
  EXPECT_EQ(creds->access_key_id, "ASIACONT");
  EXPECT_EQ(http.calls()[0].url, "http://169.254.170.2/v2/credentials/abc");
  EXPECT_EQ(headerOf(http.calls()[0], "Authorization"), "Bearer first");
  // The token file is read again at every call: it rotates.
  fbt::writeFile(dir.file("auth"), "Bearer second");
  ASSERT_TRUE(provider.credentials());
  EXPECT_EQ(headerOf(http.calls()[1], "Authorization"), "Bearer second");
}

TEST(Container, FullUriOverPlainHttpOnlyToLoopbackOrTheContainerHosts) {
  fbt::FakeClock clock;
  FakeHttp http([](const builtin::HttpCall&) -> core::Result<builtin::HttpResponse> {
    return reply(500, R"({"code":"InternalError","message":"try later"})");
  });
  ProviderDeps deps;
  deps.clock = &clock;
  deps.http = http.fn();
  auto remote =
      ContainerProvider(
          Environment({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds"}}), deps)
          .credentials();
  ASSERT_FALSE(remote);
  EXPECT_NE(remote.error().message.find("not http to example.com"), std::string::npos);
  EXPECT_TRUE(http.calls().empty());

  auto local = ContainerProvider(
                   Environment({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds"},
                                {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "secret-auth"}}),
                   deps)
                   .credentials();
  ASSERT_FALSE(local);
  EXPECT_EQ(local.error().message,
            "the container credentials endpoint on 127.0.0.1 answered HTTP 500 InternalError: "
            "try later");
  EXPECT_TRUE(local.error().retryable);
  EXPECT_EQ(local.error().str().find("secret-auth"), std::string::npos);
}

TEST(InstanceMetadata, TokenThenRoleThenCredentials) {
  fbt::FakeClock clock;
  FakeHttp http([&](const builtin::HttpCall& call) -> core::Result<builtin::HttpResponse> {
    if (call.method == "PUT") return reply(200, "imds-session-token");
    if (headerOf(call, "X-aws-ec2-metadata-token") != "imds-session-token") return reply(401, "");
    if (call.url.ends_with("/security-credentials/")) return reply(200, "web-role\n");
    return reply(200, R"({"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDS",)"
                      R"("SecretAccessKey":"s","Token":"t","Expiration":")" +
                          rfc3339(clock, 6h) + R"("})");
  });
  ProviderDeps deps;
  deps.clock = &clock;
  deps.http = http.fn();
  InstanceMetadataProvider provider(
      Environment({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1338/"}}), deps);
  auto creds = provider.credentials();
  ASSERT_TRUE(creds) << creds.error().str();
  EXPECT_EQ(creds->access_key_id, "ASIAIMDS");
  EXPECT_EQ(creds->source, "instance role web-role");
  auto calls = http.calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].url, "http://127.0.0.1:1338/latest/api/token");
  EXPECT_EQ(headerOf(calls[0], "X-aws-ec2-metadata-token-ttl-seconds"), "21600");
  EXPECT_EQ(calls[2].url,
            "http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/web-role");
}

TEST(InstanceMetadata, NoAnswerMeansNotOnEc2) {
  fbt::FakeClock clock;
  FakeHttp http([](const builtin::HttpCall&) -> core::Result<builtin::HttpResponse> {
    return core::fail(core::ErrorCode::kTimeout, "PUT failed: Timeout was reached");
  });
  ProviderDeps deps;
  deps.clock = &clock;
  deps.http = http.fn();
  auto r = InstanceMetadataProvider(Environment(), deps).credentials();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "NoCredentials");
  EXPECT_EQ(r.error().message,
            "no instance metadata service at http://169.254.169.254 (PUT failed: Timeout was "
            "reached)");
  auto off = InstanceMetadataProvider(Environment({{"AWS_EC2_METADATA_DISABLED", "TRUE"}}), deps)
                 .credentials();
  EXPECT_EQ(off.error().message, "disabled by AWS_EC2_METADATA_DISABLED");
  EXPECT_EQ(http.calls().size(), 1u);
}

// ---- chain ----

TEST(Chain, SaysWhatEachProviderLackedWhenNoneIsConfigured) {
  fbt::TempDir dir;
  fbt::FakeClock clock;
  FakeHttp http([](const builtin::HttpCall&) -> core::Result<builtin::HttpResponse> {
    return core::fail(core::ErrorCode::kUnavailable, "PUT failed: Couldn't connect to server");
  });
  ProviderDeps deps;
  deps.clock = &clock;
  deps.http = http.fn();
  Environment env({{"HOME", dir.path().string()}});
  auto r = defaultCredentialsChain(env, deps)->credentials();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "NoCredentials");
  EXPECT_EQ(r.error().message,
            "no AWS credentials found (environment: AWS_ACCESS_KEY_ID is not set; "
            "profile 'default': no profile 'default' in " +
                dir.path().string() + "/.aws/credentials or " + dir.path().string() +
                "/.aws/config; "
                "web identity: AWS_WEB_IDENTITY_TOKEN_FILE is not set; "
                "container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI are not "
                "set; instance metadata: no instance metadata service at http://169.254.169.254 "
                "(PUT failed: Couldn't connect to server))");
  EXPECT_EQ(r.error().toError().code(), core::ErrorCode::kFailedPrecondition);
}

TEST(Chain, TheFirstConfiguredProviderAnswersAndStaysChosen) {
  struct Counting : CredentialsProvider {
    std::string id;
    bool configured;
    int calls = 0;
    Counting(std::string i, bool c) : id(std::move(i)), configured(c) {}
    AwsResult<Credentials> credentials() override {
      ++calls;
      if (!configured)
        return awsFail(makeError(AwsError::Source::kCredentials, "NoCredentials", "no", false));
      return Credentials{id, "s", "", {}, id};
    }
    std::string name() const override { return id; }
  };
  auto a = std::make_shared<Counting>("a", false);
  auto b = std::make_shared<Counting>("b", true);
  auto c = std::make_shared<Counting>("c", true);
  ChainProvider chain({a, b, c});
  EXPECT_EQ(chain.credentials()->access_key_id, "b");
  EXPECT_EQ(chain.credentials()->access_key_id, "b");
  EXPECT_EQ(a->calls, 1);
  EXPECT_EQ(b->calls, 2);
  EXPECT_EQ(c->calls, 0);
}

TEST(Chain, AConfiguredProviderThatFailsStopsTheChain) {
  fbt::FakeClock clock;
  ProviderDeps deps;
  deps.clock = &clock;
  Environment env({{"AWS_ACCESS_KEY_ID", "AKID"}});
  auto r = defaultCredentialsChain(env, deps)->credentials();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().str(),
            "CredentialsError: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not "
            "(while getting credentials from environment)");
}

// ---- refreshing ----

class Scripted : public CredentialsProvider {
 public:
  explicit Scripted(const core::Clock& clock) : clock_(clock) {}
  AwsResult<Credentials> credentials() override {
    ++calls;
    if (fail_next)
      return awsFail(
          makeError(AwsError::Source::kCredentials, "CredentialsError", "endpoint down", true));
    Credentials c{"ASIA" + std::to_string(calls), "s", "t", {}, "scripted"};
    if (lifetime.count() > 0) c.expiration = clock_.now() + lifetime;
    return c;
  }
  std::string name() const override { return "scripted"; }

  int calls = 0;
  bool fail_next = false;
  std::chrono::seconds lifetime{3600};

 private:
  const core::Clock& clock_;
};

TEST(Refreshing, RefreshesInsideTheAdvisoryWindowOnly) {
  fbt::FakeClock clock;
  auto inner = std::make_shared<Scripted>(clock);
  RefreshingProvider provider(inner, clock);  // advisory 15 min, mandatory 5 min
  EXPECT_EQ(provider.credentials()->access_key_id, "ASIA1");
  clock.advance(44min);
  EXPECT_EQ(provider.credentials()->access_key_id, "ASIA1");
  EXPECT_EQ(inner->calls, 1);
  clock.advance(2min);  // 14 min left
  EXPECT_EQ(provider.credentials()->access_key_id, "ASIA2");
  EXPECT_EQ(inner->calls, 2);
}

TEST(Refreshing, KeepsValidCredentialsWhenAnAdvisoryRefreshFails) {
  fbt::FakeClock clock;
  auto inner = std::make_shared<Scripted>(clock);
  RefreshingProvider provider(inner, clock);
  ASSERT_TRUE(provider.credentials());
  inner->fail_next = true;
  clock.advance(50min);  // 10 min left: advisory
  EXPECT_EQ(provider.credentials()->access_key_id, "ASIA1");
  EXPECT_EQ(inner->calls, 2);
  clock.advance(10s);  // within retry_after: no new attempt
  EXPECT_EQ(provider.credentials()->access_key_id, "ASIA1");
  EXPECT_EQ(inner->calls, 2);
  clock.advance(30s);
  EXPECT_EQ(provider.credentials()->access_key_id, "ASIA1");
  EXPECT_EQ(inner->calls, 3);
  clock.advance(5min);  // under 5 min left: mandatory, the failure is the answer
  auto r = provider.credentials();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "endpoint down");
  EXPECT_TRUE(r.error().retryable);
  inner->fail_next = false;
  EXPECT_EQ(provider.credentials()->access_key_id, "ASIA5");
}

TEST(Refreshing, CredentialsThatDoNotExpireAreFetchedOnce) {
  fbt::FakeClock clock;
  auto inner = std::make_shared<Scripted>(clock);
  inner->lifetime = 0s;
  RefreshingProvider provider(inner, clock);
  ASSERT_TRUE(provider.credentials());
  clock.advance(std::chrono::hours(24 * 365));
  ASSERT_TRUE(provider.credentials());
  EXPECT_EQ(inner->calls, 1);
}

TEST(Refreshing, ExpiredAndUnrefreshableIsAnError) {
  fbt::FakeClock clock;
  auto inner = std::make_shared<Scripted>(clock);
  RefreshingProvider provider(inner, clock);
  ASSERT_TRUE(provider.credentials());
  inner->fail_next = true;
  clock.advance(2h);
  EXPECT_FALSE(provider.credentials());
}

TEST(Refreshing, LogsNeverHoldTheSecretOrToken) {
  fbt::FakeClock clock;
  std::ostringstream lines;
  auto log = std::make_shared<spdlog::logger>(
      "aws-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(lines));
  log->set_level(spdlog::level::debug);
  struct Secretive : CredentialsProvider {
    const core::Clock& clock;
    bool fail = false;
    explicit Secretive(const core::Clock& c) : clock(c) {}
    AwsResult<Credentials> credentials() override {
      if (fail)
        return awsFail(makeError(AwsError::Source::kCredentials, "CredentialsError", "down", true));
      return Credentials{"ASIASECRETIVEKEY", kSecret, "session-token-value",
                         clock.now() + std::chrono::hours(1), "secretive"};
    }
    std::string name() const override { return "secretive"; }
  };
  auto inner = std::make_shared<Secretive>(clock);
  RefreshingProvider provider(inner, clock, RefreshPolicy{}, log);
  ASSERT_TRUE(provider.credentials());
  inner->fail = true;
  clock.advance(std::chrono::minutes(50));
  ASSERT_TRUE(provider.credentials());  // the warning path
  log->flush();
  EXPECT_NE(lines.str().find("ASIA...EKEY from secretive"), std::string::npos) << lines.str();
  EXPECT_NE(lines.str().find("refreshing AWS credentials from secretive failed"),
            std::string::npos);
  EXPECT_EQ(lines.str().find(kSecret), std::string::npos);
  EXPECT_EQ(lines.str().find("session-token-value"), std::string::npos);
}

// ---- time ----

TEST(AwsTime, Forms) {
  auto base = parseAwsTime("2026-01-02T03:04:05Z");
  ASSERT_TRUE(base);
  EXPECT_EQ(core::formatTime(core::Clock::toMs(*base)), "2026-01-02T03:04:05.000Z");
  EXPECT_EQ(parseAwsTime("2026-01-02T03:04:05.250Z"), *base + 250ms);
  EXPECT_EQ(parseAwsTime("2026-01-02T05:04:05+02:00"), base);
  EXPECT_EQ(parseAwsTime("2026-01-02T03:04:05"), base);
  EXPECT_FALSE(parseAwsTime("2026-01-02 03:04:05Z"));
  EXPECT_FALSE(parseAwsTime("tomorrow"));
  EXPECT_FALSE(parseAwsTime("2026-13-02T03:04:05Z"));
}

}  // namespace
}  // namespace firebreak::actions::aws
