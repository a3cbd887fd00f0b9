#include "cli/common.h"

#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "daemon/config/config.h"
#include "daemon/playbook/loader.h"

namespace firebreak::cli {

int needsLocal(const std::string& verb) {
  printError("'firebreak " + verb +
             "' is not in the management API yet: add --local to use the store under "
             "--data-dir in this process");
  return kExitUsage;
}

void printError(const std::string& message) { std::cerr << "firebreak: " << message << "\n"; }

std::string timeOfDay(int64_t ms) {
  std::string t = core::formatTime(ms);  // 2026-11-23T14:05:20.123Z
  return t.substr(11, 12);
}

void printEvent(const store::TimelineEvent& event) {
  std::cout << timeOfDay(event.at_ms) << "  " << fmt::format("{:<20}", event.kind) << " "
            << event.message << std::endl;
}

core::Result<playbook::PlaybookPtr> findPlaybook(const std::string& name_or_path,
                                                 const std::vector<std::string>& dirs,
                                                 const core::ProviderRegistry& registry) {
  auto asErrors = [](const core::Diagnostics& errors) {
    std::string all;
    for (const auto& e : errors) all += (all.empty() ? "" : "\n") + e.str();
    return core::fail(core::ErrorCode::kInvalidArgument, all);
  };
  if (std::filesystem::is_regular_file(name_or_path)) {
    auto pb = playbook::loadPlaybookFile(name_or_path, registry);
    if (!pb) return asErrors(pb.error());
    return *pb;
  }
  auto report = playbook::loadPlaybooks(dirs, registry);
  std::vector<std::string> names;
  for (const auto& pb : report.playbooks) {
    if (pb->name == name_or_path) return pb;
    names.push_back(pb->name);
  }
  std::string msg = "no playbook named '" + name_or_path + "' in";
  for (const auto& d : dirs) msg += " " + d;
  if (auto s = core::suggest(name_or_path, names); !s.empty()) msg += " (did you mean '" + s + "'?)";
  for (const auto& e : report.errors)
    if (e.str().find(name_or_path) != std::string::npos) msg += "\n" + e.str();
  return core::fail(core::ErrorCode::kNotFound, msg);
}

std::unique_ptr<app::Runtime> openLocal(const Globals& g, bool engine,
                                        playbook::EngineOptions options, bool lock) {
  app::RuntimeOptions ro;
  ro.lock = lock;
  ro.data_dir = g.data_dir;
  ro.providers = g.providers;
  ro.protected_patterns = g.protected_patterns;
  ro.engine = engine;
  ro.engine_options = std::move(options);
  auto rt = app::Runtime::open(std::move(ro));
  if (!rt) {
    printError(rt.error().str());
    return nullptr;
  }
  return std::move(*rt);
}

void applyConfig(Globals& g, const CLI::App& app) {
  if (g.config_file.empty()) return;
  auto cfg = config::loadConfigFile(g.config_file);
  if (!cfg) {
    std::string text;
    for (const auto& d : cfg.error()) text += (text.empty() ? "" : "\n") + d.str();
    throw CLI::ValidationError("--config", text);
  }
  if (app.count("--data-dir") == 0) g.data_dir = cfg->data_dir;
  if (app.count("--playbooks") == 0) g.playbook_dirs = cfg->playbooks;
  g.providers = core::Json(cfg->providers);
  g.protected_patterns = cfg->limits.protected_patterns;
}

int exitCodeFor(store::RunStatus status) {
  return status == store::RunStatus::kSucceeded ? kExitOk : kExitFailed;
}

void withOfflineRegistry(Globals& g,
                         const std::function<void(const core::ProviderRegistry&)>& fn) {
  asio::thread_pool pool(1);
  core::SystemClock clock;
  app::ProcessSecretResolver secrets;
  core::ActionEnv env{&pool, &clock, &secrets, g.data_dir};
  auto registry = app::offlineRegistry(env);
  if (!registry) {
    printError(registry.error().str());
    g.exit_code = kExitFailed;
  } else {
    fn(**registry);
  }
  pool.join();
}

}  // namespace firebreak::cli
