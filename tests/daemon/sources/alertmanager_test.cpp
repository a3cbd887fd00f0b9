// The Alertmanager source against the real Alertmanager 0.25 captures in
// ../shared/fixtures/alertmanager, and a table of bad bodies each with its full message.
#include "daemon/sources/alertmanager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/fakes/test_env.h"

namespace firebreak::sources {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;

const std::string kFixtures = FIREBREAK_SOURCE_DIR "/../shared/fixtures/alertmanager/";
const std::string kGeneratorUrl =
    "http://prometheus.example.internal:9090/"
    "graph?g0.expr=sum+by%28function%29%28rate%28aws_lambda_errors_sum%5B5m%5D%29%29+%2F+sum+by%"
    "28function%29%28rate%28aws_lambda_invocations_sum%5B5m%5D%29%29+%3E+0.05&g0.tab=1";
const std::string kGroupKey = "{}:{alertname=\"LambdaErrorSpike\"}";

std::string fixture(const std::string& stem) {
  return testing::readFile(kFixtures + stem + ".json");
}

ParsedRequest parseOk(const std::string& body, const std::string& source = "prometheus") {
  auto parsed = parseAlertmanager(body, source);
  EXPECT_TRUE(parsed.has_value()) << (parsed ? "" : parsed.error().message());
  return parsed ? std::move(*parsed) : ParsedRequest{};
}

ParsedRequest parseFixture(const std::string& stem) { return parseOk(fixture(stem)); }

std::vector<std::string> identities(const ParsedRequest& request) {
  std::vector<std::string> out;
  for (const auto& alert : request.alerts) out.push_back(alert.identity());
  return out;
}

TEST(AlertmanagerTest, EveryCaptureParses) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(kFixtures)) {
    if (entry.path().extension() != ".json") continue;
    ++count;
    SCOPED_TRACE(entry.path().filename().string());
    auto parsed = parseAlertmanager(testing::readFile(entry.path().string()), "am");
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
    EXPECT_FALSE(parsed->alerts.empty());
    EXPECT_EQ(parsed->group_key, kGroupKey);
    EXPECT_FALSE(parsed->receiver.empty());
    for (const auto& alert : parsed->alerts) {
      EXPECT_EQ(alert.source, "am");
      EXPECT_EQ(alert.source_type, "alertmanager");
      EXPECT_EQ(alert.name, "LambdaErrorSpike");
      EXPECT_EQ(alert.severity, "critical");
      EXPECT_EQ(alert.fingerprint.size(), 16u);
      EXPECT_TRUE(alert.status == "firing" || alert.status == "resolved");
      // Firing alerts carry the zero endsAt (no end); resolved ones a real one after the start.
      EXPECT_EQ(alert.ends_at_ms.has_value(), alert.status == "resolved");
      if (alert.ends_at_ms) {
        EXPECT_GT(*alert.ends_at_ms, alert.starts_at_ms);
      }
      EXPECT_EQ(alert.group_key, kGroupKey);
      EXPECT_FALSE(alert.drill);
    }
  }
  EXPECT_EQ(count, 16);  // every capture in the folder (14 and 15 are listed, not shipped)
}

