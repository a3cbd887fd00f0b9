// aws.iam.revoke_role_sessions and its undo, aws.iam.restore_role_sessions: the inline policy
// the AWS console's "Revoke active sessions" puts on a role, with any policy of that name
// before recorded so that the undo puts back exactly it (or removes the policy).
#include "actions/aws/context.h"

namespace firebreak::actions::aws {
namespace {

using core::ActionRequest;
using core::ActionResult;
using core::Json;
using core::ParamType;

constexpr const char* kRevoke = "aws.iam.revoke_role_sessions";
constexpr const char* kRestore = "aws.iam.restore_role_sessions";
constexpr const char* kIamVersion = "2010-05-08";
constexpr const char* kRoleArn = "arn:aws:iam::*:role/{role}";

struct RoleState {
  std::string name;
  std::string arn;
  Json policy;  // the AWSRevokeOlderSessions document now, or null
};

AwsResult<RoleState> readRole(Client& client, const std::string& role,
                              const CallOptions& options) {
  RoleState state;
  state.name = roleNameOf(role);
  auto got = client.query("iam", "GetRole", kIamVersion, {{"RoleName", state.name}}, options);
  if (!got) return awsFail(std::move(got.error()));
  state.arn = got->result().child("Role").child_value("Arn");
  auto policy = client.query("iam", "GetRolePolicy", kIamVersion,
                             {{"RoleName", state.name}, {"PolicyName", kRevokePolicyName}},
                             options);
  if (!policy) {
    if (policy.error().code != "NoSuchEntity") return awsFail(std::move(policy.error()));
    return state;
  }
  std::string text = policy->result().child_value("PolicyDocument");
  auto doc = parsePolicyDocument(text);
  if (!doc)
    return awsFail(makeError(AwsError::Source::kResponse, "MalformedResponse",
                             "the document of policy " + std::string(kRevokePolicyName) +
                                 " on role " + state.name + " is not JSON",
                             false));
  state.policy = std::move(*doc);
  return state;
}

AwsStatus putPolicy(Client& client, const std::string& role, const Json& document,
                    const CallOptions& options) {
  auto put = client.query("iam", "PutRolePolicy", kIamVersion,
                          {{"RoleName", role},
                           {"PolicyName", kRevokePolicyName},
                           {"PolicyDocument", document.dump()}},
                          options);
  if (!put) return awsFail(std::move(put.error()));
  return {};
}

std::optional<std::string> roleParam(const Json& params) {
  auto it = params.find("role");
  if (it == params.end() || !it->is_string() || it->get<std::string>().empty())
    return std::nullopt;
  return it->get<std::string>();
}

class RevokeRoleSessionsAction final : public BlockingAction {
 public:
  explicit RevokeRoleSessionsAction(std::shared_ptr<Context> ctx)
      : BlockingAction(std::move(ctx)) {
    spec_.name = kRevoke;
    spec_.summary =
        "Revoke a role's active sessions as the AWS console does (deny all to credentials "
        "issued before now)";
    spec_.params = {
        {"role", ParamType::kString, true, nullptr, "IAM role name or ARN", {}, true},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.undo = kRestore;
    spec_.phase = core::Phase::kContain;
    spec_.permissions = {
        {"iam:GetRole", kRoleArn}, {"iam:PutRolePolicy", kRoleArn}, {"iam:GetRolePolicy", kRoleArn}};
    spec_.outputs = {"role", "role_arn", "policy_name", "revoked_before", "previous_policy"};
  }

 private:
  ActionResult planNow(const ActionRequest& request) override {
    auto role = roleParam(request.params);
    if (!role) return ActionResult::permanent(describe(request, kRevoke, "'role' is required"));
    auto client = ctx_->client(request);
    if (!client) return failed(request, kRevoke, client.error(), "setting up the AWS client");
    auto live = liveResource(*ctx_, request, kRevoke, "role", *role,
                             [&] { return readRole(**client, *role, callOptions(request)); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const RoleState* state = &std::get<RoleState>(live);
    std::string plan = "would put inline policy " + std::string(kRevokePolicyName) + " on role " +
                       state->arn + " denying every action to sessions issued before the step runs";
    if (!state->policy.is_null()) plan += ", replacing the one there now (kept for undo)";
    ActionResult r = ActionResult::success(
        Json{{"plan", plan}, {"role", state->name}, {"role_arn", state->arn},
             {"policy_name", kRevokePolicyName}, {"previous_policy", state->policy}},
        describe(request, kRevoke, "planned"));
    r.resources = 1;
    return r;
  }

  ActionResult executeNow(const ActionRequest& request) override {
    auto role = roleParam(request.params);
    if (!role) return ActionResult::permanent(describe(request, kRevoke, "'role' is required"));
    auto client = ctx_->client(request);
    if (!client) return failed(request, kRevoke, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    auto live = liveResource(*ctx_, request, kRevoke, "role", *role,
                             [&] { return readRole(**client, *role, options); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const RoleState* state = &std::get<RoleState>(live);

    Json output{{"role", state->name},
                {"role_arn", state->arn},
                {"policy_name", kRevokePolicyName},
                {"revoked_before", core::formatTime(ctx_->clock().nowMs())},
                {"previous_policy", state->policy}};
    // A re-execution (same key) puts the same document, with the same time, and keeps the
    // policy the first execution found, not its own.
    if (auto before = ctx_->recalled("iam-revoke", request.idempotency_key)) {
      output["revoked_before"] = before->value("revoked_before", output["revoked_before"]);
      output["previous_policy"] = before->value("previous_policy", Json());
    } else if (!ctx_->remember("iam-revoke", request.idempotency_key, output)) {
      return ActionResult::retryable(describe(
          request, kRevoke, "cannot record the policy before the change in the data dir"));
    }
    Json document = revokeOlderSessionsPolicy(output["revoked_before"].get<std::string>());
    if (state->policy != document) {
      if (auto s = putPolicy(**client, state->name, document, options); !s)
        return failed(request, kRevoke, s.error(),
                      "putting policy " + std::string(kRevokePolicyName) + " on role " +
                          state->name,
                      output);
    }
    return ActionResult::success(
        output, describe(request, kRevoke,
                         "sessions of role " + state->arn + " issued before " +
                             output["revoked_before"].get<std::string>() + " are denied"));
  }
};

class RestoreRoleSessionsAction final : public BlockingAction {
 public:
  explicit RestoreRoleSessionsAction(std::shared_ptr<Context> ctx)
      : BlockingAction(std::move(ctx)) {
    spec_.name = kRestore;
    spec_.summary =
        "Undo of aws.iam.revoke_role_sessions: put back the AWSRevokeOlderSessions policy as "
        "it was, or delete it";
    spec_.params = {
        {"role", ParamType::kString, false, nullptr,
         "IAM role name or ARN; default: the one the undone step changed", {}, true},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.phase = core::Phase::kRecover;
    spec_.permissions = {{"iam:DeleteRolePolicy", kRoleArn},
                         {"iam:PutRolePolicy", kRoleArn},
                         {"iam:GetRole", kRoleArn},
                         {"iam:GetRolePolicy", kRoleArn}};
    spec_.outputs = {"role", "role_arn", "restored_policy", "replaced_policy"};
  }

 private:
  ActionResult act(const ActionRequest& request, bool plan) override {
    auto recorded = ctx_->undoneState(request, "previous_policy");
    if (!recorded)
      return ActionResult::permanent(describe(
          request, kRestore,
          "no recorded policy to restore: it undoes a step of aws.iam.revoke_role_sessions"));
    const Json& undo = *recorded;
    std::string role = roleParam(request.params).value_or(undo.value("role", ""));
    if (role.empty())
      return ActionResult::permanent(describe(request, kRestore, "no role to restore"));
    const Json previous = undo["previous_policy"];
    auto client = ctx_->client(request);
    if (!client) return failed(request, kRestore, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    auto live = liveResource(*ctx_, request, kRestore, "role", role,
                             [&] { return readRole(**client, role, options); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const RoleState* state = &std::get<RoleState>(live);
    Json output{{"role", state->name},
                {"role_arn", state->arn},
                {"restored_policy", previous},
                {"replaced_policy", state->policy}};
    const std::string what = previous.is_null()
                                 ? "delete inline policy " + std::string(kRevokePolicyName) +
                                       " from role " + state->arn
                                 : "put back the earlier inline policy " +
                                       std::string(kRevokePolicyName) + " on role " + state->arn;
    if (plan) {
      output["plan"] = state->policy == previous ? "nothing would change on role " + state->arn
                                                 : "would " + what;
      return ActionResult::success(output, describe(request, kRestore, "planned"));
    }
    if (state->policy != previous) {
      if (previous.is_null()) {
        auto del = client.value()->query(
            "iam", "DeleteRolePolicy", kIamVersion,
            {{"RoleName", state->name}, {"PolicyName", kRevokePolicyName}}, options);
        if (!del && del.error().code != "NoSuchEntity")
          return failed(request, kRestore, del.error(),
                        "deleting policy " + std::string(kRevokePolicyName) + " from role " +
                            state->name,
                        output);
      } else if (auto s = putPolicy(**client, state->name, previous, options); !s) {
        return failed(request, kRestore, s.error(),
                      "putting back policy " + std::string(kRevokePolicyName) + " on role " +
                          state->name,
                      output);
      }
    }
    return ActionResult::success(output, describe(request, kRestore, "did " + what));
  }

};

}  // namespace

std::unique_ptr<core::ActionProvider> makeRevokeRoleSessionsAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<RevokeRoleSessionsAction>(std::move(ctx));
}
std::unique_ptr<core::ActionProvider> makeRestoreRoleSessionsAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<RestoreRoleSessionsAction>(std::move(ctx));
}

}  // namespace firebreak::actions::aws
