#include "actions/builtin/builtin.h"

namespace firebreak::actions::builtin {

core::Status registerActions(core::ProviderRegistry&, const core::ActionEnv&) { return {}; }

}  // namespace firebreak::actions::builtin