TEST(AlertmanagerTest, OneFiringAlertFieldByField) {
  ParsedRequest r = parseFixture("01-noauth-firing-1-alert");
  EXPECT_EQ(r.group_key, kGroupKey);
  EXPECT_EQ(r.truncated_alerts, 0);
  EXPECT_EQ(r.receiver, "incident-webhook");
  EXPECT_EQ(r.external_url, "http://127.0.0.1:19093");
  ASSERT_EQ(r.alerts.size(), 1u);
  const core::Alert& a = r.alerts[0];
  EXPECT_EQ(a.source, "prometheus");
  EXPECT_EQ(a.source_type, "alertmanager");
  EXPECT_EQ(a.name, "LambdaErrorSpike");
  EXPECT_EQ(a.status, "firing");
  EXPECT_EQ(a.labels, (std::map<std::string, std::string>{{"alertname", "LambdaErrorSpike"},
                                                          {"env", "prod"},
                                                          {"function", "payments-handler"},
                                                          {"region", "us-east-1"},
                                                          {"severity", "critical"},
                                                          {"team", "payments"}}));
  EXPECT_EQ(a.annotations,
            (std::map<std::string, std::string>{
                {"description",
                 "Function payments-handler in us-east-1 has an error rate of 12.4% (threshold "
                 "5%) over the last 5 minutes."},
                {"runbook_url", "https://runbooks.example.com/lambda/error-spike"},
                {"summary", "Lambda payments-handler error rate above 5% for 5m"}}));
  EXPECT_EQ(a.severity, "critical");
  EXPECT_EQ(a.fingerprint, "75dfad605540f27f");
  EXPECT_EQ(a.starts_at_ms, 1795398885000);   // 2026-11-23T01:54:45Z
  EXPECT_EQ(a.ends_at_ms, std::nullopt);      // 0001-01-01T00:00:00Z
  EXPECT_EQ(a.generator_url, kGeneratorUrl);  // \u0026 decoded
  EXPECT_EQ(a.group_key, kGroupKey);
  EXPECT_FALSE(a.drill);
  EXPECT_EQ(a.identity(), "prometheus/1795398885000/75dfad605540f27f");

  const core::Json j = a.toJson();
  EXPECT_EQ(j["name"], "LambdaErrorSpike");
  EXPECT_EQ(j["starts_at"], "2026-11-23T01:54:45Z");
  EXPECT_TRUE(j["ends_at"].is_null());
  EXPECT_EQ(j["labels"]["function"], "payments-handler");
  EXPECT_EQ(j["source"], "prometheus");
}

TEST(AlertmanagerTest, MixedGroupKeepsEachAlertsOwnStatus) {
  // The top-level status stays "firing" while one of the two alerts is resolved.
  ParsedRequest r = parseFixture("04-noauth-mixed-1-resolved-1-firing");
  EXPECT_EQ(r.receiver, "incident-webhook");
  EXPECT_EQ(r.truncated_alerts, 0);
  ASSERT_EQ(r.alerts.size(), 2u);

  const core::Alert& firing = r.alerts[0];
  EXPECT_EQ(firing.status, "firing");
  EXPECT_EQ(firing.fingerprint, "353521f55e67d83d");
  EXPECT_EQ(firing.labels.at("function"), "orders-handler");
  EXPECT_EQ(firing.annotations.at("summary"), "Lambda orders-handler error rate above 5% for 5m");
  EXPECT_EQ(firing.starts_at_ms, 1795399125000);  // 2026-11-23T01:58:45Z
  EXPECT_EQ(firing.ends_at_ms, std::nullopt);
  EXPECT_EQ(firing.name, "LambdaErrorSpike");
  EXPECT_EQ(firing.severity, "critical");
  EXPECT_EQ(firing.generator_url, kGeneratorUrl);

  const core::Alert& resolved = r.alerts[1];
  EXPECT_EQ(resolved.status, "resolved");
  EXPECT_EQ(resolved.fingerprint, "75dfad605540f27f");
  EXPECT_EQ(resolved.labels.at("function"), "payments-handler");
  EXPECT_EQ(resolved.starts_at_ms, 1795398885000);                        // 01:54:45Z
  EXPECT_EQ(resolved.ends_at_ms, std::optional<int64_t>(1795399257114));  // 02:00:57.114Z
  EXPECT_EQ(resolved.toJson()["ends_at"], "2026-11-23T02:00:57.114Z");
  EXPECT_EQ(resolved.name, "LambdaErrorSpike");

  // The resolution of the alert that 01 reported firing: the same alert (identity), news only
  // through its status.
  const core::Alert first = parseFixture("01-noauth-firing-1-alert").alerts.at(0);
  EXPECT_EQ(first.identity(), resolved.identity());
  EXPECT_EQ(first.status, "firing");
}

