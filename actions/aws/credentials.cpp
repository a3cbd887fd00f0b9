#include "actions/aws/credentials.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "actions/aws/client.h"
#include "daemon/core/json.h"

namespace firebreak::actions::aws {
namespace {

using Source = AwsError::Source;

constexpr std::string_view kStsVersion = "2011-06-15";

AwsError notConfigured(std::string message) {
  return makeError(Source::kCredentials, "NoCredentials", std::move(message), false);
}

AwsError credentialsError(std::string message, bool retryable = false) {
  return makeError(Source::kCredentials, "CredentialsError", std::move(message), retryable);
}

bool isNotConfigured(const AwsError& e) {
  return e.source == Source::kCredentials && e.code == "NoCredentials";
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The whole file, or nullopt when it does not exist; other failures are errors.
AwsResult<std::optional<std::string>> readOptionalFile(const std::string& path,
                                                       const std::string& what) {
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::optional<std::string>();
    return awsFail(
        credentialsError("cannot read " + what + " " + path + ": " + std::strerror(errno)));
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return std::optional<std::string>(buf.str());
}

AwsResult<std::string> readRequiredFile(const std::string& path, const std::string& what) {
  auto text = readOptionalFile(path, what);
  if (!text) return awsFail(std::move(text.error()));
  if (!*text) return awsFail(credentialsError(what + " " + path + " does not exist"));
  return **text;
}

std::string expandHome(const std::string& path, const Environment& env) {
  if (path == "~" || path.rfind("~/", 0) == 0) {
    if (auto home = env.get("HOME")) return *home + path.substr(1);
  }
  return path;
}

// <Credentials> of an STS answer (AssumeRole, AssumeRoleWithWebIdentity).
AwsResult<Credentials> credentialsFromSts(const XmlResponse& response, const std::string& source,
                                          const std::string& operation) {
  pugi::xml_node creds = response.result().child("Credentials");
  Credentials out;
  out.access_key_id = trim(creds.child_value("AccessKeyId"));
  out.secret_access_key = trim(creds.child_value("SecretAccessKey"));
  out.session_token = trim(creds.child_value("SessionToken"));
  out.source = source;
  if (out.access_key_id.empty() || out.secret_access_key.empty() || out.session_token.empty()) {
    AwsError e = makeError(Source::kResponse, "MalformedResponse",
                           "the answer has no complete <Credentials>", false);
    e.operation = operation;
    return awsFail(std::move(e));
  }
  if (auto exp = std::string(creds.child_value("Expiration")); !exp.empty()) {
    out.expiration = parseAwsTime(exp);
    if (!out.expiration) {
      AwsError e = makeError(Source::kResponse, "MalformedResponse",
                             "the credentials' Expiration is not a time", false);
      e.operation = operation;
      return awsFail(std::move(e));
    }
  }
  return out;
}

ClientConfig stsConfig(const ProviderDeps& deps) {
  ClientConfig config;
  config.region = deps.region.empty() ? "us-east-1" : deps.region;
  config.endpoint_url = deps.endpoint_url;
  config.timeout = std::chrono::seconds(10);
  config.log = deps.log;
  return config;
}

// The host of an http(s) URL (brackets kept for IPv6), lowercase; empty if it has none.
std::string urlHost(std::string_view url, std::string* scheme) {
  auto sep = url.find("://");
  if (sep == std::string_view::npos) return {};
  *scheme = lower(url.substr(0, sep));
  std::string_view rest = url.substr(sep + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (rest.find('@') != std::string_view::npos) return {};
  if (!rest.empty() && rest.front() == '[') return lower(rest.substr(0, rest.find(']') + 1));
  return lower(rest.substr(0, rest.find(':')));
}

bool allowedPlainHttpHost(const std::string& host) {
  if (host == "localhost" || host == "[::1]" || host == "169.254.170.2" ||
      host == "169.254.170.23" || host == "[fd00:ec2::23]")
    return true;
  return host.rfind("127.", 0) == 0;
}

std::string statusNote(const builtin::HttpResponse& r) {
  return "HTTP " + std::to_string(r.status);
}

std::shared_ptr<CredentialsProvider> refreshing(std::shared_ptr<CredentialsProvider> p,
                                                const ProviderDeps& deps) {
  return std::make_shared<RefreshingProvider>(std::move(p), *deps.clock, RefreshPolicy{}, deps.log);
}

}  // namespace

// ---- Credentials, Environment ----

std::string Credentials::describe() const {
  std::string id = access_key_id.size() > 8 ? access_key_id.substr(0, 4) + "..." +
                                                  access_key_id.substr(access_key_id.size() - 4)
                                            : std::string("****");
  return id + (source.empty() ? "" : " from " + source);
}

Environment Environment::fromEnvp(const char* const* envp) {
  Environment env;
  for (; envp && *envp; ++envp) {
    std::string_view entry(*envp);
    auto eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    env.vars_.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

std::optional<std::string> Environment::get(std::string_view name) const {
  auto it = vars_.find(name);
  if (it == vars_.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

// ---- time and JSON answers ----

std::optional<core::TimePoint> parseAwsTime(std::string_view text) {
  std::string s = trim(text);
  int y, mo, d, h, mi, sec, n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
      n != 19)
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  std::string_view rest = std::string_view(s).substr(19);
  int64_t ms = 0;
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    int digits = 0;
    while (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest.front()))) {
      if (digits < 3) ms = ms * 10 + (rest.front() - '0');
      ++digits;
      rest.remove_prefix(1);
    }
    if (digits == 0) return std::nullopt;
    for (int i = digits; i < 3; ++i) ms *= 10;
  }
  int64_t offset_s = 0;
  if (rest == "Z" || rest == "z" || rest.empty()) {
  } else if ((rest.front() == '+' || rest.front() == '-') && rest.size() == 6 && rest[3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(std::string(rest.substr(1)).c_str(), "%2d:%2d", &oh, &om) != 2)
      return std::nullopt;
    offset_s = (oh * 3600 + om * 60) * (rest.front() == '+' ? 1 : -1);
  } else {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  int64_t epoch = static_cast<int64_t>(timegm(&tm)) - offset_s;
  return core::TimePoint(std::chrono::milliseconds(epoch * 1000 + ms));
}

AwsResult<Credentials> credentialsFromJson(std::string_view body, const std::string& source) {
  core::Json json = core::Json::parse(body, nullptr, /*allow_exceptions=*/false);
  auto malformed = [&](std::string what) {
    return awsFail(makeError(Source::kResponse, "MalformedResponse",
                             "the " + source + " answer " + what, false));
  };
  if (!json.is_object()) return malformed("is not a JSON object");
  auto str = [&](const char* name) {
    auto it = json.find(name);
    return it != json.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  Credentials out;
  out.access_key_id = str("AccessKeyId");
  out.secret_access_key = str("SecretAccessKey");
  out.session_token = str("Token");
  out.source = source;
  if (out.access_key_id.empty() || out.secret_access_key.empty())
    return malformed("lacks AccessKeyId or SecretAccessKey");
  if (auto exp = str("Expiration"); !exp.empty()) {
    out.expiration = parseAwsTime(exp);
    if (!out.expiration) return malformed("has an Expiration that is not a time");
  }
  return out;
}

// ---- environment ----

AwsResult<Credentials> EnvironmentProvider::credentials() {
  auto id = env_.get("AWS_ACCESS_KEY_ID");
  auto secret = env_.get("AWS_SECRET_ACCESS_KEY");
  if (!id && !secret) return awsFail(notConfigured("AWS_ACCESS_KEY_ID is not set"));
  if (!id)
    return awsFail(credentialsError("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"));
  if (!secret)
    return awsFail(credentialsError("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"));
  Credentials out{*id, *secret, env_.get("AWS_SESSION_TOKEN").value_or(""), {}, "environment"};
  if (auto exp = env_.get("AWS_CREDENTIAL_EXPIRATION")) {
    out.expiration = parseAwsTime(*exp);
    if (!out.expiration)
      return awsFail(credentialsError("AWS_CREDENTIAL_EXPIRATION is not an RFC 3339 time"));
  }
  return out;
}

// ---- shared files ----

AwsResult<IniSections> parseIni(std::string_view text, const std::string& file_name) {
  IniSections sections;
  std::map<std::string, std::string>* current = nullptr;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string t = trim(line);
    if (t.empty() || t.front() == '#' || t.front() == ';') continue;
    auto where = file_name + ":" + std::to_string(line_no) + ": ";
    // Indented lines belong to a nested block ("s3 =\n  max_concurrent_requests = 10").
    if (std::isspace(static_cast<unsigned char>(line.front()))) {
      if (!current)
        return awsFail(credentialsError(where + "an indented line before any [section]"));
      continue;
    }
    if (t.front() == '[') {
      if (t.back() != ']')
        return awsFail(credentialsError(where + "a section header must end with ']'"));
      std::string name = trim(std::string_view(t).substr(1, t.size() - 2));
      if (name.empty()) return awsFail(credentialsError(where + "a section needs a name"));
      current = &sections[name];
      continue;
    }
    auto eq = t.find('=');
    if (eq == std::string::npos || eq == 0)
      return awsFail(credentialsError(where + "expected 'name = value' or '[section]'"));
    if (!current) return awsFail(credentialsError(where + "a setting before any [section]"));
    (*current)[lower(trim(std::string_view(t).substr(0, eq)))] =
        trim(std::string_view(t).substr(eq + 1));
  }
  return sections;
}

std::optional<std::map<std::string, std::string>> ProfileFiles::profile(
    const std::string& name) const {
  auto in_config = config.find(name);
  auto in_credentials = credentials.find(name);
  if (in_config == config.end() && in_credentials == credentials.end()) return std::nullopt;
  std::map<std::string, std::string> merged;
  if (in_config != config.end()) merged = in_config->second;
  if (in_credentials != credentials.end())
    for (const auto& [k, v] : in_credentials->second) merged[k] = v;
  return merged;
}

AwsResult<ProfileFiles> loadProfileFiles(const Environment& env) {
  ProfileFiles files;
  auto home = env.get("HOME").value_or("");
  files.credentials_path =
      expandHome(env.get("AWS_SHARED_CREDENTIALS_FILE").value_or(home + "/.aws/credentials"), env);
  files.config_path = expandHome(env.get("AWS_CONFIG_FILE").value_or(home + "/.aws/config"), env);

  auto creds_text = readOptionalFile(files.credentials_path, "shared credentials file");
  if (!creds_text) return awsFail(std::move(creds_text.error()));
  if (*creds_text) {
    auto parsed = parseIni(**creds_text, files.credentials_path);
    if (!parsed) return awsFail(std::move(parsed.error()));
    files.credentials = std::move(*parsed);
  }
  auto config_text = readOptionalFile(files.config_path, "config file");
  if (!config_text) return awsFail(std::move(config_text.error()));
  if (*config_text) {
    auto parsed = parseIni(**config_text, files.config_path);
    if (!parsed) return awsFail(std::move(parsed.error()));
    // The config file names profiles "[profile x]", except "[default]"; other sections
    // (sso-session, services) are not profiles.
    for (auto& [section, keys] : *parsed) {
      if (section == "default") {
        files.config["default"] = keys;
      } else if (section.rfind("profile ", 0) == 0) {
        files.config[trim(std::string_view(section).substr(8))] = keys;
      }
    }
  }
  return files;
}

std::string profileName(const Environment& env) {
  if (auto p = env.get("AWS_PROFILE")) return *p;
  if (auto p = env.get("AWS_DEFAULT_PROFILE")) return *p;
  return "default";
}

std::optional<std::string> regionFrom(const Environment& env) {
  if (auto r = env.get("AWS_REGION")) return r;
  if (auto r = env.get("AWS_DEFAULT_REGION")) return r;
  auto files = loadProfileFiles(env);
  if (!files) return std::nullopt;
  auto profile = files->profile(profileName(env));
  if (!profile) return std::nullopt;
  auto it = profile->find("region");
  if (it == profile->end() || it->second.empty()) return std::nullopt;
  return it->second;
}

ProfileProvider::ProfileProvider(Environment env, std::string profile, bool explicit_profile,
                                 ProviderDeps deps)
    : env_(std::move(env)),
      profile_(std::move(profile)),
      explicit_profile_(explicit_profile),
      deps_(std::move(deps)) {}

AwsResult<Credentials> ProfileProvider::credentials() {
  std::shared_ptr<CredentialsProvider> provider;
  {
    std::lock_guard lock(mutex_);
    if (!resolved_) {
      auto files = loadProfileFiles(env_);
      if (!files) return awsFail(std::move(files.error()));
      std::vector<std::string> seen;
      auto built = build(*files, profile_, seen);
      if (!built) return awsFail(std::move(built.error()));
      resolved_ = std::move(*built);
    }
    provider = resolved_;
  }
  return provider->credentials();
}

AwsResult<std::shared_ptr<CredentialsProvider>> ProfileProvider::build(
    const ProfileFiles& files, const std::string& profile, std::vector<std::string>& seen) {
  const bool top = seen.empty();
  const std::string label = "profile '" + profile + "'";
  auto props = files.profile(profile);
  if (!props) {
    std::string where = " in " + files.credentials_path + " or " + files.config_path;
    if (top && !explicit_profile_) return awsFail(notConfigured("no " + label + where));
    return awsFail(credentialsError(label + " is not" + where));
  }
  if (std::find(seen.begin(), seen.end(), profile) != seen.end()) {
    std::string cycle;
    for (const auto& p : seen) cycle += "'" + p + "' -> ";
    return awsFail(
        credentialsError("source_profile makes a cycle: " + cycle + "'" + profile + "'"));
  }
  seen.push_back(profile);
  auto get = [&](const char* key) {
    auto it = props->find(key);
    return it == props->end() ? std::string() : it->second;
  };

  const std::string key_id = get("aws_access_key_id");
  const std::string secret = get("aws_secret_access_key");
  auto staticKeys = [&]() -> AwsResult<std::shared_ptr<CredentialsProvider>> {
    if (key_id.empty() != secret.empty())
      return awsFail(credentialsError(label + " has only one of aws_access_key_id and "
                                              "aws_secret_access_key"));
    Credentials c{key_id, secret, get("aws_session_token"), {}, label};
    return std::shared_ptr<CredentialsProvider>(std::make_shared<StaticProvider>(std::move(c)));
  };

  const std::string role_arn = get("role_arn");
  if (role_arn.empty()) {
    if (!key_id.empty() || !secret.empty()) return staticKeys();
    if (!get("web_identity_token_file").empty())
      return awsFail(credentialsError(label + " has web_identity_token_file but no role_arn"));
    for (const char* unsupported : {"credential_process", "sso_session", "sso_start_url"})
      if (!get(unsupported).empty())
        return awsFail(credentialsError(label + " uses " + unsupported +
                                        ", which is not supported: give keys, a role, or use "
                                        "another provider"));
    if (top && !explicit_profile_) return awsFail(notConfigured(label + " holds no credentials"));
    return awsFail(credentialsError(label + " holds no credentials"));
  }

  ProviderDeps deps = deps_;
  if (deps.region.empty()) deps.region = get("region");
  AssumeRoleOptions options;
  options.role_arn = role_arn;
  options.external_id = get("external_id");
  if (auto name = get("role_session_name"); !name.empty()) options.session_name = name;
  if (auto d = get("duration_seconds"); !d.empty()) {
    char* end = nullptr;
    long v = std::strtol(d.c_str(), &end, 10);
    if (!end || *end != '\0' || v <= 0)
      return awsFail(credentialsError(label + ": duration_seconds must be a number of seconds"));
    options.duration = std::chrono::seconds(v);
  }

  if (auto token_file = get("web_identity_token_file"); !token_file.empty()) {
    WebIdentityOptions web{expandHome(token_file, env_), role_arn, get("role_session_name")};
    return refreshing(std::make_shared<WebIdentityProvider>(std::move(web), deps), deps);
  }
  if (auto status = validateAssumeRole(options); !status)
    return awsFail(std::move(status.error()).context("reading " + label));

  std::shared_ptr<CredentialsProvider> base;
  const std::string source_profile = get("source_profile");
  const std::string credential_source = get("credential_source");
  if (!source_profile.empty() && !credential_source.empty())
    return awsFail(credentialsError(label + " has both source_profile and credential_source"));
  if (!source_profile.empty()) {
    if (source_profile == profile) {
      // A profile may hold the keys its own role is assumed with.
      auto keys = staticKeys();
      if (!keys) return keys;
      if (key_id.empty())
        return awsFail(credentialsError(label + " is its own source_profile but holds no keys"));
      base = std::move(*keys);
    } else {
      auto built = build(files, source_profile, seen);
      if (!built) return built;
      base = std::move(*built);
    }
  } else if (credential_source == "Environment") {
    base = std::make_shared<EnvironmentProvider>(env_);
  } else if (credential_source == "EcsContainer") {
    base = refreshing(std::make_shared<ContainerProvider>(env_, deps), deps);
  } else if (credential_source == "Ec2InstanceMetadata") {
    base = refreshing(std::make_shared<InstanceMetadataProvider>(env_, deps), deps);
  } else if (!credential_source.empty()) {
    return awsFail(credentialsError(label + ": credential_source '" + credential_source +
                                    "' is not one of Environment, EcsContainer, "
                                    "Ec2InstanceMetadata"));
  } else {
    return awsFail(credentialsError(label + " has role_arn but neither source_profile nor "
                                            "credential_source"));
  }
  return refreshing(std::make_shared<AssumeRoleProvider>(std::move(base), options, deps), deps);
}

// ---- STS ----

AwsStatus validateAssumeRole(const AssumeRoleOptions& o) {
  auto bad = [](std::string m) {
    return awsFail(makeError(Source::kRequest, "InvalidRequest", std::move(m), false));
  };
  if (o.role_arn.rfind("arn:", 0) != 0 || o.role_arn.find(":role/") == std::string::npos)
    return bad("role '" + o.role_arn + "' is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)");
  auto allowed = [](const std::string& s, std::string_view extra) {
    return std::all_of(s.begin(), s.end(), [&](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
             extra.find(c) != std::string_view::npos;
    });
  };
  if (o.session_name.size() < 2 || o.session_name.size() > 64 || !allowed(o.session_name, "+=,.@-"))
    return bad("role session name '" + o.session_name +
               "' must be 2 to 64 of letters, digits and +=,.@_-");
  if (!o.external_id.empty() && (o.external_id.size() < 2 || o.external_id.size() > 1224 ||
                                 !allowed(o.external_id, "+=,.@:/-")))
    return bad("external id must be 2 to 1224 of letters, digits and +=,.@:/_-");
  if (o.duration.count() < 900 || o.duration.count() > 43200)
    return bad("role session duration must be 900 to 43200 seconds, not " +
               std::to_string(o.duration.count()));
  return {};
}

AssumeRoleProvider::AssumeRoleProvider(std::shared_ptr<CredentialsProvider> base,
                                       AssumeRoleOptions options, ProviderDeps deps)
    : base_(std::move(base)), options_(std::move(options)), deps_(std::move(deps)) {}

AwsResult<Credentials> AssumeRoleProvider::credentials() {
  if (auto status = validateAssumeRole(options_); !status)
    return awsFail(std::move(status.error()));
  Client sts(stsConfig(deps_), base_, *deps_.clock, deps_.http);
  QueryParams params{{"RoleArn", options_.role_arn},
                     {"RoleSessionName", options_.session_name},
                     {"DurationSeconds", std::to_string(options_.duration.count())}};
  if (!options_.external_id.empty()) params.emplace_back("ExternalId", options_.external_id);
  auto answer = sts.query("sts", "AssumeRole", kStsVersion, params);
  if (!answer) {
    AwsError e = std::move(answer.error());
    // The base is part of this provider's configuration: its absence is an error here.
    if (isNotConfigured(e)) e.code = "CredentialsError";
    return awsFail(std::move(e).context("assuming role " + options_.role_arn));
  }
  return credentialsFromSts(*answer, "assumed role " + options_.role_arn, "sts:AssumeRole");
}

WebIdentityProvider::WebIdentityProvider(WebIdentityOptions options, ProviderDeps deps)
    : options_(std::move(options)), deps_(std::move(deps)), configured_(true) {}

std::unique_ptr<WebIdentityProvider> WebIdentityProvider::fromEnvironment(const Environment& env,
                                                                          ProviderDeps deps) {
  WebIdentityOptions options{env.get("AWS_WEB_IDENTITY_TOKEN_FILE").value_or(""),
                             env.get("AWS_ROLE_ARN").value_or(""),
                             env.get("AWS_ROLE_SESSION_NAME").value_or("")};
  auto p = std::make_unique<WebIdentityProvider>(std::move(options), std::move(deps));
  // AWS_ROLE_ARN alone is set for other tools too: only the token file turns this on.
  p->configured_ = !p->options_.token_file.empty();
  return p;
}

AwsResult<Credentials> WebIdentityProvider::credentials() {
  if (!configured_) return awsFail(notConfigured("AWS_WEB_IDENTITY_TOKEN_FILE is not set"));
  if (options_.token_file.empty())
    return awsFail(
        credentialsError("a web identity role is set but no token file "
                         "(AWS_WEB_IDENTITY_TOKEN_FILE)"));
  if (options_.role_arn.empty())
    return awsFail(credentialsError("a web identity token file is set but no role (AWS_ROLE_ARN)"));
  auto token = readRequiredFile(options_.token_file, "web identity token file");
  if (!token) return awsFail(std::move(token.error()));
  std::string session = options_.session_name.empty()
                            ? "firebreak-" + std::to_string(deps_.clock->nowMs())
                            : options_.session_name;
  Client sts(stsConfig(deps_), nullptr, *deps_.clock, deps_.http);
  CallOptions call;
  call.anonymous = true;  // the token is the proof; this call is not signed
  auto answer = sts.query("sts", "AssumeRoleWithWebIdentity", kStsVersion,
                          {{"RoleArn", options_.role_arn},
                           {"RoleSessionName", session},
                           {"WebIdentityToken", trim(*token)}},
                          call);
  if (!answer)
    return awsFail(std::move(answer.error())
                       .context("assuming role " + options_.role_arn + " with a web identity"));
  return credentialsFromSts(*answer, "web identity role " + options_.role_arn,
                            "sts:AssumeRoleWithWebIdentity");
}

// ---- container endpoint ----

ContainerProvider::ContainerProvider(Environment env, ProviderDeps deps)
    : env_(std::move(env)), deps_(std::move(deps)) {}

AwsResult<Credentials> ContainerProvider::credentials() {
  auto relative = env_.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  auto full = env_.get("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (!relative && !full)
    return awsFail(
        notConfigured("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI are not set"));
  std::string url;
  if (relative) {
    url = "http://169.254.170.2" + (relative->front() == '/' ? *relative : "/" + *relative);
  } else {
    url = *full;
    std::string scheme;
    std::string host = urlHost(url, &scheme);
    if (host.empty() || (scheme != "https" && scheme != "http"))
      return awsFail(credentialsError("AWS_CONTAINER_CREDENTIALS_FULL_URI is not an http(s) URL"));
    if (scheme == "http" && !allowedPlainHttpHost(host))
      return awsFail(credentialsError(
          "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to a loopback address or "
          "the ECS/EKS credentials host, not http to " +
          host));
  }
  std::string scheme;
  const std::string host = urlHost(url, &scheme);  // messages name the host only: the path
                                                   // identifies the task's credentials

  std::string token;
  if (auto file = env_.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
    auto text = readRequiredFile(*file, "container authorization token file");
    if (!text) return awsFail(std::move(text.error()));
    token = trim(*text);
  } else if (auto value = env_.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
    token = *value;
  }
  if (token.find_first_of("\r\n") != std::string::npos)
    return awsFail(credentialsError("the container authorization token holds a line break"));

  builtin::HttpCall call;
  call.method = "GET";
  call.url = url;
  call.headers.emplace_back("Accept", "application/json");
  if (!token.empty()) call.headers.emplace_back("Authorization", token);
  call.timeout = std::chrono::seconds(2);
  call.max_body = 64 << 10;
  auto answer = deps_.http(call);
  if (!answer) {
    bool transient = builtin::isTransient(answer.error());
    return awsFail(credentialsError("the container credentials endpoint on " + host +
                                        " did not answer: " + answer.error().message(),
                                    transient));
  }
  if (answer->status != 200) {
    std::string detail;
    core::Json json = core::Json::parse(answer->body, nullptr, false);
    if (json.is_object()) {
      for (const char* k : {"code", "Code"})
        if (json.contains(k) && json[k].is_string()) detail += " " + json[k].get<std::string>();
      for (const char* k : {"message", "Message"})
        if (json.contains(k) && json[k].is_string()) detail += ": " + json[k].get<std::string>();
    }
    return awsFail(credentialsError("the container credentials endpoint on " + host + " answered " +
                                        statusNote(*answer) + detail,
                                    builtin::isRetryableStatus(answer->status)));
  }
  return credentialsFromJson(answer->body, "container endpoint");
}

// ---- instance metadata ----

InstanceMetadataProvider::InstanceMetadataProvider(Environment env, ProviderDeps deps)
    : env_(std::move(env)), deps_(std::move(deps)) {}

AwsResult<Credentials> InstanceMetadataProvider::credentials() {
  if (lower(env_.get("AWS_EC2_METADATA_DISABLED").value_or("")) == "true")
    return awsFail(notConfigured("disabled by AWS_EC2_METADATA_DISABLED"));
  std::string endpoint =
      env_.get("AWS_EC2_METADATA_SERVICE_ENDPOINT").value_or("http://169.254.169.254");
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();

  // Off EC2 nothing answers: short timeouts keep the chain quick there.
  builtin::HttpCall put;
  put.method = "PUT";
  put.url = endpoint + "/latest/api/token";
  put.headers.emplace_back("X-aws-ec2-metadata-token-ttl-seconds", "21600");
  put.timeout = std::chrono::seconds(1);
  put.max_body = 4096;
  auto token = deps_.http(put);
  if (!token)
    return awsFail(notConfigured("no instance metadata service at " + endpoint + " (" +
                                 token.error().message() + ")"));
  if (token->status != 200)
    return awsFail(notConfigured("the instance metadata service at " + endpoint +
                                 " gave no IMDSv2 token (" + statusNote(*token) + ")"));
  const std::string session = trim(token->body);

  auto get = [&](const std::string& path) {
    builtin::HttpCall call;
    call.method = "GET";
    call.url = endpoint + path;
    call.headers.emplace_back("X-aws-ec2-metadata-token", session);
    call.timeout = std::chrono::seconds(1);
    call.max_body = 64 << 10;
    return deps_.http(call);
  };
  const std::string base = "/latest/meta-data/iam/security-credentials/";
  auto roles = get(base);
  if (!roles)
    return awsFail(
        credentialsError("instance metadata: listing the role failed: " + roles.error().message(),
                         builtin::isTransient(roles.error())));
  if (roles->status == 404) return awsFail(notConfigured("the instance has no IAM role"));
  if (roles->status != 200)
    return awsFail(
        credentialsError("instance metadata: listing the role answered " + statusNote(*roles),
                         builtin::isRetryableStatus(roles->status)));
  std::string role = trim(roles->body.substr(0, roles->body.find('\n')));
  if (role.empty()) return awsFail(notConfigured("the instance has no IAM role"));

  auto creds = get(base + uriEncode(role));
  if (!creds)
    return awsFail(credentialsError("instance metadata: the credentials of role " + role +
                                        " failed: " + creds.error().message(),
                                    builtin::isTransient(creds.error())));
  if (creds->status != 200)
    return awsFail(credentialsError(
        "instance metadata: the credentials of role " + role + " answered " + statusNote(*creds),
        builtin::isRetryableStatus(creds->status)));
  core::Json json = core::Json::parse(creds->body, nullptr, false);
  if (json.is_object() && json.contains("Code") && json["Code"].is_string() &&
      json["Code"].get<std::string>() != "Success")
    return awsFail(credentialsError("instance metadata: the credentials of role " + role +
                                    " are not available: " + json["Code"].get<std::string>()));
  return credentialsFromJson(creds->body, "instance role " + role);
}

// ---- composition ----

RefreshingProvider::RefreshingProvider(std::shared_ptr<CredentialsProvider> inner,
                                       const core::Clock& clock, RefreshPolicy policy,
                                       std::shared_ptr<spdlog::logger> log)
    : inner_(std::move(inner)), clock_(clock), policy_(policy), log_(std::move(log)) {}

AwsResult<Credentials> RefreshingProvider::credentials() {
  std::lock_guard lock(mutex_);
  const core::TimePoint now = clock_.now();
  if (cached_) {
    if (!cached_->expiration || now < *cached_->expiration - policy_.advisory) return *cached_;
    // In the advisory window after a recent failure: keep what we have, do not hammer.
    bool usable = now < *cached_->expiration - policy_.mandatory;
    if (usable && last_failure_ && now < *last_failure_ + policy_.retry_after) return *cached_;
  }
  auto fresh = inner_->credentials();
  if (fresh) {
    cached_ = *fresh;
    last_failure_.reset();
    if (log_ && fresh->expiration)
      log_->debug("AWS credentials {} refreshed; they expire at {}", fresh->describe(),
                  core::formatTime(core::Clock::toMs(*fresh->expiration)));
    return fresh;
  }
  if (cached_ && cached_->expiration && now < *cached_->expiration - policy_.mandatory) {
    last_failure_ = now;
    if (log_)
      log_->warn(
          "refreshing AWS credentials from {} failed; using the current ones, which "
          "expire at {}: {}",
          inner_->name(), core::formatTime(core::Clock::toMs(*cached_->expiration)),
          fresh.error().str());
    return *cached_;
  }
  return fresh;
}

AwsResult<Credentials> ChainProvider::credentials() {
  std::unique_lock lock(mutex_);
  if (chosen_) {
    auto chosen = chosen_;
    lock.unlock();
    return chosen->credentials();
  }
  std::string tried;
  for (const auto& provider : providers_) {
    auto result = provider->credentials();
    if (result) {
      chosen_ = provider;
      return result;
    }
    if (!isNotConfigured(result.error()))
      return awsFail(
          std::move(result.error()).context("getting credentials from " + provider->name()));
    tried += (tried.empty() ? "" : "; ") + provider->name() + ": " + result.error().message;
  }
  return awsFail(notConfigured("no AWS credentials found (" + tried + ")"));
}

std::shared_ptr<CredentialsProvider> defaultCredentialsChain(const Environment& env,
                                                             ProviderDeps deps) {
  bool explicit_profile = env.get("AWS_PROFILE") || env.get("AWS_DEFAULT_PROFILE");
  std::vector<std::shared_ptr<CredentialsProvider>> providers{
      std::make_shared<EnvironmentProvider>(env),
      std::make_shared<ProfileProvider>(env, profileName(env), explicit_profile, deps),
      std::shared_ptr<CredentialsProvider>(WebIdentityProvider::fromEnvironment(env, deps)),
      std::make_shared<ContainerProvider>(env, deps),
      std::make_shared<InstanceMetadataProvider>(env, deps),
  };
  return refreshing(std::make_shared<ChainProvider>(std::move(providers)), deps);
}

}  // namespace firebreak::actions::aws
