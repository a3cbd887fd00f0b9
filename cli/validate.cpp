// firebreak validate PATH...: check playbooks without running anything.
#include <filesystem>
#include <iostream>

#include "cli/common.h"
#include "daemon/playbook/loader.h"

namespace firebreak::cli {

void addValidate(CLI::App& app, Globals& g) {
  auto* cmd = app.add_subcommand("validate", "Check playbooks; errors as file:line:col: message");
  auto paths = std::make_shared<std::vector<std::string>>();
  cmd->add_option("paths", *paths, "Playbook files or directories")->required();
  cmd->callback([&g, paths] {
    asio::thread_pool pool(1);
    core::SystemClock clock;
    app::ProcessSecretResolver secrets;
    core::ActionEnv env{&pool, &clock, &secrets, g.data_dir};
    auto registry = app::offlineRegistry(env);
    if (!registry) {
      printError(registry.error().str());
      g.exit_code = kExitFailed;
      return;
    }
    for (const auto& p : *paths) {
      if (!std::filesystem::exists(p)) {
        printError(p + ": no such file or directory");
        g.exit_code = kExitUsage;
        return;
      }
    }
    auto report = playbook::loadPlaybooks(*paths, **registry);
    core::Json out = {{"valid", core::Json::array()}, {"errors", core::Json::array()}};
    for (const auto& pb : report.playbooks) {
      out["valid"].push_back({{"name", pb->name}, {"file", pb->file}});
      if (!g.json) std::cout << "ok      " << pb->file << " (" << pb->name << ")\n";
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
      std::cout << report.playbooks.size() << " playbook(s) valid, " << report.errors.size()
                << " error(s)\n";
    pool.join();
    g.exit_code = report.errors.empty() ? kExitOk : kExitFailed;
  });
}

}  // namespace firebreak::cli
