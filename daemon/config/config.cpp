// The firebreak.yaml reader: YamlReader (file:line:col, unknown keys with suggestions, typed
// values, hostile-input limits) walks the document into a Config; the checks that need more
// than one key (auth against the listener) run once everything is read. Every error of the
// file is reported; nothing is returned from a file that has any.
#include "daemon/config/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>

#include "daemon/core/action.h"
#include "daemon/playbook/reader.h"

namespace firebreak::config {

using core::Diagnostics;
using core::ErrorCode;
using core::Json;
using core::SourceLoc;
using playbook::YamlReader;
using Entry = YamlReader::Entry;

namespace {

const std::vector<std::string> kTopKeys = {
    "listen", "tls",     "data_dir",  "playbooks", "drills", "drill_catch_up", "dry_run",
    "allowed_env", "log", "sources", "providers", "api", "limits", "http"};
const std::vector<std::string> kTlsKeys = {"cert", "key", "client_ca"};
const std::vector<std::string> kLogKeys = {"level", "format"};
const std::vector<std::string> kSourceKeys = {"type",     "auth",    "rate_limit",
                                              "max_body", "mapping", "sns"};
const std::vector<std::string> kSnsKeys = {"topics", "cert_hosts", "max_age", "certificates"};
const std::vector<std::string> kAuthKeys = {"bearer", "basic"};
const std::vector<std::string> kBasicKeys = {"username", "password"};
const std::vector<std::string> kRateLimitKeys = {"per_second", "burst"};
const std::vector<std::string> kAwsKeys = {"region",      "endpoint_url", "profile",
                                           "role_arn",    "external_id",  "session_name",
                                           "quarantine_policy_arn"};
const std::vector<std::string> kApiKeys = {"tokens"};
const std::vector<std::string> kTokenKeys = {"name", "sha256", "role"};
const std::vector<std::string> kLimitsKeys = {"destructive_actions_per_minute", "protected"};
const std::vector<std::string> kHttpKeys = {"max_header_bytes", "max_body_bytes",
                                            "header_timeout",   "body_timeout",
                                            "idle_timeout",     "max_connections_per_client",
                                            "max_in_flight"};

// In enum order.
const std::vector<std::string> kSourceTypes = {"alertmanager",  "grafana",        "sns",
                                               "azure-monitor", "gcp-monitoring", "pagerduty",
                                               "falco",         "generic"};
const std::vector<std::string> kLogLevels = {"trace", "debug", "info", "warn", "error"};
const std::vector<std::string> kLogFormats = {"text", "json"};
const std::vector<std::string> kRoles = {"viewer", "responder", "admin"};

constexpr std::string_view kSecretHint =
    "secrets are referenced as env:NAME or file:PATH, never inline";
constexpr std::string_view kAuthForms =
    "none, { bearer: env:NAME } or { basic: { username: NAME, password: env:NAME } }";
constexpr int64_t kMaxCount = 1'000'000;

// What is wrong with a scalar, and where in its text.
struct Problem {
  size_t offset = 0;
  std::string message;
  std::string hint;
};

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || isDigit(c); }
bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), isDigit);
}

// [a-z0-9][a-z0-9_-]*: a URL path segment without escaping.
bool validSourceName(std::string_view s) {
  if (s.empty() || !isLowerAlnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return isLowerAlnum(c) || c == '_' || c == '-'; });
}

// [A-Za-z_][A-Za-z0-9_]*
bool validEnvName(std::string_view s) {
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (s.empty() || !alpha(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alpha(c) || isDigit(c); });
}

bool isLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return isDigit(c) || (c >= 'a' && c <= 'f'); });
}
bool isHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

std::string inQuotes(std::string_view s) { return "'" + std::string(s) + "'"; }

std::optional<Problem> parseListenText(std::string_view text, Listen& out) {
  if (text.empty())
    return Problem{
        0, "'listen' must be host:port, like 127.0.0.1:9095 or [::1]:9095, not empty", {}};
  std::string host;
  size_t port_at = 0;
  bool ipv6 = false;
  if (text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos)
      return Problem{0, "'listen' has '[' without ']'", "write IPv6 addresses like [::1]:9095"};
    host = std::string(text.substr(1, close - 1));
    in6_addr addr{};
    if (inet_pton(AF_INET6, host.c_str(), &addr) != 1)
      return Problem{1, "'listen' host '" + host + "' is not an IPv6 address", {}};
    if (close + 1 >= text.size() || text[close + 1] != ':')
      return Problem{close + 1, "'listen' needs ':' and a port after the address",
                     "like [" + host + "]:9095"};
    port_at = close + 2;
    ipv6 = true;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      if (allDigits(text)) {
        std::string port(text);
        return Problem{0, "'listen' must be host:port, not a port alone",
                       "write 127.0.0.1:" + port + " for loopback only, or 0.0.0.0:" + port +
                           " for every address"};
      }
      return Problem{
          0,
          "'listen' must be host:port, like 127.0.0.1:9095 or [::1]:9095, not " + inQuotes(text),
          {}};
    }
    host = std::string(text.substr(0, colon));
    if (host.find(':') != std::string::npos)
      return Problem{0, "'listen' has an IPv6 address without brackets",
                     "write it like [::1]:9095"};
    if (host.empty())
      return Problem{0, "'listen' needs a host before ':'",
                     "write 127.0.0.1:PORT for loopback only, or 0.0.0.0:PORT for every address"};
    in_addr addr{};
    if (host != "localhost" && inet_pton(AF_INET, host.c_str(), &addr) != 1)
      return Problem{
          0, "'listen' host must be an IP address or localhost, not " + inQuotes(host), {}};
    port_at = colon + 1;
  }
  std::string_view port = text.substr(port_at);
  if (!allDigits(port) || port.size() > 5 || std::stoul(std::string(port)) > 65535)
    return Problem{port_at, "'listen' port must be between 0 and 65535, not " + inQuotes(port), {}};
  out.host = std::move(host);
  out.port = static_cast<uint16_t>(std::stoul(std::string(port)));
  out.ipv6 = ipv6;
  return std::nullopt;
}

