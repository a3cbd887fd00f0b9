#include "tests/fakes/fake_provider.h"

namespace firebreak::testing {

core::awaitable<core::ActionResult> FakeProvider::plan(const core::ActionRequest& request) {
  planned.push_back(request);
  auto r = core::ActionResult::success(
      core::Json{{"plan", "would call " + spec_.name + " with " + request.params.dump()}});
  r.resources = plan_resources;
  co_return r;
}

core::awaitable<core::ActionResult> FakeProvider::execute(const core::ActionRequest& request) {
  executed.push_back(request);
  if (delay.count() > 0) co_await core::sleepFor(delay, request.cancel.get());
  if (script.empty())
    co_return core::ActionResult::success(core::Json{{"echo", request.params}, {"value", "done"}});
  auto r = script.front();
  script.pop_front();
  co_return r;
}

core::ActionSpec fakeSpec(const std::string& name, bool idempotent, bool destructive,
                          const std::string& undo) {
  core::ActionSpec s;
  s.name = name;
  s.summary = "test action " + name;
  s.params = {{"value", core::ParamType::kString, false, nullptr, "a value", {}},
              {"n", core::ParamType::kInt, false, nullptr, "a number", {}},
              {"targets", core::ParamType::kStringList, false, nullptr, "resources", {}}};
  s.idempotent = idempotent;
  s.step_may_declare_idempotent = !idempotent;
  s.destructive = destructive;
  s.undo = undo;
  s.phase = destructive ? core::Phase::kContain : core::Phase::kObserve;
  s.outputs = {"echo", "value"};
  s.resources_param = "targets";  // max_resources counts this list
  return s;
}

}  // namespace firebreak::testing
