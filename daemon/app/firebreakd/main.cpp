// firebreakd: the daemon. Webhooks in, playbooks run, durably.
//
// Start-up is an ordered list of steps, each of which can fail with a message that says
// where: config, logging, store and engine (Runtime), playbooks, webhooks, resuming what a
// previous process left, then the listener. SIGTERM and SIGINT stop accepting, let in-flight
// requests commit, leave running steps to reach a safe point, and exit 0; SIGHUP reloads the
// config and the playbooks together, keeping the set in use when the new one has any error
// (daemon/app/live_set.h says which keys a reload changes and which need a restart).
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "daemon/app/api.h"
#include "daemon/app/live_set.h"
#include "daemon/app/metrics.h"
#include "daemon/app/runtime.h"
#include "daemon/app/systemd_notify.h"
#include "daemon/app/webhooks.h"
#include "daemon/config/config.h"
#include "daemon/http/server.h"
#include "daemon/drill/runner.h"
#include "daemon/drill/scheduler.h"
#include "daemon/intake/intake.h"
#include "daemon/playbook/loader.h"

namespace fb = firebreak;
using fb::core::Json;

namespace {

// %v as a JSON string body: the message may hold quotes, backslashes and control characters.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string text(msg.payload.data(), msg.payload.size());
    std::string escaped = Json(text).dump(-1, ' ', false, Json::error_handler_t::replace);
    dest.append(escaped.data() + 1, escaped.data() + escaped.size() - 1);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

spdlog::level::level_enum levelOf(fb::config::LogLevel level) {
  using L = fb::config::LogLevel;
  switch (level) {
    case L::kTrace: return spdlog::level::trace;
    case L::kDebug: return spdlog::level::debug;
    case L::kInfo: return spdlog::level::info;
    case L::kWarn: return spdlog::level::warn;
    case L::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

// The `env` root of templates: only the variables the config allows.
Json envOf(const fb::config::Config& config) {
  Json env = Json::object();
  for (const auto& name : config.allowed_env)
    if (const char* v = std::getenv(name.c_str())) env[name] = v;
  return env;
}

void setUpLogging(const fb::config::Log& log) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("firebreakd", sink);
  if (log.format == fb::config::LogFormat::kJson) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n","msg":"%*"})");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(levelOf(log.level));
  spdlog::set_default_logger(logger);
}

void printDiagnostics(const fb::core::Diagnostics& errors) {
  for (const auto& e : errors) std::cerr << e.str() << "\n";
}

// The loaded set, swapped whole on reload.
struct Playbooks {
  std::shared_ptr<const std::vector<fb::playbook::PlaybookPtr>> current =
      std::make_shared<std::vector<fb::playbook::PlaybookPtr>>();
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"firebreakd: receives alerts from monitoring tools and runs playbooks"};
  std::optional<std::string> config_path;
  bool check = false;
  app.add_option("--config", config_path,
                 "Config file (default: ./firebreak.yaml when it exists, else built-in defaults)");
  app.add_flag("--check", check, "Load and check the config and playbooks, then exit");
  CLI11_PARSE(app, argc, argv);

  auto config = fb::config::loadConfig(config_path, "firebreak.yaml");
  if (!config) {
    printDiagnostics(config.error());
    return 2;
  }
  setUpLogging(config->log);
  auto log = spdlog::default_logger();
  // The TLS files are read before anything starts: a key that cannot be read stops the daemon.
  std::shared_ptr<fb::http::TlsContext> tls;
  if (config->tls) {
    auto made = fb::http::makeServerTlsContext(
        {config->tls->cert, config->tls->key, config->tls->client_ca});
    if (!made) {
      log->error("{}", made.error().str());
      return 1;
    }
    tls = std::move(*made);
  }

  // Before the runtime: its threads (the store's writer) observe into it until they stop.
  fb::app::DaemonMetrics metrics;
  const std::vector<std::string> no_labels;
  fb::app::RuntimeOptions options;
  options.data_dir = config->data_dir;
  options.engine_options.dry_run = config->dry_run;
  options.engine_options.destructive_actions_per_minute =
      static_cast<int>(config->limits.destructive_actions_per_minute);
  options.engine_options.env = envOf(*config);
  options.protected_patterns = config->limits.protected_patterns;
  options.providers = fb::core::Json(config->providers);
  options.engine_options.runs_metric = &metrics.runs;
  options.engine_options.step_seconds_metric = &metrics.step_seconds;
  options.commit_batch_metric = &metrics.commit_batch.with(no_labels);
  options.commit_seconds_metric = &metrics.commit_seconds.with(no_labels);
  auto rt = fb::app::Runtime::open(options);
  if (!rt) {
    log->error("{}", rt.error().str());
    return 1;
  }
  auto& runtime = **rt;
  fb::app::SystemdNotifier systemd;  // after the runtime: its watchdog runs on runtime.io()
  metrics.watchStore(runtime.store());