std::optional<Problem> parseJsonPathText(std::string_view t, std::vector<JsonPathStep>& out) {
  const std::string kForm =
      "write paths like $.alert.name, $.labels['app.kubernetes.io/name'] or $.items[0]";
  auto nameChar = [](char c) {
    return isLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
  };
  if (t.empty() || t[0] != '$') return Problem{0, "must start with '$'", kForm};
  size_t i = 1;
  while (i < t.size()) {
    if (t[i] == '.') {
      size_t start = ++i;
      while (i < t.size() && nameChar(t[i])) ++i;
      if (i == start) return Problem{start, "expected a member name after '.'", kForm};
      out.push_back({std::string(t.substr(start, i - start)), std::nullopt});
    } else if (t[i] == '[') {
      size_t open = i++;
      if (i < t.size() && (t[i] == '\'' || t[i] == '"')) {
        char quote = t[i++];
        size_t start = i;
        size_t end = t.find(quote, i);
        if (end == std::string_view::npos)
          return Problem{open, std::string("'[") + quote + "' without its closing quote", kForm};
        if (end + 1 >= t.size() || t[end + 1] != ']')
          return Problem{end + 1, "expected ']' after the quoted name", kForm};
        out.push_back({std::string(t.substr(start, end - start)), std::nullopt});
        i = end + 2;
      } else {
        size_t start = i;
        while (i < t.size() && isDigit(t[i])) ++i;
        if (i == start)
          return Problem{start, "expected an index or a quoted name after '['", kForm};
        if (i - start > 9) return Problem{start, "index is too large", {}};
        if (i >= t.size() || t[i] != ']') return Problem{i, "expected ']' after the index", kForm};
        out.push_back(
            {{}, static_cast<size_t>(std::stoul(std::string(t.substr(start, i - start))))});
        ++i;
      }
    } else {
      auto c = static_cast<unsigned char>(t[i]);
      std::string what = c >= 0x20 && c < 0x7f ? "unexpected '" + std::string(1, t[i]) + "'"
                                               : std::string("unexpected character");
      return Problem{i, what, kForm};
    }
  }
  return std::nullopt;
}

struct SizeUnit {
  std::string_view name;
  uint64_t factor;
};
constexpr SizeUnit kSizeUnits[] = {
    {"", 1}, {"B", 1}, {"KiB", kKiB}, {"MiB", kMiB}, {"GiB", 1024 * kMiB}};

// The bytes `text` means, or nullopt; `suggestion` then holds a likely intended form.
std::optional<uint64_t> sizeOf(std::string_view text, std::string* suggestion) {
  size_t i = 0;
  while (i < text.size() && isDigit(text[i])) ++i;
  std::string_view digits = text.substr(0, i), unit = text.substr(i);
  if (digits.empty() || digits.size() > 19) return std::nullopt;
  uint64_t n = std::stoull(std::string(digits));
  for (const auto& u : kSizeUnits) {
    if (unit != u.name) continue;
    if (n > std::numeric_limits<uint64_t>::max() / u.factor) return std::nullopt;
    return n * u.factor;
  }
  // Decimal and one-letter units are near misses we can name.
  static const std::pair<std::string_view, std::string_view> kNear[] = {
      {"k", "KiB"},  {"K", "KiB"},   {"kb", "KiB"},  {"KB", "KiB"},  {"kB", "KiB"},
      {"Ki", "KiB"}, {"kib", "KiB"}, {"m", "MiB"},   {"M", "MiB"},   {"mb", "MiB"},
      {"MB", "MiB"}, {"Mi", "MiB"},  {"mib", "MiB"}, {"g", "GiB"},   {"G", "GiB"},
      {"gb", "GiB"}, {"GB", "GiB"},  {"Gi", "GiB"},  {"gib", "GiB"}, {"b", "B"}};
  if (suggestion) {
    for (const auto& [near, unit_name] : kNear)
      if (unit == near) *suggestion = std::string(digits) + std::string(unit_name);
  }
  return std::nullopt;
}

// "env:NAME" / "file:/abs" checked; "" when fine.
std::optional<Problem> secretProblem(std::string_view v, const std::string& key) {
  if (v.rfind("env:", 0) == 0) {
    std::string_view name = v.substr(4);
    if (!validEnvName(name))
      return Problem{
          4, "'" + key + "' must name an environment variable after 'env:', not " + inQuotes(name),
          "names are letters, digits and '_', not starting with a digit"};
    return std::nullopt;
  }
  if (v.rfind("file:", 0) == 0) {
    std::string_view path = v.substr(5);
    if (path.empty() || path[0] != '/')
      return Problem{
          5, "'" + key + "' must be file: followed by an absolute path, not " + inQuotes(path), {}};
    return std::nullopt;
  }
  // Never echo the value: it is probably the secret itself.
  return Problem{0, "'" + key + "' holds a secret inline", std::string(kSecretHint)};
}

class ConfigReader {
 public:
  ConfigReader(std::string_view text, const std::string& file) : r_(text, file) {}

  tl::expected<Config, Diagnostics> run() {
    try {
      Config cfg = defaultConfig();
      cfg.file = r_.file();
      read(cfg);
      if (r_.failed()) return tl::unexpected(r_.takeErrors());
      return cfg;
    } catch (const std::exception& e) {
      // yaml-cpp throws on misuse we did not foresee; never let a file take the daemon down.
      r_.error({r_.file(), 1, 1}, std::string("internal error reading the config: ") + e.what(),
               {});
      return tl::unexpected(r_.takeErrors());
    }
  }

 private:
  // What a source said about auth, for the checks against the listener.
  struct AuthSeen {
    std::string name;
    SourceLoc name_loc;
    bool given = false;                 // an `auth` key (valid or not)
    std::optional<SourceLoc> none_loc;  // `auth: none`
  };

