// Loads 1,000 playbooks and runs 10,000 trivial runs; then holds 10,000 runs waiting at an
// approval at once. Prints time per playbook and per run, peak memory, and ratios against
// references measured in the same run: yaml-cpp parsing the same text (the floor of loading),
// and one durable SQLite commit per run through the same store (the floor of a journaled run).
#include <sys/resource.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <chrono>
#include <cstdio>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include "actions/registry.h"
#include "daemon/app/secrets.h"
#include "daemon/playbook/engine.h"
#include "daemon/playbook/loader.h"
#include "daemon/store/sqlite/sqlite_store.h"

namespace fb = firebreak;
using Clock = std::chrono::steady_clock;

namespace {

double msSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

long peakRssMb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

// Bytes the heap has handed out and not had back. Resident size cannot show what the waiting
// runs cost: they reuse memory that the earlier phases freed to malloc but not to the system.
double heapInUseMb() {
  struct mallinfo2 m = mallinfo2();
  return static_cast<double>(m.uordblks + m.hblkhd) / (1024.0 * 1024.0);
}

std::string playbookText(int i, const std::string& steps) {
  return fmt::format(R"(apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: bench-{}, description: "benchmark playbook {}" }}
trigger:
  match: {{ alertname: "Bench{}", severity: "=~critical|high" }}
  when: alert.labels.env == "prod"
dedup: {{ key: "{{{{ params.target }}}}", window: 10m }}
params:
  target: {{ default: "{{{{ alert.labels.instance }}}}" }}
{})",
                     i, i, i, steps);
}

template <typename T>
T block(fb::asio::io_context& io, fb::core::awaitable<T> aw) {
  std::optional<T> out;
  fb::asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e, T v) {
    if (e) std::rethrow_exception(e);
    out.emplace(std::move(v));
  });
  io.restart();
  io.run();
  return std::move(*out);
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::off);
  int playbooks = 1000, runs = 10000, waiting = 10000;
  if (argc > 1) runs = waiting = std::atoi(argv[1]);
  std::string dir = "/tmp/firebreak-bench-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);

  fb::asio::thread_pool pool(2);
  fb::core::SystemClock clock;
  fb::app::ProcessSecretResolver secrets;
  fb::core::ActionEnv env{&pool, &clock, &secrets, dir};
  fb::core::ProviderRegistry registry;
  if (!fb::actions::registerAllActions(registry, env)) return 1;

  // 1. Loading.
  const std::string steps = R"(steps:
  - { id: note, action: log, with: { message: "target {{ params.target }}", level: debug } }
  - { id: check, action: http.probe, with: { url: "http://127.0.0.1:9/health" }, timeout: 5s,
      retry: { attempts: 3, backoff: 1s } }
  - { id: gate, approval: { role: responder, timeout: 10m } }
  - { id: fix, action: exec.run, with: { argv: [/bin/true], timeout: 5s }, idempotent: true }
)";
  std::vector<std::string> texts;
  for (int i = 0; i < playbooks; ++i) texts.push_back(playbookText(i, steps));
  auto t0 = Clock::now();
  size_t nodes = 0;
  for (const auto& t : texts) nodes += YAML::Load(t).size();
  double yaml_ms = msSince(t0);
  t0 = Clock::now();
  for (const auto& t : texts) {
    auto pb = fb::playbook::compilePlaybook(t, "bench.yaml", registry);
    if (!pb) {
      fmt::print("compile failed: {}\n", pb.error().front().str());
      return 1;
    }
  }
  double load_ms = msSince(t0);
  fmt::print("load    {} playbooks: {:.1f} ms ({:.3f} ms each); yaml-cpp alone {:.1f} ms; "
             "ratio {:.2f}x  [aim: < 300 ms]\n",
             playbooks, load_ms, load_ms / playbooks, yaml_ms, load_ms / yaml_ms);
  (void)nodes;

  // 2. Trivial runs, all started at once, each journaled durably.
  auto store = fb::store::SqliteStore::open(dir + "/firebreak.db", clock, {});
  if (!store) return 1;
  fb::asio::io_context io;
  auto trivial = *fb::playbook::compilePlaybook(
      playbookText(0, "steps:\n  - { id: note, action: log, with: { message: hi, level: debug } }\n"),
      "trivial.yaml", registry);
  {
    // Reference: one durable commit per run, the same number of them, as concurrently.
    t0 = Clock::now();
    int done = 0;
    for (int i = 0; i < runs; ++i) {
      fb::asio::co_spawn(io, [&, i]() -> fb::core::awaitable<void> {
        fb::store::TimelineEvent e;
        e.at_ms = i;
        e.kind = "bench";
        co_await (*store)->commit([&](fb::store::WriteTx& tx) { return tx.appendTimeline(e); });
        ++done;
      }, fb::asio::detached);
    }
    io.run();
    double ref_ms = msSince(t0);
    fb::playbook::Engine engine(io.get_executor(), **store, registry, clock, {});
    t0 = Clock::now();
    std::vector<std::string> ids;
    for (int i = 0; i < runs; ++i) {
      fb::playbook::RunRequest req;
      req.playbook = trivial;
      req.params = {{"target", "t" + std::to_string(i)}};
      fb::asio::co_spawn(io, [&, req]() -> fb::core::awaitable<void> {
        auto s = co_await engine.start(req);
        if (s && s->started) ids.push_back(s->run_id);
      }, fb::asio::detached);
    }
    io.restart();
    io.run();
    double run_ms = msSince(t0);
    fmt::print("run     {} trivial runs: {:.0f} ms ({:.3f} ms each, {:.0f} runs/s); one durable "
               "commit each alone {:.0f} ms; ratio {:.2f}x\n",
               ids.size(), run_ms, run_ms / runs, runs / (run_ms / 1000), ref_ms, run_ms / ref_ms);
    if (static_cast<int>(ids.size()) != runs) return 1;
  }

  // 3. Many runs waiting at once: coroutine frames, not threads.
  auto gated = *fb::playbook::compilePlaybook(
      playbookText(1, "steps:\n  - { id: gate, approval: { timeout: 1h } }\n"), "gated.yaml",
      registry);
  double heap_before = heapInUseMb();
  fb::playbook::EngineOptions options;
  options.poll_interval = std::chrono::seconds(30);  // waits are woken by decisions, not polls
  fb::playbook::Engine engine(io.get_executor(), **store, registry, clock, options);
  for (int i = 0; i < waiting; ++i) {
    fb::playbook::RunRequest req;
    req.playbook = gated;
    req.params = {{"target", "w" + std::to_string(i)}};
    fb::asio::co_spawn(io, [&, req]() -> fb::core::awaitable<void> {
      co_await engine.start(req);
    }, fb::asio::detached);
  }
  io.restart();
  t0 = Clock::now();
  while (engine.activeRuns() < static_cast<size_t>(waiting) || msSince(t0) < 200) {
    io.run_for(std::chrono::milliseconds(50));
    if (msSince(t0) > 120'000) break;
  }
  double heap_waiting = heapInUseMb();
  int threads = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++threads;
  fmt::print("wait    {} runs waiting at an approval: {:.1f} MB more heap in use ({:.1f} KB each), "
             "{} threads in the process  [aim: well under 200 MB, no thread each]\n",
             engine.activeRuns(), heap_waiting - heap_before,
             (heap_waiting - heap_before) * 1024.0 / std::max<size_t>(1, engine.activeRuns()),
             threads);
  fmt::print("peak    resident {} MB\n", peakRssMb());
  engine.shutdown();
  io.restart();
  io.run_for(std::chrono::milliseconds(500));
  store->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
