// Chaos actions, the fault injections of drills: chaos.kill_process, chaos.fill_disk,
// chaos.corrupt_file, chaos.block_port, and the undo actions of the last three.
#pragma once

#include "daemon/core/action.h"

namespace firebreak::actions::chaos {

core::Status registerActions(core::ProviderRegistry& registry, const core::ActionEnv& env);

}  // namespace firebreak::actions::chaos
