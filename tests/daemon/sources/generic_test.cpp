// The generic source against real collectd, Zabbix, apprise and Prometheus captures in
// ../shared/fixtures/other, with and without a mapping, and a table of bad bodies and mappings.
#include "daemon/sources/generic.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "daemon/sources/alertmanager.h"
#include "tests/fakes/test_env.h"

namespace firebreak::sources {
namespace {

using core::ErrorCode;
using StringMap = std::map<std::string, std::string>;

const std::string kOther = FIREBREAK_SOURCE_DIR "/../shared/fixtures/other/";

std::string fixture(const std::string& path) { return testing::readFile(kOther + path); }

ParsedRequest parseOk(const std::string& body, const GenericMapping& mapping = {},
                      int64_t received_at_ms = 0) {
  ParseOptions options;
  options.received_at_ms = received_at_ms;
  auto parsed = parseGeneric(body, mapping, "hook", options);
  EXPECT_TRUE(parsed.has_value()) << (parsed ? "" : parsed.error().message());
  return parsed ? std::move(*parsed) : ParsedRequest{};
}

core::Alert parseOne(const std::string& body, const GenericMapping& mapping = {},
                     int64_t received_at_ms = 0) {
  ParsedRequest r = parseOk(body, mapping, received_at_ms);
  EXPECT_EQ(r.alerts.size(), 1u);
  return r.alerts.empty() ? core::Alert{} : r.alerts[0];
}

std::string parseError(const std::string& body, const GenericMapping& mapping = {}) {
  auto parsed = parseGeneric(body, mapping, "hook");
  if (parsed) return "parsed";
  EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
  return parsed.error().message();
}

GenericMapping collectdMapping() {
  GenericMapping m;
  m.status = "labels.severity";
  m.resolved_values = {{"OKAY", "resolved"}, {"FAILURE", "firing"}, {"WARNING", "firing"}};
  return m;
}

TEST(GenericCollectdTest, ThresholdSeriesWithAMapping) {
  const GenericMapping m = collectdMapping();
  core::Alert failure = parseOne(fixture("collectd/02-collectd-threshold-failure.json"), m);
  EXPECT_EQ(failure.source, "hook");
  EXPECT_EQ(failure.source_type, "generic");
  EXPECT_EQ(failure.name, "collectd_lambda_gauge");
  EXPECT_EQ(failure.status, "firing");
  EXPECT_EQ(failure.severity, "FAILURE");
  EXPECT_EQ(failure.labels, (StringMap{{"alertname", "collectd_lambda_gauge"},
                                       {"instance", "payments-worker-01"},
                                       {"lambda", "payments-handler"},
                                       {"type", "errors_per_minute"},
                                       {"severity", "FAILURE"},
                                       {"service", "collectd"}}));
  EXPECT_EQ(failure.annotations.at("CurrentValue"), "27");
  EXPECT_EQ(failure.annotations.at("FailureMax"), "20");
  EXPECT_EQ(failure.annotations.size(), 7u);
  EXPECT_EQ(failure.starts_at_ms, 1795399994112);  // 02:13:14.112489165Z, truncated
  EXPECT_EQ(failure.ends_at_ms, std::nullopt);
  EXPECT_EQ(failure.group_key, "");
  // SHA-256 of the name and the sorted labels, without the label the status came from
  // (severity): stable across the firing and the resolution of one threshold.
  EXPECT_EQ(failure.fingerprint,
            "6997e48ee9f5158b79d9968fbb9fe8a104462bfb82af1bd6c1d33b81d5ca3f54");

  const std::vector<std::pair<std::string, std::string>> series = {
      {"collectd/01-collectd-threshold-okay-initial.json", "resolved"},
      {"collectd/03-collectd-threshold-warning.json", "firing"},
      {"collectd/04-collectd-threshold-okay-recovered.json", "resolved"},
      {"collectd/06-collectd-missing-data-failure.json", "firing"},
  };
  for (const auto& [file, status] : series) {
    SCOPED_TRACE(file);
    core::Alert a = parseOne(fixture(file), m);
    EXPECT_EQ(a.status, status);
    EXPECT_EQ(a.fingerprint, failure.fingerprint);
    EXPECT_NE(a.identity(), failure.identity());  // collectd sends a new start every time
  }
  // Another metric (type throttles) is another alert.
  core::Alert throttles = parseOne(fixture("collectd/05-collectd-putnotif-failure.json"), m);
  EXPECT_NE(throttles.fingerprint, failure.fingerprint);
  EXPECT_EQ(throttles.starts_at_ms, 1795400002000);  // 02:13:22.000000000Z
  // The auth probe and its retry are one delivery: the same identity.
  core::Alert probe =
      parseOne(fixture("collectd/07-collectd-auth-first-try-no-credentials.json"), m);
  core::Alert retry = parseOne(fixture("collectd/08-collectd-auth-retry-with-basic.json"), m);
  EXPECT_EQ(probe.identity(), retry.identity());
  EXPECT_EQ(probe.fingerprint, throttles.fingerprint);
  core::Alert okay = parseOne(fixture("collectd/09-collectd-auth-next-request-preemptive.json"), m);
  EXPECT_EQ(okay.status, "resolved");
  EXPECT_EQ(okay.fingerprint, throttles.fingerprint);
}

TEST(GenericCollectdTest, WithoutAMappingEveryNotificationFires) {
  core::Alert a = parseOne(fixture("collectd/04-collectd-threshold-okay-recovered.json"));
  EXPECT_EQ(a.name, "collectd_lambda_gauge");  // from labels.alertname
  EXPECT_EQ(a.status, "firing");               // no status field
  EXPECT_EQ(a.severity, "OKAY");
  EXPECT_EQ(a.fingerprint.size(), 64u);
  // Without the status mapping, severity is part of the fingerprint.
  core::Alert failure = parseOne(fixture("collectd/02-collectd-threshold-failure.json"));
  EXPECT_NE(a.fingerprint, failure.fingerprint);
}

TEST(GenericCollectdTest, UnmappedStatusValueIsAnError) {
  GenericMapping m;
  m.status = "labels.severity";
  EXPECT_EQ(parseError(fixture("collectd/03-collectd-threshold-warning.json"), m),
            "[0].labels.severity: unknown status 'WARNING' (firing: firing, alerting, problem, "
            "open, triggered, critical; resolved: resolved, ok, closed, recovered; map others in "
            "resolved_values)");
}

TEST(GenericPrometheusTest, StatusFollowsEndsAtWithoutAMapping) {
  // Prometheus posts to Alertmanager's /api/v2/alerts: no status, endsAt in the future while
  // firing, the resolution time once resolved.
  core::Alert firing = parseOne(fixture("prometheus/01-prometheus-post-api-v2-alerts-firing.json"),
                                {}, 1795399727123);
  EXPECT_EQ(firing.name, "LambdaErrorSpike");
  EXPECT_EQ(firing.status, "firing");
  EXPECT_EQ(firing.severity, "critical");
  EXPECT_EQ(firing.starts_at_ms, 1795399721115);
  EXPECT_EQ(firing.ends_at_ms, std::optional<int64_t>(1795399747115));
  EXPECT_EQ(firing.labels.at("cluster"), "prod-us-east-1");
  EXPECT_EQ(firing.annotations.at("summary"), "Lambda payments-handler error rate above 5%");
  EXPECT_EQ(firing.generator_url.rfind("http://127.0.0.1:19090/graph?g0.expr=", 0), 0u);

  core::Alert resend = parseOne(fixture("prometheus/02-prometheus-post-api-v2-alerts-resend.json"),
                                {}, 1795399733117);
  EXPECT_EQ(resend.identity(), firing.identity());

  core::Alert resolved = parseOne(
      fixture("prometheus/03-prometheus-post-api-v2-alerts-resolved.json"), {}, 1795399741119);
  EXPECT_EQ(resolved.status, "resolved");
  EXPECT_EQ(resolved.identity(), firing.identity());
}

TEST(GenericZabbixTest, VictorOpsMediaType) {
  GenericMapping m;
  m.name = "entity_display_name";
  m.fingerprint = "entity_id";
  m.status = "message_type";
  m.resolved_values = {{"WARNING", "firing"}};
  core::Alert problem =
      parseOne(fixture("zabbix/01-zabbix-victorops-problem.json"), m, 1795400510916);
  EXPECT_EQ(problem.name, "Problem: LambdaErrorSpike: payments-handler errors above 5/min");
  EXPECT_EQ(problem.status, "firing");
  EXPECT_EQ(problem.fingerprint, "7");
  EXPECT_EQ(problem.severity, "High");
  EXPECT_EQ(problem.starts_at_ms, 0);  // no start in the body: unknown
  EXPECT_TRUE(problem.toJson()["starts_at"].is_null());
  EXPECT_EQ(problem.labels, (StringMap{{"alertname",
                                        "Problem: LambdaErrorSpike: payments-handler errors above "
                                        "5/min"},
                                       {"severity", "High"}}));
  EXPECT_EQ(problem.annotations.at("hostname"), "payments-worker-01");
  EXPECT_EQ(problem.annotations.at("operational_data"), "Current: 27 errors/min");

  core::Alert recovery =
      parseOne(fixture("zabbix/05-zabbix-victorops-recovery.json"), m, 1795400528938);
  EXPECT_EQ(recovery.status, "resolved");  // "OK", built in
  EXPECT_EQ(recovery.fingerprint, "7");
  EXPECT_EQ(recovery.identity(), problem.identity());  // the same alert, resolved
  EXPECT_EQ(recovery.identity(), "hook/0/7");
  EXPECT_EQ(recovery.annotations.at("recovery time"), "2026.11.23 02:22:08");

  // The default mapping finds no name in this shape.
  EXPECT_EQ(parseError(fixture("zabbix/01-zabbix-victorops-problem.json")),
            "body: no alert name (looked for 'name', 'alertname', 'title' and labels.alertname; "
            "set mapping.name)");
}

TEST(GenericZabbixTest, MsTeamsMediaTypeThroughArrayPaths) {
  GenericMapping m;
  m.name = "$.sections[0].text";
  m.status = "themeColor";
  m.severity = "sections.0.facts.2.value";
  m.fingerprint = "$.potentialAction[0].targets[0]['uri']";
  m.resolved_values = {{"E97659", "firing"}, {"009900", "resolved"}};
  core::Alert problem = parseOne(fixture("zabbix/02-zabbix-msteams-problem.json"), m);
  EXPECT_EQ(problem.name, "Lambda payments-handler error count per minute is above 5");
  EXPECT_EQ(problem.status, "firing");
  EXPECT_EQ(problem.severity, "High");
  EXPECT_EQ(problem.fingerprint,
            "http://127.0.0.1:18096/zabbix/tr_events.php?triggerid=900001&eventid=7");
  EXPECT_EQ(problem.annotations.at("summary"),
            "Problem: LambdaErrorSpike: payments-handler errors above 5/min");
  EXPECT_EQ(problem.annotations.count("sections"), 0u);  // only top-level scalars

  core::Alert recovery = parseOne(fixture("zabbix/06-zabbix-msteams-recovery.json"), m);
  EXPECT_EQ(recovery.status, "resolved");
  EXPECT_EQ(recovery.fingerprint, problem.fingerprint);
  EXPECT_EQ(recovery.name, problem.name);
}

TEST(GenericZabbixTest, OpsgenieMediaType) {
  GenericMapping m;
  m.name = "message";
  m.fingerprint = "alias";
  m.severity = "priority";
  m.annotations = "details";
  core::Alert create = parseOne(fixture("zabbix/03-zabbix-opsgenie-create-alert.json"), m);
  EXPECT_EQ(create.name, "Problem: LambdaErrorSpike: payments-handler errors above 5/min");
  EXPECT_EQ(create.status, "firing");
  EXPECT_EQ(create.fingerprint, "7");
  EXPECT_EQ(create.severity, "P2");
  EXPECT_EQ(
      create.annotations,
      (StringMap{
          {"Zabbix server", "http://127.0.0.1:18096/zabbix/"},
          {"Problem", "http://127.0.0.1:18096/zabbix/tr_events.php?triggerid=900001&eventid=7"}}));
  // The close request carries the alias in its URL only: this mapping cannot read it.
  EXPECT_EQ(parseError(fixture("zabbix/07-zabbix-opsgenie-close-alert.json"), m),
            "body: missing 'message'");
}

TEST(GenericAppriseTest, JsonNotification) {
  const std::string body = fixture("apprise/01-apprise-json-basic-auth.json");
  core::Alert a = parseOne(body, {}, 1795400013113);
  EXPECT_EQ(a.name, "LambdaErrorSpike: payments-handler");  // from title
  EXPECT_EQ(a.status, "firing");
  EXPECT_EQ(a.annotations, (StringMap{{"version", "1.0"},
                                      {"title", "LambdaErrorSpike: payments-handler"},
                                      {"message",
                                       "Lambda payments-handler error rate 12.4% (threshold 5%) "
                                       "in us-east-1"},
                                      {"type", "failure"}}));
  EXPECT_EQ(a.labels, (StringMap{{"alertname", "LambdaErrorSpike: payments-handler"}}));
  EXPECT_EQ(a.fingerprint, "d08710b71afb20170cb9f817fe6f2d1bb47f182df4d4f1a410db7ebea8499dfd");
  EXPECT_EQ(a.starts_at_ms, 0);

  GenericMapping m;
  m.status = "type";
  m.resolved_values = {
      {"failure", "firing"}, {"warning", "firing"}, {"info", "firing"}, {"success", "resolved"}};
  EXPECT_EQ(parseOne(body, m).status, "firing");
  std::string success = body;
  success.replace(success.find("\"failure\""), 9, "\"Success\"");  // matched ignoring case
  core::Alert ok = parseOne(success, m);
  EXPECT_EQ(ok.status, "resolved");
  EXPECT_EQ(ok.identity(), a.identity());
}

TEST(GenericTest, AlertmanagerShapedBodiesGiveTheSameAlerts) {
  const std::string body = testing::readFile(
      FIREBREAK_SOURCE_DIR
      "/../shared/fixtures/alertmanager/04-noauth-mixed-1-resolved-1-firing.json");
  ParsedRequest generic = parseOk(body);
  auto am = parseAlertmanager(body, "hook");
  ASSERT_TRUE(am.has_value());
  ASSERT_EQ(generic.alerts.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(generic.alerts[i].identity(), am->alerts[i].identity());
    EXPECT_EQ(generic.alerts[i].labels, am->alerts[i].labels);
    EXPECT_EQ(generic.alerts[i].annotations, am->alerts[i].annotations);
    EXPECT_EQ(generic.alerts[i].ends_at_ms, am->alerts[i].ends_at_ms);
    EXPECT_EQ(generic.alerts[i].generator_url, am->alerts[i].generator_url);
  }
}

TEST(GenericTest, ScalarsBecomeText) {
  core::Alert a = parseOne(R"({"name":"A","severity":"high","labels":{"port":8080,"ratio":0.25,
    "up":true,"gone":null,"big":18446744073709551615,"neg":-3},
    "annotations":{"n":1e3,"obj":{"k":[1,"x"]},"list":[1,2]}})");
  EXPECT_EQ(a.labels, (StringMap{{"alertname", "A"},
                                 {"severity", "high"},
                                 {"port", "8080"},
                                 {"ratio", "0.25"},
                                 {"up", "true"},
                                 {"big", "18446744073709551615"},
                                 {"neg", "-3"}}));
  EXPECT_EQ(a.annotations,
            (StringMap{{"n", "1000"}, {"obj", R"({"k":[1,"x"]})"}, {"list", "[1,2]"}}));
  core::Alert numeric = parseOne(R"({"name":42,"id":7,"status":"OK"})");
  EXPECT_EQ(numeric.name, "42");
  EXPECT_EQ(numeric.fingerprint, "7");
  EXPECT_EQ(numeric.status, "resolved");
}