TEST(AlertmanagerTest, TruncatedAlertsAreCounted) {
  ParsedRequest firing = parseFixture("12-max-alerts-2-firing-truncated-3");
  EXPECT_EQ(firing.truncated_alerts, 3);
  EXPECT_EQ(firing.receiver, "incident-webhook-max2");
  ASSERT_EQ(firing.alerts.size(), 2u);
  EXPECT_EQ(firing.alerts[0].fingerprint, "4c76fa58d5846da0");
  EXPECT_EQ(firing.alerts[1].fingerprint, "c50f4a4434cba426");
  EXPECT_EQ(firing.alerts[0].starts_at_ms, 1795399342676);  // 02:02:22.676Z

  ParsedRequest resolved = parseFixture("13-max-alerts-2-resolved-truncated-3");
  EXPECT_EQ(resolved.truncated_alerts, 3);
  ASSERT_EQ(resolved.alerts.size(), 2u);
  for (const auto& a : resolved.alerts) EXPECT_EQ(a.status, "resolved");
}

TEST(AlertmanagerTest, RepeatsAndRetriesHaveTheSameIdentities) {
  // 01/02 and 17/18 are byte-identical; 06/07 and 09/10 are repeats after repeat_interval.
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"01-noauth-firing-1-alert", "02-noauth-repeat-same-group"},
      {"06-bearer-firing-2-alerts", "07-bearer-repeat-same-group"},
      {"09-basic-firing-2-alerts", "10-basic-repeat-same-group"},
      {"17-retry-after-500-first-attempt", "18-retry-after-500-success"},
  };
  for (const auto& [first, repeat] : pairs) {
    SCOPED_TRACE(first);
    auto a = identities(parseFixture(first));
    auto b = identities(parseFixture(repeat));
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a, b);
  }
  EXPECT_EQ(fixture("01-noauth-firing-1-alert"), fixture("02-noauth-repeat-same-group"));

  auto bearer = identities(parseFixture("06-bearer-firing-2-alerts"));
  EXPECT_EQ(bearer, (std::vector<std::string>{"prometheus/1795399305223/353521f55e67d83d",
                                              "prometheus/1795399305223/75dfad605540f27f"}));
  // The group grew by one alert in 03: the alert of 01 keeps its identity, the new one differs.
  auto one = identities(parseFixture("01-noauth-firing-1-alert"));
  auto two = identities(parseFixture("03-noauth-firing-2-alerts-same-group"));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(std::count(two.begin(), two.end(), one.at(0)), 1);
  EXPECT_EQ(std::set<std::string>(two.begin(), two.end()).size(), 2u);
  // The same label set firing anew (17: a later start) is another alert.
  EXPECT_NE(identities(parseFixture("17-retry-after-500-first-attempt")), one);
}

TEST(AlertmanagerTest, ResolvedAlerts) {
  ParsedRequest last = parseFixture("05-noauth-resolved-last-alert");
  ASSERT_EQ(last.alerts.size(), 1u);
  EXPECT_EQ(last.alerts[0].status, "resolved");
  EXPECT_EQ(last.alerts[0].fingerprint, "353521f55e67d83d");
  EXPECT_EQ(last.alerts[0].starts_at_ms, 1795399125000);
  EXPECT_EQ(last.alerts[0].ends_at_ms, std::optional<int64_t>(1795399260143));

  ParsedRequest both = parseFixture("08-bearer-resolved-2-alerts");
  ASSERT_EQ(both.alerts.size(), 2u);
  for (const auto& a : both.alerts) {
    EXPECT_EQ(a.status, "resolved");
    EXPECT_EQ(a.ends_at_ms, std::optional<int64_t>(1795399313628));  // 02:01:53.628Z
  }
  // Each resolution is the alert that 06 reported firing, with another status.
  ParsedRequest firing = parseFixture("06-bearer-firing-2-alerts");
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(both.alerts[i].identity(), firing.alerts[i].identity());
    EXPECT_EQ(firing.alerts[i].status, "firing");
  }
}

