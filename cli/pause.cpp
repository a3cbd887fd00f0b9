// firebreak pause | resume | breaker reset: stop and restart all automation at once.
#include <iostream>

#include "cli/common.h"
#include "cli/remote.h"

namespace firebreak::cli {

void addPause(CLI::App& app, Globals& g) {
  auto local = std::make_shared<bool>(false);
  for (bool paused : {true, false}) {
    auto* cmd = app.add_subcommand(paused ? "pause" : "resume",
                                   paused ? "Stop every new step from starting, in every run"
                                          : "Let steps start again after `firebreak pause`");
    cmd->add_flag("--local", *local, "Use --data-dir directly");
    cmd->callback([&g, local, paused] {
      if (!*local) {
        g.exit_code = needsLocal(paused ? "pause" : "resume");
        return;
      }
      auto rt = openLocal(g, true, {}, false);
      if (!rt) {
        g.exit_code = kExitFailed;
        return;
      }
      auto s = rt->block(rt->engine().setPaused(paused, "cli"));
      if (!s) {
        printError(s.error().str());
        g.exit_code = kExitFailed;
        return;
      }
      std::cout << (paused ? "automation paused\n" : "automation resumed\n");
    });
  }
  auto* breaker = app.add_subcommand("breaker", "Circuit breakers of actions");
  breaker->require_subcommand(1);
  auto action = std::make_shared<std::string>();
  auto* reset = breaker->add_subcommand("reset", "Close an action's breaker after fixing the cause");
  reset->add_option("action", *action, "Action name")->required();
  reset->add_flag("--local", *local, "Use --data-dir directly");
  reset->callback([&g, local, action] {
    if (useRemote(g, *local)) {
      auto r = callOk(g, "POST", "/api/v1/breakers/" + urlEncode(*action) + "/reset",
                      core::Json::object());
      if (r) std::cout << "breaker of " << *action << " reset\n";
      return;
    }
    if (!*local) {
      g.exit_code = needsLocal("breaker reset");
      return;
    }
    auto rt = openLocal(g, true, {}, false);
    if (!rt) {
      g.exit_code = kExitFailed;
      return;
    }
    auto s = rt->block(rt->engine().resetBreaker(*action, "cli"));
    if (!s) {
      printError(s.error().str());
      g.exit_code = kExitFailed;
      return;
    }
    std::cout << "breaker of " << *action << " reset\n";
  });
}

}  // namespace firebreak::cli