  void read(Config& cfg);
  void readListen(const Entry& e, Config& cfg);
  void readTls(const Entry& e, Config& cfg);
  void readLog(const Entry& e, Config& cfg);
  void readSources(const Entry& e, Config& cfg);
  std::optional<Source> readSource(const Entry& e, AuthSeen& seen);
  void readAuth(const Entry& e, Source& s, AuthSeen& seen, const std::string& ctx);
  void readRateLimit(const Entry& e, Source& s, const std::string& ctx);
  void readMapping(const Entry& e, Source& s, const std::string& ctx);
  void readSns(const Entry& e, Source& s, const std::string& ctx);
  void readProviders(const Entry& e, Config& cfg);
  void readApi(const Entry& e, Config& cfg);
  void readLimits(const Entry& e, Config& cfg);
  void readHttp(const Entry& e, Config& cfg);
  void checkAuth(const Config& cfg);

  // YamlReader::require, quiet about a key that an unknown key near it stands for ('tpye' is
  // reported once, as unknown with "did you mean 'type'?", not also as a missing 'type').
  void require(const YamlReader::Fields& f, const YAML::Node& node,
               const std::vector<std::string>& names, const std::vector<std::string>& allowed,
               const std::string& ctx, const std::string& hint = {});
  std::optional<std::string> nonEmpty(const Entry& e, const std::string& ctx);
  std::optional<std::vector<std::string>> paths(const Entry& e, const std::string& ctx,
                                                bool null_is_empty);
  std::optional<std::string> secret(const Entry& e, const std::string& ctx);
  std::optional<uint64_t> size(const Entry& e, const std::string& ctx, uint64_t min, uint64_t max);
  std::optional<std::chrono::milliseconds> positiveDuration(const Entry& e, const std::string& ctx);
  void report(const YAML::Node& scalar, const Problem& p, const std::string& ctx) {
    r_.error(r_.locIn(scalar, p.offset), p.message, ctx, p.hint);
  }

  YamlReader r_;
  bool listen_ok_ = true;
  std::vector<AuthSeen> auth_seen_;
};

void ConfigReader::read(Config& cfg) {
  auto doc = r_.parse();
  if (!doc) {
    Diagnostics errors = r_.takeErrors();
    // A file with nothing in it (or only comments) is the defaults, as if it were absent.
    if (errors.size() == 1 && errors[0].message() == "empty file") return;
    for (auto& e : errors) r_.error(e.loc(), e.message(), {});
    return;
  }
  const YAML::Node& root = *doc;
  if (!root.IsMap()) {
    r_.error(r_.loc(root),
             "a config must be a mapping of keys like listen, data_dir and sources, not " +
                 YamlReader::describe(root),
             {});
    return;
  }
  auto f = r_.fields(root, kTopKeys, {}, "a config");
  if (auto* e = f.find("listen")) readListen(*e, cfg);
  if (auto* e = f.find("tls")) readTls(*e, cfg);
  if (auto* e = f.find("data_dir")) cfg.data_dir = nonEmpty(*e, {}).value_or(cfg.data_dir);
  if (auto* e = f.find("playbooks")) cfg.playbooks = paths(*e, {}, false).value_or(cfg.playbooks);
  if (auto* e = f.find("drills")) {
    cfg.drills = paths(*e, {}, false).value_or(cfg.drills);
    cfg.drills_given = true;
  }
  if (auto* e = f.find("dry_run")) cfg.dry_run = r_.boolean(*e, {}).value_or(false);
  if (auto* e = f.find("drill_catch_up"))
    cfg.drill_catch_up = r_.duration(*e, {}).value_or(cfg.drill_catch_up);
  if (auto* e = f.find("allowed_env")) {
    if (auto names = paths(*e, {}, true)) {
      for (size_t i = 0; i < names->size(); ++i) {
        if (!validEnvName((*names)[i]))
          r_.error(r_.loc(e->value[i]),
                   "'allowed_env' item " + std::to_string(i) +
                       " is not a variable name: " + inQuotes((*names)[i]),
                   {}, "names are letters, digits and '_', not starting with a digit");
      }
      cfg.allowed_env = std::move(*names);
    }
  }
  if (auto* e = f.find("log")) readLog(*e, cfg);
  if (auto* e = f.find("sources")) readSources(*e, cfg);
  if (auto* e = f.find("providers")) readProviders(*e, cfg);
  if (auto* e = f.find("api")) readApi(*e, cfg);
  if (auto* e = f.find("limits")) readLimits(*e, cfg);
  if (auto* e = f.find("http")) readHttp(*e, cfg);
  checkAuth(cfg);
}

void ConfigReader::require(const YamlReader::Fields& f, const YAML::Node& node,
                           const std::vector<std::string>& names,
                           const std::vector<std::string>& allowed, const std::string& ctx,
                           const std::string& hint) {
  if (!node.IsMap()) return;
  for (const auto& name : names) {
    if (f.has(name)) continue;
    bool misspelt = false;
    for (auto it = node.begin(); it != node.end() && !misspelt; ++it) {
      if (!it->first.IsScalar()) continue;
      std::string key = it->first.Scalar();
      misspelt = std::find(allowed.begin(), allowed.end(), key) == allowed.end() &&
                 core::suggest(key, allowed) == name;
    }
    if (!misspelt) r_.error(r_.loc(node), "missing required key '" + name + "'", ctx, hint);
  }
}

std::optional<std::string> ConfigReader::nonEmpty(const Entry& e, const std::string& ctx) {
  auto v = r_.string(e, ctx);
  if (v && v->empty()) {
    r_.error(r_.loc(e), "'" + e.name + "' must not be empty", ctx);
    return std::nullopt;
  }
  return v;
}

