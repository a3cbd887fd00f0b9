// The composition root for running the engine in a process: store, providers, engine, the
// threads they need, and the lock that makes this process the only one running runs on a
// data dir. The daemon and `firebreak ... --local` both build one.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "daemon/app/secrets.h"
#include "daemon/core/action.h"
#include "daemon/core/asio.h"
#include "daemon/core/clock.h"
#include "daemon/playbook/engine.h"
#include "daemon/store/store.h"

namespace firebreak::app {

struct RuntimeOptions {
  std::string data_dir = "var";
  bool engine = true;  // build an engine
  // Take the data dir's lock: needed to run or resume runs, not to decide approvals or pause.
  bool lock = true;
  playbook::EngineOptions engine_options;  // its protected_resources is the runtime's own
  std::vector<std::string> protected_patterns;  // config limits.protected
  core::Json providers = core::Json::object();   // config providers, by provider name
  int blocking_threads = 4;
  // The store's commit metrics (see SqliteOptions); null: not observed.
  core::Histogram* commit_batch_metric = nullptr;
  core::Histogram* commit_seconds_metric = nullptr;
};

class Runtime {
 public:
  static core::Result<std::unique_ptr<Runtime>> open(RuntimeOptions options);
  ~Runtime();

  asio::io_context& io() { return io_; }
  store::Store& store() { return *store_; }
  const core::ProviderRegistry& registry() const { return registry_; }
  playbook::Engine& engine() { return *engine_; }
  const core::Clock& clock() const { return clock_; }
  const core::SecretResolver& secrets() const { return secrets_; }
  // For blocking work (certificate fetches, actions' calls), never the io thread.
  asio::thread_pool& blocking() { return blocking_; }
  // limits.protected, as the engine and every action see it; replace() on reload.
  core::ProtectedResources& protectedResources() { return protected_; }
  const std::string& dataDir() const { return options_.data_dir; }

  // Runs `fn` as a coroutine on the io_context until it completes, and returns its value.
  template <typename T>
  T block(core::awaitable<T> aw) {
    std::optional<T> out;
    std::exception_ptr error;
    asio::co_spawn(io_, std::move(aw), [&](std::exception_ptr e, T value) {
      error = e;
      if (!e) out.emplace(std::move(value));
      io_.stop();
    });
    io_.restart();
    io_.run();
    if (error) std::rethrow_exception(error);
    return std::move(*out);
  }

 private:
  explicit Runtime(RuntimeOptions options);

  RuntimeOptions options_;
  asio::io_context io_;
  asio::thread_pool blocking_;
  core::SystemClock clock_;
  ProcessSecretResolver secrets_;
  core::ProtectedResources protected_;
  core::ActionEnv env_;
  core::ProviderRegistry registry_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<playbook::Engine> engine_;
  int lock_fd_ = -1;
};

// Registry of every provider, for offline uses (validate, actions) that need no store.
core::Result<std::unique_ptr<core::ProviderRegistry>> offlineRegistry(const core::ActionEnv& env);

}  // namespace firebreak::app