  // The set in use (config, playbooks, webhooks), swapped whole on reload; `playbooks`
  // follows it for the readers that take the playbooks alone. Both change only on the I/O
  // thread, which is where they are read.
  fb::app::LiveSets live;
  Playbooks playbooks;
  fb::intake::Intake intake(runtime.store(), runtime.engine(), runtime.clock(),
                            [&] { return *playbooks.current; }, log);
  auto useSet = [&](fb::app::LiveSetPtr set) {
    set->webhooks->setMetrics(&metrics);
    if (auto old = live.current()) set->webhooks->setReady(old->webhooks->ready());
    playbooks.current = set->playbooks;
    metrics.playbooks_loaded.with(no_labels).set(static_cast<double>(set->playbooks->size()));
    metrics.sources_configured.with(no_labels).set(
        static_cast<double>(set->config->sources.size()));
    live.replace(std::move(set));
  };
  {
    auto built = fb::app::buildSet(*config, runtime.registry(), runtime.secrets(), intake,
                                   runtime.clock(), runtime.blocking(), /*partial=*/true);
    for (const auto& w : built.warnings) log->warn("{}", w);
    for (const auto& e : built.errors) log->error("{}", e.str());
    if (check) return built.set && built.errors.empty() ? 0 : 1;
    if (!built.set) return 1;
    log->info("{} playbook(s) loaded from {}", built.set->playbooks->size(),
              fmt::join(config->playbooks, ", "));
    useSet(built.set);
  }
  auto api = fb::app::Api::create(*config, runtime.store(), runtime.engine(), intake,
                                  runtime.clock(), [&] { return *playbooks.current; }, log);
  if (!api) {
    log->error("{}", api.error().str());
    return 1;
  }
  // Drills: the runner, and the scheduler that starts them on their schedules.
  auto drills = [&] { return *live.current()->drills; };
  fb::drill::DrillRunnerOptions drill_options;
  drill_options.on_finished = [&](const fb::store::DrillRunRecord& run) {
    (*api)->reports().schedule(run.id);
  };
  fb::drill::DrillRunner drill_runner(runtime.io().get_executor(), runtime.store(),
                                      runtime.engine(), intake, runtime.registry(),
                                      runtime.clock(), log, drill_options);
  fb::drill::SchedulerHooks hooks;
  hooks.start = [&](const fb::drill::DrillPtr& d, const std::string& trigger, int64_t at) {
    fb::drill::DrillStart how;
    how.trigger = trigger;
    how.scheduled_ms = at;
    auto start = [&drill_runner, d, how]() -> fb::core::awaitable<void> {
      auto started = co_await drill_runner.start(d, how);
      if (!started) spdlog::error("drill '{}': {}", d->name, started.error().str());
    };
    fb::asio::co_spawn(runtime.io(), std::move(start), fb::asio::detached);
    return true;
  };
  hooks.running = [&](const std::string& name) { return drill_runner.running(name); };
  hooks.last_scheduled = [&](const std::string& name) -> std::optional<int64_t> {
    auto runs = runtime.store().drillRuns(name, 50);
    if (!runs) return std::nullopt;
    for (const auto& r : *runs)
      if (r.trigger == "schedule" || r.trigger == "catch-up") return r.scheduled_ms;
    return std::nullopt;
  };
  fb::drill::DrillScheduler scheduler(hooks, config->drill_catch_up.count(), log);
  (*api)->setDrills(drills, &drill_runner,
                    [&](const std::string& name) { return scheduler.nextRun(name); });
  log->info("{} drill(s) loaded from {}", live.current()->drills->size(),
            fmt::join(config->drills, ", "));