std::optional<std::vector<std::string>> ConfigReader::paths(const Entry& e, const std::string& ctx,
                                                            bool null_is_empty) {
  if (e.value.IsNull()) {
    if (null_is_empty) return std::vector<std::string>{};
    r_.error(r_.loc(e), "'" + e.name + "' must be a list of strings, not empty", ctx,
             "write [] for none");
    return std::nullopt;
  }
  if (e.value.IsScalar()) {
    r_.error(r_.loc(e), "'" + e.name + "' must be a list of strings, not a single string", ctx,
             "write [" + e.value.Scalar() + "]");
    return std::nullopt;
  }
  auto list = r_.stringList(e, ctx);
  if (!list) return std::nullopt;
  bool ok = true;
  for (size_t i = 0; i < list->size(); ++i) {
    if ((*list)[i].empty()) {
      r_.error(r_.loc(e.value[i]), "'" + e.name + "' item " + std::to_string(i) + " is empty", ctx);
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return list;
}

std::optional<std::string> ConfigReader::secret(const Entry& e, const std::string& ctx) {
  if (!e.value.IsScalar()) {
    r_.error(r_.loc(e),
             "'" + e.name + "' must be a secret reference (env:NAME or file:PATH), not " +
                 YamlReader::describe(e.value),
             ctx);
    return std::nullopt;
  }
  auto v = r_.string(e, ctx);  // reports a YAML tag
  if (!v) return std::nullopt;
  if (auto p = secretProblem(*v, e.name)) {
    if (p->offset == 0)
      r_.error(r_.loc(e), p->message, ctx, p->hint);
    else
      report(e.value, *p, ctx);
    return std::nullopt;
  }
  return v;
}

std::optional<uint64_t> ConfigReader::size(const Entry& e, const std::string& ctx, uint64_t min,
                                           uint64_t max) {
  if (!e.value.IsScalar()) {
    r_.error(r_.loc(e),
             "'" + e.name + "' must be a size like 1MiB, 512KiB or 1048576 (bytes), not " +
                 YamlReader::describe(e.value),
             ctx);
    return std::nullopt;
  }
  auto v = r_.string(e, ctx);  // reports a YAML tag
  if (!v) return std::nullopt;
  std::string suggestion;
  auto n = sizeOf(*v, &suggestion);
  if (!n) {
    r_.error(
        r_.loc(e),
        "'" + e.name + "' must be a size like 1MiB, 512KiB or 1048576 (bytes), not " + inQuotes(*v),
        ctx, suggestion.empty() ? "" : "did you mean '" + suggestion + "'?");
    return std::nullopt;
  }
  if (*n < min || *n > max) {
    r_.error(r_.loc(e),
             "'" + e.name + "' must be between " + formatSize(min) + " and " + formatSize(max) +
                 ", not " + *v,
             ctx);
    return std::nullopt;
  }
  return n;
}

std::optional<std::chrono::milliseconds> ConfigReader::positiveDuration(const Entry& e,
                                                                        const std::string& ctx) {
  auto d = r_.duration(e, ctx);
  if (d && d->count() <= 0) {
    r_.error(r_.loc(e), "'" + e.name + "' must be longer than 0", ctx);
    return std::nullopt;
  }
  return d;
}

void ConfigReader::readListen(const Entry& e, Config& cfg) {
  auto v = r_.string(e, {});
  if (!v) {
    listen_ok_ = false;
    return;
  }
  if (auto p = parseListenText(*v, cfg.listen)) {
    listen_ok_ = false;
    report(e.value, *p, {});
  }
}

void ConfigReader::readTls(const Entry& e, Config& cfg) {
  const std::string ctx = "tls";
  if (e.value.IsNull()) {
    r_.error(r_.loc(e), "'tls' must be a mapping, not empty", {}, "remove it to serve plain HTTP");
    return;
  }
  if (!r_.mapping(e, {})) return;
  auto f = r_.fields(e.value, kTlsKeys, ctx, "'tls'");
  Tls tls;
  // A certificate without its key (or the reverse) cannot serve; both, or no tls at all.
  require(f, e.value, {"cert", "key"}, kTlsKeys, ctx, "a certificate and its key go together");
  if (auto* c = f.find("cert")) tls.cert = nonEmpty(*c, ctx).value_or("");
  if (auto* k = f.find("key")) tls.key = nonEmpty(*k, ctx).value_or("");
  if (auto* c = f.find("client_ca")) tls.client_ca = nonEmpty(*c, ctx).value_or("");
  cfg.tls = std::move(tls);
}

void ConfigReader::readLog(const Entry& e, Config& cfg) {
  const std::string ctx = "log";
  if (!r_.mapping(e, {})) return;
  auto f = r_.fields(e.value, kLogKeys, ctx, "'log'");
  if (auto* l = f.find("level")) {
    if (auto v = r_.oneOf(*l, ctx, kLogLevels))
      cfg.log.level = static_cast<LogLevel>(std::find(kLogLevels.begin(), kLogLevels.end(), *v) -
                                            kLogLevels.begin());
  }
  if (auto* l = f.find("format")) {
    if (auto v = r_.oneOf(*l, ctx, kLogFormats))
      cfg.log.format = *v == "json" ? LogFormat::kJson : LogFormat::kText;
  }
}

void ConfigReader::readSources(const Entry& e, Config& cfg) {
  if (e.value.IsNull()) return;  // `sources:` with every entry commented out
  if (!e.value.IsMap()) {
    r_.error(
        r_.loc(e),
        "'sources' must be a mapping of name: { type, auth }, not " + YamlReader::describe(e.value),
        {});
    return;
  }
  std::map<std::string, int> lines;  // name -> line of first use
  for (auto it = e.value.begin(); it != e.value.end(); ++it) {
    YAML::Node key = it->first;
    if (!r_.spend(key, "sources")) return;
    if (!key.IsScalar()) {
      r_.error(r_.loc(key), "a source name must be a string, not " + YamlReader::describe(key),
               "sources");
      continue;
    }
    const std::string& name = key.Scalar();
    if (auto [first, inserted] = lines.emplace(name, r_.loc(key).line); !inserted) {
      r_.error(
          r_.loc(key),
          "duplicate source '" + name + "' (first on line " + std::to_string(first->second) + ")",
          "sources");
      continue;
    }
    bool valid = validSourceName(name);
    if (!valid) {
      r_.error(r_.loc(key), "invalid source name " + inQuotes(name), "sources",
               "lowercase letters, digits, '_' and '-', starting with a letter or digit: it "
               "becomes the URL path /hooks/<name>");
    }
    AuthSeen seen{name, r_.loc(key), false, std::nullopt};
    auto source = readSource({name, key, it->second}, seen);
    if (!valid || !source) continue;
    auth_seen_.push_back(seen);
    cfg.sources.emplace(name, std::move(*source));
  }
}

std::optional<Source> ConfigReader::readSource(const Entry& e, AuthSeen& seen) {
  const std::string ctx = "source '" + e.name + "'";
  if (e.value.IsNull()) {
    r_.error(r_.loc(e.key), "a source must be a mapping with at least 'type', not empty", ctx,
             "like { type: alertmanager, auth: { bearer: env:NAME } }");
    return std::nullopt;
  }
  auto f = r_.fields(e.value, kSourceKeys, ctx, "a source");
  if (!e.value.IsMap()) return std::nullopt;
  Source s;
  s.name = e.name;
  s.loc = r_.loc(e.key);
  std::optional<std::string> type;
  require(f, e.value, {"type"}, kSourceKeys, ctx);
  if (auto* t = f.find("type")) {
    type = r_.oneOf(*t, ctx, kSourceTypes);
    if (type)
      s.type = static_cast<SourceType>(std::find(kSourceTypes.begin(), kSourceTypes.end(), *type) -
                                       kSourceTypes.begin());
  }
  if (auto* a = f.find("auth")) {
    seen.given = true;
    readAuth(*a, s, seen, ctx);
  }
  if (auto* l = f.find("rate_limit")) readRateLimit(*l, s, ctx);
  if (auto* m = f.find("max_body"))
    s.max_body = size(*m, ctx, 1, kMaxSourceBody).value_or(s.max_body);
  if (auto* m = f.find("mapping")) {
    if (type && *type != "generic") {
      r_.error(r_.loc(m->key), "'mapping' is only for sources of type generic, not " + *type, ctx,
               "the " + *type + " format has fixed fields");
    } else {
      readMapping(*m, s, ctx);
    }
  }
  if (auto* m = f.find("sns")) {
    if (type && *type != "sns")
      r_.error(r_.loc(m->key), "'sns' is only for sources of type sns, not " + *type, ctx);
    else
      readSns(*m, s, ctx);
  } else if (type && *type == "sns") {
    r_.error(r_.loc(e.key), "a source of type sns needs 'sns: { topics: [...] }'", ctx,
             "list the topic ARNs it may receive from, like "
             "sns: { topics: [\"arn:aws:sns:us-east-1:123456789012:alerts\"] }");
  }
  return s;
}

void ConfigReader::readSns(const Entry& e, Source& s, const std::string& ctx) {
  const std::string sctx = ctx + " > sns";
  if (!r_.mapping(e, ctx)) return;
  auto f = r_.fields(e.value, kSnsKeys, sctx, "'sns'");
  require(f, e.value, {"topics"}, kSnsKeys, sctx);
  SnsSettings sns;
  bool ok = f.has("topics");
  if (auto* t = f.find("topics")) {
    if (auto v = paths(*t, sctx, false); v && !v->empty()) {
      for (size_t i = 0; i < v->size(); ++i) {
        if ((*v)[i].rfind("arn:", 0) != 0) {
          r_.error(r_.loc(t->value[i]), "'topics' item " + std::to_string(i) + " " +
                                            inQuotes((*v)[i]) + " is not a topic ARN",
                   sctx, "like arn:aws:sns:us-east-1:123456789012:alerts ('*' may stand for a part)");
          ok = false;
        }
      }
      sns.topics = *v;
    } else {
      if (v) r_.error(r_.loc(*t), "'topics' must name at least one topic ARN", sctx);
      ok = false;
    }
  }
  if (auto* h = f.find("cert_hosts")) {
    if (auto v = paths(*h, sctx, false); v && !v->empty())
      sns.cert_hosts = *v;
    else {
      if (v) r_.error(r_.loc(*h), "'cert_hosts' must name at least one host", sctx);
      ok = false;
    }
  }
  if (auto* a = f.find("max_age")) {
    if (auto v = positiveDuration(*a, sctx))
      sns.max_age = *v;
    else
      ok = false;
  }
  if (auto* c = f.find("certificates")) {
    const std::string cctx = sctx + " > certificates";
    if (!r_.mapping(*c, sctx)) {
      ok = false;
    } else {
      for (auto it = c->value.begin(); it != c->value.end(); ++it) {
        YAML::Node key = it->first;
        if (!key.IsScalar() || key.Scalar().rfind("https://", 0) != 0) {
          r_.error(r_.loc(key), "a certificate's key must be its https:// SigningCertURL", cctx);
          ok = false;
          continue;
        }
        Entry entry{key.Scalar(), key, it->second};
        auto file = nonEmpty(entry, cctx);
        if (!file) {
          ok = false;
          continue;
        }
        sns.certificates[key.Scalar()] = *file;
      }
    }
  }
  if (ok) s.sns = std::move(sns);
}

void ConfigReader::readAuth(const Entry& e, Source& s, AuthSeen& seen, const std::string& ctx) {
  const std::string forms(kAuthForms);
  if (e.value.IsScalar()) {
    auto v = r_.string(e, ctx);
    if (!v) return;
    if (*v == "none") {
      s.auth.scheme = Auth::Scheme::kNone;
      s.auth.explicit_none = true;
      seen.none_loc = r_.loc(e);
      return;
    }
    // The value may be the secret itself: name the forms, never echo it.
    std::string hint;
    if (core::isSecretReference(*v))
      hint = "write auth: { bearer: " + *v + " }";
    else if (!core::suggest(*v, {"none"}).empty())
      hint = "did you mean 'none'?";
    else
      hint = std::string(kSecretHint);
    r_.error(r_.loc(e), "'auth' must be " + forms, ctx, hint);
    return;
  }
  if (!e.value.IsMap()) {
    r_.error(r_.loc(e), "'auth' must be " + forms + ", not " + YamlReader::describe(e.value), ctx);
    return;
  }
  const std::string actx = ctx + " > auth";
  auto f = r_.fields(e.value, kAuthKeys, actx, "'auth'");
  auto* bearer = f.find("bearer");
  auto* basic = f.find("basic");
  if (bearer && basic) {
    const Entry* second = bearer->key.Mark().pos > basic->key.Mark().pos ? bearer : basic;
    r_.error(r_.loc(second->key), "'auth' takes one scheme, not both 'bearer' and 'basic'", actx);
    return;
  }
  if (!bearer && !basic) {
    if (e.value.size() == 0)  // unknown keys were reported already
      r_.error(r_.loc(e), "'auth' needs a scheme: bearer or basic", ctx,
               "write auth: none to accept requests without auth, on a loopback listener only");
    return;
  }
  if (bearer) {
    if (auto v = secret(*bearer, actx)) {
      s.auth.scheme = Auth::Scheme::kBearer;
      s.auth.bearer = *v;
    }
    return;
  }
  const std::string bctx = actx + ".basic";
  if (!r_.mapping(*basic, actx)) return;
  auto b = r_.fields(basic->value, kBasicKeys, bctx, "'basic'");
  require(b, basic->value, {"username", "password"}, kBasicKeys, bctx);
  std::optional<std::string> user, password;
  if (auto* u = b.find("username")) user = nonEmpty(*u, bctx);
  if (auto* p = b.find("password")) password = secret(*p, bctx);
  if (user && password) {
    s.auth.scheme = Auth::Scheme::kBasic;
    s.auth.username = *user;
    s.auth.password = *password;
  }
}

void ConfigReader::readRateLimit(const Entry& e, Source& s, const std::string& ctx) {
  const std::string rctx = ctx + " > rate_limit";
  if (!r_.mapping(e, ctx)) return;
  auto f = r_.fields(e.value, kRateLimitKeys, rctx, "'rate_limit'");
  require(f, e.value, {"per_second"}, kRateLimitKeys, rctx);
  RateLimit limit;
  bool ok = true;
  if (auto* p = f.find("per_second")) {
    std::optional<Json> v;
    if (p->value.IsScalar()) {
      v = r_.json(p->value, rctx, 1);
      if (!v) ok = false;  // the reader said why (a tag)
    }
    if (v && v->is_number() && v->get<double>() > 0) {
      limit.per_second = v->get<double>();
    } else if (ok) {
      std::string what = !v               ? YamlReader::describe(p->value)
                         : v->is_number() ? v->dump()
                                          : inQuotes(p->value.Scalar());
      r_.error(r_.loc(*p), "'per_second' must be a number more than 0, not " + what, rctx);
      ok = false;
    }
  }
  limit.burst = static_cast<int64_t>(std::max(1.0, std::ceil(limit.per_second)));
  if (auto* b = f.find("burst")) {
    if (auto v = r_.integer(*b, rctx, 1, kMaxCount))
      limit.burst = *v;
    else
      ok = false;
  }
  if (ok && f.has("per_second")) s.rate_limit = limit;
}

void ConfigReader::readMapping(const Entry& e, Source& s, const std::string& ctx) {
  const std::string mctx = ctx + " > mapping";
  if (!r_.mapping(e, ctx)) return;
  auto f = r_.fields(e.value, kMappingFields, mctx, "'mapping'");
  for (const auto& field : f.all()) {
    auto v = r_.string(field, mctx);
    if (!v) continue;
    std::vector<JsonPathStep> steps;
    if (auto p = parseJsonPathText(*v, steps)) {
      p->message = "'" + field.name + "' is not a JSON path: " + p->message;
      report(field.value, *p, mctx);
      continue;
    }
    s.mapping[field.name] = *v;
  }
}

void ConfigReader::readProviders(const Entry& e, Config& cfg) {
  if (e.value.IsNull()) return;
  if (!e.value.IsMap()) {
    r_.error(r_.loc(e),
             "'providers' must be a mapping of provider name: settings, not " +
                 YamlReader::describe(e.value),
             {});
    return;
  }
  std::map<std::string, int> lines;
  for (auto it = e.value.begin(); it != e.value.end(); ++it) {
    YAML::Node key = it->first;
    if (!r_.spend(key, "providers")) return;
    if (!key.IsScalar()) {
      r_.error(r_.loc(key), "a provider name must be a string, not " + YamlReader::describe(key),
               "providers");
      continue;
    }
    const std::string& name = key.Scalar();
    if (auto [first, inserted] = lines.emplace(name, r_.loc(key).line); !inserted) {
      r_.error(
          r_.loc(key),
          "duplicate provider '" + name + "' (first on line " + std::to_string(first->second) + ")",
          "providers");
      continue;
    }
    const std::string ctx = "provider '" + name + "'";
    YAML::Node value = it->second;  // a copy: `it->` hands out a temporary
    if (value.IsNull()) {
      cfg.providers[name] = Json::object();
      continue;
    }
    if (!value.IsMap()) {
      r_.error(r_.loc(value),
               "provider settings must be a mapping, not " + YamlReader::describe(value), ctx);
      continue;
    }
    if (name != "aws") {
      // Kept as written; the provider checks its own settings when it is built.
      if (auto v = r_.json(value, ctx, 1)) cfg.providers[name] = std::move(*v);
      continue;
    }
    auto f = r_.fields(value, kAwsKeys, ctx, "'aws'");
    Json out = Json::object();
    bool ok = true;
    for (const auto& field : f.all()) {
      auto v = nonEmpty(field, ctx);
      if (!v) {
        ok = false;
        continue;
      }
      if (field.name == "endpoint_url" && v->rfind("http://", 0) != 0 &&
          v->rfind("https://", 0) != 0) {
        r_.error(r_.loc(field),
                 "'endpoint_url' must start with http:// or https://, not " + inQuotes(*v), ctx);
        ok = false;
        continue;
      }
      if (field.name == "quarantine_policy_arn" && v->rfind("arn:", 0) != 0) {
        r_.error(r_.loc(field),
                 "'quarantine_policy_arn' must be a managed policy ARN "
                 "(arn:aws:iam::ACCOUNT:policy/NAME), not " + inQuotes(*v),
                 ctx);
        ok = false;
        continue;
      }
      if (field.name == "role_arn" && v->rfind("arn:", 0) != 0) {
        r_.error(r_.loc(field),
                 "'role_arn' must be an ARN (arn:aws:iam::ACCOUNT:role/NAME), not " + inQuotes(*v),
                 ctx);
        ok = false;
        continue;
      }
      out[field.name] = *v;
    }
    if (ok) cfg.providers[name] = std::move(out);
  }
}

void ConfigReader::readApi(const Entry& e, Config& cfg) {
  if (!r_.mapping(e, {})) return;
  auto f = r_.fields(e.value, kApiKeys, "api", "'api'");
  auto* t = f.find("tokens");
  if (!t || t->value.IsNull()) return;
  if (!t->value.IsSequence()) {
    r_.error(
        r_.loc(*t),
        "'tokens' must be a list of { name, sha256, role }, not " + YamlReader::describe(t->value),
        "api");
    return;
  }
  struct Seen {
    int line;
    std::string name;
  };
  std::map<std::string, Seen> names, hashes;
  size_t index = 0;
  for (const auto& item : t->value) {
    std::string ctx = "api.tokens[" + std::to_string(index++) + "]";
    if (!r_.spend(item, ctx)) return;
    if (item.IsMap()) {
      for (auto it = item.begin(); it != item.end(); ++it) {
        if (it->first.IsScalar() && it->first.Scalar() == "name" && it->second.IsScalar()) {
          ctx += " '" + it->second.Scalar() + "'";
          break;
        }
      }
    }
    auto tf = r_.fields(item, kTokenKeys, ctx, "a token");
    if (!item.IsMap()) continue;
    bool ok = tf.has("name") && tf.has("sha256") && tf.has("role");
    require(tf, item, {"name", "sha256", "role"}, kTokenKeys, ctx);
    ApiToken token;
    if (auto* n = tf.find("name")) {
      auto v = nonEmpty(*n, ctx);
      if (v) {
        if (auto [first, inserted] = names.emplace(*v, Seen{r_.loc(*n).line, *v}); !inserted) {
          r_.error(r_.loc(*n),
                   "duplicate token name " + inQuotes(*v) + " (first on line " +
                       std::to_string(first->second.line) + ")",
                   ctx);
          v.reset();
        }
      }
      if (v)
        token.name = *v;
      else
        ok = false;
    }
    if (auto* h = tf.find("sha256")) {
      // Never echo it: a token pasted here by mistake must not reach the logs.
      auto v = r_.string(*h, ctx);
      if (v && (v->size() != 64 || !isLowerHex(*v))) {
        bool upper = v->size() == 64 && isHex(*v);
        r_.error(r_.loc(*h), "'sha256' must be the token's SHA-256 as 64 lowercase hex digits", ctx,
                 upper ? "write it in lowercase" : "compute it with: printf %s TOKEN | sha256sum");
        v.reset();
      }
      if (v) {
        if (auto [first, inserted] = hashes.emplace(*v, Seen{r_.loc(*h).line, token.name});
            !inserted) {
          r_.error(r_.loc(*h),
                   "'sha256' is already used by token " + inQuotes(first->second.name) + " (line " +
                       std::to_string(first->second.line) + ")",
                   ctx, "every token must be its own, so the audit log can tell who acted");
          v.reset();
        }
      }
      if (v)
        token.sha256 = *v;
      else
        ok = false;
    }
    if (auto* r = tf.find("role")) {
      auto v = r_.oneOf(*r, ctx, kRoles);
      if (v)
        token.role =
            static_cast<Role>(std::find(kRoles.begin(), kRoles.end(), *v) - kRoles.begin());
      else
        ok = false;
    }
    if (ok) cfg.api.tokens.push_back(std::move(token));
  }
}

void ConfigReader::readLimits(const Entry& e, Config& cfg) {
  const std::string ctx = "limits";
  if (!r_.mapping(e, {})) return;
  auto f = r_.fields(e.value, kLimitsKeys, ctx, "'limits'");
  if (auto* d = f.find("destructive_actions_per_minute")) {
    cfg.limits.destructive_actions_per_minute =
        r_.integer(*d, ctx, 0, std::numeric_limits<int>::max())
            .value_or(cfg.limits.destructive_actions_per_minute);
  }
  if (auto* p = f.find("protected"))
    cfg.limits.protected_patterns = paths(*p, ctx, true).value_or(std::vector<std::string>{});
}

void ConfigReader::readHttp(const Entry& e, Config& cfg) {
  const std::string ctx = "http";
  if (!r_.mapping(e, {})) return;
  auto f = r_.fields(e.value, kHttpKeys, ctx, "'http'");
  Http& h = cfg.http;
  if (auto* v = f.find("max_header_bytes"))
    h.max_header_bytes = size(*v, ctx, kKiB, kMiB).value_or(h.max_header_bytes);
  if (auto* v = f.find("max_body_bytes"))
    h.max_body_bytes = size(*v, ctx, 1, kMaxSourceBody).value_or(h.max_body_bytes);
  if (auto* v = f.find("header_timeout"))
    h.header_timeout = positiveDuration(*v, ctx).value_or(h.header_timeout);
  if (auto* v = f.find("body_timeout"))
    h.body_timeout = positiveDuration(*v, ctx).value_or(h.body_timeout);
  if (auto* v = f.find("idle_timeout"))
    h.idle_timeout = positiveDuration(*v, ctx).value_or(h.idle_timeout);
  if (auto* v = f.find("max_connections_per_client"))
    h.max_connections_per_client =
        r_.integer(*v, ctx, 1, kMaxCount).value_or(h.max_connections_per_client);
  if (auto* v = f.find("max_in_flight"))
    h.max_in_flight = r_.integer(*v, ctx, 1, kMaxCount).value_or(h.max_in_flight);
}

// Auth is required unless the listener is loopback-only: a missing `auth` there means none
// (and is warned about at every start); `auth: none` anywhere else is an error.
void ConfigReader::checkAuth(const Config& cfg) {
  if (!listen_ok_) return;  // reported already; whether it is loopback is unknown
  if (cfg.listen.isLoopback()) return;
  const std::string where = "'listen' is " + cfg.listen.str() + ", not a loopback address";
  for (const auto& seen : auth_seen_) {
    const std::string ctx = "source '" + seen.name + "'";
    const Source* source = cfg.source(seen.name);
    if (!seen.given && source && source->type == SourceType::kSns) continue;  // signed
    if (!seen.given) {
      r_.error(seen.name_loc, "missing required key 'auth'", ctx,
               where + ": add auth: { bearer: env:NAME } or " +
                   "{ basic: { username: NAME, password: env:NAME } }");
    } else if (seen.none_loc) {
      r_.error(*seen.none_loc, "'auth: none' is allowed only on a loopback listener", ctx,
               where + ": add auth: { bearer: env:NAME }, or listen on 127.0.0.1");
    }
  }
}

tl::expected<std::string, core::Error> readText(const std::string& path) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status))
    return tl::unexpected(core::Error(ErrorCode::kNotFound, "no such file or directory", {path}));
  if (!std::filesystem::is_regular_file(status))
    return tl::unexpected(core::Error(ErrorCode::kInvalidArgument, "not a regular file", {path}));
  auto bytes = std::filesystem::file_size(path, ec);
  if (!ec && bytes > playbook::kMaxFileBytes) {
    return tl::unexpected(core::Error(
        ErrorCode::kInvalidArgument,
        "file is larger than 1 MiB (" + std::to_string(bytes) + " bytes)", {path, 1, 1}));
  }
  std::FILE* fp = std::fopen(path.c_str(), "rb");
  if (!fp) {
    return tl::unexpected(
        core::Error(ErrorCode::kIo, std::string("cannot read: ") + std::strerror(errno), {path}));
  }
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, fp)) > 0) {
    out.append(buf, n);
    if (out.size() > playbook::kMaxFileBytes) break;  // it grew while we read; parse() reports it
  }
  bool failed = std::ferror(fp);
  std::fclose(fp);
  if (failed) return tl::unexpected(core::Error(ErrorCode::kIo, "cannot read the file", {path}));
  return out;
}

}  // namespace

