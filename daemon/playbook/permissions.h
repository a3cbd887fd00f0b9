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
//
// A step whose `with` has `assume_role` acts in another account: with `role` empty, the
// policy is the daemon's own (steps without assume_role, and sts:AssumeRole on the roles the
// others assume: their ARN, or every role where a template decides); with `role` an ARN, the
// policy that role needs (the steps that assume exactly it).
core::Json permissionsPolicy(const std::vector<PlaybookPtr>& playbooks,
                             const core::ProviderRegistry& registry,
                             const std::string& role = {});

// A permission's resource pattern with its "{param}" filled from `with`: a literal ARN stands
// for itself, a literal name fills its place, a template or an absent value gives "*".
std::string permissionResource(const std::string& pattern, const core::Json& with);

}  // namespace firebreak::playbook
