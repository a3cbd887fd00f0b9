#include "daemon/config/cross_check.h"

#include <algorithm>

#include <yaml-cpp/yaml.h>

#include "daemon/core/action.h"

namespace firebreak::config {

namespace {

// Where trigger.sources[index] is written: the compiled playbook keeps its text, not the
// position of each list entry, so the text is read again (only when there is a warning).
core::SourceLoc sourceEntryLoc(const playbook::Playbook& pb, size_t index) {
  try {
    YAML::Node root = YAML::Load(pb.source);
    YAML::Node sources = root["trigger"]["sources"];
    if (sources && sources.IsSequence() && index < sources.size()) {
      auto mark = sources[index].Mark();
      return core::SourceLoc{pb.file, mark.line + 1, mark.column + 1};
    }
  } catch (const YAML::Exception&) {
    // It compiled, so it parses; if not, the playbook's own location still says where.
  }
  return pb.loc;
}

}  // namespace

core::Diagnostics checkTriggerSources(const Config& config,
                                      const std::vector<playbook::PlaybookPtr>& playbooks) {
  std::vector<std::string> known;
  for (const auto& [name, _] : config.sources) known.push_back(name);
  const std::string where = config.file.empty() ? "the config" : config.file;
  core::Diagnostics out;
  for (const auto& pb : playbooks) {
    const auto& names = pb->trigger.sources;
    for (size_t i = 0; i < names.size(); ++i) {
      if (config.sources.count(names[i])) continue;
      std::string msg = "playbook '" + pb->name + "': trigger.sources names '" + names[i] +
                        "', which is not a source in " + where;
      if (known.empty()) {
        msg += " (it has none): this playbook never starts from an alert";
      } else {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        msg += " (sources: " + list + ")";
        if (auto s = core::suggest(names[i], known); !s.empty())
          msg += " (did you mean '" + s + "'?)";
      }
      out.emplace_back(core::ErrorCode::kInvalidArgument, msg, sourceEntryLoc(*pb, i));
    }
  }
  return out;
}

std::string warningText(const core::Error& warning) {
  std::string out;
  if (!warning.loc().file.empty()) out = warning.loc().str() + ": ";
  out += "warning: " + warning.message();
  for (const auto& what : warning.trail()) out += " (while " + what + ")";
  return out;
}

}  // namespace firebreak::config
