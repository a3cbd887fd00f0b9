// AWS credentials and where they come from: environment variables, the shared credentials and
// config files (profiles), a web identity token file, the container credentials endpoint, EC2
// instance metadata (IMDSv2), and STS AssumeRole over any of them. Credentials that expire are
// refreshed before they do. Secrets never appear in a log line or an error message.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actions/aws/errors.h"
#include "actions/builtin/http_client.h"
#include "daemon/core/clock.h"

namespace firebreak::actions::aws {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;              // never logged, never in a message
  std::string session_token;                  // empty for long-term keys; never logged
  std::optional<core::TimePoint> expiration;  // none: they do not expire
  std::string source;  // which provider gave them, for messages: "environment", "profile 'x'"

  // "AKIA...MPLE from environment": enough to tell keys apart, nothing to use.
  std::string describe() const;
};

// Blocking: a provider may read files or call an endpoint (run it off the io thread).
class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  // Code "NoCredentials" (source kCredentials): this provider is not configured here, a chain
  // tries the next one. Any other error: configured, but it failed.
  virtual AwsResult<Credentials> credentials() = 0;
  virtual std::string name() const = 0;
};

// The process environment, passed in (nothing below app/ reads getenv).
class Environment {
 public:
  Environment() = default;
  Environment(std::initializer_list<std::pair<const std::string, std::string>> vars)
      : vars_(vars) {}
  // From a NAME=VALUE array such as main()'s envp or `environ`.
  static Environment fromEnvp(const char* const* envp);

  // A set, non-empty value.
  std::optional<std::string> get(std::string_view name) const;
  void set(std::string name, std::string value) { vars_[std::move(name)] = std::move(value); }

 private:
  std::map<std::string, std::string, std::less<>> vars_;
};

using HttpFn = std::function<core::Result<builtin::HttpResponse>(const builtin::HttpCall&)>;

// What providers that call endpoints (STS, container, instance metadata) are built with.
struct ProviderDeps {
  const core::Clock* clock = nullptr;  // required
  HttpFn http = builtin::httpCall;
  std::string region;                   // for STS; empty: us-east-1
  std::string endpoint_url;             // STS at this URL (an emulator); empty: AWS's
  std::shared_ptr<spdlog::logger> log;  // optional; never given a secret
};

// Fixed credentials (explicit keys; tests).
class StaticProvider final : public CredentialsProvider {
 public:
  explicit StaticProvider(Credentials credentials) : credentials_(std::move(credentials)) {}
  AwsResult<Credentials> credentials() override { return credentials_; }
  std::string name() const override { return "static"; }

 private:
  Credentials credentials_;
};

// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (and AWS_CREDENTIAL_EXPIRATION,
// RFC 3339, when the session token expires). One key without the other is an error.
class EnvironmentProvider final : public CredentialsProvider {
 public:
  explicit EnvironmentProvider(Environment env) : env_(std::move(env)) {}
  AwsResult<Credentials> credentials() override;
  std::string name() const override { return "environment"; }

 private:
  Environment env_;
};

// ---- shared credentials and config files ----

// Section -> key -> value. Keys are lowercase; nested blocks ("s3 =" followed by indented
// lines) are skipped. Errors name the file and line, never the line's text (it may hold a key).
using IniSections = std::map<std::string, std::map<std::string, std::string>>;
AwsResult<IniSections> parseIni(std::string_view text, const std::string& file_name);

struct ProfileFiles {
  std::string credentials_path;  // AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials
  std::string config_path;       // AWS_CONFIG_FILE, else ~/.aws/config
  IniSections credentials;       // sections named by profile
  IniSections config;            // "[profile x]" as "x", "[default]" as "default"

  // The profile's keys from both files, the credentials file winning; none if neither has it.
  std::optional<std::map<std::string, std::string>> profile(const std::string& name) const;
};
// Reads both files; a missing file is empty, an unreadable or malformed one an error.
AwsResult<ProfileFiles> loadProfileFiles(const Environment& env);
// AWS_PROFILE, else AWS_DEFAULT_PROFILE, else "default".
std::string profileName(const Environment& env);
// AWS_REGION, else AWS_DEFAULT_REGION, else the profile's `region`, else none.
std::optional<std::string> regionFrom(const Environment& env);

// One profile: static keys (aws_access_key_id, aws_secret_access_key, aws_session_token),
// role_arn over source_profile or credential_source (Environment, EcsContainer,
// Ec2InstanceMetadata) with external_id, role_session_name and duration_seconds, or
// role_arn with web_identity_token_file. Files are read at the first call.
class ProfileProvider final : public CredentialsProvider {
 public:
  // `explicit_profile`: the profile was asked for by name, so its absence is an error rather
  // than "not configured".
  ProfileProvider(Environment env, std::string profile, bool explicit_profile, ProviderDeps deps);
  AwsResult<Credentials> credentials() override;
  std::string name() const override { return "profile '" + profile_ + "'"; }

 private:
  AwsResult<std::shared_ptr<CredentialsProvider>> build(const ProfileFiles& files,
                                                        const std::string& profile,
                                                        std::vector<std::string>& seen);
  Environment env_;
  std::string profile_;
  bool explicit_profile_;
  ProviderDeps deps_;
  std::mutex mutex_;
  std::shared_ptr<CredentialsProvider> resolved_;  // built once from the files
};

// ---- STS ----

