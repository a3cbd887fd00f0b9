#include "actions/registry.h"

#include "actions/aws/provider.h"
#include "actions/backup/backup.h"
#include "actions/builtin/builtin.h"
#include "actions/chaos/chaos.h"

namespace firebreak::actions {

core::Status registerAllActions(core::ProviderRegistry& registry, const core::ActionEnv& env) {
  if (auto s = builtin::registerActions(registry, env); !s) return s;
  if (auto s = backup::registerActions(registry, env); !s) return s;
  if (auto s = aws::registerActions(registry, env); !s) return s;
  if (auto s = chaos::registerActions(registry, env); !s) return s;
  return {};
}

}  // namespace firebreak::actions
