// Backup actions: backup.create, backup.verify, backup.restore, for directories and SQLite.
#pragma once

#include "daemon/core/action.h"

namespace firebreak::actions::backup {

core::Status registerActions(core::ProviderRegistry& registry, const core::ActionEnv& env);

}  // namespace firebreak::actions::backup