TEST(AlertmanagerTest, MinimalBodyAndOptionalFields) {
  ParsedRequest r = parseOk(R"({"version":"4","alerts":[{"status":"firing",
    "startsAt":"2026-11-23T01:54:45Z","fingerprint":"f1"}]})");
  EXPECT_EQ(r.group_key, "");
  EXPECT_EQ(r.receiver, "");
  EXPECT_EQ(r.truncated_alerts, 0);
  ASSERT_EQ(r.alerts.size(), 1u);
  EXPECT_EQ(r.alerts[0].name, "");
  EXPECT_TRUE(r.alerts[0].labels.empty());
  EXPECT_EQ(r.alerts[0].ends_at_ms, std::nullopt);

  ParsedRequest empty = parseOk(R"({"version":"4","alerts":[],"groupKey":null})");
  EXPECT_TRUE(empty.alerts.empty());

  // Unknown members (a newer Alertmanager) are ignored; so is the top-level status.
  ParsedRequest extra = parseOk(R"({"version":"4","status":"whatever","future":{"x":[1]},
    "alerts":[{"status":"resolved","startsAt":"2026-11-23T01:54:45+01:00",
    "endsAt":"2026-11-23T01:55:45.5+01:00","fingerprint":"f","labels":{"alertname":"A"},
    "annotations":{},"generatorURL":null,"silencedBy":[]}]})");
  ASSERT_EQ(extra.alerts.size(), 1u);
  EXPECT_EQ(extra.alerts[0].starts_at_ms, 1795398885000 - 3'600'000);
  EXPECT_EQ(extra.alerts[0].ends_at_ms, std::optional<int64_t>(1795398945500 - 3'600'000));
  EXPECT_EQ(extra.alerts[0].name, "A");
}

std::string nested(size_t depth, bool closed) {
  return std::string(depth, '[') + (closed ? std::string(depth, ']') : "");
}

struct BadCase {
  std::string what;
  std::string body;
  std::string message;
};

