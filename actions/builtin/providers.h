// Factories of the built-in providers; registerActions() in builtin.cpp is the one list.
#pragma once

#include <memory>

#include "daemon/core/action.h"

namespace firebreak::actions::builtin {

std::unique_ptr<core::ActionProvider> makeLogAction();
std::unique_ptr<core::ActionProvider> makeWaitAction();
std::unique_ptr<core::ActionProvider> makeExecAction(const core::ActionEnv& env);
std::unique_ptr<core::ActionProvider> makeHttpRequestAction(const core::ActionEnv& env);
std::unique_ptr<core::ActionProvider> makeHttpProbeAction(const core::ActionEnv& env);
std::unique_ptr<core::ActionProvider> makeWebhookAction(const core::ActionEnv& env);

}  // namespace firebreak::actions::builtin
