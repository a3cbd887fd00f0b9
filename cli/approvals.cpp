// firebreak approve|deny RUN STEP: decide an approval a run is waiting for, through the daemon
// (which records the token's name) when one is given, else in the store under --data-dir.
#include <iostream>

#include "cli/common.h"
#include "cli/remote.h"

namespace firebreak::cli {

void addApprovals(CLI::App& app, Globals& g) {
  struct Args {
    std::string run, step, reason, who;
    bool local = false;
  };
  for (bool approve : {true, false}) {
    auto a = std::make_shared<Args>();
    auto* cmd = app.add_subcommand(approve ? "approve" : "deny",
                                   approve ? "Approve a step a run waits for"
                                           : "Deny a step a run waits for (the run stops)");
    cmd->add_option("run", a->run, "Run id")->required();
    cmd->add_option("step", a->step, "Step id (as `runs show` lists under APPROVALS)")->required();
    cmd->add_option("--reason", a->reason, "Why, for the timeline and the report");
    cmd->add_option("--as", a->who, "Who decides (default: $USER)");
    cmd->add_flag("--local", a->local, "Use --data-dir directly");
    cmd->callback([&g, a, approve] {
      if (useRemote(g, a->local)) {
        if (!a->who.empty()) {
          printError("--as is for --local: the daemon records the name of the API token");
          g.exit_code = kExitUsage;
          return;
        }
        core::Json body = core::Json::object();
        if (!a->reason.empty()) body["reason"] = a->reason;
        auto r = callOk(g, "POST",
                        "/api/v1/runs/" + urlEncode(a->run) + "/approvals/" + urlEncode(a->step) +
                            (approve ? "/approve" : "/deny"),
                        body);
        if (!r) return;
        if (g.json) std::cout << r->dump(2) << "\n";
        else
          std::cout << a->step << " of run " << a->run << (approve ? " approved" : " denied")
                    << " as " << r->value("decided_by", "") << "\n";
        return;
      }
      auto rt = openLocal(g, true, {}, false);
      if (!rt) {
        g.exit_code = kExitFailed;
        return;
      }
      std::string who = a->who;
      if (who.empty()) {
        const char* user = std::getenv("USER");
        who = user ? user : "cli";
      }
      auto s = rt->block(rt->engine().decide(a->run, a->step, approve, who, a->reason));
      if (!s) {
        printError(s.error().str());
        g.exit_code = kExitFailed;
        return;
      }
      std::cout << a->step << " of run " << a->run << (approve ? " approved" : " denied") << "\n";
    });
  }
}

}  // namespace firebreak::cli