bool Listen::isLoopback() const {
  if (host == "localhost") return true;
  if (!ipv6) {
    in_addr a{};
    if (inet_pton(AF_INET, host.c_str(), &a) != 1) return false;
    return (ntohl(a.s_addr) >> 24) == 127;
  }
  in6_addr a{};
  if (inet_pton(AF_INET6, host.c_str(), &a) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
  return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
}

std::string Listen::str() const {
  std::string h = ipv6 ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

core::Result<Listen> parseListen(std::string_view text) {
  Listen out;
  if (auto p = parseListenText(text, out)) {
    std::string msg = p->message;
    if (!p->hint.empty()) msg += " (" + p->hint + ")";
    return core::fail(ErrorCode::kInvalidArgument, std::move(msg));
  }
  return out;
}

core::Result<std::vector<JsonPathStep>> parseJsonPath(std::string_view text) {
  std::vector<JsonPathStep> steps;
  if (auto p = parseJsonPathText(text, steps)) {
    return core::fail(ErrorCode::kInvalidArgument, "invalid JSON path " + inQuotes(text) + ": " +
                                                       p->message + " at offset " +
                                                       std::to_string(p->offset));
  }
  return steps;
}

const char* logLevelName(LogLevel level) { return kLogLevels[static_cast<size_t>(level)].c_str(); }
const char* logFormatName(LogFormat format) {
  return kLogFormats[static_cast<size_t>(format)].c_str();
}
const char* sourceTypeName(SourceType type) {
  return kSourceTypes[static_cast<size_t>(type)].c_str();
}
const char* roleName(Role role) { return kRoles[static_cast<size_t>(role)].c_str(); }

bool isValidSecretReference(std::string_view value) {
  return !secretProblem(value, "secret").has_value();
}

core::Result<uint64_t> parseSize(std::string_view text) {
  std::string suggestion;
  if (auto n = sizeOf(text, &suggestion)) return *n;
  std::string msg =
      "invalid size " + inQuotes(text) + " (write for example 1MiB, 512KiB or 1048576";
  if (!suggestion.empty()) msg += "; did you mean '" + suggestion + "'?";
  return core::fail(ErrorCode::kInvalidArgument, msg + ")");
}

std::string formatSize(uint64_t bytes) {
  for (auto it = std::rbegin(kSizeUnits); it != std::rend(kSizeUnits); ++it) {
    if (it->factor > 1 && bytes > 0 && bytes % it->factor == 0)
      return std::to_string(bytes / it->factor) + std::string(it->name);
  }
  return std::to_string(bytes);
}

const Source* Config::source(std::string_view name) const {
  auto it = sources.find(std::string(name));
  return it == sources.end() ? nullptr : &it->second;
}

std::vector<std::string> Config::warnings() const {
  std::vector<std::string> out;
  for (const auto& [name, s] : sources) {
    if (s.auth.scheme != Auth::Scheme::kNone) continue;
    if (s.type == SourceType::kSns && !s.auth.explicit_none) continue;  // signed by SNS
    if (s.auth.explicit_none) {
      out.push_back("source '" + name + "' accepts requests without auth (auth: none): " +
                    "anyone who can reach " + listen.str() + " can post alerts to /hooks/" + name);
    } else {
      out.push_back("source '" + name + "' has no auth: anyone who can reach " + listen.str() +
                    " can post alerts to /hooks/" + name +
                    " (add auth, or write auth: none to say it is intended)");
    }
  }
  if (!listenIsLoopback() && !tls)
    out.push_back("listening on " + listen.str() +
                  " without tls: tokens and alerts cross the network in clear");
  return out;
}

Config defaultConfig() { return Config{}; }

tl::expected<Config, Diagnostics> parseConfig(std::string_view yaml, const std::string& file) {
  return ConfigReader(yaml, file).run();
}

tl::expected<Config, Diagnostics> loadConfigFile(const std::string& path) {
  auto text = readText(path);
  if (!text) return tl::unexpected(Diagnostics{text.error()});
  return parseConfig(*text, path);
}

tl::expected<Config, Diagnostics> loadConfig(const std::optional<std::string>& explicit_path,
                                             const std::string& default_path) {
  if (explicit_path) return loadConfigFile(*explicit_path);
  std::error_code ec;
  if (!std::filesystem::exists(default_path, ec) && !ec) return defaultConfig();
  return loadConfigFile(default_path);
}

}  // namespace firebreak::config
