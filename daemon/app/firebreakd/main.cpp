// firebreakd: the daemon. Webhooks in, playbooks run, durably.
//
// Start-up is an ordered list of steps, each of which can fail with a message that says
// where: config, logging, store and engine (Runtime), playbooks, webhooks, resuming what a
// previous process left, then the listener. SIGTERM and SIGINT stop accepting, let in-flight
// requests commit, leave running steps to reach a safe point, and exit 0; SIGHUP reloads the
// playbooks, keeping the loaded set when the new one has errors.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "daemon/app/runtime.h"
#include "daemon/app/webhooks.h"
#include "daemon/config/config.h"
#include "daemon/http/server.h"
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
  using L = fb::config::LogLevel;
  switch (log.level) {
    case L::kTrace: logger->set_level(spdlog::level::trace); break;
    case L::kDebug: logger->set_level(spdlog::level::debug); break;
    case L::kInfo: logger->set_level(spdlog::level::info); break;
    case L::kWarn: logger->set_level(spdlog::level::warn); break;
    case L::kError: logger->set_level(spdlog::level::err); break;
  }
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
  for (const auto& w : config->warnings()) log->warn("{}", w);

  fb::app::RuntimeOptions options;
  options.data_dir = config->data_dir;
  options.engine_options.dry_run = config->dry_run;
  options.engine_options.destructive_actions_per_minute =
      static_cast<int>(config->limits.destructive_actions_per_minute);
  for (const auto& name : config->allowed_env)
    if (const char* v = std::getenv(name.c_str())) options.engine_options.env[name] = v;
  auto rt = fb::app::Runtime::open(options);
  if (!rt) {
    log->error("{}", rt.error().str());
    return 1;
  }
  auto& runtime = **rt;

  Playbooks playbooks;
  auto loadSet = [&]() -> bool {
    auto report = fb::playbook::loadPlaybooks(config->playbooks, runtime.registry());
    for (const auto& e : report.errors) log->error("{}", e.str());
    if (!report.errors.empty() && playbooks.current->size() > 0) return false;
    playbooks.current = std::make_shared<std::vector<fb::playbook::PlaybookPtr>>(report.playbooks);
    log->info("{} playbook(s) loaded from {}", report.playbooks.size(),
              fmt::join(config->playbooks, ", "));
    return report.errors.empty();
  };
  bool clean = loadSet();
  if (check) return clean ? 0 : 1;

  fb::intake::Intake intake(runtime.store(), runtime.engine(), runtime.clock(),
                            [&] { return *playbooks.current; }, log);
  auto webhooks = fb::app::Webhooks::create(*config, runtime.secrets(), intake, runtime.clock());
  if (!webhooks) {
    log->error("{}", webhooks.error().str());
    return 1;
  }
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
  auto* hooks = webhooks->get();
  auto server = fb::http::Server::bind(
      runtime.io().get_executor(), config->listen.host, config->listen.port, limits,
      [hooks](fb::http::Request& req, const fb::http::Peer& peer) {
        return hooks->handle(req, peer);
      });
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
      },
      fb::asio::detached);

  (*server)->start();
  hooks->setReady(true);
  log->info("ready: webhooks on {}:{}, data dir {}{}", config->listen.host, (*server)->port(),
            config->data_dir, config->dry_run ? ", dry-run" : "");

  fb::asio::signal_set signals(runtime.io(), SIGTERM, SIGINT, SIGHUP);
  std::function<void()> wait_signal;
  wait_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        log->info("SIGHUP: reloading playbooks");
        if (!loadSet()) log->error("reload refused: the loaded playbooks stay in use");
        wait_signal();
        return;
      }
      log->info("{}: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      hooks->setShuttingDown();
      (*server)->stopAccepting();
      fb::asio::co_spawn(
          runtime.io(),
          [&]() -> fb::core::awaitable<void> {
            co_await (*server)->drain();
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