TEST(GenericTest, FingerprintIgnoresOrderAndFollowsContent) {
  const std::string a = parseOne(R"({"name":"A","labels":{"b":"2","a":"1"}})").fingerprint;
  const std::string b = parseOne(R"({"labels":{"a":"1","b":"2"},"name":"A"})").fingerprint;
  const std::string c = parseOne(R"({"name":"A","labels":{"a":"1","b":"3"}})").fingerprint;
  const std::string d = parseOne(R"({"name":"B","labels":{"a":"1","b":"2"}})").fingerprint;
  // Length prefixes keep "ab"+"c" apart from "a"+"bc".
  const std::string e = parseOne(R"({"name":"A","labels":{"ab":"c"}})").fingerprint;
  const std::string f = parseOne(R"({"name":"A","labels":{"a":"bc"}})").fingerprint;
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
  EXPECT_NE(e, f);
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(GenericTest, AlertsPathAndShapes) {
  GenericMapping m;
  m.alerts = "data.items";
  ParsedRequest r =
      parseOk(R"({"data":{"items":[{"name":"A"},{"name":"B","state":"closed"}]}})", m);
  ASSERT_EQ(r.alerts.size(), 2u);
  EXPECT_EQ(r.alerts[0].name, "A");
  EXPECT_EQ(r.alerts[1].status, "resolved");

  m.alerts = "$";
  EXPECT_EQ(parseOk(R"([{"name":"A"},{"name":"B"}])", m).alerts.size(), 2u);
  EXPECT_TRUE(parseOk("[]").alerts.empty());
  // An object whose `alerts` is not an array is one alert.
  EXPECT_EQ(parseOne(R"({"name":"A","alerts":3})").name, "A");
  // The time fields: RFC 3339 strings; a default of another type is skipped.
  core::Alert timed = parseOne(R"({"name":"A","starts_at":"2026-11-23T01:54:45Z",
    "ends_at":"0001-01-01T00:00:00Z"})");
  EXPECT_EQ(timed.starts_at_ms, 1795398885000);
  EXPECT_EQ(timed.ends_at_ms, std::nullopt);
  EXPECT_EQ(parseOne(R"({"name":"A","startsAt":1795398885})", {}, 5).starts_at_ms, 0);
  GenericMapping t;
  t.starts_at = "$['when']";
  EXPECT_EQ(parseOne(R"({"name":"A","when":"2026-11-23T03:54:45+02:00"})", t).starts_at_ms,
            1795398885000);
}