struct AssumeRoleOptions {
  std::string role_arn;
  std::string external_id;                 // empty: none
  std::string session_name = "firebreak";  // 2-64 of [A-Za-z0-9+=,.@_-]
  std::chrono::seconds duration{3600};     // 900 .. 43200
};
// Checks the options as STS would, before any call.
AwsStatus validateAssumeRole(const AssumeRoleOptions& options);

// sts:AssumeRole signed with the base provider's credentials (refreshed as they need).
class AssumeRoleProvider final : public CredentialsProvider {
 public:
  AssumeRoleProvider(std::shared_ptr<CredentialsProvider> base, AssumeRoleOptions options,
                     ProviderDeps deps);
  AwsResult<Credentials> credentials() override;
  std::string name() const override { return "assume role " + options_.role_arn; }

 private:
  std::shared_ptr<CredentialsProvider> base_;
  AssumeRoleOptions options_;
  ProviderDeps deps_;
};

struct WebIdentityOptions {
  std::string token_file;  // read again at every refresh: the token rotates
  std::string role_arn;
  std::string session_name;  // empty: "firebreak-<ms since epoch>"
};

// sts:AssumeRoleWithWebIdentity (an unsigned call) with the token in a file.
// Environment: AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN, AWS_ROLE_SESSION_NAME.
class WebIdentityProvider final : public CredentialsProvider {
 public:
  WebIdentityProvider(WebIdentityOptions options, ProviderDeps deps);
  static std::unique_ptr<WebIdentityProvider> fromEnvironment(const Environment& env,
                                                              ProviderDeps deps);
  AwsResult<Credentials> credentials() override;
  std::string name() const override { return "web identity"; }

 private:
  WebIdentityOptions options_;
  ProviderDeps deps_;
  bool configured_;
};

// ---- endpoints on the host ----

// The ECS/EKS container credentials endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on
// 169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http only to loopback and
// the ECS/EKS link-local hosts), with the Authorization header from
// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read at every call) or AWS_CONTAINER_AUTHORIZATION_TOKEN.
class ContainerProvider final : public CredentialsProvider {
 public:
  ContainerProvider(Environment env, ProviderDeps deps);
  AwsResult<Credentials> credentials() override;
  std::string name() const override { return "container endpoint"; }

 private:
  Environment env_;
  ProviderDeps deps_;
};

// EC2 instance metadata, IMDSv2 only: PUT /latest/api/token, then the role and its
// credentials under /latest/meta-data/iam/security-credentials/. The endpoint is
// http://169.254.169.254 unless AWS_EC2_METADATA_SERVICE_ENDPOINT says otherwise;
// AWS_EC2_METADATA_DISABLED=true turns it off. No answer means "not on EC2".
class InstanceMetadataProvider final : public CredentialsProvider {
 public:
  InstanceMetadataProvider(Environment env, ProviderDeps deps);
  AwsResult<Credentials> credentials() override;
  std::string name() const override { return "instance metadata"; }

 private:
  Environment env_;
  ProviderDeps deps_;
};

// ---- composition ----

struct RefreshPolicy {
  // Within `advisory` of the expiry a refresh is tried, and on failure the credentials in hand
  // are kept; within `mandatory` they are not used any more.
  std::chrono::seconds advisory{15 * 60};
  std::chrono::seconds mandatory{5 * 60};
  // After a failed advisory refresh, wait this long before trying again.
  std::chrono::seconds retry_after{30};
};

// Caches another provider's credentials and refreshes them before they expire, on the
// injected clock. Thread-safe; concurrent callers share one refresh.
class RefreshingProvider final : public CredentialsProvider {
 public:
  RefreshingProvider(std::shared_ptr<CredentialsProvider> inner, const core::Clock& clock,
                     RefreshPolicy policy = {}, std::shared_ptr<spdlog::logger> log = nullptr);
  AwsResult<Credentials> credentials() override;
  std::string name() const override { return inner_->name(); }

 private:
  std::shared_ptr<CredentialsProvider> inner_;
  const core::Clock& clock_;
  RefreshPolicy policy_;
  std::shared_ptr<spdlog::logger> log_;
  std::mutex mutex_;
  std::optional<Credentials> cached_;
  std::optional<core::TimePoint> last_failure_;
};

// The first provider that is configured answers (and answers from then on). When none is,
// the error says what each one lacked.
class ChainProvider final : public CredentialsProvider {
 public:
  explicit ChainProvider(std::vector<std::shared_ptr<CredentialsProvider>> providers)
      : providers_(std::move(providers)) {}
  AwsResult<Credentials> credentials() override;
  std::string name() const override { return "default chain"; }

 private:
  std::vector<std::shared_ptr<CredentialsProvider>> providers_;
  std::mutex mutex_;
  std::shared_ptr<CredentialsProvider> chosen_;
};

// The chain the AWS SDKs use, in this order: environment, profile (shared files), web
// identity, container endpoint, instance metadata; refreshed as they expire.
std::shared_ptr<CredentialsProvider> defaultCredentialsChain(const Environment& env,
                                                             ProviderDeps deps);

// ---- helpers shared with the client and tests ----

// RFC 3339 / ISO 8601 as AWS writes it: 2026-01-01T00:00:00Z, with fractions or an offset.
std::optional<core::TimePoint> parseAwsTime(std::string_view text);
// {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}: the container and instance
// metadata answer.
AwsResult<Credentials> credentialsFromJson(std::string_view body, const std::string& source);

}  // namespace firebreak::actions::aws
