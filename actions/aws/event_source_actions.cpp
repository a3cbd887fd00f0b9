// aws.lambda.disable_event_sources and its undo, aws.lambda.enable_event_sources: a function's
// event source mappings (SQS, Kinesis, DynamoDB streams, ...) disabled, each one's state before
// recorded so that the undo re-enables exactly the ones this step disabled. Throttling alone
// is not enough: pollers keep reading and retrying their batches, and once the throttle lifts
// the backlog runs. And aws.lambda.snapshot_function, the evidence of what the function was:
// its configuration (environment variable names, never values), resource policy, mappings and
// reserved concurrency.
#include <algorithm>

#include "actions/aws/context.h"

namespace firebreak::actions::aws {
namespace {

using core::ActionRequest;
using core::ActionResult;
using core::Json;
using core::ParamType;

constexpr const char* kDisable = "aws.lambda.disable_event_sources";
constexpr const char* kEnable = "aws.lambda.enable_event_sources";
constexpr const char* kSnapshot = "aws.lambda.snapshot_function";
constexpr const char* kJournal = "lambda-event-sources";
constexpr const char* kFunctionArn = "arn:aws:lambda:*:*:function:{function}";
constexpr const char* kMappingArn = "arn:aws:lambda:*:*:event-source-mapping:*";

struct Mapping {
  std::string uuid;
  std::string state;  // Enabled, Enabling, Disabled, Disabling, Creating, Updating, Deleting
  std::string event_source_arn;
  Json detail;  // what the snapshot keeps
};

bool isOn(const std::string& state) { return state == "Enabled" || state == "Enabling"; }
bool isOff(const std::string& state) { return state == "Disabled" || state == "Disabling"; }

struct FunctionMappings {
  std::string arn;
  Json configuration;  // GetFunctionConfiguration's answer, kept in memory only
  std::vector<Mapping> mappings;
  const Mapping* find(const std::string& uuid) const {
    auto it = std::find_if(mappings.begin(), mappings.end(),
                           [&](const Mapping& m) { return m.uuid == uuid; });
    return it == mappings.end() ? nullptr : &*it;
  }
};

AwsResult<Json> readConfiguration(Client& client, const std::string& function,
                                  const CallOptions& options) {
  RestRequest get;
  get.service = "lambda";
  get.operation = "GetFunctionConfiguration";
  get.path = lambdaPath("2015-03-31", function, "/configuration");
  auto fn = client.restJson(get, options);
  if (!fn) return awsFail(std::move(fn.error()));
  return std::move(fn->body);
}

// Every mapping of `function` (as named: a qualified ARN lists the alias's or version's).
AwsResult<std::vector<Mapping>> listMappings(Client& client, const std::string& function,
                                             const CallOptions& options) {
  std::vector<Mapping> out;
  std::string marker;
  for (int page = 0; page < 1000; ++page) {
    RestRequest list;
    list.service = "lambda";
    list.operation = "ListEventSourceMappings";
    list.path = "/2015-03-31/event-source-mappings/";
    list.query = {{"FunctionName", function}, {"MaxItems", "100"}};
    if (!marker.empty()) list.query.emplace_back("Marker", marker);
    auto answer = client.restJson(list, options);
    if (!answer) return awsFail(std::move(answer.error()));
    if (auto it = answer->body.find("EventSourceMappings");
        it != answer->body.end() && it->is_array()) {
      for (const auto& m : *it) {
        if (!m.is_object()) continue;
        Mapping mapping;
        mapping.uuid = m.value("UUID", "");
        mapping.state = m.value("State", "");
        mapping.event_source_arn = m.value("EventSourceArn", "");
        mapping.detail =
            Json{{"uuid", mapping.uuid},
                 {"state", mapping.state},
                 {"event_source_arn", mapping.event_source_arn},
                 {"function_arn", m.value("FunctionArn", "")},
                 {"batch_size", m.value("BatchSize", Json())},
                 {"last_modified", m.value("LastModified", Json())},
                 {"state_transition_reason", m.value("StateTransitionReason", Json())}};
        if (!mapping.uuid.empty()) out.push_back(std::move(mapping));
      }
    }
    auto next = answer->body.find("NextMarker");
    if (next == answer->body.end() || !next->is_string() || next->get<std::string>().empty()) break;
    marker = next->get<std::string>();
  }
  return out;
}

AwsResult<FunctionMappings> readFunction(Client& client, const std::string& function,
                                         const CallOptions& options) {
  auto config = readConfiguration(client, function, options);
  if (!config) return awsFail(std::move(config.error()));
  FunctionMappings state;
  state.arn = config->value("FunctionArn", "");
  state.configuration = std::move(*config);
  auto mappings = listMappings(client, function, options);
  if (!mappings) return awsFail(std::move(mappings.error()));
  state.mappings = std::move(*mappings);
  return state;
}

AwsStatus setEnabled(Client& client, const std::string& uuid, bool enabled,
                     const CallOptions& options) {
  RestRequest r;
  r.service = "lambda";
  r.operation = "UpdateEventSourceMapping";
  r.method = "PUT";
  r.path = "/2015-03-31/event-source-mappings/" + uriEncode(uuid);
  r.body = Json{{"Enabled", enabled}}.dump();
  auto answer = client.restJson(r, options);
  if (!answer) {
    AwsError e = std::move(answer.error());
    // The mapping is mid-transition (Creating, Updating, ...): worth another try shortly.
    if (e.code == "ResourceInUseException") e.retryable = true;
    return awsFail(std::move(e));
  }
  return {};
}

std::string joined(const Json& uuids) {
  std::string out;
  for (const auto& u : uuids) out += (out.empty() ? "" : ", ") + u.get<std::string>();
  return out;
}

class DisableEventSourcesAction final : public BlockingAction {
 public:
  explicit DisableEventSourcesAction(std::shared_ptr<Context> ctx)
      : BlockingAction(std::move(ctx)) {
    spec_.name = kDisable;
    spec_.summary =
        "Disable every enabled event source mapping of a Lambda function, recording each "
        "one's state before";
    spec_.params = {
        {"function", ParamType::kString, true, nullptr, "function name or ARN", {}, true},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.undo = kEnable;
    spec_.phase = core::Phase::kContain;
    spec_.permissions = {{"lambda:GetFunctionConfiguration", kFunctionArn},
                         {"lambda:ListEventSourceMappings", ""},
                         {"lambda:UpdateEventSourceMapping", kMappingArn}};
    spec_.outputs = {"function", "function_arn", "mappings", "disabled"};
  }

 private:
  ActionResult act(const ActionRequest& request, bool plan) override {
    std::string function = paramString(request.params, "function");
    if (function.empty())
      return ActionResult::permanent(describe(request, kDisable, "'function' is required"));
    auto client = ctx_->client(request);
    if (!client) return failed(request, kDisable, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    auto live = liveResource(*ctx_, request, kDisable, "function", function,
                             [&] { return readFunction(**client, function, options); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const FunctionMappings* state = &std::get<FunctionMappings>(live);

    Json mappings = Json::array();
    Json disabled = Json::array();
    for (const auto& m : state->mappings) {
      mappings.push_back(Json{
          {"uuid", m.uuid}, {"event_source_arn", m.event_source_arn}, {"previous_state", m.state}});
      if (isOn(m.state)) disabled.push_back(m.uuid);
    }
    Json output{{"function", function},
                {"function_arn", state->arn},
                {"mappings", mappings},
                {"disabled", disabled}};
    std::optional<Json> before;
    if (!plan) before = ctx_->recalled(kJournal, request.idempotency_key);
    if (!before) {
      // A mapping between states may be on or off a moment later: decide once it has settled,
      // before anything is changed.
      for (const auto& m : state->mappings)
        if (m.state == "Creating" || m.state == "Updating")
          return ActionResult::retryable(
              describe(request, kDisable,
                       "event source mapping " + m.uuid + " of " + function + " is " + m.state +
                           "; nothing was changed, retry once it has settled"));
    }
    if (plan) {
      output["plan"] =
          disabled.empty()
              ? "no enabled event source mapping on " + function + ": nothing would change"
              : "would disable event source mapping(s) " + joined(disabled) + " of " + function;
      ActionResult r = ActionResult::success(output, describe(request, kDisable, "planned"));
      r.resources = static_cast<int64_t>(disabled.size());
      return r;
    }
    // A re-execution (same key) keeps the states the first one found: the mappings it turned
    // off are still the ones to turn back on.
    if (before) {
      output["mappings"] = before->value("mappings", output["mappings"]);
      output["disabled"] = before->value("disabled", output["disabled"]);
    } else if (!ctx_->remember(kJournal, request.idempotency_key, output)) {
      return ActionResult::retryable(
          describe(request, kDisable,
                   "cannot record the mappings' states before the change in the data dir"));
    }
    for (const auto& u : output["disabled"]) {
      const std::string uuid = u.get<std::string>();
      const Mapping* now = state->find(uuid);
      if (!now || isOff(now->state) || now->state == "Deleting") continue;  // off already, or gone
      if (auto s = setEnabled(**client, uuid, false, options); !s)
        return failed(request, kDisable, s.error(),
                      "disabling event source mapping " + uuid + " of " + function, output);
    }
    return ActionResult::success(
        output, describe(request, kDisable,
                         output["disabled"].empty()
                             ? "no enabled event source mapping on " + state->arn
                             : "disabled event source mapping(s) " + joined(output["disabled"]) +
                                   " of " + state->arn));
  }

};

class EnableEventSourcesAction final : public BlockingAction {
 public:
  explicit EnableEventSourcesAction(std::shared_ptr<Context> ctx) : BlockingAction(std::move(ctx)) {
    spec_.name = kEnable;
    spec_.summary =
        "Undo of aws.lambda.disable_event_sources: re-enable exactly the mappings it disabled";
    spec_.params = {
        {"function",
         ParamType::kString,
         false,
         nullptr,
         "function name or ARN; default: the one the undone step changed",
         {},
         true},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.phase = core::Phase::kRecover;
    spec_.permissions = {{"lambda:GetFunctionConfiguration", kFunctionArn},
                         {"lambda:ListEventSourceMappings", ""},
                         {"lambda:UpdateEventSourceMapping", kMappingArn}};
    spec_.outputs = {"function", "function_arn", "enabled", "missing"};
  }

 private:
  ActionResult act(const ActionRequest& request, bool plan) override {
    auto recorded = ctx_->undoneState(request, "disabled");
    if (!recorded || !(*recorded)["disabled"].is_array())
      return ActionResult::permanent(describe(request, kEnable,
                                              "no recorded mappings to re-enable: it undoes a step "
                                              "of aws.lambda.disable_event_sources"));
    std::string function = paramString(request.params, "function");
    if (function.empty()) function = recorded->value("function", "");
    if (function.empty()) return ActionResult::permanent(describe(request, kEnable, "no function"));
    auto client = ctx_->client(request);
    if (!client) return failed(request, kEnable, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    auto live = liveResource(*ctx_, request, kEnable, "function", function,
                             [&] { return readFunction(**client, function, options); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const FunctionMappings* state = &std::get<FunctionMappings>(live);
    Json enable = Json::array(), missing = Json::array();
    for (const auto& u : (*recorded)["disabled"]) {
      if (!u.is_string()) continue;
      const Mapping* now = state->find(u.get<std::string>());
      if (!now)
        missing.push_back(u);  // deleted since: nothing to put back
      else if (!isOn(now->state))
        enable.push_back(u);  // someone may have re-enabled it already
    }
    Json output{{"function", function},
                {"function_arn", state->arn},
                {"enabled", enable},
                {"missing", missing}};
    if (plan) {
      output["plan"] = enable.empty() ? "nothing would change on " + function
                                      : "would re-enable event source mapping(s) " +
                                            joined(enable) + " of " + function;
      return ActionResult::success(output, describe(request, kEnable, "planned"));
    }
    for (const auto& u : enable)
      if (auto s = setEnabled(**client, u.get<std::string>(), true, options); !s)
        return failed(
            request, kEnable, s.error(),
            "re-enabling event source mapping " + u.get<std::string>() + " of " + function, output);
    std::string what = enable.empty() ? "nothing to re-enable on " + state->arn
                                      : "re-enabled event source mapping(s) " + joined(enable) +
                                            " of " + state->arn;
    if (!missing.empty()) what += "; gone since: " + joined(missing);
    return ActionResult::success(output, describe(request, kEnable, what));
  }

};

class SnapshotFunctionAction final : public BlockingAction {
 public:
  explicit SnapshotFunctionAction(std::shared_ptr<Context> ctx) : BlockingAction(std::move(ctx)) {
    spec_.name = kSnapshot;
    spec_.summary =
        "Record a Lambda function's configuration (environment variable names only), resource "
        "policy, event source mappings and reserved concurrency as evidence";
    // Not a resource parameter: reading is not touching, and the evidence of a protected
    // function is as wanted as any other's.
    spec_.params = {
        {"function", ParamType::kString, true, nullptr, "function name or ARN", {}},
    };
    spec_.idempotent = true;
    spec_.destructive = false;
    spec_.phase = core::Phase::kObserve;
    spec_.permissions = {{"lambda:GetFunctionConfiguration", kFunctionArn},
                         {"lambda:GetFunctionConcurrency", kFunctionArn},
                         {"lambda:GetPolicy", kFunctionArn},
                         {"lambda:ListEventSourceMappings", ""}};
    // `role` at the top as well: the next step of a containment is usually about it.
    spec_.outputs = {"function",
                     "function_arn",
                     "role",
                     "configuration",
                     "resource_policy",
                     "event_source_mappings",
                     "reserved_concurrency",
                     "taken_at"};
  }

 private:
  ActionResult act(const ActionRequest& request, bool plan) override {
    std::string function = paramString(request.params, "function");
    if (function.empty())
      return ActionResult::permanent(describe(request, kSnapshot, "'function' is required"));
    auto client = ctx_->client(request);
    if (!client) return failed(request, kSnapshot, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    auto state = readFunction(**client, function, options);
    if (!state) return failed(request, kSnapshot, state.error(), "reading function " + function);

    RestRequest concurrency;
    concurrency.service = "lambda";
    concurrency.operation = "GetFunctionConcurrency";
    concurrency.path = lambdaPath("2019-09-30", function, "/concurrency");
    auto c = client.value()->restJson(concurrency, options);
    if (!c)
      return failed(request, kSnapshot, c.error(), "reading reserved concurrency of " + function);
    auto reserved = c->body.find("ReservedConcurrentExecutions");

    RestRequest policy;
    policy.service = "lambda";
    policy.operation = "GetPolicy";
    policy.path = lambdaPath("2015-03-31", function, "/policy");
    auto p = client.value()->restJson(policy, options);
    Json resource_policy;  // null: the function has none
    if (p) {
      auto text = p->body.find("Policy");
      if (text != p->body.end() && text->is_string())
        resource_policy = parsePolicyDocument(text->get<std::string>()).value_or(Json(*text));
    } else if (p.error().code != "ResourceNotFoundException") {
      return failed(request, kSnapshot, p.error(), "reading the resource policy of " + function);
    }

    Json mappings = Json::array();
    for (const auto& m : state->mappings) mappings.push_back(m.detail);
    Json configuration = functionEvidence(state->configuration);
    Json output{{"function", function},
                {"function_arn", state->arn},
                {"role", configuration["role"]},
                {"configuration", configuration},
                {"resource_policy", resource_policy},
                {"event_source_mappings", mappings},
                {"reserved_concurrency",
                 reserved != c->body.end() && reserved->is_number_integer() ? *reserved : Json()},
                {"taken_at", core::formatTime(ctx_->clock().nowMs())}};
    const std::string summary =
        "configuration, " + std::string(resource_policy.is_null() ? "no" : "the") +
        " resource policy, " + std::to_string(mappings.size()) +
        " event source mapping(s) and the reserved concurrency of " + state->arn;
    if (plan) {
      output["plan"] = "would record the " + summary + " (it changes nothing)";
      return ActionResult::success(output, describe(request, kSnapshot, "planned"));
    }
    return ActionResult::success(output, describe(request, kSnapshot, "recorded the " + summary));
  }

};

}  // namespace

std::unique_ptr<core::ActionProvider> makeDisableEventSourcesAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<DisableEventSourcesAction>(std::move(ctx));
}
std::unique_ptr<core::ActionProvider> makeEnableEventSourcesAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<EnableEventSourcesAction>(std::move(ctx));
}
std::unique_ptr<core::ActionProvider> makeSnapshotFunctionAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<SnapshotFunctionAction>(std::move(ctx));
}

}  // namespace firebreak::actions::aws
