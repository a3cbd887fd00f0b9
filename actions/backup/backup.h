// Backup actions: backup.create, backup.verify, backup.restore and backup.undo_restore, for
// directories (tar + zstd) and SQLite databases (online backup API + zstd). See README.md.
#pragma once

#include "daemon/core/action.h"

namespace firebreak::actions::backup {

// Registers the four providers. Blocking work runs on env.blocking (inline when it is null);
// time comes from env.clock (the system clock when it is null).
core::Status registerActions(core::ProviderRegistry& registry, const core::ActionEnv& env);

}  // namespace firebreak::actions::backup
