// firebreak: the manual runbook tool.
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/common.h"

int main(int argc, char** argv) {
  using namespace firebreak::cli;
  CLI::App app{"firebreak: validate and run playbooks, inspect runs, decide approvals"};
  app.require_subcommand(1);
  Globals g;
  app.add_option("--data-dir", g.data_dir, "Data directory of --local verbs")
      ->capture_default_str();
  app.add_option("--playbooks", g.playbook_dirs, "Where playbooks are found by name")
      ->capture_default_str();
  app.add_flag("--json", g.json, "Print machine-readable JSON");
  app.add_option("--server", g.server,
                 "firebreakd's URL, e.g. http://127.0.0.1:9095 (default: $FIREBREAK_SERVER)");
  app.add_option("--token-file", g.token_file,
                 "File holding the API token (default: $FIREBREAK_TOKEN)");
  app.add_option("--ca-file", g.ca_file, "CA certificates to verify an https:// server with");
  app.add_option("--config", g.config_file,
                 "firebreak.yaml for --local verbs: its data_dir, playbooks, providers and "
                 "limits.protected");
  // Before any verb's callback: the verbs read what the config gave.
  app.parse_complete_callback([&g, &app] { applyConfig(g, app); });
  // Logs of the providers go to stderr, below what the command prints.
  spdlog::set_level(spdlog::level::warn);

  addValidate(app, g);
  addRun(app, g);
  addRuns(app, g);
  addActions(app, g);
  addApprovals(app, g);
  addPause(app, g);
  addMatch(app, g);
  addIncidents(app, g);
  addSilence(app, g);
  addToken(app, g);
  addPermissions(app, g);
  addDrill(app, g);
  addReport(app, g);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  return g.exit_code;
}
