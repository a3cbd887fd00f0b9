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

// A whole file of one of our YAML kinds, refusing anything larger than kMaxFileBytes.
tl::expected<std::string, core::Error> readYamlFile(const std::string& path);

// The *.yaml and *.yml files of files and directories (recursively, sorted; hidden entries and
// `schema` folders skipped); paths that do not exist are reported.
std::vector<std::string> listYamlFiles(const std::vector<std::string>& paths,
                                       core::Diagnostics& errors);

// Compiles one playbook. On failure, every error found (nothing is loaded from the file).
tl::expected<PlaybookPtr, core::Diagnostics> compilePlaybook(std::string_view yaml_text,
                                                             const std::string& file,
                                                             const core::ProviderRegistry& registry);

// Steps held by one key of another kind of document (a drill's `steady_state`, `rollback`,
// its injected action), checked as playbook steps are, with errors at their place in that
// document. The result is a manual-only playbook named `name` whose source is a generated
// playbook document of those steps (what the engine stores, and compiles again to resume).
struct StepSection {
  std::string key;
  std::string name;
  bool single = false;       // the key holds one step, not a list; its id defaults to the key
  std::string with_prefix;   // steps whose action starts with this get `extra_with` added
  core::Json extra_with = core::Json::object();  // under `with`, where the step sets no such key
};
// nullptr when the document has no such key.
tl::expected<PlaybookPtr, core::Diagnostics> compileStepSection(
    std::string_view yaml_text, const std::string& file, const core::ProviderRegistry& registry,
    const StepSection& section);

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
