// fb_aws_action: one AWS action's plan or execute from the command line, for
// tests/integration/test_aws_actions.py (a second execution with the same idempotency key,
// an undo given the recorded state) against moto_server.
//
//   fb_aws_action [--plan] [--key K] [--undo-state JSON] [--protect PATTERN]...
//                 --region R --endpoint-url URL --data-dir D ACTION PARAMS_JSON
//
// Prints {"outcome", "message", "output"}; exit 0 when the outcome is ok, else 1.
#include <iostream>
#include <string>
#include <vector>

#include "actions/aws/provider.h"
#include "daemon/core/clock.h"

extern char** environ;

namespace core = firebreak::core;
namespace aws = firebreak::actions::aws;
namespace asio = boost::asio;
using core::Json;

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  bool plan = false;
  std::string key = "tool:key", region, endpoint, data_dir;
  Json undo_state;
  std::vector<std::string> patterns, positional;
  for (size_t i = 0; i < args.size(); ++i) {
    auto next = [&]() -> std::string {
      if (i + 1 >= args.size()) {
        std::cerr << "fb_aws_action: " << args[i] << " needs a value\n";
        std::exit(2);
      }
      return args[++i];
    };
    if (args[i] == "--plan") plan = true;
    else if (args[i] == "--key") key = next();
    else if (args[i] == "--undo-state") undo_state = Json::parse(next());
    else if (args[i] == "--protect") patterns.push_back(next());
    else if (args[i] == "--region") region = next();
    else if (args[i] == "--endpoint-url") endpoint = next();
    else if (args[i] == "--data-dir") data_dir = next();
    else positional.push_back(args[i]);
  }
  if (positional.size() != 2) {
    std::cerr << "fb_aws_action: usage: see the comment at the top of action_tool.cpp\n";
    return 2;
  }
  asio::io_context io;
  asio::thread_pool pool(1);
  core::SystemClock clock;
  core::ProtectedResources protected_resources(patterns);
  core::ActionEnv env;
  env.blocking = &pool;
  env.clock = &clock;
  env.data_dir = data_dir;
  env.protected_resources = &protected_resources;
  env.providers = Json{{"aws", {{"region", region}, {"endpoint_url", endpoint}}}};
  core::ProviderRegistry registry;
  if (auto s = aws::registerActions(registry, env, aws::Environment::fromEnvp(environ)); !s) {
    std::cerr << s.error().str() << "\n";
    return 2;
  }
  auto* action = registry.find(positional[0]);
  if (!action) {
    std::cerr << "fb_aws_action: no action " << positional[0] << "\n";
    return 2;
  }
  core::ActionRequest request;
  request.run_id = "tool";
  request.step_id = "step";
  request.idempotency_key = key;
  request.params = Json::parse(positional[1]);
  request.undo_state = undo_state;
  core::ActionResult result;
  asio::co_spawn(io, plan ? action->plan(request) : action->execute(request),
                 [&](std::exception_ptr e, core::ActionResult r) {
                   if (e) result = core::ActionResult::permanent("exception");
                   else result = std::move(r);
                 });
  io.run();
  pool.join();
  std::cout << Json{{"outcome", core::outcomeName(result.outcome)},
                    {"message", result.message},
                    {"output", result.output}}
                   .dump()
            << "\n";
  return result.ok() ? 0 : 1;
}