TEST(AlertmanagerTest, BadBodiesAreRefusedWithTheFieldPath) {
  const std::string alert =
      R"({"status":"firing","startsAt":"2026-11-23T01:54:45Z","fingerprint":"f1"})";
  auto body = [&](const std::string& alerts) {
    return R"({"version":"4","groupKey":"g","alerts":[)" + alerts + "]}";
  };
  std::string bad_utf8 = body(alert + R"(,{"status":"firing","startsAt":"2026-11-23T01:54:45Z",
    "fingerprint":"f2","labels":{"alertname":"caf)" +
                              std::string("\xc3\x28") + R"("}})");
  std::string two_mib(2 * 1024 * 1024, ' ');
  two_mib.replace(0, body(alert).size(), body(alert));

  const std::vector<BadCase> cases = {
      {"malformed JSON", R"({"version":"4","alerts":[})",
       "body: not valid JSON (a missing or extra brace, bracket, comma, colon or value)"},
      {"trailing garbage", body(alert) + " x",
       "body: not valid JSON (a missing or extra brace, bracket, comma, colon or value)"},
      {"unclosed string", R"({"version":"4)", "body: not valid JSON (an unclosed string)"},
      {"bare word", R"({"version":"4","alerts":nope})",
       "body: not valid JSON (a bare word that is not true, false or null)"},
      {"empty body", "", "body: empty"},
      {"only spaces", "   ", "body: not valid JSON (no value)"},
      {"not an object", R"(["version","4"])", "body: expected an object, got an array"},
      {"no version", R"({"alerts":[]})",
       "body: missing 'version' (expected Alertmanager webhook version '4')"},
      {"wrong version", R"({"version":"3","alerts":[]})",
       "version: unsupported Alertmanager webhook version '3' (expected '4')"},
      {"numeric version", R"({"version":4,"alerts":[]})",
       "version: expected a string, got a number (expected Alertmanager webhook version '4')"},
      {"missing alerts", R"({"version":"4","groupKey":"g"})", "body: missing 'alerts'"},
      {"alerts not an array", R"({"version":"4","alerts":{}})",
       "alerts: expected an array, got an object"},
      {"alert not an object", body(alert + ",7"), "alerts[1]: expected an object, got a number"},
      {"alert without fingerprint",
       body(alert + R"(,{"status":"firing","startsAt":"2026-11-23T01:54:45Z"})"),
       "alerts[1]: missing 'fingerprint'"},
      {"empty fingerprint",
       body(R"({"status":"firing","startsAt":"2026-11-23T01:54:45Z","fingerprint":""})"),
       "alerts[0].fingerprint: empty"},
      {"fingerprint a number",
       body(R"({"status":"firing","startsAt":"2026-11-23T01:54:45Z","fingerprint":12})"),
       "alerts[0].fingerprint: expected a string, got a number"},
      {"bad time", body(R"({"status":"firing","startsAt":"yesterday","fingerprint":"f"})"),
       "alerts[0].startsAt: not an RFC 3339 time: 'yesterday'"},
      {"out of range time",
       body(R"({"status":"firing","startsAt":"2026-02-30T00:00:00Z","fingerprint":"f"})"),
       "alerts[0].startsAt: not an RFC 3339 time: '2026-02-30T00:00:00Z' (day out of range)"},
      {"zero start",
       body(R"({"status":"firing","startsAt":"0001-01-01T00:00:00Z","fingerprint":"f"})"),
       "alerts[0].startsAt: the zero time 0001-01-01T00:00:00Z is not a start time"},
      {"missing start", body(R"({"status":"firing","fingerprint":"f"})"),
       "alerts[0]: missing 'startsAt'"},
      {"bad end",
       body(R"({"status":"resolved","startsAt":"2026-11-23T01:54:45Z","endsAt":"soon",)"
            R"("fingerprint":"f"})"),
       "alerts[0].endsAt: not an RFC 3339 time: 'soon'"},
      {"bad status",
       body(R"({"status":"pending","startsAt":"2026-11-23T01:54:45Z","fingerprint":"f"})"),
       "alerts[0].status: expected 'firing' or 'resolved', got 'pending'"},
      {"missing status", body(R"({"startsAt":"2026-11-23T01:54:45Z","fingerprint":"f"})"),
       "alerts[0]: missing 'status'"},
      {"label not a string",
       body(R"({"status":"firing","startsAt":"2026-11-23T01:54:45Z","fingerprint":"f",)"
            R"("labels":{"alertname":"A","replicas":3}})"),
       "alerts[0].labels.replicas: expected a string, got a number"},
      {"labels not an object",
       body(R"({"status":"firing","startsAt":"2026-11-23T01:54:45Z","fingerprint":"f",)"
            R"("labels":["a"]})"),
       "alerts[0].labels: expected an object, got an array"},
      {"annotation nested",
       body(R"({"status":"firing","startsAt":"2026-11-23T01:54:45Z","fingerprint":"f",)"
            R"("annotations":{"x":{"y":"z"}}})"),
       "alerts[0].annotations.x: expected a string, got an object"},
      {"generatorURL not a string",
       body(R"({"status":"firing","startsAt":"2026-11-23T01:54:45Z","fingerprint":"f",)"
            R"("generatorURL":true})"),
       "alerts[0].generatorURL: expected a string, got a boolean"},
      {"negative truncatedAlerts", R"({"version":"4","alerts":[],"truncatedAlerts":-1})",
       "truncatedAlerts: expected a non-negative integer, got -1"},
      {"fractional truncatedAlerts", R"({"version":"4","alerts":[],"truncatedAlerts":1.5})",
       "truncatedAlerts: expected a non-negative integer, got 1.5"},
      {"string truncatedAlerts", R"({"version":"4","alerts":[],"truncatedAlerts":"3"})",
       "truncatedAlerts: expected a non-negative integer, got a string"},
      {"groupKey not a string", R"({"version":"4","alerts":[],"groupKey":{}})",
       "groupKey: expected a string, got an object"},
      // A million '[' and closers up to the size cap: simdjson walks it without recursion and
      // stops at the depth cap.
      {"nested 1,000,000 deep", nested(1'000'000, false) + std::string(48'576, ']'),
       "body: nested deeper than 32 levels"},
      // Unbalanced: simdjson sees first that the last bracket does not close the first.
      {"a million unclosed brackets", nested(1'000'000, false),
       "body: not valid JSON (a missing or extra brace, bracket, comma, colon or value)"},
      {"2 MiB body", two_mib, "body: 2097152 bytes, over the limit of 1048576"},
      {"invalid UTF-8", bad_utf8, "body: not valid UTF-8"},
      {"lone surrogate escape", R"({"version":"4","alerts":[],"receiver":"\ud800"})",
       "body: not valid JSON (a bad escape sequence in a string)"},
      {"control character", "{\"version\":\"4\x01\",\"alerts\":[]}",
       "body: not valid JSON (an unescaped control character in a string)"},
      {"raw newline in a string",
       body(R"({"status":"firing","startsAt":")" + std::string(500, 'y') + "\n" +
            R"(","fingerprint":"f"})"),
       "body: not valid JSON (an unescaped control character in a string)"},
      {"long value is cut",
       body(R"({"status":"firing","startsAt":")" + std::string(500, 'y') +
            R"(","fingerprint":"f"})"),
       "alerts[0].startsAt: not an RFC 3339 time: '" + std::string(80, 'y') + "...'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto parsed = parseAlertmanager(c.body, "prometheus");
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parsed.error().message(), c.message);
  }
}

