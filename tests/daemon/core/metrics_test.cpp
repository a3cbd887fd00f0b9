#include "daemon/core/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <sstream>
#include <thread>

namespace firebreak::core {
namespace {

// A reader of the text exposition format 0.0.4, strict enough to catch what Prometheus'
// own parser refuses: every sample belongs to a family declared by # HELP and # TYPE before
// it, label values are quoted with only \\, \" and \n escaped, values parse as floats.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};
struct Parsed {
  std::map<std::string, std::string> help, type;
  std::vector<Sample> samples;
  std::string error;

  double value(const std::string& name, const std::map<std::string, std::string>& labels) const {
    for (const auto& s : samples)
      if (s.name == name && s.labels == labels) return s.value;
    return NAN;
  }
};

std::string familyOf(const std::string& sample, const std::map<std::string, std::string>& type) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string sfx(suffix);
    if (sample.size() > sfx.size() &&
        sample.compare(sample.size() - sfx.size(), sfx.size(), sfx) == 0) {
      std::string base = sample.substr(0, sample.size() - sfx.size());
      auto it = type.find(base);
      if (it != type.end() && it->second == "histogram") return base;
    }
  }
  return sample;
}

Parsed parse(const std::string& text) {
  Parsed p;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  auto bad = [&](const std::string& why) {
    if (p.error.empty()) p.error = "line " + std::to_string(n) + ": " + why + ": " + line;
  };
  if (!text.empty() && text.back() != '\n') bad("no final newline");
  while (std::getline(in, line)) {
    ++n;
    if (line.rfind("# HELP ", 0) == 0) {
      auto rest = line.substr(7);
      auto sp = rest.find(' ');
      p.help[rest.substr(0, sp)] = sp == std::string::npos ? "" : rest.substr(sp + 1);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      auto rest = line.substr(7);
      auto sp = rest.find(' ');
      std::string name = rest.substr(0, sp);
      if (p.type.count(name)) bad("TYPE twice");
      if (!p.help.count(name)) bad("TYPE before HELP");
      p.type[name] = rest.substr(sp + 1);
      continue;
    }
    if (line.empty() || line[0] == '#') {
      bad("unexpected line");
      continue;
    }
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') s.name += line[i++];
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::string key;
        while (i < line.size() && line[i] != '=') key += line[i++];
        if (line.compare(i, 2, "=\"") != 0) {
          bad("label without =\"");
          break;
        }
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            ++i;
            if (line[i] == 'n') value += '\n';
            else if (line[i] == '\\' || line[i] == '"') value += line[i];
            else bad("bad escape");
          } else {
            value += line[i];
          }
          ++i;
        }
        ++i;  // closing quote
        s.labels[key] = value;
        if (i < line.size() && line[i] == ',') ++i;
      }
      ++i;  // }
    }
    if (i >= line.size() || line[i] != ' ') {
      bad("no value");
      continue;
    }
    std::string v = line.substr(i + 1);
    if (v == "+Inf") s.value = INFINITY;
    else if (v == "-Inf") s.value = -INFINITY;
    else if (v == "NaN") s.value = NAN;
    else {
      size_t used = 0;
      s.value = std::stod(v, &used);
      if (used != v.size()) bad("trailing text after the value");
    }
    if (!p.type.count(familyOf(s.name, p.type))) bad("sample before its TYPE");
    p.samples.push_back(std::move(s));
  }
  return p;
}

TEST(MetricsTest, CountersAndGaugesRenderAndParseBack) {
  MetricsRegistry r;
  auto& c =
      r.counter("fb_things_total", "Things.\nSecond line with \\ backslash.", {"kind", "code"});
  c.with({"a", "200"}).inc();
  c.with({"a", "200"}).inc(2);
  c.with({"b\"quoted\"\\path\nnext", "500"}).inc();
  auto& g = r.gauge("fb_level", "A level.");
  g.with(std::vector<std::string>{}).set(2.5);
  r.gaugeFunction("fb_read", "Read when scraped.", [] { return 7.0; });

  std::string text = r.render();
  Parsed p = parse(text);
  ASSERT_EQ(p.error, "") << text;
  EXPECT_EQ(p.type["fb_things_total"], "counter");
  EXPECT_EQ(p.help["fb_things_total"], "Things.\\nSecond line with \\\\ backslash.");
  EXPECT_EQ(p.value("fb_things_total", {{"kind", "a"}, {"code", "200"}}), 3);
  EXPECT_EQ(p.value("fb_things_total", {{"kind", "b\"quoted\"\\path\nnext"}, {"code", "500"}}), 1);
  EXPECT_EQ(p.type["fb_level"], "gauge");
  EXPECT_EQ(p.value("fb_level", {}), 2.5);
  EXPECT_EQ(p.value("fb_read", {}), 7);
  EXPECT_NE(text.find("fb_level 2.5\n"), std::string::npos) << "no braces without labels";
}

