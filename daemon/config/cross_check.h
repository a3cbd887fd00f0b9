// Checks across the config and the playbooks it loads: things each is fine with alone but
// that cannot work together. Warnings, not errors: a playbook shared by several daemons may
// name sources that only some of them have.
#pragma once

#include <vector>

#include "daemon/config/config.h"
#include "daemon/core/result.h"
#include "daemon/playbook/model.h"

namespace firebreak::config {

// One warning per name in a playbook's `trigger.sources` that is not a source of `config`
// (such a playbook can never be started by that source). Each points at the name in the
// playbook file; print them with warningText().
core::Diagnostics checkTriggerSources(const Config& config,
                                      const std::vector<playbook::PlaybookPtr>& playbooks);

// "file:line:col: warning: message": Error::str() with the word a warning deserves.
std::string warningText(const core::Error& warning);

}  // namespace firebreak::config
