// aws.iam.deactivate_access_key and its undo, aws.iam.reactivate_access_key: one access key of
// an IAM user, or every key of it, set Inactive, with each key's status before recorded so
// that the undo puts back exactly those statuses.
#include <algorithm>

#include "actions/aws/context.h"

namespace firebreak::actions::aws {
namespace {

using core::ActionRequest;
using core::ActionResult;
using core::Json;
using core::ParamType;

constexpr const char* kDeactivate = "aws.iam.deactivate_access_key";
constexpr const char* kReactivate = "aws.iam.reactivate_access_key";
constexpr const char* kIamVersion = "2010-05-08";
constexpr const char* kJournal = "iam-access-keys";
constexpr const char* kUserArn = "arn:aws:iam::*:user/{user}";

struct UserKeys {
  std::string name;
  std::string arn;
  std::vector<std::pair<std::string, std::string>> keys;  // id, status (Active, Inactive)
};

// "arn:aws:iam::1:user/path/name" -> "name".
std::string userNameOf(std::string_view user) { return roleNameOf(user); }

AwsResult<UserKeys> readUser(Client& client, const std::string& user,
                             const CallOptions& options) {
  UserKeys state;
  state.name = userNameOf(user);
  auto got = client.query("iam", "GetUser", kIamVersion, {{"UserName", state.name}}, options);
  if (!got) return awsFail(std::move(got.error()));
  state.arn = got->result().child("User").child_value("Arn");
  auto keys = client.query("iam", "ListAccessKeys", kIamVersion, {{"UserName", state.name}},
                           options);
  if (!keys) return awsFail(std::move(keys.error()));
  // A user has at most two keys: one page always holds them.
  for (pugi::xml_node m : keys->result().child("AccessKeyMetadata").children("member"))
    state.keys.emplace_back(m.child_value("AccessKeyId"), m.child_value("Status"));
  return state;
}

AwsStatus setStatus(Client& client, const std::string& user, const std::string& key,
                    const std::string& status, const CallOptions& options) {
  auto r = client.query("iam", "UpdateAccessKey", kIamVersion,
                        {{"UserName", user}, {"AccessKeyId", key}, {"Status", status}}, options);
  if (!r) return awsFail(std::move(r.error()));
  return {};
}

class DeactivateAccessKeyAction final : public BlockingAction {
 public:
  explicit DeactivateAccessKeyAction(std::shared_ptr<Context> ctx)
      : BlockingAction(std::move(ctx)) {
    spec_.name = kDeactivate;
    spec_.summary =
        "Set an IAM user's access key (or every key of the user) Inactive, recording each "
        "key's status before";
    spec_.params = {
        {"user", ParamType::kString, true, nullptr, "IAM user name or ARN", {}, true},
        {"access_key_id", ParamType::kString, false, nullptr,
         "the key to deactivate (AKIA...); absent: every key of the user", {}},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.undo = kReactivate;
    spec_.phase = core::Phase::kContain;
    spec_.permissions = {{"iam:GetUser", kUserArn},
                         {"iam:ListAccessKeys", kUserArn},
                         {"iam:UpdateAccessKey", kUserArn}};
    spec_.outputs = {"user", "user_arn", "keys", "deactivated"};
  }

 private:
  // The keys this step acts on: [{access_key_id, previous_status}], from the state read now.
  static AwsResult<Json> selected(const UserKeys& state, const std::string& key_id) {
    Json keys = Json::array();
    for (const auto& [id, status] : state.keys)
      if (key_id.empty() || id == key_id)
        keys.push_back(Json{{"access_key_id", id}, {"previous_status", status}});
    if (!key_id.empty() && keys.empty())
      return awsFail(makeError(AwsError::Source::kService, "NoSuchEntity",
                               "user " + state.name + " has no access key " + key_id, false));
    return keys;
  }

  ActionResult act(const ActionRequest& request, bool plan) override {
    std::string user = paramString(request.params, "user");
    std::string key_id = paramString(request.params, "access_key_id");
    if (user.empty())
      return ActionResult::permanent(describe(request, kDeactivate, "'user' is required"));
    auto client = ctx_->client(request);
    if (!client) return failed(request, kDeactivate, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    auto live = liveResource(*ctx_, request, kDeactivate, "user", user,
                             [&] { return readUser(**client, user, options); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const UserKeys* state = &std::get<UserKeys>(live);
    auto keys = selected(*state, key_id);
    if (!keys) return failed(request, kDeactivate, keys.error(), "finding the key");
    Json output{{"user", state->name}, {"user_arn", state->arn}, {"keys", *keys},
                {"deactivated", Json::array()}};
    if (plan) {
      std::string ids;
      for (const auto& k : *keys)
        if (k["previous_status"] == "Active")
          ids += (ids.empty() ? "" : ", ") + k["access_key_id"].get<std::string>();
      output["plan"] = ids.empty() ? "no active access key of user " + state->name +
                                         " to deactivate: nothing would change"
                                   : "would set access key(s) " + ids + " of user " +
                                         state->name + " Inactive";
      ActionResult r = ActionResult::success(output, describe(request, kDeactivate, "planned"));
      r.resources = static_cast<int64_t>(keys->size());
      return r;
    }
    // A re-execution (same key) keeps the statuses the first one found, not its own.
    if (auto before = ctx_->recalled(kJournal, request.idempotency_key))
      output["keys"] = before->value("keys", output["keys"]);
    else if (!ctx_->remember(kJournal, request.idempotency_key, output))
      return ActionResult::retryable(describe(
          request, kDeactivate, "cannot record the statuses before the change in the data dir"));
    for (const auto& [id, status] : state->keys) {
      bool wanted = key_id.empty() || id == key_id;
      if (!wanted) continue;
      if (status != "Inactive") {
        if (auto s = setStatus(**client, state->name, id, "Inactive", options); !s)
          return failed(request, kDeactivate, s.error(),
                        "deactivating access key " + id + " of user " + state->name, output);
      }
      output["deactivated"].push_back(id);
    }
    return ActionResult::success(
        output, describe(request, kDeactivate,
                         std::to_string(output["deactivated"].size()) +
                             " access key(s) of user " + state->arn + " are Inactive"));
  }

};

class ReactivateAccessKeyAction final : public BlockingAction {
 public:
  explicit ReactivateAccessKeyAction(std::shared_ptr<Context> ctx)
      : BlockingAction(std::move(ctx)) {
    spec_.name = kReactivate;
    spec_.summary =
        "Undo of aws.iam.deactivate_access_key: put back each key's recorded status";
    spec_.params = {
        {"user", ParamType::kString, false, nullptr,
         "IAM user name or ARN; default: the one the undone step changed", {}, true},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.phase = core::Phase::kRecover;
    spec_.permissions = {{"iam:GetUser", kUserArn},
                         {"iam:ListAccessKeys", kUserArn},
                         {"iam:UpdateAccessKey", kUserArn}};
    spec_.outputs = {"user", "user_arn", "restored"};
  }

 private:
  ActionResult act(const ActionRequest& request, bool plan) override {
    auto recorded = ctx_->undoneState(request, "keys");
    if (!recorded || !(*recorded)["keys"].is_array())
      return ActionResult::permanent(describe(
          request, kReactivate,
          "no recorded statuses to restore: it undoes a step of aws.iam.deactivate_access_key"));
    std::string user = paramString(request.params, "user");
    if (user.empty()) user = recorded->value("user", "");
    if (user.empty()) return ActionResult::permanent(describe(request, kReactivate, "no user"));
    auto client = ctx_->client(request);
    if (!client) return failed(request, kReactivate, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    auto live = liveResource(*ctx_, request, kReactivate, "user", user,
                             [&] { return readUser(**client, user, options); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const UserKeys* state = &std::get<UserKeys>(live);
    Json output{{"user", state->name}, {"user_arn", state->arn}, {"restored", Json::array()}};
    std::string changes;
    for (const auto& k : (*recorded)["keys"]) {
      std::string id = k.value("access_key_id", "");
      std::string want = k.value("previous_status", "");
      if (id.empty() || (want != "Active" && want != "Inactive")) continue;
      auto now = std::find_if(state->keys.begin(), state->keys.end(),
                              [&](const auto& p) { return p.first == id; });
      if (now == state->keys.end() || now->second == want) continue;  // deleted, or as it was
      changes += (changes.empty() ? "" : ", ") + id + " to " + want;
      if (!plan) {
        if (auto s = setStatus(**client, state->name, id, want, options); !s)
          return failed(request, kReactivate, s.error(),
                        "setting access key " + id + " of user " + state->name + " " + want,
                        output);
      }
      output["restored"].push_back(Json{{"access_key_id", id}, {"status", want}});
    }
    if (plan) {
      output["plan"] = changes.empty() ? "nothing would change for user " + state->name
                                       : "would set access key(s) " + changes;
      return ActionResult::success(output, describe(request, kReactivate, "planned"));
    }
    return ActionResult::success(
        output, describe(request, kReactivate,
                         changes.empty() ? "access keys of user " + state->name +
                                               " already as recorded"
                                         : "set access key(s) " + changes));
  }

};

}  // namespace

std::unique_ptr<core::ActionProvider> makeDeactivateAccessKeyAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<DeactivateAccessKeyAction>(std::move(ctx));
}
std::unique_ptr<core::ActionProvider> makeReactivateAccessKeyAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<ReactivateAccessKeyAction>(std::move(ctx));
}

}  // namespace firebreak::actions::aws
