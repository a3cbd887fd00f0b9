// The one explicit list of action providers (no static self-registration).
#pragma once

#include "daemon/core/action.h"

namespace firebreak::actions {

core::Status registerAllActions(core::ProviderRegistry& registry, const core::ActionEnv& env);

}  // namespace firebreak::actions
