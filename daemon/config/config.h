// The daemon's configuration, firebreak.yaml: the model and its strict reader. Every key of
// docs/config.md is here; unknown keys, wrong types and unsafe combinations (a source without
// auth on a public listener, an inline secret) are errors with file:line:col. Secrets stay
// references (env:NAME, file:PATH): daemon/app resolves them, nothing here reads them.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/json.h"
#include "daemon/core/result.h"

namespace firebreak::config {

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * kKiB;
inline constexpr uint64_t kMaxSourceBody = 64 * kMiB;  // no alert needs more

// `listen: host:port`. The host is an IP address (IPv6 in brackets) or `localhost`.
struct Listen {
  std::string host = "127.0.0.1";  // without brackets: "::1"
  uint16_t port = 9095;            // 0: any free port (tests)
  bool ipv6 = false;

  bool isLoopback() const;  // 127.0.0.0/8, ::1, ::ffff:127.x.x.x, localhost
  std::string str() const;  // "127.0.0.1:9095", "[::1]:9095"
};

// Parses "127.0.0.1:9095", "[::1]:0", "localhost:9095"; the error says what is wrong.
core::Result<Listen> parseListen(std::string_view text);

struct Tls {
  std::string cert;
  std::string key;
  std::string client_ca;  // empty: clients are not asked for a certificate
};

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };
enum class LogFormat { kText, kJson };
const char* logLevelName(LogLevel level);
const char* logFormatName(LogFormat format);

struct Log {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
};

enum class SourceType {
  kAlertmanager,
  kGrafana,
  kSns,
  kAzureMonitor,
  kGcpMonitoring,
  kPagerduty,
  kFalco,
  kGeneric,
};
const char* sourceTypeName(SourceType type);  // as written in YAML: "azure-monitor"

struct Auth {
  enum class Scheme { kNone, kBearer, kBasic };
  Scheme scheme = Scheme::kNone;
  // kNone only: true when the source said `auth: none`, false when it had no `auth` key.
  bool explicit_none = false;
  std::string bearer;    // kBearer: secret reference ("env:NAME", "file:/path")
  std::string username;  // kBasic: literal
  std::string password;  // kBasic: secret reference
};

struct RateLimit {
  double per_second = 0;  // tokens added per second, > 0
  int64_t burst = 1;      // bucket size, >= 1
};

// The fields of an alert that a `generic` source maps from its JSON body.
inline const std::vector<std::string> kMappingFields = {
    "name", "labels", "annotations", "status", "fingerprint", "starts_at", "severity"};

// A `sns` source: Amazon SNS signs every message, and that signature is its authentication.
struct SnsSettings {
  // Topic ARN globs: a message of another topic is refused, its subscription never confirmed.
  std::vector<std::string> topics;
  // Hosts (globs) the signing certificate may be fetched from, over HTTPS only.
  std::vector<std::string> cert_hosts = {"sns.*.amazonaws.com", "sns.*.amazonaws.com.cn"};
  // A message signed longer ago than this is refused: a captured delivery cannot be replayed.
  std::chrono::milliseconds max_age{3'600'000};
  // SigningCertURL -> PEM file read at start instead of fetched (no route to AWS, pinning).
  std::map<std::string, std::string> certificates;
};

struct Source {
  std::string name;  // [a-z0-9][a-z0-9_-]*, served at POST /hooks/<name>
  SourceType type = SourceType::kAlertmanager;
  Auth auth;
  std::optional<RateLimit> rate_limit;
  uint64_t max_body = kMiB;
  std::map<std::string, std::string> mapping;  // generic only: field -> JSON path ("$.a.b")
  std::optional<SnsSettings> sns;               // sns only, and required there
  core::SourceLoc loc;                         // of the name, for later cross-checks
};

// A step of a JSON path: a member name or an array index.
struct JsonPathStep {
  std::string key;
  std::optional<size_t> index;
};
// "$", then ".name" (letters, digits, '_', '-'), "['name']", "[\"name\"]" or "[0]" steps. The
// mapping of a generic source is checked with it; its adapter can walk the steps.
core::Result<std::vector<JsonPathStep>> parseJsonPath(std::string_view text);

enum class Role { kViewer, kResponder, kAdmin };  // ordered: each can do what the lower can
const char* roleName(Role role);

struct ApiToken {
  std::string name;
  std::string sha256;  // 64 lowercase hex digits: SHA-256 of the token
  Role role = Role::kViewer;
};

struct Api {
  std::vector<ApiToken> tokens;
};

struct Limits {
  int64_t destructive_actions_per_minute = 10;  // beyond it, steps wait for approval
  std::vector<std::string> protected_patterns;  // `protected`: resources never touched
};

struct Http {
  uint64_t max_header_bytes = 16 * kKiB;
  uint64_t max_body_bytes = kMiB;  // requests other than POST /hooks/<source>
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  int64_t max_connections_per_client = 64;
  int64_t max_in_flight = 1024;
};

struct Config {
  Listen listen;
  std::optional<Tls> tls;
  std::string data_dir = "./var";
  std::vector<std::string> playbooks = {"./playbooks"};
  std::vector<std::string> drills = {"./drills"};
  bool drills_given = false;  // the default ./drills may be missing; named paths may not
  // A scheduled drill run missed while the daemon was down runs once at start-up when it was
  // due at most this long ago; 0: never.
  std::chrono::milliseconds drill_catch_up{std::chrono::hours(1)};
  bool dry_run = false;
  // Environment variables templates may read as env.<NAME>; no others are visible.
  std::vector<std::string> allowed_env;
  Log log;
  std::map<std::string, Source> sources;  // by name
  // Provider settings by provider name. `aws` is checked (region, endpoint_url, profile,
  // role_arn, external_id: strings); others are kept as written for their provider to check.
  std::map<std::string, core::Json> providers;
  Api api;
  Limits limits;
  Http http;
  std::string file;  // where it was read from; empty for defaults

  bool listenIsLoopback() const { return listen.isLoopback(); }
  const Source* source(std::string_view name) const;
  // What the daemon logs at every start: sources that accept unauthenticated requests, a
  // non-loopback listener without TLS.
  std::vector<std::string> warnings() const;
};

// Secrets in a config are references: "env:NAME" (NAME a variable name) or "file:/abs/path".
bool isValidSecretReference(std::string_view value);

// Sizes as users write them: "1MiB", "512KiB", "2GiB", "100B", or a whole number of bytes.
core::Result<uint64_t> parseSize(std::string_view text);
// The shortest exact form parseSize reads back: 1048576 -> "1MiB", 1000 -> "1000".
std::string formatSize(uint64_t bytes);

// listen 127.0.0.1:9095, data_dir ./var, playbooks [./playbooks], drills [./drills], no
// sources; what an empty or absent file gives.
Config defaultConfig();

// Reads one config document; `file` names it in errors. Every error of the text is reported,
// and no Config is returned when there is any.
tl::expected<Config, core::Diagnostics> parseConfig(std::string_view yaml, const std::string& file);

// Reads `path`; a path that does not exist is an error naming it.
tl::expected<Config, core::Diagnostics> loadConfigFile(const std::string& path);

// The daemon's rule: an explicit path must exist; without one, `default_path` is read when it
// exists and the defaults are used when it does not.
tl::expected<Config, core::Diagnostics> loadConfig(const std::optional<std::string>& explicit_path,
                                                   const std::string& default_path);

}  // namespace firebreak::config
