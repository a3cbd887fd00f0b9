// firebreak actions [NAME]: the catalogue of actions a playbook can use.
#include <algorithm>
#include <iostream>

#include <fmt/format.h>

#include "cli/common.h"
#include "daemon/core/duration.h"

namespace firebreak::cli {

namespace {

core::Json permissionsJson(const std::vector<core::Permission>& permissions) {
  core::Json out = core::Json::array();
  for (const auto& p : permissions)
    out.push_back({{"action", p.action}, {"resource", p.resource.empty() ? "*" : p.resource}});
  return out;
}

core::Json specToJson(const core::ActionSpec& s) {
  core::Json params = core::Json::array();
  for (const auto& p : s.params)
    params.push_back({{"name", p.name},
                      {"type", core::paramTypeName(p.type)},
                      {"required", p.required},
                      {"default", p.default_value},
                      {"one_of", p.one_of},
                      {"description", p.description}});
  return {{"name", s.name},
          {"summary", s.summary},
          {"params", params},
          {"idempotent", s.idempotent},
          {"step_may_declare_idempotent", s.step_may_declare_idempotent},
          {"destructive", s.destructive},
          {"undo", s.undo},
          {"phase", core::phaseName(s.phase)},
          {"permissions", permissionsJson(s.permissions)},
          {"retry", {{"attempts", s.retry.attempts},
                     {"backoff", core::formatDuration(s.retry.backoff)},
                     {"max_backoff", core::formatDuration(s.retry.max_backoff)}}},
          {"outputs", s.outputs}};
}

void printSpec(const core::ActionSpec& s) {
  std::cout << s.name << "\n  " << s.summary << "\n\n";
  std::cout << "  idempotent:   "
            << (s.idempotent ? "yes"
                             : (s.step_may_declare_idempotent ? "no (a step may declare it)" : "no"))
            << "\n  destructive:  " << (s.destructive ? "yes (counts against the budget)" : "no")
            << "\n  undo:         " << (s.undo.empty() ? "none" : s.undo)
            << "\n  phase:        " << core::phaseName(s.phase) << "\n  retry:        "
            << (s.retry.attempts <= 1
                    ? std::string("none unless the step says")
                    : fmt::format("{} attempts, backoff {} doubling to {}, full jitter",
                                  s.retry.attempts, core::formatDuration(s.retry.backoff),
                                  core::formatDuration(s.retry.max_backoff)))
            << "\n  permissions:  ";
  if (s.permissions.empty()) std::cout << "none";
  for (size_t i = 0; i < s.permissions.size(); ++i)
    std::cout << (i ? "\n                " : "") << s.permissions[i].action << " on "
              << (s.permissions[i].resource.empty() ? "*" : s.permissions[i].resource);
  std::cout << "\n  outputs:      ";
  for (size_t i = 0; i < s.outputs.size(); ++i) std::cout << (i ? ", " : "") << s.outputs[i];
  std::cout << "\n\n  parameters:\n";
  for (const auto& p : s.params) {
    std::cout << fmt::format("    {:<16} {:<28} {}", p.name, core::paramTypeName(p.type),
                             p.required ? "required" : "optional");
    if (!p.default_value.is_null()) std::cout << ", default " << p.default_value.dump();
    std::cout << "\n      " << p.description << "\n";
  }
}

}  // namespace

void addActions(CLI::App& app, Globals& g) {
  auto name = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("actions", "The actions playbooks can use, with their safety");
  cmd->add_option("name", *name, "Show one action in full");
  cmd->callback([&g, name] {
    withOfflineRegistry(g, [&](const core::ProviderRegistry& registry) {
      if (!name->empty()) {
        auto* p = registry.find(*name);
        if (!p) {
          std::string msg = "no action '" + *name + "'";
          if (auto s = core::suggest(*name, registry.names()); !s.empty())
            msg += " (did you mean '" + s + "'?)";
          printError(msg);
          g.exit_code = kExitFailed;
        } else if (g.json) {
          std::cout << specToJson(p->spec()).dump(2) << "\n";
        } else {
          printSpec(p->spec());
        }
        return;
      }
      if (g.json) {
        core::Json out = core::Json::array();
        for (const auto* p : registry.all()) out.push_back(specToJson(p->spec()));
        std::cout << out.dump(2) << "\n";
      } else {
        // Columns as wide as their longest entry: action names grow with each provider.
        size_t name_w = 6, undo_w = 4;
        for (const auto* p : registry.all()) {
          name_w = std::max(name_w, p->spec().name.size());
          undo_w = std::max(undo_w, p->spec().undo.size());
        }
        auto row = [&](std::string_view name, std::string_view idem, std::string_view destr,
                       std::string_view undo, std::string_view phase, std::string_view perms) {
          std::cout << fmt::format("{:<{}} {:<10} {:<11} {:<{}} {:<9} {}\n", name, name_w, idem,
                                   destr, undo, undo_w, phase, perms);
        };
        row("ACTION", "IDEMPOTENT", "DESTRUCTIVE", "UNDO", "PHASE", "PERMISSIONS");
        for (const auto* p : registry.all()) {
          const auto& s = p->spec();
          std::string perms;
          for (const auto& x : s.permissions) perms += (perms.empty() ? "" : ",") + x.action;
          row(s.name, s.idempotent ? "yes" : (s.step_may_declare_idempotent ? "step" : "no"),
              s.destructive ? "yes" : "no", s.undo.empty() ? "-" : s.undo, core::phaseName(s.phase),
              perms.empty() ? "-" : perms);
        }
      }
    });
  });
}

}  // namespace firebreak::cli
