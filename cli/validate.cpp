// firebreak validate PATH...: check playbooks and daemon configs without running anything.
#include <filesystem>
#include <iostream>

#include <yaml-cpp/yaml.h>

#include "cli/common.h"
#include "daemon/config/config.h"
#include "daemon/config/cross_check.h"
#include "daemon/drill/loader.h"
#include "daemon/playbook/loader.h"

namespace firebreak::cli {

namespace {

// A file whose top level has neither `kind` nor `apiVersion` is a daemon config
// (firebreak.yaml); everything else goes to the playbook loader, which names what is wrong.
bool isConfigFile(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) return false;
  try {
    YAML::Node root = YAML::LoadFile(path);
    return (root.IsMap() && !root["kind"] && !root["apiVersion"]) || root.IsNull();
  } catch (const YAML::Exception&) {
    return false;  // the playbook loader reports the syntax error with its location
  }
}

}  // namespace

void addValidate(CLI::App& app, Globals& g) {
  auto* cmd = app.add_subcommand(
      "validate", "Check playbooks, drills and configs; errors as file:line:col: message");
  auto paths = std::make_shared<std::vector<std::string>>();
  cmd->add_option("paths", *paths, "Playbook and drill files or directories, firebreak.yaml files")
      ->required();
  cmd->callback([&g, paths] {
    withOfflineRegistry(g, [&](const core::ProviderRegistry& registry) {
      for (const auto& p : *paths) {
        if (!std::filesystem::exists(p)) {
          printError(p + ": no such file or directory");
          g.exit_code = kExitUsage;
          return;
        }
      }
      std::vector<std::string> playbook_paths;
      std::vector<std::string> configs_ok;
      std::vector<config::Config> configs;  // checked against the playbooks given beside them
      core::Diagnostics config_errors;
      for (const auto& p : *paths) {
        if (!isConfigFile(p)) {
          playbook_paths.push_back(p);
          continue;
        }
        auto cfg = config::loadConfigFile(p);
        if (cfg) {
          configs_ok.push_back(p);
          configs.push_back(std::move(*cfg));
        } else config_errors.insert(config_errors.end(), cfg.error().begin(), cfg.error().end());
      }
      auto report = playbook_paths.empty() ? playbook::LoadReport{}
                                           : playbook::loadPlaybooks(playbook_paths, registry);
      report.errors.insert(report.errors.begin(), config_errors.begin(), config_errors.end());
      auto drills = playbook_paths.empty() ? drill::DrillLoadReport{}
                                           : drill::loadDrills(playbook_paths, registry);
      report.errors.insert(report.errors.end(), drills.errors.begin(), drills.errors.end());
      // A file named on its own that is neither kind would otherwise pass unread.
      for (const auto& p : playbook_paths) {
        if (!std::filesystem::is_regular_file(p)) continue;
        auto text = playbook::readYamlFile(p);
        if (!text) continue;  // the loaders reported it
        auto kind = drill::documentKind(*text);
        if (!kind.empty() && kind != "Playbook" && kind != "Drill" &&
            core::suggest(kind, {"Playbook", "Drill"}).empty())
          report.errors.emplace_back(core::ErrorCode::kInvalidArgument,
                                     "'kind' must be 'Playbook' or 'Drill', not '" + kind + "'",
                                     core::SourceLoc{p, 1, 1});
      }
      // Drills checked beside the playbooks they expect, when playbooks are given too.
      if (!report.playbooks.empty()) {
        for (const auto& d : drills.drills) {
          if (d->expect_playbook.empty()) continue;
          bool found = false;
          for (const auto& pb : report.playbooks) found = found || pb->name == d->expect_playbook;
          if (!found)
            report.errors.emplace_back(core::ErrorCode::kInvalidArgument,
                                       "drill '" + d->name + "' expects playbook '" +
                                           d->expect_playbook + "', which is not among them",
                                       d->loc);
        }
      }
      core::Json out = {{"valid", core::Json::array()}, {"errors", core::Json::array()},
                        {"warnings", core::Json::array()}};
      for (const auto& c : configs) {
        for (const auto& w : config::checkTriggerSources(c, report.playbooks)) {
          out["warnings"].push_back({{"message", w.message()},
                                     {"file", w.loc().file},
                                     {"line", w.loc().line},
                                     {"column", w.loc().column},
                                     {"text", config::warningText(w)}});
          if (!g.json) std::cerr << config::warningText(w) << "\n";
        }
      }
      for (const auto& c : configs_ok) {
        out["valid"].push_back({{"config", c}, {"file", c}});
        if (!g.json) std::cout << "ok      " << c << " (daemon config)\n";
      }
      for (const auto& pb : report.playbooks) {
        out["valid"].push_back({{"name", pb->name}, {"file", pb->file}});
        if (!g.json) std::cout << "ok      " << pb->file << " (" << pb->name << ")\n";
      }
      for (const auto& d : drills.drills) {
        out["valid"].push_back({{"name", d->name}, {"file", d->file}, {"kind", "Drill"}});
        if (!g.json) std::cout << "ok      " << d->file << " (drill " << d->name << ")\n";
      }
      for (const auto& e : report.errors) {
        out["errors"].push_back({{"message", e.message()},
                                 {"file", e.loc().file},
                                 {"line", e.loc().line},
                                 {"column", e.loc().column},
                                 {"text", e.str()}});
        if (!g.json) std::cerr << e.str() << "\n";
      }
      if (g.json) std::cout << out.dump(2) << "\n";
      else
        std::cout << report.playbooks.size() << " playbook(s)"
                  << (drills.drills.empty()
                          ? std::string()
                          : " and " + std::to_string(drills.drills.size()) + " drill(s)")
                  << " valid, " << report.errors.size()
                  << " error(s)"
                  << (out["warnings"].empty()
                          ? std::string()
                          : ", " + std::to_string(out["warnings"].size()) + " warning(s)")
                  << "\n";
      g.exit_code = report.errors.empty() ? kExitOk : kExitFailed;
    });
  });
}

}  // namespace firebreak::cli
