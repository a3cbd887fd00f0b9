// firebreak permissions [PATH...]: the least-privilege IAM policy the playbooks need, to attach
// to the daemon's role or user.
#include <iostream>

#include "cli/common.h"
#include "daemon/playbook/loader.h"
#include "daemon/playbook/permissions.h"

namespace firebreak::cli {

void addPermissions(CLI::App& app, Globals& g) {
  auto* cmd = app.add_subcommand(
      "permissions", "Print the least-privilege IAM policy (JSON) the playbooks' steps need");
  auto paths = std::make_shared<std::vector<std::string>>();
  auto role = std::make_shared<std::string>();
  cmd->add_option("paths", *paths, "Playbook files or directories (default: --playbooks)");
  cmd->add_option("--role", *role,
                  "The policy this role needs: the steps that assume it (assume_role.role_arn)");
  cmd->callback([&g, paths, role] {
    withOfflineRegistry(g, [&](const core::ProviderRegistry& registry) {
      auto report = playbook::loadPlaybooks(paths->empty() ? g.playbook_dirs : *paths, registry);
      if (!report.errors.empty()) {
        // A policy for some of the playbooks would fail the others at run time.
        for (const auto& e : report.errors) printError(e.str());
        g.exit_code = kExitFailed;
        return;
      }
      auto policy = playbook::permissionsPolicy(report.playbooks, registry, *role);
      if (policy["Statement"].empty())
        std::cerr << "firebreak: no step of these " << report.playbooks.size()
                  << " playbook(s) needs a cloud permission\n";
      std::cout << policy.dump(2) << "\n";
    });
  });
}

}  // namespace firebreak::cli
