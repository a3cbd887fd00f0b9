#include "actions/backup/backup.h"

#include "actions/backup/common.h"

namespace firebreak::actions::backup {

core::Status registerActions(core::ProviderRegistry& registry, const core::ActionEnv& env) {
  for (auto* make : {&makeCreateProvider, &makeVerifyProvider, &makeRestoreProvider,
                     &makeUndoRestoreProvider}) {
    if (auto s = registry.add(make(env)); !s) return s;
  }
  return {};
}

}  // namespace firebreak::actions::backup
