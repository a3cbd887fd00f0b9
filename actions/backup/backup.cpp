#include "actions/backup/backup.h"

namespace firebreak::actions::backup {

core::Status registerActions(core::ProviderRegistry&, const core::ActionEnv&) { return {}; }

}  // namespace firebreak::actions::backup