TEST(AlertmanagerTest, CapsAreParseOptions) {
  const std::string body = fixture("01-noauth-firing-1-alert");
  ParseOptions small;
  small.max_body_bytes = 1000;
  auto refused = parseAlertmanager(body, "am", small);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().message(), "body: 1418 bytes, over the limit of 1000");

  // With a larger body limit, a million balanced brackets reach the depth cap (no recursion).
  ParseOptions big;
  big.max_body_bytes = 4 * 1024 * 1024;
  auto deep = parseAlertmanager(nested(1'000'000, true), "am", big);
  ASSERT_FALSE(deep.has_value());
  EXPECT_EQ(deep.error().message(), "body: nested deeper than 32 levels");

  // The cap counts every object and array, the root included: 32 levels pass, 33 do not.
  auto at_depth = [](size_t levels) {
    return R"({"version":"4","alerts":[],"x":)" + std::string(levels - 1, '[') + "1" +
           std::string(levels - 1, ']') + "}";
  };
  EXPECT_TRUE(parseAlertmanager(at_depth(32), "am").has_value());
  auto too_deep = parseAlertmanager(at_depth(33), "am");
  ASSERT_FALSE(too_deep.has_value());
  EXPECT_EQ(too_deep.error().message(), "body: nested deeper than 32 levels");
  // A capture nests 4 levels: body > alerts > alert > labels.
  ParseOptions four;
  four.max_depth = 4;
  EXPECT_TRUE(parseAlertmanager(body, "am", four).has_value());
  ParseOptions three;
  three.max_depth = 3;
  auto shallow = parseAlertmanager(body, "am", three);
  ASSERT_FALSE(shallow.has_value());
  EXPECT_EQ(shallow.error().message(), "body: nested deeper than 3 levels");
}

TEST(AlertmanagerTest, LargeBodiesUseTheirOwnParser) {
  // Over the size reused per thread (64 KiB): 400 alerts, then a small body again.
  std::string body = R"({"version":"4","alerts":[)";
  for (int i = 0; i < 400; ++i) {
    if (i) body += ',';
    body += R"({"status":"firing","startsAt":"2026-11-23T01:54:45Z","fingerprint":"f)" +
            std::to_string(i) + R"(","labels":{"alertname":"A","pad":")" + std::string(200, 'p') +
            R"("}})";
  }
  body += "]}";
  ASSERT_GT(body.size(), 64u * 1024);
  ParsedRequest big = parseOk(body);
  ASSERT_EQ(big.alerts.size(), 400u);
  EXPECT_EQ(big.alerts[399].fingerprint, "f399");
  ParsedRequest small = parseFixture("01-noauth-firing-1-alert");
  EXPECT_EQ(small.alerts.size(), 1u);
}

}  // namespace
}  // namespace firebreak::sources
