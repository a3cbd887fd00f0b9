// `log`: writes a line to the run's log. Useful to record a decision in the run's history.
#include <spdlog/spdlog.h>

#include "actions/builtin/common.h"
#include "actions/builtin/providers.h"

namespace firebreak::actions::builtin {
namespace {

using core::ActionRequest;
using core::ActionResult;
using core::Json;

class LogAction final : public core::ActionProvider {
 public:
  LogAction() {
    spec_.name = "log";
    spec_.summary = "Write a message to the run's log";
    spec_.params = {
        {"message", core::ParamType::kString, true, nullptr, "the text to log", {}},
        {"level", core::ParamType::kString, false, "info", "log level",
         {"debug", "info", "warn", "error"}},
    };
    spec_.idempotent = true;
    spec_.phase = core::Phase::kObserve;
    spec_.outputs = {"message"};
  }

  const core::ActionSpec& spec() const override { return spec_; }

  core::Status validate(const Json& params) const override {
    auto it = params.find("message");
    if (it == params.end() || !it->is_string())
      return core::fail(core::ErrorCode::kInvalidArgument, "log: 'message' must be a string");
    return {};
  }

  core::awaitable<ActionResult> plan(const ActionRequest& request) override {
    if (auto s = validate(request.params); !s)
      co_return ActionResult::permanent(describe(request, "log", s.error().message()));
    std::string message = stringParam(request.params, "message");
    co_return ActionResult::success(
        Json{{"plan", "would log at " + stringParam(request.params, "level", "info") + ": " +
                          message}},
        describe(request, "log", "planned"));
  }

  core::awaitable<ActionResult> execute(const ActionRequest& request) override {
    try {
      if (auto s = validate(request.params); !s)
        co_return ActionResult::permanent(describe(request, "log", s.error().message()));
      std::string message = stringParam(request.params, "message");
      std::string level = stringParam(request.params, "level", "info");
      auto logger = request.log ? request.log : spdlog::default_logger();
      auto lvl = level == "debug"  ? spdlog::level::debug
                 : level == "warn"  ? spdlog::level::warn
                 : level == "error" ? spdlog::level::err
                                    : spdlog::level::info;
      // "{}" keeps braces in the message from being read as a format string.
      logger->log(lvl, "{}", message);
      co_return ActionResult::success(Json{{"message", message}},
                                      describe(request, "log", "logged at " + level));
    } catch (const std::exception& e) {
      co_return ActionResult::permanent(describe(request, "log", e.what()));
    }
  }

 private:
  core::ActionSpec spec_;
};

}  // namespace

std::unique_ptr<core::ActionProvider> makeLogAction() { return std::make_unique<LogAction>(); }

}  // namespace firebreak::actions::builtin
