// What every verb of the `firebreak` command shares: global options, exit codes, printing,
// finding a playbook by name or path, and the local runtime.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "daemon/app/runtime.h"
#include "daemon/core/json.h"
#include "daemon/playbook/model.h"
#include "daemon/store/records.h"
#include "daemon/store/records_json.h"

namespace firebreak::cli {

// FORMATS.md: 0 done, 1 failed, 2 usage error.
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

struct Globals {
  std::string data_dir = "var";
  std::vector<std::string> playbook_dirs{"playbooks"};
  bool json = false;
  // The daemon: --server, else FIREBREAK_SERVER; token from --token-file, else FIREBREAK_TOKEN.
  std::string server;
  std::string token_file;
  std::string ca_file;
  // --config: a firebreak.yaml whose data_dir, playbooks, providers and limits.protected the
  // --local verbs use (explicit --data-dir and --playbooks still win).
  std::string config_file;
  core::Json providers = core::Json::object();
  std::vector<std::string> protected_patterns;
  int exit_code = kExitOk;
};

// Reads --config into `g`; throws CLI::ValidationError with the config's errors.
void applyConfig(Globals& g, const CLI::App& app);

// Verbs that need a daemon say so until the remote API exists.
int needsLocal(const std::string& verb);

void printError(const std::string& message);
std::string timeOfDay(int64_t ms);  // 14:05:20.123 (UTC)
void printEvent(const store::TimelineEvent& event);

// A playbook given as a path to a file, or as the name of one in the playbook dirs.
core::Result<playbook::PlaybookPtr> findPlaybook(const std::string& name_or_path,
                                                 const std::vector<std::string>& dirs,
                                                 const core::ProviderRegistry& registry);

// For verbs that run no action (validate, actions, permissions): calls `fn` with the registry
// of every action, or prints why it cannot be built and sets the exit code.
void withOfflineRegistry(Globals& g,
                         const std::function<void(const core::ProviderRegistry&)>& fn);

// Opens the local runtime, printing the error on failure.
// `lock`: this process will run steps (run, resume); deciding and pausing need no lock.
std::unique_ptr<app::Runtime> openLocal(const Globals& g, bool engine,
                                        playbook::EngineOptions options = {}, bool lock = true);

int exitCodeFor(store::RunStatus status);

void addValidate(CLI::App& app, Globals& g);
void addRun(CLI::App& app, Globals& g);
void addRuns(CLI::App& app, Globals& g);
void addActions(CLI::App& app, Globals& g);
void addApprovals(CLI::App& app, Globals& g);
void addPause(CLI::App& app, Globals& g);
void addMatch(CLI::App& app, Globals& g);
void addIncidents(CLI::App& app, Globals& g);
void addSilence(CLI::App& app, Globals& g);
void addToken(CLI::App& app, Globals& g);
void addPermissions(CLI::App& app, Globals& g);
void addDrill(CLI::App& app, Globals& g);
void addReport(CLI::App& app, Globals& g);

}  // namespace firebreak::cli
