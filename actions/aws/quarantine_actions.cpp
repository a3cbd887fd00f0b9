// aws.iam.quarantine_role / aws.iam.quarantine_user and their undos, aws.iam.release_role /
// aws.iam.release_user: a deny-all managed policy attached to a role or a user, with whether it
// was attached before recorded, so that the undo detaches it only when this step attached it
// (a quarantine someone put there on purpose stays).
#include <algorithm>

#include "actions/aws/context.h"

namespace firebreak::actions::aws {
namespace {

using core::ActionRequest;
using core::ActionResult;
using core::Json;
using core::ParamType;

constexpr const char* kIamVersion = "2010-05-08";
// Not "{policy_arn}": the policy may come from the config, which no parameter names. Any
// managed policy, AWS's own included (its account is "aws"); GetPolicy only reads.
constexpr const char* kAnyPolicy = "arn:aws:iam::*:policy/*";

// What differs between the role and the user variants: names of actions, API operations and
// their parameters.
struct Kind {
  const char* quarantine;  // action names
  const char* release;
  const char* journal;
  const char* noun;        // "role", the parameter too
  const char* get;         // GetRole
  const char* result;      // the element under GetRoleResult: Role
  const char* name_param;  // RoleName
  const char* list;        // ListAttachedRolePolicies
  const char* attach;      // AttachRolePolicy
  const char* detach;      // DetachRolePolicy
  std::vector<core::Permission> quarantine_permissions;
  std::vector<core::Permission> release_permissions;
};

const Kind& roleKind() {
  static const Kind k{"aws.iam.quarantine_role",
                      "aws.iam.release_role",
                      "iam-quarantine-role",
                      "role",
                      "GetRole",
                      "Role",
                      "RoleName",
                      "ListAttachedRolePolicies",
                      "AttachRolePolicy",
                      "DetachRolePolicy",
                      {{"iam:GetRole", "arn:aws:iam::*:role/{role}"},
                       {"iam:ListAttachedRolePolicies", "arn:aws:iam::*:role/{role}"},
                       {"iam:AttachRolePolicy", "arn:aws:iam::*:role/{role}"},
                       {"iam:GetPolicy", kAnyPolicy}},
                      {{"iam:GetRole", "arn:aws:iam::*:role/{role}"},
                       {"iam:ListAttachedRolePolicies", "arn:aws:iam::*:role/{role}"},
                       {"iam:DetachRolePolicy", "arn:aws:iam::*:role/{role}"}}};
  return k;
}

const Kind& userKind() {
  static const Kind k{"aws.iam.quarantine_user",
                      "aws.iam.release_user",
                      "iam-quarantine-user",
                      "user",
                      "GetUser",
                      "User",
                      "UserName",
                      "ListAttachedUserPolicies",
                      "AttachUserPolicy",
                      "DetachUserPolicy",
                      {{"iam:GetUser", "arn:aws:iam::*:user/{user}"},
                       {"iam:ListAttachedUserPolicies", "arn:aws:iam::*:user/{user}"},
                       {"iam:AttachUserPolicy", "arn:aws:iam::*:user/{user}"},
                       {"iam:GetPolicy", kAnyPolicy}},
                      {{"iam:GetUser", "arn:aws:iam::*:user/{user}"},
                       {"iam:ListAttachedUserPolicies", "arn:aws:iam::*:user/{user}"},
                       {"iam:DetachUserPolicy", "arn:aws:iam::*:user/{user}"}}};
  return k;
}

struct PrincipalState {
  std::string name;
  std::string arn;
  std::vector<std::string> attached;  // ARNs of the managed policies attached now
  bool has(const std::string& policy) const {
    return std::find(attached.begin(), attached.end(), policy) != attached.end();
  }
};

AwsResult<PrincipalState> readPrincipal(Client& client, const Kind& kind, const std::string& who,
                                        const CallOptions& options) {
  PrincipalState state;
  state.name = roleNameOf(who);  // the last path segment of a role or user ARN
  auto got = client.query("iam", kind.get, kIamVersion, {{kind.name_param, state.name}}, options);
  if (!got) return awsFail(std::move(got.error()));
  state.arn = got->result().child(kind.result).child_value("Arn");
  std::string marker;
  // Paged: a principal may have up to 20 managed policies, the default page is 100, but the
  // API may truncate anyway.
  for (int page = 0; page < 100; ++page) {
    QueryParams params{{kind.name_param, state.name}};
    if (!marker.empty()) params.emplace_back("Marker", marker);
    auto list = client.query("iam", kind.list, kIamVersion, params, options);
    if (!list) return awsFail(std::move(list.error()));
    pugi::xml_node result = list->result();
    for (pugi::xml_node m : result.child("AttachedPolicies").children("member"))
      state.attached.emplace_back(m.child_value("PolicyArn"));
    if (std::string(result.child_value("IsTruncated")) != "true") break;
    marker = result.child_value("Marker");
    if (marker.empty()) break;
  }
  return state;
}

class QuarantineAction final : public BlockingAction {
 public:
  QuarantineAction(std::shared_ptr<Context> ctx, const Kind& kind)
      : BlockingAction(std::move(ctx)), kind_(kind) {
    spec_.name = kind.quarantine;
    spec_.summary = std::string("Attach a deny-all managed policy to an IAM ") + kind.noun +
                    ", recording whether it was attached before";
    spec_.params = {
        {kind.noun,
         ParamType::kString,
         true,
         nullptr,
         std::string("IAM ") + kind.noun + " name or ARN",
         {},
         true},
        {"policy_arn",
         ParamType::kString,
         false,
         nullptr,
         "the deny-all managed policy; default: providers.aws.quarantine_policy_arn, else "
         "arn:aws:iam::aws:policy/AWSDenyAll",
         {}},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.undo = kind.release;
    spec_.phase = core::Phase::kContain;
    spec_.permissions = kind.quarantine_permissions;
    spec_.outputs = {kind.noun, std::string(kind.noun) + "_arn", "policy_arn", "attached_before"};
  }

  core::Status validate(const Json& params) const override {
    std::string policy = paramString(params, "policy_arn");
    if (!policy.empty() && policy.find("{{") == std::string::npos && policy.rfind("arn:", 0) != 0)
      return core::fail(core::ErrorCode::kInvalidArgument,
                        "'policy_arn' must be a managed policy ARN, not '" + policy + "'");
    return {};
  }

 private:
  ActionResult act(const ActionRequest& request, bool plan) override {
    const char* action = kind_.quarantine;
    std::string who = paramString(request.params, kind_.noun);
    if (who.empty())
      return ActionResult::permanent(
          describe(request, action, "'" + std::string(kind_.noun) + "' is required"));
    std::string policy = paramString(request.params, "policy_arn");
    if (policy.empty()) {
      auto settings = ctx_->settings();
      if (!settings) return failed(request, action, settings.error(), "reading providers.aws");
      policy = settings->quarantine_policy_arn;
    }
    auto client = ctx_->client(request);
    if (!client) return failed(request, action, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    auto live = liveResource(*ctx_, request, action, kind_.noun, who,
                             [&] { return readPrincipal(**client, kind_, who, options); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const PrincipalState* state = &std::get<PrincipalState>(live);
    Json output{{kind_.noun, state->name},
                {std::string(kind_.noun) + "_arn", state->arn},
                {"policy_arn", policy},
                {"attached_before", state->has(policy)}};
    if (plan) {
      // The policy must exist for the attach to work: a wrong ARN shows here, not mid-incident.
      auto got =
          client.value()->query("iam", "GetPolicy", kIamVersion, {{"PolicyArn", policy}}, options);
      if (!got) return failed(request, action, got.error(), "reading policy " + policy, output);
      output["plan"] = state->has(policy)
                           ? "policy " + policy + " is already attached to " + kind_.noun + " " +
                                 state->arn + ": nothing would change (the undo would leave it)"
                           : "would attach managed policy " + policy + " to " + kind_.noun + " " +
                                 state->arn + ", denying every action of it";
      ActionResult r = ActionResult::success(output, describe(request, action, "planned"));
      r.resources = 1;
      return r;
    }
    // A re-execution (same key) keeps what the first one found: its own attachment is not
    // "attached before", else the undo would leave the quarantine in place.
    if (auto before = ctx_->recalled(kind_.journal, request.idempotency_key)) {
      output["attached_before"] = before->value("attached_before", false);
      // The policy the first execution attached, even if the configured default changed since.
      policy = before->value("policy_arn", policy);
      output["policy_arn"] = policy;
    } else if (!ctx_->remember(kind_.journal, request.idempotency_key, output)) {
      return ActionResult::retryable(describe(
          request, action, "cannot record the attachment before the change in the data dir"));
    }
    if (!state->has(policy)) {
      auto attached =
          client.value()->query("iam", kind_.attach, kIamVersion,
                                {{kind_.name_param, state->name}, {"PolicyArn", policy}}, options);
      if (!attached)
        return failed(request, action, attached.error(),
                      "attaching policy " + policy + " to " + kind_.noun + " " + state->name,
                      output);
    }
    return ActionResult::success(
        output, describe(request, action,
                         std::string(kind_.noun) + " " + state->arn + " is quarantined: " + policy +
                             " attached" +
                             (output["attached_before"].get<bool>() ? " (it already was)" : "")));
  }


  const Kind& kind_;
};

class ReleaseAction final : public BlockingAction {
 public:
  ReleaseAction(std::shared_ptr<Context> ctx, const Kind& kind)
      : BlockingAction(std::move(ctx)), kind_(kind) {
    spec_.name = kind.release;
    spec_.summary = std::string("Undo of ") + kind.quarantine +
                    ": detach the deny-all policy, only if that step attached it";
    spec_.params = {
        {kind.noun,
         ParamType::kString,
         false,
         nullptr,
         std::string("IAM ") + kind.noun + " name or ARN; default: the one the undone step changed",
         {},
         true},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.phase = core::Phase::kRecover;
    spec_.permissions = kind.release_permissions;
    spec_.outputs = {kind.noun, std::string(kind.noun) + "_arn", "policy_arn", "detached"};
  }

 private:
  ActionResult act(const ActionRequest& request, bool plan) override {
    const char* action = kind_.release;
    auto recorded = ctx_->undoneState(request, "attached_before");
    if (!recorded || !(*recorded)["attached_before"].is_boolean() ||
        !(*recorded)["policy_arn"].is_string())
      return ActionResult::permanent(describe(
          request, action,
          std::string("no recorded attachment to undo: it undoes a step of ") + kind_.quarantine));
    std::string who = paramString(request.params, kind_.noun);
    if (who.empty()) who = recorded->value(kind_.noun, "");
    if (who.empty())
      return ActionResult::permanent(describe(request, action, std::string("no ") + kind_.noun));
    const std::string policy = (*recorded)["policy_arn"].get<std::string>();
    const bool attached_before = (*recorded)["attached_before"].get<bool>();
    auto client = ctx_->client(request);
    if (!client) return failed(request, action, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    auto live = liveResource(*ctx_, request, action, kind_.noun, who,
                             [&] { return readPrincipal(**client, kind_, who, options); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const PrincipalState* state = &std::get<PrincipalState>(live);
    const bool detach = !attached_before && state->has(policy);
    Json output{{kind_.noun, state->name},
                {std::string(kind_.noun) + "_arn", state->arn},
                {"policy_arn", policy},
                {"detached", detach}};
    const std::string what =
        attached_before ? "policy " + policy + " was attached before the quarantine: left attached"
        : !detach       ? "policy " + policy + " is no longer attached: nothing to detach"
                        : "detach policy " + policy + " from " + kind_.noun + " " + state->arn;
    if (plan) {
      output["plan"] = detach ? "would " + what : what;
      return ActionResult::success(output, describe(request, action, "planned"));
    }
    if (detach) {
      auto r =
          client.value()->query("iam", kind_.detach, kIamVersion,
                                {{kind_.name_param, state->name}, {"PolicyArn", policy}}, options);
      // NoSuchEntity: detached in between, which is what the undo wants.
      if (!r && r.error().code != "NoSuchEntity")
        return failed(request, action, r.error(),
                      "detaching policy " + policy + " from " + kind_.noun + " " + state->name,
                      output);
    }
    return ActionResult::success(output, describe(request, action, detach ? "did " + what : what));
  }


  const Kind& kind_;
};

}  // namespace

std::unique_ptr<core::ActionProvider> makeQuarantineRoleAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<QuarantineAction>(std::move(ctx), roleKind());
}
std::unique_ptr<core::ActionProvider> makeReleaseRoleAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<ReleaseAction>(std::move(ctx), roleKind());
}
std::unique_ptr<core::ActionProvider> makeQuarantineUserAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<QuarantineAction>(std::move(ctx), userKind());
}
std::unique_ptr<core::ActionProvider> makeReleaseUserAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<ReleaseAction>(std::move(ctx), userKind());
}

}  // namespace firebreak::actions::aws
