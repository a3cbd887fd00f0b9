// aws.lambda.set_concurrency and its undo, aws.lambda.restore_concurrency: a function's
// reserved concurrency (0 throttles it completely), with the setting before recorded exactly,
// "none" included, so that the undo puts back what was there.
#include "actions/aws/context.h"

namespace firebreak::actions::aws {
namespace {

using core::ActionRequest;
using core::ActionResult;
using core::Json;
using core::ParamType;

constexpr const char* kSet = "aws.lambda.set_concurrency";
constexpr const char* kRestore = "aws.lambda.restore_concurrency";
constexpr const char* kFunctionArn = "arn:aws:lambda:*:*:function:{function}";

std::string concurrencyText(const Json& value) {
  return value.is_number_integer() ? std::to_string(value.get<int64_t>()) : "none";
}

struct FunctionState {
  std::string arn;
  Json reserved;  // a number, or null for none
};

// GetFunction (the ARN, for limits.protected) and GetFunctionConcurrency.
AwsResult<FunctionState> readFunction(Client& client, const std::string& function,
                                      const CallOptions& options) {
  RestRequest get;
  get.service = "lambda";
  get.operation = "GetFunction";
  get.path = lambdaPath("2015-03-31", function);
  auto fn = client.restJson(get, options);
  if (!fn) return awsFail(std::move(fn.error()));
  FunctionState state;
  const Json& config = fn->body.contains("Configuration") ? fn->body["Configuration"] : Json();
  if (config.is_object()) state.arn = config.value("FunctionArn", "");

  RestRequest concurrency;
  concurrency.service = "lambda";
  concurrency.operation = "GetFunctionConcurrency";
  concurrency.path = lambdaPath("2019-09-30", function, "/concurrency");
  auto c = client.restJson(concurrency, options);
  if (!c) return awsFail(std::move(c.error()));
  auto it = c->body.find("ReservedConcurrentExecutions");
  state.reserved = it != c->body.end() && it->is_number_integer() ? *it : Json();
  return state;
}

// Puts `reserved` (a number), or deletes the setting (null).
AwsStatus applyConcurrency(Client& client, const std::string& function, const Json& reserved,
                           const CallOptions& options) {
  RestRequest r;
  r.service = "lambda";
  r.path = lambdaPath("2017-10-31", function, "/concurrency");
  if (reserved.is_number_integer()) {
    r.operation = "PutFunctionConcurrency";
    r.method = "PUT";
    r.body = Json{{"ReservedConcurrentExecutions", reserved.get<int64_t>()}}.dump();
  } else {
    r.operation = "DeleteFunctionConcurrency";
    r.method = "DELETE";
  }
  auto answer = client.restJson(r, options);
  if (!answer) return awsFail(std::move(answer.error()));
  return {};
}

class SetConcurrencyAction final : public BlockingAction {
 public:
  explicit SetConcurrencyAction(std::shared_ptr<Context> ctx) : BlockingAction(std::move(ctx)) {
    spec_.name = kSet;
    spec_.summary =
        "Set a Lambda function's reserved concurrency (0 throttles it), recording the setting "
        "before";
    spec_.params = {
        {"function", ParamType::kString, true, nullptr, "function name or ARN", {}, true},
        {"reserved", ParamType::kInt, true, nullptr,
         "reserved concurrent executions; 0 stops every invocation", {}},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.undo = kRestore;
    spec_.phase = core::Phase::kContain;
    spec_.permissions = {{"lambda:GetFunctionConcurrency", kFunctionArn},
                         {"lambda:PutFunctionConcurrency", kFunctionArn},
                         {"lambda:DeleteFunctionConcurrency", kFunctionArn},
                         {"lambda:GetFunction", kFunctionArn}};
    spec_.outputs = {"function", "function_arn", "previous", "reserved"};
  }

  core::Status validate(const Json& params) const override {
    auto it = params.find("reserved");
    if (it != params.end() && it->is_number_integer() && it->get<int64_t>() < 0)
      return core::fail(core::ErrorCode::kInvalidArgument, "'reserved' must be 0 or more");
    return {};
  }

 private:
  struct Params {
    std::string function;
    int64_t reserved = 0;
  };
  static std::optional<Params> parse(const Json& params) {
    auto f = params.find("function");
    auto r = params.find("reserved");
    if (f == params.end() || !f->is_string() || f->get<std::string>().empty()) return std::nullopt;
    if (r == params.end() || !r->is_number_integer() || r->get<int64_t>() < 0) return std::nullopt;
    return Params{f->get<std::string>(), r->get<int64_t>()};
  }

  ActionResult planNow(const ActionRequest& request) override {
    auto p = parse(request.params);
    if (!p)
      return ActionResult::permanent(describe(
          request, kSet, "'function' must be a name or ARN and 'reserved' an integer >= 0"));
    auto client = ctx_->client(request);
    if (!client) return failed(request, kSet, client.error(), "setting up the AWS client");
    auto live = liveResource(*ctx_, request, kSet, "function", p->function,
                             [&] { return readFunction(**client, p->function, callOptions(request)); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const FunctionState* state = &std::get<FunctionState>(live);
    std::string plan = "would set reserved concurrency of " + p->function + " from " +
                       concurrencyText(state->reserved) + " to " + std::to_string(p->reserved);
    if (state->reserved == Json(p->reserved))
      plan = "reserved concurrency of " + p->function + " is already " +
             std::to_string(p->reserved) + ": nothing would change";
    ActionResult r = ActionResult::success(
        Json{{"plan", plan}, {"function", p->function}, {"function_arn", state->arn},
             {"previous", state->reserved}, {"reserved", p->reserved}},
        describe(request, kSet, "planned"));
    r.resources = 1;
    return r;
  }

  ActionResult executeNow(const ActionRequest& request) override {
    auto p = parse(request.params);
    if (!p)
      return ActionResult::permanent(describe(
          request, kSet, "'function' must be a name or ARN and 'reserved' an integer >= 0"));
    auto client = ctx_->client(request);
    if (!client) return failed(request, kSet, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    // Always re-read: the ARN check must see the function as it is now.
    auto live = liveResource(*ctx_, request, kSet, "function", p->function,
                             [&] { return readFunction(**client, p->function, options); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const FunctionState* state = &std::get<FunctionState>(live);
    Json output{{"function", p->function}, {"function_arn", state->arn},
                {"previous", state->reserved}, {"reserved", p->reserved}};
    // A re-execution (same key) keeps the setting the first one found, not its own.
    if (auto before = ctx_->recalled("lambda-concurrency", request.idempotency_key))
      output["previous"] = before->value("previous", Json());
    else if (!ctx_->remember("lambda-concurrency", request.idempotency_key, output))
      return ActionResult::retryable(
          describe(request, kSet, "cannot record the setting before the change in the data dir"));
    if (state->reserved != Json(p->reserved)) {
      if (auto s = applyConcurrency(**client, p->function, Json(p->reserved), options); !s)
        return failed(request, kSet, s.error(), "setting reserved concurrency of " + p->function,
                      output);
    }
    return ActionResult::success(
        output, describe(request, kSet,
                         "reserved concurrency of " + p->function + " set from " +
                             concurrencyText(output["previous"]) + " to " +
                             std::to_string(p->reserved)));
  }
};

class RestoreConcurrencyAction final : public BlockingAction {
 public:
  explicit RestoreConcurrencyAction(std::shared_ptr<Context> ctx)
      : BlockingAction(std::move(ctx)) {
    spec_.name = kRestore;
    spec_.summary =
        "Undo of aws.lambda.set_concurrency: put back the reserved concurrency it recorded "
        "(none included)";
    spec_.params = {
        {"function", ParamType::kString, false, nullptr,
         "function name or ARN; default: the one the undone step changed", {}, true},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.phase = core::Phase::kRecover;
    spec_.permissions = {{"lambda:GetFunction", kFunctionArn},
                         {"lambda:GetFunctionConcurrency", kFunctionArn},
                         {"lambda:PutFunctionConcurrency", kFunctionArn},
                         {"lambda:DeleteFunctionConcurrency", kFunctionArn}};
    spec_.outputs = {"function", "function_arn", "restored", "replaced"};
  }

 private:
  // The function and the setting to put back, from the undone step's output.
  struct Target {
    std::string function;
    Json previous;
  };
  std::optional<Target> target(const ActionRequest& request) const {
    auto recorded = ctx_->undoneState(request, "previous");
    if (!recorded) return std::nullopt;
    const Json& state = *recorded;
    Target t;
    t.function = state.value("function", "");
    if (auto f = request.params.find("function"); f != request.params.end() && f->is_string())
      t.function = f->get<std::string>();
    t.previous = state["previous"];
    if (t.function.empty() || !(t.previous.is_null() || t.previous.is_number_integer()))
      return std::nullopt;
    return t;
  }

  ActionResult act(const ActionRequest& request, bool plan) override {
    auto t = target(request);
    if (!t)
      return ActionResult::permanent(describe(
          request, kRestore,
          "no recorded setting to restore: it undoes a step of aws.lambda.set_concurrency"));
    auto client = ctx_->client(request);
    if (!client) return failed(request, kRestore, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    auto live = liveResource(*ctx_, request, kRestore, "function", t->function,
                             [&] { return readFunction(**client, t->function, options); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const FunctionState* state = &std::get<FunctionState>(live);
    Json output{{"function", t->function}, {"function_arn", state->arn},
                {"restored", t->previous}, {"replaced", state->reserved}};
    std::string what = "reserved concurrency of " + t->function + " from " +
                       concurrencyText(state->reserved) + " to " + concurrencyText(t->previous);
    if (plan) {
      output["plan"] = state->reserved == t->previous
                           ? "reserved concurrency of " + t->function + " is already " +
                                 concurrencyText(t->previous) + ": nothing would change"
                           : "would restore " + what;
      return ActionResult::success(output, describe(request, kRestore, "planned"));
    }
    if (state->reserved != t->previous) {
      if (auto s = applyConcurrency(**client, t->function, t->previous, options); !s)
        return failed(request, kRestore, s.error(),
                      "restoring reserved concurrency of " + t->function, output);
    }
    return ActionResult::success(output, describe(request, kRestore, "restored " + what));
  }

};

}  // namespace

std::unique_ptr<core::ActionProvider> makeSetConcurrencyAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<SetConcurrencyAction>(std::move(ctx));
}
std::unique_ptr<core::ActionProvider> makeRestoreConcurrencyAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<RestoreConcurrencyAction>(std::move(ctx));
}

}  // namespace firebreak::actions::aws
