// `wait`: gives a system time to settle between steps, on a timer (never a blocked thread).
#include "actions/builtin/common.h"
#include "actions/builtin/providers.h"
#include "daemon/core/duration.h"

namespace firebreak::actions::builtin {
namespace {

using core::ActionRequest;
using core::ActionResult;
using core::Json;

class WaitAction final : public core::ActionProvider {
 public:
  WaitAction() {
    spec_.name = "wait";
    spec_.summary = "Wait for a duration (stops early when the run is cancelled)";
    spec_.params = {
        {"duration", core::ParamType::kDuration, true, nullptr, "how long to wait, e.g. 30s", {}},
    };
    spec_.idempotent = true;
    spec_.phase = core::Phase::kObserve;
    spec_.outputs = {"waited_ms"};
  }

  const core::ActionSpec& spec() const override { return spec_; }

  core::Status validate(const Json& params) const override {
    auto it = params.find("duration");
    if (it != params.end() && isTemplate(*it)) return {};
    if (it == params.end() || it->is_null())
      return core::fail(core::ErrorCode::kInvalidArgument, "wait: 'duration' is required");
    if (auto d = durationParam(params, "duration", {}); !d) return core::fail(d.error());
    return {};
  }

  core::awaitable<ActionResult> plan(const ActionRequest& request) override {
    auto d = parse(request);
    if (!d) co_return ActionResult::permanent(describe(request, "wait", d.error().message()));
    co_return ActionResult::success(
        Json{{"plan", "would wait " + durationText(request.params, "duration", *d)}},
        describe(request, "wait", "planned"));
  }

  core::awaitable<ActionResult> execute(const ActionRequest& request) override {
    try {
      auto d = parse(request);
      if (!d) co_return ActionResult::permanent(describe(request, "wait", d.error().message()));
      auto start = std::chrono::steady_clock::now();
      co_await core::sleepFor(*d, request.cancel.get());
      Json output{{"waited_ms", elapsedMs(start)}};
      // A cancelled wait did not give the system the time the playbook asked for.
      if (request.cancel && request.cancel->cancelled())
        co_return ActionResult::retryable(
            describe(request, "wait",
                     "cancelled after " + std::to_string(elapsedMs(start)) + "ms of " +
                         durationText(request.params, "duration", *d)),
            std::move(output));
      co_return ActionResult::success(
          std::move(output),
          describe(request, "wait", "waited " + durationText(request.params, "duration", *d)));
    } catch (const std::exception& e) {
      co_return ActionResult::permanent(describe(request, "wait", e.what()));
    }
  }

 private:
  core::Result<std::chrono::milliseconds> parse(const ActionRequest& request) const {
    if (auto s = validate(request.params); !s) return core::fail(s.error());
    return durationParam(request.params, "duration", {});
  }

  core::ActionSpec spec_;
};

}  // namespace

std::unique_ptr<core::ActionProvider> makeWaitAction() { return std::make_unique<WaitAction>(); }

}  // namespace firebreak::actions::builtin
