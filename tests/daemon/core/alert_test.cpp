// The Alert model: RFC 3339 parsing and formatting, the dedup identity, the template view.
#include "daemon/core/alert.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace firebreak::core {
namespace {

int64_t parseOk(std::string_view text) {
  auto ms = parseRfc3339Ms(text);
  EXPECT_TRUE(ms.has_value()) << text << ": " << (ms ? "" : ms.error().message());
  return ms.value_or(-1);
}

std::string parseError(std::string_view text) {
  auto ms = parseRfc3339Ms(text);
  if (ms) return "parsed as " + std::to_string(*ms);
  EXPECT_EQ(ms.error().code(), ErrorCode::kInvalidArgument);
  return ms.error().message();
}

TEST(Rfc3339Test, ParsesWholeSecondsAndFractionsOfAnyLength) {
  EXPECT_EQ(parseOk("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parseOk("2026-11-23T01:54:45Z"), 1795398885000);
  EXPECT_EQ(parseOk("2026-11-23T02:00:57.114Z"), 1795399257114);
  EXPECT_EQ(parseOk("2026-11-23T02:00:57.1Z"), 1795399257100);
  EXPECT_EQ(parseOk("2026-11-23T02:00:57.11Z"), 1795399257110);
  // collectd sends nanoseconds; the rest is truncated, never rounded up into the next second.
  EXPECT_EQ(parseOk("2026-11-23T02:13:14.112489165Z"), 1795399994112);
  EXPECT_EQ(parseOk("2026-11-23T02:13:14.999999999999999999999Z"), 1795399994999);
  EXPECT_EQ(parseOk("2026-11-23t01:54:45z"), 1795398885000);
  EXPECT_EQ(parseOk("2024-02-29T12:00:00Z"), 1709208000000);  // a leap day
  EXPECT_EQ(parseOk("1969-12-31T23:59:59.999Z"), -1);
}

TEST(Rfc3339Test, AppliesOffsets) {
  EXPECT_EQ(parseOk("2026-11-23T03:54:45+02:00"), 1795398885000);
  EXPECT_EQ(parseOk("2026-11-22T20:24:45.000-05:30"), 1795398885000);
  EXPECT_EQ(parseOk("2026-11-23T01:54:45+00:00"), 1795398885000);
  EXPECT_EQ(parseOk("2026-11-23T01:54:45-00:00"), 1795398885000);
}

TEST(Rfc3339Test, TheZeroTimeMeansNoTime) {
  EXPECT_EQ(parseOk("0001-01-01T00:00:00Z"), kZeroTimeMs);
  auto none = parseRfc3339OptionalMs("0001-01-01T00:00:00Z");
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
  auto shifted = parseRfc3339OptionalMs("0001-01-01T02:00:00+02:00");  // the same instant
  ASSERT_TRUE(shifted.has_value());
  EXPECT_FALSE(shifted->has_value());
  auto some = parseRfc3339OptionalMs("2026-11-23T02:00:57.114Z");
  ASSERT_TRUE(some.has_value());
  EXPECT_EQ(*some, std::optional<int64_t>(1795399257114));
  auto bad = parseRfc3339OptionalMs("never");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message(), "not an RFC 3339 time: 'never'");
}

TEST(Rfc3339Test, RefusesWhatIsNotRfc3339) {
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"yesterday", "not an RFC 3339 time: 'yesterday'"},
      {"", "not an RFC 3339 time: ''"},
      {"2026-11-23", "not an RFC 3339 time: '2026-11-23'"},
      {"2026-11-23T01:54:45", "not an RFC 3339 time: '2026-11-23T01:54:45'"},
      {"2026-11-23 01:54:45Z", "not an RFC 3339 time: '2026-11-23 01:54:45Z'"},
      {"2026-11-23T01:54:45.Z", "not an RFC 3339 time: '2026-11-23T01:54:45.Z'"},
      {"2026-11-23T01:54:45+0200", "not an RFC 3339 time: '2026-11-23T01:54:45+0200'"},
      {"2026-11-23T01:54:45Z ", "not an RFC 3339 time: '2026-11-23T01:54:45Z '"},
      {"2026-11-23T1:54:45Z", "not an RFC 3339 time: '2026-11-23T1:54:45Z'"},
      {"+2026-11-23T01:54:45Z", "not an RFC 3339 time: '+2026-11-23T01:54:45Z'"},
      {"1795398885", "not an RFC 3339 time: '1795398885'"},
      {"2026-13-01T00:00:00Z", "not an RFC 3339 time: '2026-13-01T00:00:00Z' (month out of range)"},
      {"2026-00-01T00:00:00Z", "not an RFC 3339 time: '2026-00-01T00:00:00Z' (month out of range)"},
      {"2026-02-29T00:00:00Z", "not an RFC 3339 time: '2026-02-29T00:00:00Z' (day out of range)"},
      {"2026-04-31T00:00:00Z", "not an RFC 3339 time: '2026-04-31T00:00:00Z' (day out of range)"},
      {"2026-11-00T00:00:00Z", "not an RFC 3339 time: '2026-11-00T00:00:00Z' (day out of range)"},
      {"2026-11-23T24:00:00Z", "not an RFC 3339 time: '2026-11-23T24:00:00Z' (hour out of range)"},
      {"2026-11-23T23:60:00Z",
       "not an RFC 3339 time: '2026-11-23T23:60:00Z' (minute out of range)"},
      {"2026-11-23T23:59:60Z",
       "not an RFC 3339 time: '2026-11-23T23:59:60Z' (second out of range)"},
      {"2026-11-23T01:54:45+24:00",
       "not an RFC 3339 time: '2026-11-23T01:54:45+24:00' (offset out of range)"},
      {"9999-12-31T23:59:59-01:00",
       "not an RFC 3339 time: '9999-12-31T23:59:59-01:00' (outside years 0000-9999 in UTC)"},
      {"0000-01-01T00:00:00+00:01",
       "not an RFC 3339 time: '0000-01-01T00:00:00+00:01' (outside years 0000-9999 in UTC)"},
      {"2026-11-23T01:54:45\nZ", "not an RFC 3339 time: '2026-11-23T01:54:45\\nZ'"},
  };
  for (const auto& c : cases) EXPECT_EQ(parseError(c.text), c.message) << c.text;
}

