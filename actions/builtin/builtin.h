// Built-in actions: log, wait, exec.run, http.request, http.probe, notify.webhook.
#pragma once

#include "daemon/core/action.h"

namespace firebreak::actions::builtin {

core::Status registerActions(core::ProviderRegistry& registry, const core::ActionEnv& env);

}  // namespace firebreak::actions::builtin
