#include "daemon/core/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>

#include <fmt/format.h>

namespace firebreak::core {

namespace {

constexpr char kSep = '\x1f';

bool validName(std::string_view name, bool colon_ok) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (colon_ok && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

[[noreturn]] void misuse(const std::string& what) {
  std::cerr << "metrics: " << what << "\n";
  std::abort();
}

void checkLabels(const std::string& metric, const std::vector<std::string>& labels,
                 bool histogram) {
  for (const auto& l : labels) {
    if (!validName(l, false) || l.rfind("__", 0) == 0 || (histogram && l == "le"))
      misuse("metric " + metric + ": bad label name '" + l + "'");
  }
}

// name{a="x",b="y"} or name{a="x",le="0.5"}; no braces without labels.
void appendSeries(std::string& out, const std::string& name,
                  const std::vector<std::string>& labels,
                  const std::vector<std::string>& values, std::string_view le = {}) {
  out += name;
  if (labels.empty() && le.empty()) return;
  out += '{';
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    out += labels[i];
    out += "=\"";
    out += escapeLabelValue(values[i]);
    out += '"';
  }
  if (!le.empty()) {
    if (!labels.empty()) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

void appendHeader(std::string& out, const std::string& name, const std::string& help,
                  const char* type) {
  out += "# HELP " + name + " " + escapeHelp(help) + "\n";
  out += "# TYPE " + name + " " + type + "\n";
}

}  // namespace

void Gauge::add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds->size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) {
  const auto& b = *bounds_;
  size_t i = static_cast<size_t>(std::lower_bound(b.begin(), b.end(), v) - b.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

uint64_t Histogram::cumulative(size_t i) const {
  uint64_t total = 0;
  for (size_t k = 0; k <= i && k <= bounds_->size(); ++k)
    total += buckets_[k].load(std::memory_order_relaxed);
  return total;
}

const std::vector<double>& durationBuckets() {
  static const std::vector<double> b = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1,
                                        5,     10,    30,   60,   120, 300};
  return b;
}
const std::vector<double>& latencyBuckets() {
  static const std::vector<double> b = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
  return b;
}
const std::vector<double>& sizeBuckets() {
  static const std::vector<double> b = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
  return b;
}

template <typename T>
template <typename It>
T& Family<T>::find(It begin, It end, size_t n) {
  if (n != labels_.size())
    misuse(fmt::format("metric {}: {} label value(s) for {} label(s)", name_, n, labels_.size()));
  // Reused per thread: a lookup of a known child allocates nothing.
  thread_local std::string key;
  key.clear();
  for (It it = begin; it != end; ++it) {
    key.append(it->data(), it->size());
    key += kSep;
  }
  {
    std::shared_lock lock(mu_);
    auto found = children_.find(key);
    if (found != children_.end()) return *found->second.metric;
  }
  std::unique_lock lock(mu_);
  auto& child = children_[key];
  if (!child.metric) {
    for (It it = begin; it != end; ++it) child.values.emplace_back(it->data(), it->size());
    if constexpr (std::is_same_v<T, Histogram>) child.metric = std::make_unique<T>(&bounds_);
    else child.metric = std::make_unique<T>();
  }
  return *child.metric;
}

template <typename T>
T& Family<T>::with(std::initializer_list<std::string_view> values) {
  return find(values.begin(), values.end(), values.size());
}

template <typename T>
T& Family<T>::with(const std::vector<std::string>& values) {
  return find(values.begin(), values.end(), values.size());
}

template <typename T>
void Family<T>::forEach(
    const std::function<void(const std::vector<std::string>&, const T&)>& fn) const {
  std::shared_lock lock(mu_);
  for (const auto& [_, child] : children_) fn(child.values, *child.metric);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

void MetricsRegistry::claim(const std::string& name) {
  if (!validName(name, true)) misuse("bad metric name '" + name + "'");
  for (const auto& e : entries_)
    if (e.name == name) misuse("metric " + name + " registered twice");
}

CounterFamily& MetricsRegistry::counter(std::string name, std::string help,
                                        std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  claim(name);
  checkLabels(name, labels, false);
  Entry e{MetricType::kCounter, std::make_unique<CounterFamily>(name, help, labels), nullptr,
          nullptr, name, help, nullptr};
  // An unlabelled metric is shown as 0 before its first event.
  if (labels.empty()) e.counter->with(std::vector<std::string>{});
  entries_.push_back(std::move(e));
  return *entries_.back().counter;
}

GaugeFamily& MetricsRegistry::gauge(std::string name, std::string help,
                                    std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  claim(name);
  checkLabels(name, labels, false);
  Entry e{MetricType::kGauge, nullptr, std::make_unique<GaugeFamily>(name, help, labels), nullptr,
          name, help, nullptr};
  if (labels.empty()) e.gauge->with(std::vector<std::string>{});
  entries_.push_back(std::move(e));
  return *entries_.back().gauge;
}

HistogramFamily& MetricsRegistry::histogram(std::string name, std::string help,
                                            std::vector<double> bounds,
                                            std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  claim(name);
  checkLabels(name, labels, true);
  if (bounds.empty() || !std::is_sorted(bounds.begin(), bounds.end()) ||
      std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end() ||
      std::isinf(bounds.back()))
    misuse("metric " + name + ": buckets must be finite and strictly increasing");
  Entry e{MetricType::kHistogram, nullptr, nullptr,
          std::make_unique<HistogramFamily>(name, help, labels, std::move(bounds)), name, help,
          nullptr};
  if (labels.empty()) e.histogram->with(std::vector<std::string>{});
  entries_.push_back(std::move(e));
  return *entries_.back().histogram;
}

void MetricsRegistry::gaugeFunction(std::string name, std::string help,
                                    std::function<double()> read) {
  std::lock_guard lock(mu_);
  claim(name);
  entries_.push_back(Entry{MetricType::kGauge, nullptr, nullptr, nullptr, std::move(name),
                           std::move(help), std::move(read)});
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  out.reserve(4096);
  for (const auto& e : entries_) {
    if (e.read) {
      appendHeader(out, e.name, e.help, "gauge");
      out += e.name + " " + formatSampleValue(e.read()) + "\n";
    } else if (e.counter) {
      appendHeader(out, e.name, e.help, "counter");
      e.counter->forEach([&](const std::vector<std::string>& values, const Counter& c) {
        appendSeries(out, e.name, e.counter->labels(), values);
        out += " " + std::to_string(c.value()) + "\n";
      });
    } else if (e.gauge) {
      appendHeader(out, e.name, e.help, "gauge");
      e.gauge->forEach([&](const std::vector<std::string>& values, const Gauge& g) {
        appendSeries(out, e.name, e.gauge->labels(), values);
        out += " " + formatSampleValue(g.value()) + "\n";
      });
    } else {
      appendHeader(out, e.name, e.help, "histogram");
      const auto& labels = e.histogram->labels();
      e.histogram->forEach([&](const std::vector<std::string>& values, const Histogram& h) {
        // Read the buckets once: count is their sum, so the series agree with each other
        // even while observations arrive.
        const auto& bounds = h.bounds();
        uint64_t running = 0;
        for (size_t i = 0; i <= bounds.size(); ++i) {
          running = h.cumulative(i);
          appendSeries(out, e.name + "_bucket", labels, values,
                       i < bounds.size() ? formatSampleValue(bounds[i]) : "+Inf");
          out += " " + std::to_string(running) + "\n";
        }
        appendSeries(out, e.name + "_sum", labels, values);
        out += " " + formatSampleValue(h.sum()) + "\n";
        appendSeries(out, e.name + "_count", labels, values);
        out += " " + std::to_string(running) + "\n";
      });
    }
  }
  return out;
}

std::string escapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escapeHelp(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string formatSampleValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

}  // namespace firebreak::core
