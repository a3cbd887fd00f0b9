#include "daemon/app/runtime.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "actions/registry.h"
#include "daemon/store/sqlite/sqlite_store.h"

namespace firebreak::app {

Runtime::Runtime(RuntimeOptions options)
    : options_(std::move(options)), blocking_(static_cast<size_t>(options_.blocking_threads)) {}

Runtime::~Runtime() {
  if (engine_) engine_->shutdown();
  blocking_.join();
  // The store's writer runs what is queued before it stops, and a step's commit refers to
  // its engine: the engine goes after the store, not before.
  store_.reset();
  engine_.reset();
  if (lock_fd_ >= 0) close(lock_fd_);
}

core::Result<std::unique_ptr<Runtime>> Runtime::open(RuntimeOptions options) {
  using core::ErrorCode;
  std::unique_ptr<Runtime> rt(new Runtime(std::move(options)));
  const std::string& dir = rt->options_.data_dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return core::fail(ErrorCode::kIo, "cannot create data dir " + dir + ": " + ec.message());

  if (rt->options_.engine && rt->options_.lock) {
    // One process runs the runs of a data dir; a second would repeat their steps.
    std::string lock_path = dir + "/engine.lock";
    rt->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (rt->lock_fd_ < 0)
      return core::fail(ErrorCode::kIo, "cannot open " + lock_path + ": " + strerror(errno));
    if (flock(rt->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      char buf[32] = {};
      ssize_t n = pread(rt->lock_fd_, buf, sizeof(buf) - 1, 0);
      std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
      while (!holder.empty() && (holder.back() == '\n')) holder.pop_back();
      return core::fail(ErrorCode::kFailedPrecondition,
                        "another firebreak process (pid " + holder + ") is running runs in " +
                            dir + "; stop it first");
    }
    std::string pid = std::to_string(getpid()) + "\n";
    if (ftruncate(rt->lock_fd_, 0) != 0 ||
        pwrite(rt->lock_fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
      return core::fail(ErrorCode::kIo, "cannot write " + lock_path);
  }

  store::SqliteOptions store_options;
  store_options.batch_size_metric = rt->options_.commit_batch_metric;
  store_options.commit_seconds_metric = rt->options_.commit_seconds_metric;
  auto store = store::SqliteStore::open(dir + "/firebreak.db", rt->clock_, store_options);
  if (!store) return core::fail(store.error());
  rt->store_ = std::move(*store);

  rt->env_.blocking = &rt->blocking_;
  rt->env_.clock = &rt->clock_;
  rt->env_.secrets = &rt->secrets_;
  rt->env_.data_dir = dir;
  rt->env_.providers = rt->options_.providers;
  rt->protected_.replace(rt->options_.protected_patterns);
  rt->env_.protected_resources = &rt->protected_;
  rt->options_.engine_options.protected_resources = &rt->protected_;
  if (auto s = actions::registerAllActions(rt->registry_, rt->env_); !s) return core::fail(s.error());

  if (rt->options_.engine) {
    rt->engine_ = std::make_unique<playbook::Engine>(rt->io_.get_executor(), *rt->store_,
                                                     rt->registry_, rt->clock_,
                                                     rt->options_.engine_options);
  }
  return rt;
}

core::Result<std::unique_ptr<core::ProviderRegistry>> offlineRegistry(const core::ActionEnv& env) {
  auto registry = std::make_unique<core::ProviderRegistry>();
  if (auto s = actions::registerAllActions(*registry, env); !s) return core::fail(s.error());
  return registry;
}

}  // namespace firebreak::app
