#include "actions/builtin/builtin.h"

#include "actions/builtin/providers.h"

namespace firebreak::actions::builtin {

core::Status registerActions(core::ProviderRegistry& registry, const core::ActionEnv& env) {
  // Providers copy the pointers they need out of `env`; what they point to outlives them.
  std::unique_ptr<core::ActionProvider> providers[] = {
      makeLogAction(),          makeWaitAction(),           makeExecAction(env),
      makeHttpRequestAction(env), makeHttpProbeAction(env), makeWebhookAction(env),
  };
  for (auto& p : providers) {
    if (auto s = registry.add(std::move(p)); !s) return s;  // names the duplicate action
  }
  return {};
}

}  // namespace firebreak::actions::builtin
