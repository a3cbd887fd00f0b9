// Counters, gauges and histograms, and their Prometheus text exposition (format 0.0.4). The
// hot path is an atomic add: callers look a labelled child up once and keep the reference
// (children live as long as the registry and never move); a lookup that must happen per
// event builds its key in a reused per-thread buffer, so a known child costs no allocation.
// Thread-safe throughout: increments come from the I/O thread, the store's writer thread and
// provider threads, while a scrape renders.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace firebreak::core {

class Counter {
 public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double d);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Cumulative buckets as Prometheus wants them; `bounds` strictly increasing, +Inf implied.
class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds);
  void observe(double v);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  // Observations <= bounds[i] (cumulative); index bounds.size() is +Inf (== count()).
  uint64_t cumulative(size_t i) const;
  const std::vector<double>& bounds() const { return *bounds_; }

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // per bucket, not cumulative
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Buckets for durations in seconds: 1 ms to 5 min.
const std::vector<double>& durationBuckets();
// Buckets for latencies of fast operations in seconds: 100 us to 2.5 s.
const std::vector<double>& latencyBuckets();
// Buckets for sizes and counts: 1 to 1024, powers of two.
const std::vector<double>& sizeBuckets();

enum class MetricType { kCounter, kGauge, kHistogram };

// A named metric with fixed label names; one child per distinct tuple of label values.
template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> labels,
         std::vector<double> bounds = {})
      : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)),
        bounds_(std::move(bounds)) {}

  // The child for these label values (as many as there are label names), made on first use.
  T& with(std::initializer_list<std::string_view> values);
  T& with(const std::vector<std::string>& values);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& labels() const { return labels_; }
  // Every child with its label values, in a stable order (sorted by values).
  void forEach(const std::function<void(const std::vector<std::string>&, const T&)>& fn) const;

 private:
  template <typename It>
  T& find(It begin, It end, size_t n);

  std::string name_, help_;
  std::vector<std::string> labels_;
  std::vector<double> bounds_;  // histograms only
  mutable std::shared_mutex mu_;
  struct Child {
    std::vector<std::string> values;
    std::unique_ptr<T> metric;
  };
  std::map<std::string, Child, std::less<>> children_;  // by values joined with '\x1f'
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class MetricsRegistry {
 public:
  // Names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names [a-zA-Z_][a-zA-Z0-9_]*, not starting "__",
  // never "le" on a histogram. A bad or duplicate name is a programming error: it aborts.
  CounterFamily& counter(std::string name, std::string help, std::vector<std::string> labels = {});
  GaugeFamily& gauge(std::string name, std::string help, std::vector<std::string> labels = {});
  HistogramFamily& histogram(std::string name, std::string help, std::vector<double> bounds,
                             std::vector<std::string> labels = {});
  // A gauge read when scraped (a count the store knows, say); `read` runs on the scraping
  // thread and must be safe there.
  void gaugeFunction(std::string name, std::string help, std::function<double()> read);

  // The text exposition, families in registration order.
  std::string render() const;

 private:
  void claim(const std::string& name);

  struct Entry {
    MetricType type;
    std::unique_ptr<CounterFamily> counter;
    std::unique_ptr<GaugeFamily> gauge;
    std::unique_ptr<HistogramFamily> histogram;
    std::string name, help;
    std::function<double()> read;
  };
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
};

// Exposition helpers, exposed for tests: a label value with \\, \" and \n escaped; a HELP
// text with \\ and \n escaped; a sample value as Prometheus reads it (+Inf, -Inf, NaN).
std::string escapeLabelValue(std::string_view value);
std::string escapeHelp(std::string_view text);
std::string formatSampleValue(double value);

// The Content-Type of the text exposition.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace firebreak::core