TEST(Rfc3339Test, FormatsUtcWithMillisecondsOnlyWhenThereAreSome) {
  EXPECT_EQ(formatRfc3339Ms(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(formatRfc3339Ms(1795398885000), "2026-11-23T01:54:45Z");
  EXPECT_EQ(formatRfc3339Ms(1795399257114), "2026-11-23T02:00:57.114Z");
  EXPECT_EQ(formatRfc3339Ms(1795399257100), "2026-11-23T02:00:57.100Z");
  EXPECT_EQ(formatRfc3339Ms(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(formatRfc3339Ms(kZeroTimeMs), "0001-01-01T00:00:00Z");
  EXPECT_EQ(formatRfc3339Ms(253402300799999), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(formatRfc3339Ms(1709208000000), "2024-02-29T12:00:00Z");
}

TEST(Rfc3339Test, FormatAndParseRoundTrip) {
  // Every third day of eight centuries around the epoch, at a moment with every field set.
  for (int64_t day = -146097 * 2; day <= 146097 * 2; day += 3) {
    const int64_t ms = day * 86'400'000 + 45'296'789;  // 12:34:56.789
    const std::string text = formatRfc3339Ms(ms);
    auto back = parseRfc3339Ms(text);
    ASSERT_TRUE(back.has_value()) << text;
    ASSERT_EQ(*back, ms) << text;
  }
  for (int64_t ms :
       {int64_t{0}, int64_t{-1}, kZeroTimeMs, int64_t{-62167219200000}, int64_t{253402300799999}}) {
    EXPECT_EQ(parseOk(formatRfc3339Ms(ms)), ms);
  }
}

Alert sampleAlert() {
  Alert a;
  a.source = "prometheus";
  a.source_type = "alertmanager";
  a.name = "LambdaErrorSpike";
  a.status = "firing";
  a.labels = {{"alertname", "LambdaErrorSpike"}, {"severity", "critical"}};
  a.annotations = {{"summary", "errors"}};
  a.severity = "critical";
  a.fingerprint = "75dfad605540f27f";
  a.starts_at_ms = 1795398885000;
  a.generator_url = "http://prometheus:9090/graph";
  a.group_key = "{}:{alertname=\"LambdaErrorSpike\"}";
  return a;
}

TEST(AlertTest, IdentityIsSourceStartAndFingerprint) {
  Alert a = sampleAlert();
  EXPECT_EQ(a.identity(), "prometheus/1795398885000/75dfad605540f27f");

  Alert same = a;  // a repeat: other fields may change (annotations, ends_at, group)
  same.annotations["summary"] = "errors, still";
  same.ends_at_ms = 1795399257114;
  same.group_key = "other";
  EXPECT_EQ(same.identity(), a.identity());
  Alert resolved = a;  // its resolution: the same alert, with news beside the identity
  resolved.status = "resolved";
  EXPECT_EQ(resolved.identity(), a.identity());

  Alert again = a;  // the same label set firing anew
  again.starts_at_ms += 1;
  EXPECT_NE(again.identity(), a.identity());
  Alert other_source = a;
  other_source.source = "prometheus-eu";
  EXPECT_NE(other_source.identity(), a.identity());
  Alert other_fingerprint = a;
  other_fingerprint.fingerprint = "75dfad605540f27e";
  EXPECT_NE(other_fingerprint.identity(), a.identity());
}

TEST(AlertTest, IdentityIsUnambiguousWhateverTheSourceName) {
  Alert a = sampleAlert();
  a.source = "a/1";
  a.starts_at_ms = 2;
  a.fingerprint = "x";
  Alert b = sampleAlert();
  b.source = "a";
  b.starts_at_ms = 1;
  b.fingerprint = "2/x";
  EXPECT_EQ(a.identity(), "a%2F1/2/x");
  EXPECT_EQ(b.identity(), "a/1/2/x");
  EXPECT_NE(a.identity(), b.identity());
  a.source = "50%";
  EXPECT_EQ(a.identity(), "50%25/2/x");
}

TEST(AlertTest, ToJsonIsTheTemplateView) {
  Alert a = sampleAlert();
  EXPECT_EQ(a.toJson(), Json::parse(R"({
    "name": "LambdaErrorSpike",
    "status": "firing",
    "labels": {"alertname": "LambdaErrorSpike", "severity": "critical"},
    "annotations": {"summary": "errors"},
    "severity": "critical",
    "fingerprint": "75dfad605540f27f",
    "starts_at": "2026-11-23T01:54:45Z",
    "ends_at": null,
    "generator_url": "http://prometheus:9090/graph",
    "source": "prometheus",
    "source_type": "alertmanager",
    "group_key": "{}:{alertname=\"LambdaErrorSpike\"}",
    "drill": false
  })"));
  a.status = "resolved";
  a.ends_at_ms = 1795399257114;
  a.drill = true;
  const Json j = a.toJson();
  EXPECT_EQ(j["ends_at"], "2026-11-23T02:00:57.114Z");
  EXPECT_EQ(j["status"], "resolved");
  EXPECT_EQ(j["drill"], true);
  a.starts_at_ms = 0;  // not known
  EXPECT_TRUE(a.toJson()["starts_at"].is_null());
}

TEST(QuoteForMessageTest, EscapesAndCuts) {
  EXPECT_EQ(quoteForMessage("plain"), "'plain'");
  EXPECT_EQ(quoteForMessage("it's a \\ path"), "'it\\'s a \\\\ path'");
  EXPECT_EQ(quoteForMessage("a\nb\tc\r\x01\x7f"), "'a\\nb\\tc\\r\\x01\\x7f'");
  EXPECT_EQ(quoteForMessage("caf\xc3\xa9 \xe2\x9c\x93"), "'caf\xc3\xa9 \xe2\x9c\x93'");
  EXPECT_EQ(quoteForMessage("bad \xff\xc3 utf8"), "'bad \\xff\\xc3 utf8'");
  EXPECT_EQ(quoteForMessage("\xed\xa0\x80"), "'\\xed\\xa0\\x80'");  // a UTF-16 surrogate
  EXPECT_EQ(quoteForMessage(std::string(200, 'x'), 5), "'xxxxx...'");
  EXPECT_EQ(quoteForMessage("\xc3\xa9\xc3\xa9\xc3\xa9", 2), "'\xc3\xa9\xc3\xa9...'");
  EXPECT_EQ(quoteForMessage(std::string(80, 'y')), "'" + std::string(80, 'y') + "'");
}

}  // namespace
}  // namespace firebreak::core
