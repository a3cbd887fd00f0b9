// Load generator for webhook intake: N keep-alive connections POST an Alertmanager body (the
// 2 KB fixture), each request with fresh fingerprints so that every alert is new to the daemon
// and is committed before its 202. Each --target is loaded in turn in the same run and the
// results are printed side by side, with the rate of every target as a ratio of the first one
// (the reference, e.g. nginx answering 202 from its config), since these machines are noisy.
//
//   ingest --body FILE [--token T] [--connections N] [--seconds S] [--rate ALERTS_PER_S]
//          --target NAME=http://127.0.0.1:PORT/PATH ...
//
// Without --rate each connection sends its next request as soon as the answer arrives (the
// sustained rate); with --rate requests are paced to that many alerts per second in all.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

namespace {

using Clock = std::chrono::steady_clock;

struct Target {
  std::string name;
  std::string host;
  uint16_t port = 0;
  std::string path;
};

struct Options {
  std::string body_file;
  std::string token;
  int connections = 32;
  double seconds = 10;
  double rate = 0;  // alerts per second in all; 0: as fast as answers come
  std::vector<Target> targets;
};

struct Result {
  uint64_t requests = 0;
  uint64_t accepted = 0;  // answered 202
  uint64_t other = 0;     // any other status
  uint64_t errors = 0;    // connect, read or write failures
  double seconds = 0;
  std::vector<uint32_t> latencies_us;
};

bool parseTarget(const std::string& text, Target& out) {
  auto eq = text.find('=');
  constexpr std::string_view kScheme = "http://";
  if (eq == std::string::npos || text.compare(eq + 1, kScheme.size(), kScheme) != 0) return false;
  out.name = text.substr(0, eq);
  std::string rest = text.substr(eq + 1 + kScheme.size());
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  out.path = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = hostport.rfind(':');
  if (colon == std::string::npos) return false;
  out.host = hostport.substr(0, colon);
  out.port = static_cast<uint16_t>(std::atoi(hostport.c_str() + colon + 1));
  return out.port != 0;
}

// Where the body's fingerprints are: each is overwritten per request with fresh hex digits of
// the same length, so the body's size and shape stay those of the fixture.
std::vector<size_t> fingerprintOffsets(const std::string& body) {
  std::vector<size_t> out;
  constexpr std::string_view kKey = "\"fingerprint\":\"";
  for (size_t at = body.find(kKey); at != std::string::npos; at = body.find(kKey, at + 1)) {
    size_t start = at + kKey.size();
    size_t end = body.find('"', start);
    if (end - start == 16) out.push_back(start);
  }
  return out;
}

class Connection {
 public:
  explicit Connection(const Target& t) : target_(t) {}
  ~Connection() { close(); }

  // One request, one answer; the status, or 0 on a transport error (then reconnects next time).
  unsigned roundTrip(const std::string& request) {
    if (fd_ < 0 && !open()) return 0;
    if (!sendAll(request)) {
      close();
      return 0;
    }
    unsigned status = readResponse();
    if (status == 0) close();
    return status;
  }

 private:
  bool open() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return false;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(target_.port);
    if (::inet_pton(AF_INET, target_.host.c_str(), &addr.sin_addr) != 1 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close();
      return false;
    }
    buffer_.clear();
    return true;
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool sendAll(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  bool fill() {
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  unsigned readResponse() {
    size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return 0;
    unsigned status = 0;
    if (buffer_.size() > 12) status = static_cast<unsigned>(std::atoi(buffer_.c_str() + 9));
    size_t length = 0;
    bool close_after = false;
    std::string header = buffer_.substr(0, header_end);
    std::transform(header.begin(), header.end(), header.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (auto at = header.find("\r\ncontent-length:"); at != std::string::npos)
      length = static_cast<size_t>(std::atoll(header.c_str() + at + 17));
    if (header.find("\r\nconnection: close") != std::string::npos) close_after = true;
    size_t total = header_end + 4 + length;
    while (buffer_.size() < total)
      if (!fill()) return 0;
    buffer_.erase(0, total);
    if (close_after) close();
    return status;
  }

  const Target& target_;
  int fd_ = -1;
  std::string buffer_;
};

Result load(const Options& o, const Target& target, const std::string& body, uint32_t salt) {
  const auto offsets = fingerprintOffsets(body);
  const size_t alerts_per_request = std::max<size_t>(offsets.size(), 1);
  std::string head = fmt::format(
      "POST {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: firebreak-bench-ingest\r\n"
      "Content-Type: application/json\r\n{}Content-Length: {}\r\n\r\n",
      target.path, target.host, target.port,
      o.token.empty() ? "" : "Authorization: Bearer " + o.token + "\r\n", body.size());

  std::atomic<bool> stop{false};
  std::vector<Result> parts(static_cast<size_t>(o.connections));
  std::vector<std::thread> threads;
  // Paced: connection i sends its k-th request at start + (k * N + i) / requests_per_second.
  const double per_request_s =
      o.rate > 0 ? static_cast<double>(alerts_per_request) / o.rate : 0;
  const auto start = Clock::now() + std::chrono::milliseconds(50);
  for (int i = 0; i < o.connections; ++i) {
    threads.emplace_back([&, i] {
      Result& r = parts[static_cast<size_t>(i)];
      r.latencies_us.reserve(1 << 16);
      Connection conn(target);
      std::string request = head + body;
      uint64_t seq = 0;
      std::this_thread::sleep_until(start);
      while (!stop.load(std::memory_order_relaxed)) {
        if (per_request_s > 0) {
          double at_s = (static_cast<double>(seq) * o.connections + i) * per_request_s;
          auto due = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(at_s));
          if (due > Clock::now()) std::this_thread::sleep_until(due);
          if (stop.load(std::memory_order_relaxed)) break;
        }
        for (size_t k = 0; k < offsets.size(); ++k) {
          uint64_t id = (static_cast<uint64_t>(salt) << 40) ^
                        (static_cast<uint64_t>(i) << 28) ^ (seq * offsets.size() + k);
          char hex[17];
          std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(id));
          std::memcpy(request.data() + head.size() + offsets[k], hex, 16);
        }
        ++seq;
        auto t0 = Clock::now();
        unsigned status = conn.roundTrip(request);
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
        ++r.requests;
        if (status == 0) {
          ++r.errors;
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          continue;
        }
        if (status == 202) {
          ++r.accepted;
        } else {
          ++r.other;
        }
        r.latencies_us.push_back(static_cast<uint32_t>(us.count()));
      }
    });
  }
  std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(o.seconds)));
  stop = true;
  for (auto& t : threads) t.join();
  Result all;
  all.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& p : parts) {
    all.requests += p.requests;
    all.accepted += p.accepted;
    all.other += p.other;
    all.errors += p.errors;
    all.latencies_us.insert(all.latencies_us.end(), p.latencies_us.begin(), p.latencies_us.end());
  }
  std::sort(all.latencies_us.begin(), all.latencies_us.end());
  return all;
}

