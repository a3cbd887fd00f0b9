// Reads playbooks: YAML text -> checked Playbook, reporting every error of a file with its
// file:line:column and field. A directory with one bad file loads the good ones.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/action.h"
#include "daemon/core/result.h"
#include "daemon/playbook/model.h"

namespace firebreak::playbook {

// Compiles one playbook. On failure, every error found (nothing is loaded from the file).
tl::expected<PlaybookPtr, core::Diagnostics> compilePlaybook(std::string_view yaml_text,
                                                             const std::string& file,
                                                             const core::ProviderRegistry& registry);

tl::expected<PlaybookPtr, core::Diagnostics> loadPlaybookFile(const std::string& path,
                                                              const core::ProviderRegistry& registry);

struct LoadReport {
  std::vector<PlaybookPtr> playbooks;
  core::Diagnostics errors;  // of all files; also duplicate names across files
};

// Files and directories (recursively, *.yaml and *.yml, files of `kind: Playbook` only;
// other kinds are left to their own loaders).
LoadReport loadPlaybooks(const std::vector<std::string>& paths,
                         const core::ProviderRegistry& registry);

}  // namespace firebreak::playbook
