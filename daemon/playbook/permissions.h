// The least-privilege IAM policy a set of playbooks needs: exactly the permissions their
// steps' actions declare (undos included, since the engine runs them on its own), each on the
// resource the step fixes, or on every resource of that kind where a template decides it at
// run time. What `firebreak permissions` prints.
#pragma once

#include <vector>

#include "daemon/core/json.h"
#include "daemon/playbook/model.h"

namespace firebreak::playbook {

// {"Version": "2012-10-17", "Statement": [...]}: one statement per set of actions that need
// the same resources, actions and resources sorted, so that the output is stable and no
// permission appears twice (removing any statement takes away something a step uses).
// `registry` finds the actions' own undos (the model holds only explicit ones).
core::Json permissionsPolicy(const std::vector<PlaybookPtr>& playbooks,
                             const core::ProviderRegistry& registry);

// A permission's resource pattern with its "{param}" filled from `with`: a literal ARN stands
// for itself, a literal name fills its place, a template or an absent value gives "*".
std::string permissionResource(const std::string& pattern, const core::Json& with);

}  // namespace firebreak::playbook