double percentileMs(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t at = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[at] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ingest: webhook load against one or more HTTP targets, side by side"};
  Options o;
  std::vector<std::string> targets;
  app.add_option("--body", o.body_file, "Request body (an Alertmanager webhook)")->required();
  app.add_option("--token", o.token, "Bearer token sent with every request");
  app.add_option("--connections", o.connections, "Keep-alive connections")
      ->check(CLI::Range(1, 4096));
  app.add_option("--seconds", o.seconds, "Seconds of load per target")
      ->check(CLI::PositiveNumber);
  app.add_option("--rate", o.rate, "Alerts per second in all (default: as fast as possible)");
  app.add_option("--target", targets, "NAME=http://HOST:PORT/PATH (IPv4 host); first: reference")
      ->required();
  CLI11_PARSE(app, argc, argv);
  for (const auto& t : targets) {
    Target parsed;
    if (!parseTarget(t, parsed)) {
      fmt::print(stderr, "--target {}: expected NAME=http://IPV4:PORT/PATH\n", t);
      return 2;
    }
    o.targets.push_back(parsed);
  }
  std::ifstream in(o.body_file, std::ios::binary);
  if (!in) {
    fmt::print(stderr, "{}: cannot read the body\n", o.body_file);
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string body = ss.str();
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  const size_t alerts = std::max<size_t>(fingerprintOffsets(body).size(), 1);

  fmt::print("body {} bytes, {} alert(s) per request, {} connection(s), {:.0f} s per target{}\n",
             body.size(), alerts, o.connections, o.seconds,
             o.rate > 0 ? fmt::format(", paced at {:.0f} alerts/s", o.rate) : "");
  fmt::print("{:<12} {:>10} {:>10} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8}\n", "target", "req/s",
             "alerts/s", "p50 ms", "p99 ms", "max ms", "202", "other", "errors");
  std::random_device rd;
  double reference_rate = 0;
  int failed = 0;
  for (size_t i = 0; i < o.targets.size(); ++i) {
    const Target& t = o.targets[i];
    Result r = load(o, t, body, rd() & 0xffffff);
    double rate = static_cast<double>(r.accepted) / r.seconds;
    fmt::print("{:<12} {:>10.0f} {:>10.0f} {:>9.2f} {:>9.2f} {:>9.2f} {:>8} {:>8} {:>8}", t.name,
               rate, rate * static_cast<double>(alerts), percentileMs(r.latencies_us, 0.50),
               percentileMs(r.latencies_us, 0.99),
               r.latencies_us.empty() ? 0.0 : r.latencies_us.back() / 1000.0, r.accepted, r.other,
               r.errors);
    if (i == 0) {
      reference_rate = rate;
      fmt::print("{}\n", o.targets.size() > 1 ? "  (reference)" : "");
    } else {
      fmt::print("  {:.0f}% of {}\n", reference_rate > 0 ? 100 * rate / reference_rate : 0.0,
                 o.targets[0].name);
    }
    if (r.accepted == 0 || r.other > 0 || r.errors > 0) ++failed;
  }
  std::fflush(stdout);
  // Anything but 202 is a failed run: the numbers would not mean what they say.
  return failed ? 1 : 0;
}
