// Reads drills: YAML text -> checked Drill, every error with its file:line:column, as the
// playbook loader does (the step lists are compiled by it).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/action.h"
#include "daemon/core/result.h"
#include "daemon/drill/model.h"

namespace firebreak::drill {

tl::expected<DrillPtr, core::Diagnostics> compileDrill(std::string_view yaml_text,
                                                       const std::string& file,
                                                       const core::ProviderRegistry& registry);

struct DrillLoadReport {
  std::vector<DrillPtr> drills;
  core::Diagnostics errors;  // of all files; also duplicate names
};

// Files and directories (recursively, *.yaml and *.yml, files of `kind: Drill` only).
DrillLoadReport loadDrills(const std::vector<std::string>& paths,
                           const core::ProviderRegistry& registry);

// The kind a YAML document declares ("Playbook", "Drill"), "" when it declares none or is not
// a mapping; for `firebreak validate` to pick the loader.
std::string documentKind(std::string_view yaml_text);

}  // namespace firebreak::drill