TEST(GenericTest, BadBodiesAreRefusedWithTheFieldPath) {
  GenericMapping items;
  items.alerts = "data.items";
  GenericMapping labels_from_name;
  labels_from_name.labels = "name";
  GenericMapping title;
  title.name = "title";
  GenericMapping ts;
  ts.starts_at = "ts";
  GenericMapping entity;
  entity.fingerprint = "entity_id";
  struct Case {
    std::string what;
    std::string body;
    GenericMapping mapping;
    std::string message;
  };
  std::string two_mib(2 * 1024 * 1024, ' ');
  two_mib.replace(0, 12, R"({"name":"A"})");
  const std::vector<Case> cases = {
      {"malformed JSON",
       R"({"name":"A",})",
       {},
       "body: not valid JSON (a missing or extra brace, bracket, comma, colon or value)"},
      {"scalar body", R"("hi")", {}, "body: expected an object or an array, got a string"},
      {"alert not an object", R"([{"name":"A"},3])", {}, "[1]: expected an object, got a number"},
      {"alerts path missing", "{}", items, "body: missing 'data.items'"},
      {"alerts path not an array", R"({"data":{"items":{}}})", items,
       "data.items: expected an array, got an object"},
      {"status in an alerts path", R"({"data":{"items":[{"name":"A","status":"bogus"}]}})", items,
       "data.items[0].status: unknown status 'bogus' (firing: firing, alerting, problem, open, "
       "triggered, critical; resolved: resolved, ok, closed, recovered; map others in "
       "resolved_values)"},
      {"status an object",
       R"({"name":"A","status":{"code":1}})",
       {},
       "parsed"},  // a default of the wrong shape is skipped: firing
      {"labels nested",
       R"({"name":"A","labels":{"x":{"y":1}}})",
       {},
       "labels.x: expected a string or a number, got an object"},
      {"labels not an object", R"({"name":"A"})", labels_from_name,
       "name: expected an object, got a string"},
      {"configured name null", R"({"title":null})", title,
       "title: expected a string or a number, got null"},
      {"configured name missing", R"({"name":"A"})", title, "body: missing 'title'"},
      {"empty name", R"({"name":""})", {}, "name: empty alert name"},
      {"no name",
       R"({"labels":{"a":"b"}})",
       {},
       "body: no alert name (looked for 'name', 'alertname', 'title' and labels.alertname; set "
       "mapping.name)"},
      {"empty fingerprint", R"({"name":"A","id":""})", {}, "id: empty"},
      {"configured fingerprint missing", R"({"title":"A"})", entity, "body: missing 'entity_id'"},
      {"bad time",
       R"({"name":"A","startsAt":"yesterday"})",
       {},
       "startsAt: not an RFC 3339 time: 'yesterday'"},
      {"bad end",
       R"([{"name":"A","endsAt":"2026-11-23T25:00:00Z"}])",
       {},
       "[0].endsAt: not an RFC 3339 time: '2026-11-23T25:00:00Z' (hour out of range)"},
      {"zero start",
       R"({"name":"A","startsAt":"0001-01-01T00:00:00Z"})",
       {},
       "startsAt: the zero time 0001-01-01T00:00:00Z is not a start time"},
      {"configured time a number", R"({"name":"A","ts":17})", ts,
       "ts: expected an RFC 3339 time string, got a number"},
      {"nested 1,000,000 deep",
       std::string(1'000'000, '[') + std::string(48'576, ']'),
       {},
       "body: nested deeper than 32 levels"},
      {"2 MiB body", two_mib, {}, "body: 2097152 bytes, over the limit of 1048576"},
      {"invalid UTF-8", "{\"name\":\"\xff\"}", {}, "body: not valid UTF-8"},
      {"overlong UTF-8", "{\"name\":\"\xc0\xaf\"}", {}, "body: not valid UTF-8"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_EQ(parseError(c.body, c.mapping), c.message);
  }
}

TEST(GenericMappingTest, BadMappingsAreReportedBeforeAnyBody) {
  struct Case {
    std::string what;
    GenericMapping mapping;
    std::string message;
  };
  auto with = [](auto set) {
    GenericMapping m;
    set(m);
    return m;
  };
  const std::vector<Case> cases = {
      {"empty name in a path", with([](auto& m) { m.labels = "a..b"; }),
       "mapping.labels: bad path 'a..b': empty name at character 3"},
      {"leading dot", with([](auto& m) { m.name = ".a"; }),
       "mapping.name: bad path '.a': empty name at character 1"},
      {"trailing dot", with([](auto& m) { m.severity = "$.a."; }),
       "mapping.severity: bad path '$.a.': empty name at character 5"},
      {"bad index", with([](auto& m) { m.name = "$.a[x]"; }),
       "mapping.name: bad path '$.a[x]': expected an index or a quoted name after '[' at "
       "character 5"},
      {"unclosed index", with([](auto& m) { m.name = "a[0"; }),
       "mapping.name: bad path 'a[0': expected ']' at character 4"},
      {"unclosed quote", with([](auto& m) { m.status = "$['a"; }),
       "mapping.status: bad path '$[\\'a': unclosed quote at character 5"},
      {"junk after $", with([](auto& m) { m.fingerprint = "$a"; }),
       "mapping.fingerprint: bad path '$a': expected '.' or '[' at character 2"},
      {"huge index", with([](auto& m) { m.alerts = "a[12345678901]"; }),
       "mapping.alerts: bad path 'a[12345678901]': index too large at character 3"},
      {"bad resolved value", with([](auto& m) {
         m.resolved_values = {{"OKAY", "ok"}};
       }),
       "mapping.resolved_values['OKAY']: expected 'firing' or 'resolved', got 'ok'"},
      {"empty resolved key", with([](auto& m) {
         m.resolved_values = {{"", "resolved"}};
       }),
       "mapping.resolved_values: an empty status value"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto checked = checkGenericMapping(c.mapping);
    ASSERT_FALSE(checked.has_value());
    EXPECT_EQ(checked.error().message(), c.message);
    EXPECT_EQ(parseError(R"({"name":"A"})", c.mapping), c.message);
  }
  EXPECT_TRUE(checkGenericMapping({}).has_value());
  EXPECT_TRUE(checkGenericMapping(collectdMapping()).has_value());
  GenericMapping quoted;
  quoted.name = R"($["a.b"]['c\'d'][0].e)";
  EXPECT_TRUE(checkGenericMapping(quoted).has_value());
  EXPECT_EQ(parseOne(R"({"a.b":{"c'd":[{"e":"deep"}]}})", quoted).name, "deep");
}

}  // namespace
}  // namespace firebreak::sources
