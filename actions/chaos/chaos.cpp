#include "actions/chaos/chaos.h"

#include "actions/chaos/common.h"

namespace firebreak::actions::chaos {

core::Status registerActions(core::ProviderRegistry& registry, const core::ActionEnv& env) {
  for (auto* make : {&makeKillProcess, &makeFillDisk, &makeRemoveFill, &makeCorruptFile,
                     &makeRestoreFile, &makeBlockPort, &makeUnblockPort}) {
    if (auto s = registry.add(make(env)); !s) return s;
  }
  return {};
}

}  // namespace firebreak::actions::chaos