TEST(MetricsTest, UnlabelledCounterShowsZeroBeforeItsFirstEvent) {
  MetricsRegistry r;
  r.counter("fb_nothing_yet_total", "Nothing yet.");
  Parsed p = parse(r.render());
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.value("fb_nothing_yet_total", {}), 0);
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  MetricsRegistry r;
  auto& h = r.histogram("fb_wait_seconds", "Waits.", {0.1, 1, 10}, {"action"});
  auto& x = h.with({"exec.run"});
  for (double v : {0.05, 0.1, 0.5, 3.0, 20.0}) x.observe(v);

  std::string text = r.render();
  Parsed p = parse(text);
  ASSERT_EQ(p.error, "") << text;
  EXPECT_EQ(p.type["fb_wait_seconds"], "histogram");
  auto bucket = [&](const std::string& le) {
    return p.value("fb_wait_seconds_bucket", {{"action", "exec.run"}, {"le", le}});
  };
  EXPECT_EQ(bucket("0.1"), 2);  // le is inclusive
  EXPECT_EQ(bucket("1"), 3);
  EXPECT_EQ(bucket("10"), 4);
  EXPECT_EQ(bucket("+Inf"), 5);
  EXPECT_EQ(p.value("fb_wait_seconds_count", {{"action", "exec.run"}}), 5);
  EXPECT_DOUBLE_EQ(p.value("fb_wait_seconds_sum", {{"action", "exec.run"}}), 23.65);
  // le comes last among the labels, buckets in increasing order.
  auto a = text.find("fb_wait_seconds_bucket{action=\"exec.run\",le=\"0.1\"} 2\n");
  auto b = text.find("fb_wait_seconds_bucket{action=\"exec.run\",le=\"+Inf\"} 5\n");
  ASSERT_NE(a, std::string::npos) << text;
  ASSERT_NE(b, std::string::npos) << text;
  EXPECT_LT(a, b);
}

TEST(MetricsTest, SampleValuesAreWhatPrometheusReads) {
  EXPECT_EQ(formatSampleValue(INFINITY), "+Inf");
  EXPECT_EQ(formatSampleValue(-INFINITY), "-Inf");
  EXPECT_EQ(formatSampleValue(NAN), "NaN");
  EXPECT_EQ(formatSampleValue(0.005), "0.005");
  EXPECT_EQ(formatSampleValue(300), "300");
  EXPECT_EQ(escapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
}

TEST(MetricsTest, ChildrenKeepTheirAddressAndConcurrentIncrementsAllCount) {
  MetricsRegistry r;
  auto& c = r.counter("fb_hits_total", "Hits.", {"who"});
  Counter* first = &c.with({"t0"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c] {
      for (int i = 0; i < 10000; ++i) {
        c.with({"t" + std::to_string(i % 8)}).inc();
        c.with({"all"}).inc();
      }
    });
  }
  std::string during;
  for (int i = 0; i < 20; ++i) during = r.render();  // scrapes while counting
  for (auto& t : threads) t.join();
  EXPECT_EQ(&c.with({"t0"}), first);
  Parsed p = parse(r.render());
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.value("fb_hits_total", {{"who", "all"}}), 40000);
  EXPECT_EQ(p.value("fb_hits_total", {{"who", "t3"}}), 5000);
  EXPECT_EQ(parse(during).error, "");
}

TEST(MetricsDeathTest, WrongLabelCountAndDuplicateNamesAbort) {
  MetricsRegistry r;
  auto& c = r.counter("fb_a_total", "A.", {"x"});
  EXPECT_DEATH(c.with({"1", "2"}), "fb_a_total: 2 label value\\(s\\) for 1 label\\(s\\)");
  EXPECT_DEATH(r.counter("fb_a_total", "again"), "registered twice");
  EXPECT_DEATH(r.histogram("fb_h", "H.", {1, 2}, {"le"}), "bad label name 'le'");
  EXPECT_DEATH(r.counter("fb-bad", "B."), "bad metric name");
}

}  // namespace
}  // namespace firebreak::core
