// The set a daemon serves with: config, playbooks and the webhooks built from them. Start-up
// builds one; SIGHUP builds a whole new one to the side (config read and checked, playbooks
// compiled, secrets resolved) and swaps it in only when all of that worked. A request holds
// the set it started with until it is answered, so requests in flight finish on the old set.
//
// What a reload changes: sources (type, auth and its secrets, rate limits, mapping, max_body
// up to the listener's body limit fixed at start), playbooks and drills (the paths and the
// files), dry_run, limits.destructive_actions_per_minute, allowed_env and log.level. What needs a
// restart (a reload keeps the running value and logs a warning): listen, tls, data_dir, http,
// providers, api (the management API reads its tokens at start) and log.format.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/app/metrics.h"
#include "daemon/app/webhooks.h"
#include "daemon/config/config.h"
#include "daemon/core/action.h"
#include "daemon/drill/model.h"
#include "daemon/playbook/model.h"

namespace firebreak::app {

struct LiveSet {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const std::vector<playbook::PlaybookPtr>> playbooks;
  std::shared_ptr<const std::vector<drill::DrillPtr>> drills;
  std::shared_ptr<Webhooks> webhooks;
};
using LiveSetPtr = std::shared_ptr<const LiveSet>;

// The set in use; read from any thread.
class LiveSets {
 public:
  LiveSetPtr current() const {
    std::lock_guard lock(mu_);
    return current_;
  }
  void replace(LiveSetPtr next) {
    std::lock_guard lock(mu_);
    current_ = std::move(next);
  }

 private:
  mutable std::mutex mu_;
  LiveSetPtr current_;
};

struct SetBuild {
  LiveSetPtr set;             // null when `errors` made it unusable
  core::Diagnostics errors;   // config, playbook and secret errors, with where
  std::vector<std::string> warnings;  // config warnings and unknown trigger sources
};

// Compiles the config's playbooks and builds its webhooks. `partial`: a playbook file with
// errors is left out and the rest used (at start, so that one bad file does not keep the
// daemon down); otherwise any error refuses the whole set (reload keeps the old one).
SetBuild buildSet(config::Config config, const core::ProviderRegistry& registry,
                  const core::SecretResolver& secrets, intake::Intake& intake,
                  const core::Clock& clock, asio::thread_pool& blocking, bool partial);

// GET /metrics from `metrics`, everything else to the webhooks of the set in use when the
// request arrived (held until it is answered).
http::Handler serveLive(const LiveSets& live, const DaemonMetrics& metrics);

// Keys that differ between `running` and `next` but take effect only after a restart, each
// as "listen (127.0.0.1:9095 -> 0.0.0.0:9095)"; secrets are never shown.
std::vector<std::string> restartOnlyChanges(const config::Config& running,
                                            const config::Config& next,
                                            uint64_t listener_body_limit);

}  // namespace firebreak::app
