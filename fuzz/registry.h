// The registry of every real action, for the harnesses that compile playbooks and drills: built
// once per fuzzer process, with a data dir that does not exist (nothing is ever executed).
#pragma once

#include <cstdlib>

#include "actions/registry.h"
#include "daemon/core/clock.h"

namespace firebreak::fuzz {

inline const core::ProviderRegistry& registry() {
  static const auto* kRegistry = [] {
    static core::SystemClock clock;
    auto* r = new core::ProviderRegistry();
    core::ActionEnv env;
    env.clock = &clock;
    env.data_dir = "/nonexistent/firebreak-fuzz";
    if (!actions::registerAllActions(*r, env)) std::abort();
    return r;
  }();
  return *kRegistry;
}

}  // namespace firebreak::fuzz