  fb::http::Limits limits;
  limits.max_header_bytes = config->http.max_header_bytes;
  limits.max_body_bytes = config->http.max_body_bytes;
  for (const auto& [_, s] : config->sources)
    limits.max_body_bytes = std::max<size_t>(limits.max_body_bytes, s.max_body);
  limits.header_timeout = config->http.header_timeout;
  limits.body_timeout = config->http.body_timeout;
  limits.idle_timeout = config->http.idle_timeout;
  limits.max_connections_per_client = static_cast<int>(config->http.max_connections_per_client);
  limits.max_in_flight = static_cast<int>(config->http.max_in_flight);
  auto* management = api->get();
  auto serve = fb::app::serveLive(live, metrics);
  auto server = fb::http::Server::bind(
      runtime.io().get_executor(), config->listen.host, config->listen.port, limits,
      fb::app::countRequests(
          [management, serve](fb::http::Request& req, const fb::http::Peer& peer) {
            if (req.target().starts_with("/api/")) return management->handle(req, peer);
            return serve(req, peer);
          },
          metrics),
      tls);
  if (!server) {
    log->error("{}", server.error().str());
    return 1;
  }

  // What a previous process left: runs to resume, starts recorded but not made.
  fb::asio::co_spawn(
      runtime.io(),
      [&]() -> fb::core::awaitable<void> {
        auto resumed = co_await runtime.engine().resumeAll();
        if (!resumed) log->error("resuming runs: {}", resumed.error().str());
        co_await intake.startPending();
        // After the engine's: a drill's rollback may wait for a run resumed above.
        co_await drill_runner.resumeAll();
        scheduler.runOn(runtime.io().get_executor(), runtime.clock(), drills);
      },
      fb::asio::detached);

  (*server)->start();
  live.current()->webhooks->setReady(true);
  log->info("ready: webhooks on {}:{}, data dir {}{}", config->listen.host, (*server)->port(),
            config->data_dir, config->dry_run ? ", dry-run" : "");
  systemd.startWatchdog(runtime.io().get_executor());
  const std::string serving = fmt::format("serving on {}:{}", config->listen.host,
                                          (*server)->port());
  systemd.ready(serving);

  // SIGHUP: everything that can fail is done to the side; the set in use changes only when
  // all of it worked.
  bool stopping = false;
  auto reload = [&] {
    if (stopping) return;
    log->info("SIGHUP: reloading {} and the playbooks",
              config_path ? *config_path : std::string("the config"));
    auto refuse = [&](const fb::core::Diagnostics& errors) {
      for (const auto& e : errors) log->error("reload: {}", e.str());
      log->error("reload refused: the config and playbooks in use stay in use");
      metrics.reloads.with({"failed"}).inc();
      metrics.last_reload_ok.with(no_labels).set(0);
    };
    auto next = fb::config::loadConfig(config_path, "firebreak.yaml");
    if (!next) return refuse(next.error());
    auto built = fb::app::buildSet(*next, runtime.registry(), runtime.secrets(), intake,
                                   runtime.clock(), runtime.blocking(), /*partial=*/false);
    if (!built.set) return refuse(built.errors);
    for (const auto& w : built.warnings) log->warn("{}", w);
    for (const auto& key : fb::app::restartOnlyChanges(*config, *next, limits.max_body_bytes))
      log->warn("reload: {} changed; it takes effect only after a restart", key);
    runtime.engine().applyReloadable(
        next->dry_run, static_cast<int>(next->limits.destructive_actions_per_minute),
        envOf(*next));
    runtime.protectedResources().replace(next->limits.protected_patterns);
    log->set_level(levelOf(next->log.level));
    useSet(built.set);
    metrics.reloads.with({"ok"}).inc();
    metrics.last_reload_ok.with(no_labels).set(1);
    log->info("reloaded: {} playbook(s), {} source(s){}", built.set->playbooks->size(),
              built.set->config->sources.size(), next->dry_run ? ", dry-run" : "");
  };

  fb::asio::signal_set signals(runtime.io(), SIGTERM, SIGINT, SIGHUP);
  std::function<void()> wait_signal;
  wait_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        // systemd's ExecReload waits for READY=1 again, whether the new set was taken or not.
        systemd.reloading("reloading the config and playbooks");
        reload();
        systemd.ready(serving);
        wait_signal();
        return;
      }
      log->info("{}: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      systemd.stopping("stopping: finishing requests and steps in flight");
      stopping = true;
      live.current()->webhooks->setShuttingDown();
      (*server)->stopAccepting();
      fb::asio::co_spawn(
          runtime.io(),
          [&]() -> fb::core::awaitable<void> {
            co_await (*server)->drain();
            scheduler.stop();
            drill_runner.shutdown();
            runtime.engine().shutdown();
            fb::asio::steady_timer grace(runtime.io(), std::chrono::milliseconds(200));
            co_await grace.async_wait(fb::core::use_awaitable);
            runtime.io().stop();
          },
          fb::asio::detached);
    });
  };
  wait_signal();
  runtime.io().run();
  log->info("stopped");
  return 0;
}
