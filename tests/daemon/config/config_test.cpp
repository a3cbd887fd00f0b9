// The daemon config reader: the defaults, every key of a full file, the shipped example, and
// every bad file in tests/data/config/bad/ reporting exactly the expected messages, locations
// included.
#include "daemon/config/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "tests/fakes/bad_files.h"
#include "tests/fakes/test_env.h"

namespace firebreak::config {
namespace {

using testing::messages;

using namespace std::chrono_literals;

std::string dataDir() { return testing::sourceDir() + "/tests/data/config"; }

Config parseGood(const std::string& yaml) {
  auto cfg = parseConfig(yaml, "t.yaml");
  if (!cfg) {
    for (const auto& m : messages(cfg.error())) ADD_FAILURE() << m;
    return {};
  }
  return *cfg;
}

std::vector<std::string> parseErrors(const std::string& yaml) {
  auto cfg = parseConfig(yaml, "t.yaml");
  if (cfg) return {};
  return messages(cfg.error());
}

// ---------------------------------------------------------------------------------------------
// Bad files: the full message of every error, in order, with file:line:col.

const std::vector<testing::BadFile>& badCases() {
  static const std::vector<testing::BadFile> cases = {
      {"unknown-source-key.yaml",
       {"5:5: error: unknown key 'tpye' in source 'prometheus' (did you mean 'type'?)"}},
      {"unknown-top-key.yaml", {"1:1: error: unknown key 'lsiten' (did you mean 'listen'?)"}},
      {"unknown-key-no-suggestion.yaml",
       {"3:3: error: unknown key 'colour' in log (known keys: level, format)"}},
      {"inline-bearer.yaml",
       {"4:21: error: 'bearer' holds a secret inline in source 'prometheus' > auth (secrets are "
        "referenced as env:NAME or file:PATH, never inline)"}},
      {"inline-password.yaml",
       {"7:19: error: 'password' holds a secret inline in source 'grafana' > auth.basic (secrets "
        "are referenced as env:NAME or file:PATH, never inline)"}},
      {"bad-secret-reference.yaml",
       {"4:25: error: 'bearer' must name an environment variable after 'env:', not '1_TOKEN' in "
        "source 'a' > auth (names are letters, digits and '_', not starting with a digit)",
        "7:51: error: 'password' must be file: followed by an absolute path, not 'secrets/b' in "
        "source 'b' > auth.basic"}},
      {"missing-auth-public.yaml",
       {"3:3: error: missing required key 'auth' in source 'prometheus' ('listen' is "
        "0.0.0.0:9095, not a loopback address: add auth: { bearer: env:NAME } or { basic: { "
        "username: NAME, password: env:NAME } })"}},
      {"auth-none-public.yaml",
       {"6:11: error: 'auth: none' is allowed only on a loopback listener in source 'falco' "
        "('listen' is [::]:9095, not a loopback address: add auth: { bearer: env:NAME }, or "
        "listen on 127.0.0.1)"}},
      {"auth-both-schemes.yaml",
       {"6:7: error: 'auth' takes one scheme, not both 'bearer' and 'basic' in source "
        "'prometheus' > auth"}},
      {"auth-bad-scalar.yaml",
       {"4:11: error: 'auth' must be none, { bearer: env:NAME } or { basic: { username: NAME, "
        "password: env:NAME } } in source 'a' (write auth: { bearer: env:AM_TOKEN })",
        "7:11: error: 'auth' must be none, { bearer: env:NAME } or { basic: { username: NAME, "
        "password: env:NAME } } in source 'b' (did you mean 'none'?)",
        "10:11: error: 'auth' needs a scheme: bearer or basic in source 'c' (write auth: none to "
        "accept requests without auth, on a loopback listener only)"}},
      {"bad-listen-port.yaml",
       {"1:19: error: 'listen' port must be between 0 and 65535, not '70000'"}},
      {"listen-ipv6-no-brackets.yaml",
       {"1:9: error: 'listen' has an IPv6 address without brackets (write it like [::1]:9095)"}},
      {"listen-port-only.yaml",
       {"1:10: error: 'listen' must be host:port, not a port alone (write 127.0.0.1:9095 for "
        "loopback only, or 0.0.0.0:9095 for every address)"}},
      {"listen-hostname.yaml",
       {"1:9: error: 'listen' host must be an IP address or localhost, not "
        "'firebreak.internal'"}},
      {"bad-source-type.yaml",
       {"3:11: error: 'type' must be one of alertmanager, grafana, sns, azure-monitor, "
        "gcp-monitoring, pagerduty, falco, generic, not 'alertmanger' in source 'prometheus' "
        "(did you mean 'alertmanager'?)"}},
      {"bad-source-name.yaml",
       {"2:3: error: invalid source name 'Prometheus' in sources (lowercase letters, digits, '_' "
        "and '-', starting with a letter or digit: it becomes the URL path /hooks/<name>)",
        "4:3: error: invalid source name 'team/a' in sources (lowercase letters, digits, '_' and "
        "'-', starting with a letter or digit: it becomes the URL path /hooks/<name>)"}},
      {"duplicate-source.yaml",
       {"4:3: error: duplicate source 'prometheus' (first on line 2) in sources"}},
      {"mapping-not-generic.yaml",
       {"4:5: error: 'mapping' is only for sources of type generic, not alertmanager in source "
        "'prometheus' (the alertmanager format has fixed fields)"}},
      {"bad-json-path.yaml",
       {"5:21: error: 'name' is not a JSON path: expected a member name after '.' in source "
        "'custom' > mapping (write paths like $.alert.name, $.labels['app.kubernetes.io/name'] "
        "or $.items[0])",
        "6:15: error: 'labels' is not a JSON path: must start with '$' in source 'custom' > "
        "mapping (write paths like $.alert.name, $.labels['app.kubernetes.io/name'] or "
        "$.items[0])",
        "7:24: error: 'status' is not a JSON path: expected an index or a quoted name after '[' "
        "in source 'custom' > mapping (write paths like $.alert.name, "
        "$.labels['app.kubernetes.io/name'] or $.items[0])",
        "8:7: error: unknown key 'severty' in source 'custom' > mapping (did you mean "
        "'severity'?)"}},
      {"bad-max-body.yaml",
       {"2:38: error: 'max_body' must be a size like 1MiB, 512KiB or 1048576 (bytes), not '1MB' "
        "in source 'a' (did you mean '1MiB'?)",
        "3:38: error: 'max_body' must be between 1 and 64MiB, not 128MiB in source 'b'",
        "4:38: error: 'max_body' must be a size like 1MiB, 512KiB or 1048576 (bytes), not a "
        "list in source 'c'"}},
      {"bad-rate-limit.yaml",
       {"4:31: error: 'per_second' must be a number more than 0, not 0 in source 'a' > "
        "rate_limit",
        "4:41: error: 'burst' must be between 1 and 1000000, not 0 in source 'a' > rate_limit",
        "7:17: error: missing required key 'per_second' in source 'b' > rate_limit",
        "7:26: error: 'burst' must be a whole number, not '1.5' in source 'b' > rate_limit",
        "10:31: error: 'per_second' must be a number more than 0, not 'fast' in source 'c' > "
        "rate_limit"}},
      {"tokens.yaml",
       {"4:15: error: duplicate token name 'oncall' (first on line 3) in api.tokens[1] 'oncall'",
        "5:30: error: 'sha256' must be the token's SHA-256 as 64 lowercase hex digits in "
        "api.tokens[2] 'paste' (compute it with: printf %s TOKEN | sha256sum)",
        "6:30: error: 'sha256' must be the token's SHA-256 as 64 lowercase hex digits in "
        "api.tokens[3] 'upper' (write it in lowercase)",
        "7:31: error: 'sha256' is already used by token 'oncall' (line 3) in api.tokens[4] "
        "'reused' (every token must be its own, so the audit log can tell who acted)",
        "8:101: error: 'role' must be one of viewer, responder, admin, not 'root' in "
        "api.tokens[5] 'boss'",
        "9:7: error: missing required key 'sha256' in api.tokens[6] 'nohash'"}},
      {"tls-cert-only.yaml",
       {"3:3: error: missing required key 'key' in tls (a certificate and its key go "
        "together)"}},
      {"tls-empty.yaml",
       {"1:1: error: 'tls' must be a mapping, not empty (remove it to serve plain HTTP)"}},
      {"bad-log.yaml",
       {"1:15: error: 'level' must be one of trace, debug, info, warn, error, not 'warning' in "
        "log (did you mean 'warn'?)",
        "1:32: error: 'format' must be one of text, json, not 'xml' in log"}},
      {"bad-http.yaml",
       {"2:21: error: 'max_header_bytes' must be between 1KiB and 1MiB, not 100 in http",
        "3:19: error: 'header_timeout' must be longer than 0 in http",
        "4:17: error: 'idle_timeout': invalid duration '1y': unknown unit 'y' in http (write for "
        "example 500ms, 30s, 10m, 1h30m, 2d)",
        "5:18: error: 'max_in_flight' must be between 1 and 1000000, not 0 in http",
        "6:31: error: 'max_connections_per_client' must be a whole number, not 'many' in http"}},
      {"bad-aws.yaml",
       {"3:5: error: unknown key 'regoin' in provider 'aws' (did you mean 'region'?)",
        "4:19: error: 'endpoint_url' must start with http:// or https://, not '127.0.0.1:5000' "
        "in provider 'aws'",
        "5:15: error: 'role_arn' must be an ARN (arn:aws:iam::ACCOUNT:role/NAME), not "
        "'firebreak' in provider 'aws'",
        "6:8: error: provider settings must be a mapping, not a list in provider 'gcp'"}},
      {"yaml-syntax.yaml", {"4:1: error: YAML syntax error: end of map flow not found"}},
      {"not-a-mapping.yaml",
       {"1:1: error: a config must be a mapping of keys like listen, data_dir and sources, not a "
        "list"}},
      {"playbooks-not-a-list.yaml",
       {"1:12: error: 'playbooks' must be a list of strings, not a single string (write "
        "[./playbooks])",
        "2:1: error: 'drills' must be a list of strings, not empty (write [] for none)",
        "3:11: error: 'data_dir' must not be empty"}},
      {"dry-run-yes.yaml", {"1:10: error: 'dry_run' must be true or false, not 'yes'"}},
      {"bad-allowed-env.yaml",
       {"1:27: error: 'allowed_env' item 1 is not a variable name: 'deploy-env' (names are "
        "letters, digits and '_', not starting with a digit)"}},
      {"bad-limits.yaml",
       {"2:35: error: 'destructive_actions_per_minute' must be between 0 and 2147483647, not -1 "
        "in limits",
        "3:51: error: 'protected' item 1 is empty in limits"}},
      {"several-errors.yaml",
       {"5:8: error: unknown key 'levle' in log (did you mean 'level'?)",
        "9:21: error: 'bearer' holds a secret inline in source 'prometheus' > auth (secrets are "
        "referenced as env:NAME or file:PATH, never inline)",
        "10:3: error: missing required key 'auth' in source 'falco' ('listen' is 0.0.0.0:9095, "
        "not a loopback address: add auth: { bearer: env:NAME } or { basic: { username: NAME, "
        "password: env:NAME } })",
        "14:31: error: 'sha256' must be the token's SHA-256 as 64 lowercase hex digits in "
        "api.tokens[0] 'oncall' (compute it with: printf %s TOKEN | sha256sum)",
        "16:35: error: 'destructive_actions_per_minute' must be a whole number, not 'ten' in "
        "limits"}},
      {"trailing-comma.yaml",
       {"2:42: error: YAML syntax error: ',' after the end of the document"}},
  };
  return cases;
}

class BadConfigTest : public ::testing::TestWithParam<testing::BadFile> {};

TEST_P(BadConfigTest, ReportsEveryErrorWithItsLocation) {
  const testing::BadFile& c = GetParam();
  std::string path = dataDir() + "/bad/" + c.file;
  auto cfg = loadConfigFile(path);
  ASSERT_FALSE(cfg) << c.file << " loaded";
  EXPECT_EQ(messages(cfg.error()), testing::expectedMessages(path, c));
}

INSTANTIATE_TEST_SUITE_P(Files, BadConfigTest, ::testing::ValuesIn(badCases()),
                         testing::badFileTestName);

TEST(BadConfigFiles, EveryFileHasItsExpectation) {
  testing::expectEveryFileHasAnExpectation(dataDir() + "/bad", badCases(), "config_test.cpp");
}

// ---------------------------------------------------------------------------------------------
// Defaults and good files.

TEST(ConfigTest, DefaultsAreLoopbackAndLocalDirectories) {
  Config cfg = defaultConfig();
  EXPECT_EQ(cfg.listen.str(), "127.0.0.1:9095");
  EXPECT_TRUE(cfg.listenIsLoopback());
  EXPECT_FALSE(cfg.tls);
  EXPECT_EQ(cfg.data_dir, "./var");
  EXPECT_EQ(cfg.playbooks, std::vector<std::string>{"./playbooks"});
  EXPECT_EQ(cfg.drills, std::vector<std::string>{"./drills"});
  EXPECT_FALSE(cfg.dry_run);
  EXPECT_TRUE(cfg.allowed_env.empty());
  EXPECT_EQ(cfg.log.level, LogLevel::kInfo);
  EXPECT_EQ(cfg.log.format, LogFormat::kText);
  EXPECT_TRUE(cfg.sources.empty());
  EXPECT_TRUE(cfg.providers.empty());
  EXPECT_TRUE(cfg.api.tokens.empty());
  EXPECT_EQ(cfg.limits.destructive_actions_per_minute, 10);
  EXPECT_TRUE(cfg.limits.protected_patterns.empty());
  EXPECT_EQ(cfg.http.max_header_bytes, 16u * 1024);
  EXPECT_EQ(cfg.http.max_body_bytes, 1024u * 1024);
  EXPECT_EQ(cfg.http.header_timeout, 10s);
  EXPECT_EQ(cfg.http.body_timeout, 30s);
  EXPECT_EQ(cfg.http.idle_timeout, 60s);
  EXPECT_EQ(cfg.http.max_connections_per_client, 64);
  EXPECT_EQ(cfg.http.max_in_flight, 1024);
  EXPECT_TRUE(cfg.warnings().empty());
}

TEST(ConfigTest, EmptyFilesGiveTheDefaults) {
  for (const std::string text :
       {"", "\n\n", "# nothing yet\n# listen: 0.0.0.0:9095\n", "---\n", "~\n", "\xef\xbb\xbf",
        "---\n---\n# only empty documents\n---\n...\n"}) {
    auto cfg = parseConfig(text, "firebreak.yaml");
    ASSERT_TRUE(cfg) << "'" << text << "': " << messages(cfg.error())[0];
    EXPECT_EQ(cfg->listen.str(), "127.0.0.1:9095");
    EXPECT_EQ(cfg->data_dir, "./var");
    EXPECT_EQ(cfg->playbooks, std::vector<std::string>{"./playbooks"});
    EXPECT_EQ(cfg->file, "firebreak.yaml");
  }
}

TEST(ConfigTest, KeysNotWrittenKeepTheirDefaults) {
  Config cfg = parseGood("dry_run: true\nhttp: { max_in_flight: 10 }\nlog: { format: json }\n");
  EXPECT_TRUE(cfg.dry_run);
  EXPECT_EQ(cfg.listen.str(), "127.0.0.1:9095");
  EXPECT_EQ(cfg.drills, std::vector<std::string>{"./drills"});
  EXPECT_EQ(cfg.http.max_in_flight, 10);
  EXPECT_EQ(cfg.http.max_connections_per_client, 64);
  EXPECT_EQ(cfg.log.level, LogLevel::kInfo);
  EXPECT_EQ(cfg.log.format, LogFormat::kJson);
}

TEST(ConfigTest, FullFileSetsEveryKey) {
  std::string path = dataDir() + "/good/full.yaml";
  auto loaded = loadConfigFile(path);
  ASSERT_TRUE(loaded) << messages(loaded.error())[0];
  const Config& cfg = *loaded;
  EXPECT_EQ(cfg.file, path);
  EXPECT_EQ(cfg.listen.host, "::1");
  EXPECT_EQ(cfg.listen.port, 9443);
  EXPECT_TRUE(cfg.listen.ipv6);
  EXPECT_EQ(cfg.listen.str(), "[::1]:9443");
  EXPECT_TRUE(cfg.listenIsLoopback());
  ASSERT_TRUE(cfg.tls);
  EXPECT_EQ(cfg.tls->cert, "/etc/firebreak/tls.crt");
  EXPECT_EQ(cfg.tls->key, "/etc/firebreak/tls.key");
  EXPECT_EQ(cfg.tls->client_ca, "/etc/firebreak/clients.pem");
  EXPECT_EQ(cfg.data_dir, "/var/lib/firebreak");
  EXPECT_EQ(cfg.playbooks,
            (std::vector<std::string>{"/etc/firebreak/playbooks", "/srv/team-playbooks"}));
  EXPECT_TRUE(cfg.drills.empty());
  EXPECT_TRUE(cfg.dry_run);
  EXPECT_EQ(cfg.allowed_env, (std::vector<std::string>{"DEPLOY_ENV", "AWS_REGION"}));
  EXPECT_EQ(cfg.log.level, LogLevel::kDebug);
  EXPECT_EQ(cfg.log.format, LogFormat::kJson);

  ASSERT_EQ(cfg.sources.size(), 4u);
  const Source* am = cfg.source("prometheus");
  ASSERT_TRUE(am);
  EXPECT_EQ(am->name, "prometheus");
  EXPECT_EQ(am->type, SourceType::kAlertmanager);
  EXPECT_EQ(am->auth.scheme, Auth::Scheme::kBearer);
  EXPECT_EQ(am->auth.bearer, "env:FIREBREAK_AM_TOKEN");
  ASSERT_TRUE(am->rate_limit);
  EXPECT_DOUBLE_EQ(am->rate_limit->per_second, 2.5);
  EXPECT_EQ(am->rate_limit->burst, 20);
  EXPECT_EQ(am->max_body, 512u * 1024);
  EXPECT_TRUE(am->mapping.empty());
  EXPECT_EQ(am->loc.str(), path + ":14:3");

  const Source* grafana = cfg.source("grafana");
  ASSERT_TRUE(grafana);
  EXPECT_EQ(grafana->type, SourceType::kGrafana);
  EXPECT_EQ(grafana->auth.scheme, Auth::Scheme::kBasic);
  EXPECT_EQ(grafana->auth.username, "grafana");
  EXPECT_EQ(grafana->auth.password, "file:/run/secrets/grafana");
  EXPECT_FALSE(grafana->rate_limit);
  EXPECT_EQ(grafana->max_body, 1024u * 1024);

  const Source* falco = cfg.source("falco");
  ASSERT_TRUE(falco);
  EXPECT_EQ(falco->type, SourceType::kFalco);
  EXPECT_EQ(falco->auth.scheme, Auth::Scheme::kNone);
  EXPECT_TRUE(falco->auth.explicit_none);
  ASSERT_TRUE(falco->rate_limit);
  EXPECT_DOUBLE_EQ(falco->rate_limit->per_second, 7);
  EXPECT_EQ(falco->rate_limit->burst, 7);  // defaults to one second's worth
  EXPECT_EQ(falco->max_body, 2u * 1024 * 1024);

  const Source* custom = cfg.source("custom-tool");
  ASSERT_TRUE(custom);
  EXPECT_EQ(custom->type, SourceType::kGeneric);
  EXPECT_EQ(custom->auth.scheme, Auth::Scheme::kNone);
  EXPECT_FALSE(custom->auth.explicit_none);
  EXPECT_EQ(custom->mapping, (std::map<std::string, std::string>{
                                 {"name", "$.alert.title"},
                                 {"labels", "$.alert.tags"},
                                 {"status", "$.state"},
                                 {"fingerprint", "$['id']"},
                                 {"starts_at", "$.events[0].time"},
                             }));
  EXPECT_FALSE(cfg.source("nope"));

  ASSERT_EQ(cfg.providers.size(), 2u);
  EXPECT_EQ(cfg.providers.at("aws"), core::Json::parse(R"({
    "region": "eu-west-1", "endpoint_url": "http://127.0.0.1:5000", "profile": "incident",
    "role_arn": "arn:aws:iam::123456789012:role/firebreak", "external_id": "fb-1"})"));
  EXPECT_EQ(cfg.providers.at("pagerduty"),
            core::Json::parse(R"({"routing_key": "env:PD_KEY", "retries": 3})"));

  ASSERT_EQ(cfg.api.tokens.size(), 3u);
  EXPECT_EQ(cfg.api.tokens[0].name, "oncall");
  EXPECT_EQ(cfg.api.tokens[0].sha256,
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  EXPECT_EQ(cfg.api.tokens[0].role, Role::kResponder);
  EXPECT_EQ(cfg.api.tokens[1].name, "admin");
  EXPECT_EQ(cfg.api.tokens[1].role, Role::kAdmin);
  EXPECT_EQ(cfg.api.tokens[2].role, Role::kViewer);
  EXPECT_LT(Role::kViewer, Role::kResponder);
  EXPECT_LT(Role::kResponder, Role::kAdmin);

  EXPECT_EQ(cfg.limits.destructive_actions_per_minute, 0);
  EXPECT_EQ(cfg.limits.protected_patterns,
            (std::vector<std::string>{"arn:aws:iam::*:role/break-glass*", "i-0abc*"}));
  EXPECT_EQ(cfg.http.max_header_bytes, 32u * 1024);
  EXPECT_EQ(cfg.http.max_body_bytes, 2u * 1024 * 1024);
  EXPECT_EQ(cfg.http.header_timeout, 5s);
  EXPECT_EQ(cfg.http.body_timeout, 20s);
  EXPECT_EQ(cfg.http.idle_timeout, 2min);
  EXPECT_EQ(cfg.http.max_connections_per_client, 8);
  EXPECT_EQ(cfg.http.max_in_flight, 256);

  EXPECT_EQ(cfg.warnings(),
            (std::vector<std::string>{
                "source 'custom-tool' has no auth: anyone who can reach [::1]:9443 can post "
                "alerts to /hooks/custom-tool (add auth, or write auth: none to say it is "
                "intended)",
                "source 'falco' accepts requests without auth (auth: none): anyone who can reach "
                "[::1]:9443 can post alerts to /hooks/falco",
            }));
}

TEST(ConfigTest, ShippedExampleLoads) {
  std::string path = testing::sourceDir() + "/docs/examples/firebreak.yaml";
  auto cfg = loadConfigFile(path);
  ASSERT_TRUE(cfg) << messages(cfg.error())[0];
  EXPECT_EQ(cfg->listen.str(), "127.0.0.1:9095");
  EXPECT_TRUE(cfg->listenIsLoopback());
  EXPECT_EQ(cfg->data_dir, "./var");
  EXPECT_EQ(cfg->playbooks, std::vector<std::string>{"./playbooks"});
  ASSERT_EQ(cfg->sources.size(), 2u);
  const Source* am = cfg->source("prometheus");
  ASSERT_TRUE(am);
  EXPECT_EQ(am->type, SourceType::kAlertmanager);
  EXPECT_EQ(am->auth.scheme, Auth::Scheme::kBearer);
  EXPECT_EQ(am->auth.bearer, "env:FIREBREAK_AM_TOKEN");
  const Source* cw = cfg->source("cloudwatch");
  ASSERT_TRUE(cw && cw->sns);
  EXPECT_EQ(cw->type, SourceType::kSns);
  EXPECT_EQ(cw->sns->topics.size(), 1u);
  EXPECT_EQ(cfg->providers.at("aws").at("region"), "us-east-1");
  EXPECT_TRUE(cfg->warnings().empty());
}

// Content is code: every YAML example in docs/config.md is a config that loads.
TEST(ConfigTest, DocumentedExamplesLoad) {
  std::string path = testing::sourceDir() + "/docs/config.md";
  std::string doc = testing::readFile(path);
  ASSERT_FALSE(doc.empty()) << path;
  size_t examples = 0;
  for (size_t at = doc.find("```yaml\n"); at != std::string::npos;
       at = doc.find("```yaml\n", at + 1)) {
    size_t start = at + 8;
    size_t end = doc.find("```", start);
    ASSERT_NE(end, std::string::npos);
    std::string yaml = doc.substr(start, end - start);
    auto cfg = parseConfig(yaml, "config.md example " + std::to_string(++examples));
    EXPECT_TRUE(cfg) << yaml << "\n" << (cfg ? "" : messages(cfg.error())[0]);
  }
  EXPECT_GE(examples, 3u);
}

TEST(ConfigTest, FilesAndDefaultsOnDisk) {
  testing::TempDir dir;
  auto missing = loadConfigFile(dir.file("firebreak.yaml"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(
      messages(missing.error()),
      std::vector<std::string>{dir.file("firebreak.yaml") + ": error: no such file or directory"});
  auto not_file = loadConfigFile(dir.path().string());
  ASSERT_FALSE(not_file);
  EXPECT_EQ(messages(not_file.error()),
            std::vector<std::string>{dir.path().string() + ": error: not a regular file"});

  // Without an explicit path, an absent default file means the defaults.
  auto defaults = loadConfig(std::nullopt, dir.file("firebreak.yaml"));
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->listen.str(), "127.0.0.1:9095");
  EXPECT_EQ(defaults->file, "");
  // An explicit path must exist.
  auto explicit_missing = loadConfig(dir.file("other.yaml"), dir.file("firebreak.yaml"));
  ASSERT_FALSE(explicit_missing);
  EXPECT_EQ(
      messages(explicit_missing.error()),
      std::vector<std::string>{dir.file("other.yaml") + ": error: no such file or directory"});

  testing::writeFile(dir.file("firebreak.yaml"), "listen: 127.0.0.1:0\n");
  auto found = loadConfig(std::nullopt, dir.file("firebreak.yaml"));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->listen.port, 0);
  EXPECT_EQ(found->file, dir.file("firebreak.yaml"));
  testing::writeFile(dir.file("empty.yaml"), "");
  auto empty = loadConfig(dir.file("empty.yaml"), dir.file("firebreak.yaml"));
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->listen.port, 9095);

  testing::writeFile(dir.file("big.yaml"), std::string((1 << 20) + 1, '#'));
  auto big = loadConfigFile(dir.file("big.yaml"));
  ASSERT_FALSE(big);
  EXPECT_EQ(messages(big.error()),
            std::vector<std::string>{dir.file("big.yaml") +
                                     ":1:1: error: file is larger than 1 MiB (1048577 bytes)"});
}

// ---------------------------------------------------------------------------------------------
// Listen addresses and the auth rule that depends on them.

TEST(ListenTest, ParsesAddressesAndKnowsLoopback) {
  struct Case {
    std::string text, host;
    uint16_t port;
    bool ipv6, loopback;
  };
  for (const auto& c : std::vector<Case>{
           {"127.0.0.1:9095", "127.0.0.1", 9095, false, true},
           {"127.1.2.3:1", "127.1.2.3", 1, false, true},
           {"localhost:65535", "localhost", 65535, false, true},
           {"0.0.0.0:0", "0.0.0.0", 0, false, false},
           {"10.0.0.5:9095", "10.0.0.5", 9095, false, false},
           {"[::1]:9095", "::1", 9095, true, true},
           {"[::]:9095", "::", 9095, true, false},
           {"[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1", 80, true, true},
           {"[::ffff:10.0.0.1]:80", "::ffff:10.0.0.1", 80, true, false},
           {"[fe80::1]:9095", "fe80::1", 9095, true, false},
       }) {
    auto l = parseListen(c.text);
    ASSERT_TRUE(l) << c.text << ": " << l.error().message();
    EXPECT_EQ(l->host, c.host) << c.text;
    EXPECT_EQ(l->port, c.port) << c.text;
    EXPECT_EQ(l->ipv6, c.ipv6) << c.text;
    EXPECT_EQ(l->isLoopback(), c.loopback) << c.text;
    EXPECT_EQ(l->str(), c.text);
  }
  for (const std::string bad :
       {"", "9095", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
        "127.0.0.1:99999999999", "127.1:9095", "::1:9095", "[::1]9095", "[::1", "[127.0.0.1]:80",
        "example.com:80", ":9095", "127.0.0.1:80x", "[::1]:"}) {
    EXPECT_FALSE(parseListen(bad)) << bad;
  }
  EXPECT_EQ(parseListen("::1:9095").error().message(),
            "'listen' has an IPv6 address without brackets (write it like [::1]:9095)");
}

TEST(ListenTest, SourcesWithoutAuthAreLoopbackOnly) {
  const std::string sources =
      "sources:\n"
      "  a: { type: alertmanager }\n"
      "  b: { type: alertmanager, auth: none }\n"
      "  c: { type: alertmanager, auth: { bearer: env:C } }\n";
  for (const std::string listen : {"127.0.0.1:9095", "[::1]:9095", "localhost:1"}) {
    Config cfg = parseGood("listen: \"" + listen + "\"\n" + sources);
    EXPECT_EQ(cfg.source("a")->auth.scheme, Auth::Scheme::kNone);
    EXPECT_FALSE(cfg.source("a")->auth.explicit_none);
    EXPECT_TRUE(cfg.source("b")->auth.explicit_none);
    EXPECT_EQ(cfg.warnings().size(), 2u) << listen;
  }
  EXPECT_EQ(parseErrors("listen: 10.1.2.3:9095\n" + sources),
            (std::vector<std::string>{
                "t.yaml:3:3: error: missing required key 'auth' in source 'a' ('listen' is "
                "10.1.2.3:9095, not a loopback address: add auth: { bearer: env:NAME } or "
                "{ basic: { username: NAME, password: env:NAME } })",
                "t.yaml:4:34: error: 'auth: none' is allowed only on a loopback listener in "
                "source 'b' ('listen' is 10.1.2.3:9095, not a loopback address: add auth: "
                "{ bearer: env:NAME }, or listen on 127.0.0.1)",
            }));
  // The listener may come after the sources: the rule is checked once all is read.
  EXPECT_EQ(parseErrors("sources: { a: { type: grafana } }\nlisten: 0.0.0.0:1\n").size(), 1u);
  // A listener that does not parse is reported once, without guessing about auth.
  EXPECT_EQ(parseErrors("sources: { a: { type: grafana } }\nlisten: nope\n"),
            std::vector<std::string>{"t.yaml:2:9: error: 'listen' must be host:port, like "
                                     "127.0.0.1:9095 or [::1]:9095, not 'nope'"});
}

// An sns source is authenticated by SNS's signature: no `auth` needed on any listener, and no
// warning; its topics are required and must be ARNs.
TEST(SnsSourceTest, TopicsRequiredAndTheSignatureIsTheAuth) {
  Config cfg = parseGood(
      "listen: 10.1.2.3:9095\ntls: { cert: /c, key: /k }\nsources:\n  cw:\n    type: sns\n"
      "    sns:\n      topics: [\"arn:aws:sns:*:123456789012:alerts\"]\n      max_age: 10m\n"
      "      certificates: { \"https://sns.us-east-1.amazonaws.com/x.pem\": /etc/x.pem }\n");
  const auto* s = cfg.source("cw");
  ASSERT_TRUE(s && s->sns);
  EXPECT_EQ(s->sns->topics, std::vector<std::string>{"arn:aws:sns:*:123456789012:alerts"});
  EXPECT_EQ(s->sns->max_age, std::chrono::minutes(10));
  EXPECT_EQ(s->sns->cert_hosts,
            (std::vector<std::string>{"sns.*.amazonaws.com", "sns.*.amazonaws.com.cn"}));
  EXPECT_EQ(s->sns->certificates.at("https://sns.us-east-1.amazonaws.com/x.pem"), "/etc/x.pem");
  EXPECT_TRUE(cfg.warnings().empty());

  EXPECT_EQ(parseErrors("sources:\n  cw: { type: sns }\n"),
            std::vector<std::string>{
                "t.yaml:2:3: error: a source of type sns needs 'sns: { topics: [...] }' in source "
                "'cw' (list the topic ARNs it may receive from, like sns: { topics: "
                "[\"arn:aws:sns:us-east-1:123456789012:alerts\"] })"});
  EXPECT_EQ(parseErrors("sources:\n  cw: { type: sns, sns: { topics: [alerts] } }\n"),
            std::vector<std::string>{
                "t.yaml:2:36: error: 'topics' item 0 'alerts' is not a topic ARN in source 'cw' > "
                "sns (like arn:aws:sns:us-east-1:123456789012:alerts ('*' may stand for a part))"});
  EXPECT_EQ(parseErrors("sources:\n  cw: { type: sns, sns: { topics: [] } }\n"),
            std::vector<std::string>{
                "t.yaml:2:35: error: 'topics' must name at least one topic ARN in source 'cw' > "
                "sns"});
  EXPECT_EQ(parseErrors("sources:\n  p: { type: alertmanager, auth: none, sns: { topics: [x] } "
                        "}\n"),
            std::vector<std::string>{
                "t.yaml:2:40: error: 'sns' is only for sources of type sns, not alertmanager in "
                "source 'p'"});
  EXPECT_EQ(parseErrors("sources:\n  cw:\n    type: sns\n    sns:\n      topics: [\"arn:x\"]\n"
                        "      certificates: { \"http://h/x.pem\": /x }\n"),
            std::vector<std::string>{
                "t.yaml:6:23: error: a certificate's key must be its https:// SigningCertURL in "
                "source 'cw' > sns > certificates"});
}

TEST(ListenTest, WarnsAboutAPublicListenerWithoutTls) {
  Config cfg = parseGood("listen: 0.0.0.0:9095\n");
  EXPECT_EQ(cfg.warnings(), std::vector<std::string>{
                                "listening on 0.0.0.0:9095 without tls: tokens and alerts cross "
                                "the network in clear"});
  cfg = parseGood("listen: 0.0.0.0:9095\ntls: { cert: /c, key: /k }\n");
  EXPECT_TRUE(cfg.warnings().empty());
}

// ---------------------------------------------------------------------------------------------
// Secrets: references only, and an inline value never reaches a message.

TEST(SecretTest, ReferencesAreKeptUnresolved) {
  EXPECT_TRUE(isValidSecretReference("env:FIREBREAK_AM_TOKEN"));
  EXPECT_TRUE(isValidSecretReference("env:_x1"));
  EXPECT_TRUE(isValidSecretReference("file:/run/secrets/token"));
  EXPECT_FALSE(isValidSecretReference("env:"));
  EXPECT_FALSE(isValidSecretReference("env:1X"));
  EXPECT_FALSE(isValidSecretReference("env:A-B"));
  EXPECT_FALSE(isValidSecretReference("file:"));
  EXPECT_FALSE(isValidSecretReference("file:run/secrets"));
  EXPECT_FALSE(isValidSecretReference("hunter2"));
  EXPECT_FALSE(isValidSecretReference(""));
  Config cfg = parseGood("sources: { a: { type: grafana, auth: { bearer: \"env:SNS\" } } }\n");
  EXPECT_EQ(cfg.source("a")->auth.bearer, "env:SNS");
}

TEST(SecretTest, InlineSecretsAreNeverEchoed) {
  const std::string secret = "correct-horse-battery-staple";
  for (const std::string& yaml : std::vector<std::string>{
           "sources: { a: { type: grafana, auth: { bearer: " + secret + " } } }\n",
           "sources: { a: { type: grafana, auth: { basic: { username: u, password: " + secret +
               " } } } }\n",
           "sources: { a: { type: grafana, auth: " + secret + " } }\n",
           "sources: { a: { type: grafana, auth: \"" + secret + "\" } }\n",
           "api: { tokens: [{ name: a, sha256: " + secret + ", role: admin }] }\n",
       }) {
    auto errors = parseErrors(yaml);
    ASSERT_FALSE(errors.empty()) << yaml;
    for (const auto& m : errors) EXPECT_EQ(m.find(secret), std::string::npos) << m;
  }
}

// ---------------------------------------------------------------------------------------------
// Sizes and JSON paths.

TEST(SizeTest, ParsesAndFormats) {
  EXPECT_EQ(*parseSize("1MiB"), 1048576u);
  EXPECT_EQ(*parseSize("512KiB"), 524288u);
  EXPECT_EQ(*parseSize("2GiB"), 2147483648u);
  EXPECT_EQ(*parseSize("100B"), 100u);
  EXPECT_EQ(*parseSize("1048576"), 1048576u);
  EXPECT_EQ(*parseSize("0"), 0u);
  for (const std::string bad : {"", "MiB", "1.5MiB", "1 MiB", "-1", "1MB", "1m", "1TiB",
                                "99999999999999999999", "17179869184GiB"})
    EXPECT_FALSE(parseSize(bad)) << bad;
  EXPECT_EQ(parseSize("1MB").error().message(),
            "invalid size '1MB' (write for example 1MiB, 512KiB or 1048576; did you mean "
            "'1MiB'?)");
  EXPECT_EQ(formatSize(1048576), "1MiB");
  EXPECT_EQ(formatSize(64u << 20), "64MiB");
  EXPECT_EQ(formatSize(1536), "1536");
  EXPECT_EQ(formatSize(2048), "2KiB");
  EXPECT_EQ(formatSize(1u << 30), "1GiB");
  EXPECT_EQ(formatSize(0), "0");
  for (uint64_t n : {uint64_t{1}, uint64_t{1000}, uint64_t{3} << 20, uint64_t{5} << 30})
    EXPECT_EQ(*parseSize(formatSize(n)), n);
}

TEST(JsonPathTest, ParsesSteps) {
  auto p = parseJsonPath("$.alert['app.kubernetes.io/name'][2][\"x y\"].z_1-2");
  ASSERT_TRUE(p) << p.error().message();
  ASSERT_EQ(p->size(), 5u);
  EXPECT_EQ((*p)[0].key, "alert");
  EXPECT_EQ((*p)[1].key, "app.kubernetes.io/name");
  EXPECT_FALSE((*p)[1].index);
  EXPECT_EQ((*p)[2].index, 2u);
  EXPECT_EQ((*p)[3].key, "x y");
  EXPECT_EQ((*p)[4].key, "z_1-2");
  EXPECT_TRUE(parseJsonPath("$")->empty());
  for (const std::string bad : {"", "alert", "$.", "$..a", "$[", "$[]", "$['a]", "$['a'", "$[1",
                                "$[1x]", "$[9999999999]", "$a", "$.a b", "$.a.*"})
    EXPECT_FALSE(parseJsonPath(bad)) << bad;
  EXPECT_EQ(parseJsonPath("$..a").error().message(),
            "invalid JSON path '$..a': expected a member name after '.' at offset 2");
}

// ---------------------------------------------------------------------------------------------
// Shapes the bad files do not cover.

TEST(ConfigTest, EmptyCollectionsAndShapes) {
  Config cfg = parseGood(
      "sources:\n  # prometheus: { type: alertmanager }\nproviders:\n"
      "api: { tokens: }\nlimits: { protected: }\nallowed_env:\n");
  EXPECT_TRUE(cfg.sources.empty());
  EXPECT_TRUE(cfg.providers.empty());
  EXPECT_TRUE(cfg.api.tokens.empty());
  EXPECT_TRUE(cfg.limits.protected_patterns.empty());
  cfg = parseGood("providers: { aws: }\n");
  EXPECT_EQ(cfg.providers.at("aws"), core::Json::object());

  EXPECT_EQ(parseErrors("sources: [prometheus]\nproviders: aws\napi: { tokens: oncall }\n"),
            (std::vector<std::string>{
                "t.yaml:1:10: error: 'sources' must be a mapping of name: { type, auth }, not a "
                "list",
                "t.yaml:2:12: error: 'providers' must be a mapping of provider name: settings, "
                "not a string",
                "t.yaml:3:16: error: 'tokens' must be a list of { name, sha256, role }, not a "
                "string in api",
            }));
  EXPECT_EQ(parseErrors("sources:\n  a:\n  b: alertmanager\n  c: { type: grafana, auth: [x] }\n"),
            (std::vector<std::string>{
                "t.yaml:2:3: error: a source must be a mapping with at least 'type', not empty "
                "in source 'a' (like { type: alertmanager, auth: { bearer: env:NAME } })",
                "t.yaml:3:6: error: a source must be a mapping, not a string in source 'b'",
                "t.yaml:4:29: error: 'auth' must be none, { bearer: env:NAME } or { basic: { "
                "username: NAME, password: env:NAME } }, not a list in source 'c'",
            }));
}

// ---------------------------------------------------------------------------------------------
// Hostile input: never a crash, always an answer that names the file.

TEST(ConfigRobustnessTest, PathologicalDocuments) {
  std::vector<std::string> inputs = {
      "a: &a [*a]\n",
      "sources: &s { a: { type: generic, mapping: *s } }\n",
      std::string(100000, '[') + std::string(100000, ']'),
      "providers: { x: " + std::string(200, '[') + std::string(200, ']') + " }\n",
      std::string("listen: \"a\0b\"\n", 15),
      "!!binary x: y\n",
      "? [a, b]\n: c\n",
      "sources: { ? [a] : { type: sns } }\n",
      "listen: !!int 5\n",
      "a: 1\n---\nb: 2\n",
      "\xff\xfe",
      ",",  // yaml-cpp 0.7's LoadAll loops on these forever
      "[a],",
      "{ listen: 127.0.0.1:9095 },",
  };
  std::string bomb = "b0: &b0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 10; ++i) {
    std::string p = "*b" + std::to_string(i - 1);
    bomb += "b" + std::to_string(i) + ": &b" + std::to_string(i) + " [" + p;
    for (int k = 0; k < 9; ++k) bomb += ", " + p;
    bomb += "]\n";
  }
  inputs.push_back("limits: { protected: *b9 }\n" + bomb);
  inputs.push_back("providers: { x: { y: *b9 } }\n" + bomb);
  for (const auto& in : inputs) {
    auto cfg = parseConfig(in, "t.yaml");
    EXPECT_FALSE(cfg) << in.substr(0, 80);
    if (cfg) continue;
    for (const auto& e : cfg.error()) EXPECT_EQ(e.loc().file, "t.yaml") << e.str();
  }
}

TEST(ConfigRobustnessTest, MutatedFilesNeverCrash) {
  std::vector<std::string> seeds;
  for (const auto& dir : {dataDir() + "/good", dataDir() + "/bad"})
    for (const auto& entry : std::filesystem::directory_iterator(dir))
      seeds.push_back(testing::readFile(entry.path().string()));
  seeds.push_back(testing::readFile(testing::sourceDir() + "/docs/examples/firebreak.yaml"));
  std::mt19937 rng(20261124);  // fixed: a failure must reproduce
  const std::string alphabet = "{}[]:-,&*!|>'\"#\n \t%@`?~=\\$.0";
  for (int round = 0; round < 3000; ++round) {
    std::string s = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      size_t at = rng() % s.size();
      switch (rng() % 4) {
        case 0:
          s[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          s.erase(at, 1 + rng() % 8);
          break;
        case 2:
          s.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 3:
          s.insert(at, s.substr(rng() % s.size(), rng() % 40));
          break;
      }
    }
    auto cfg = parseConfig(s, "fuzz.yaml");
    if (!cfg) {
      ASSERT_FALSE(cfg.error().empty());
      for (const auto& e : cfg.error()) {
        EXPECT_FALSE(e.message().empty());
        EXPECT_EQ(e.loc().file, "fuzz.yaml");
      }
    }
  }
}

}  // namespace
}  // namespace firebreak::config
