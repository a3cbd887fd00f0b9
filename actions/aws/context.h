// What the AWS actions share: one Client, built on first use, and the small helpers every
// action needs (messages, protected checks, the journal of states before a change).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "actions/aws/client.h"
#include "actions/aws/provider.h"
#include "daemon/core/action.h"

namespace firebreak::actions::aws {

class Context {
 public:
  Context(const core::ActionEnv& env, Environment environment);

  // The client for `request`, built the first time an action needs it (settings read,
  // credentials chain assembled; credentials themselves are fetched per call). A step's
  // `assume_role` (another account) and `region` give a client of their own, through that
  // role (assumed with the provider's credentials) in that region, built once and kept.
  // Blocking: call it off the io thread.
  AwsResult<Client*> client(const core::ActionRequest& request);
  // providers.aws as the client reads it (quarantine_policy_arn, ...). Pure: no I/O.
  AwsResult<Settings> settings() const { return readSettings(providers_, environment_); }

  asio::thread_pool* blocking() const { return blocking_; }
  const core::Clock& clock() const { return *clock_; }
  // The first protected pattern any of `resources` matches.
  std::optional<std::string> protectedBy(std::initializer_list<std::string_view> resources) const;

  // The state an execution recorded before it changed anything, by idempotency key: a second
  // execution with the same key (after a crash) reports and reapplies exactly that, instead of
  // reading back its own change. nullopt: none recorded (or no data dir).
  std::optional<core::Json> recalled(const std::string& action, const std::string& key) const;
  // Durable (fsync, rename) before the change is made; false when it could not be written.
  bool remember(const std::string& action, const std::string& key, const core::Json& state) const;
  // What an undo restores: request.undo_state (the undone step's output, as the engine hands
  // it over) when it holds `field`.
  std::optional<core::Json> undoneState(const core::ActionRequest& request,
                                        const std::string& field) const;

 private:
  std::string journalPath(const std::string& action, const std::string& key) const;

  asio::thread_pool* blocking_;
  const core::Clock* clock_;
  const core::ProtectedResources* protected_;
  std::string data_dir_;
  core::Json providers_;
  Environment environment_;
  std::mutex mu_;
  std::shared_ptr<CredentialsProvider> credentials_;  // the provider's, shared by all clients
  std::optional<Settings> settings_;
  std::map<std::string, std::unique_ptr<Client>> clients_;  // "" is the provider's own
};

// What every AWS action shares: the parameters `assume_role` ({role_arn, external_id,
// session_name}: this step's calls go through that role, for another account) and `region`,
// and the AWS SDKs' standard retry (3 attempts, full jitter from 1 s, at most 20 s) for a
// step that names none.
void addSharedSpec(core::ActionSpec& spec);

// "<action>: <what> (step <id>, attempt <n>)".
std::string describe(const core::ActionRequest& request, std::string_view action,
                     std::string_view what);
// An AWS error as the action's result; the message names what was being done to what.
core::ActionResult failed(const core::ActionRequest& request, std::string_view action,
                          const AwsError& error, std::string_view doing,
                          core::Json output = core::Json::object());
core::ActionResult protectedFailure(const core::ActionRequest& request, std::string_view action,
                                    std::string_view resource, const std::string& pattern);
CallOptions callOptions(const core::ActionRequest& request);
// A string parameter's value; "" when absent or not a string (the engine checked the types).
std::string paramString(const core::Json& params, const char* name);

// What every AWS action does before it plans or changes anything: read the resource as it is
// now (`read()` gives an AwsResult of a state with an `arn`), and refuse it when
// limits.protected names it by the name given or by that ARN. The state, or the step's end.
template <typename Read>
auto liveResource(const Context& ctx, const core::ActionRequest& request,
                  std::string_view action, std::string_view kind, const std::string& name,
                  Read read)
    -> std::variant<typename std::invoke_result_t<Read>::value_type, core::ActionResult> {
  auto state = read();
  if (!state)
    return failed(request, action, state.error(), "reading " + std::string(kind) + " " + name);
  if (auto pattern = ctx.protectedBy({name, state->arn}))
    return protectedFailure(request, action, state->arn.empty() ? name : state->arn, *pattern);
  return std::move(*state);
}

// An action whose work is blocking calls: plan() and execute() run planNow() and executeNow()
// on the blocking pool; an exception becomes a Permanent result. Most actions take one path
// for both and override act(), `plan` saying which; others override planNow() and
// executeNow() apart.
class BlockingAction : public core::ActionProvider {
 public:
  explicit BlockingAction(std::shared_ptr<Context> ctx) : ctx_(std::move(ctx)) {}
  const core::ActionSpec& spec() const override { return spec_; }
  // The parameters every AWS action shares (registerActions adds them once).
  void addSharedSpec() { aws::addSharedSpec(spec_); }
  core::awaitable<core::ActionResult> plan(const core::ActionRequest& request) override {
    return run(request, true);
  }
  core::awaitable<core::ActionResult> execute(const core::ActionRequest& request) override {
    return run(request, false);
  }

 protected:
  virtual core::ActionResult act(const core::ActionRequest& request, bool plan);
  virtual core::ActionResult planNow(const core::ActionRequest& request) {
    return act(request, true);
  }
  virtual core::ActionResult executeNow(const core::ActionRequest& request) {
    return act(request, false);
  }

  std::shared_ptr<Context> ctx_;
  core::ActionSpec spec_;

 private:
  core::awaitable<core::ActionResult> run(const core::ActionRequest& request, bool plan);
  core::ActionResult guarded(const core::ActionRequest& request, bool plan);
};

std::unique_ptr<core::ActionProvider> makeSetConcurrencyAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeRestoreConcurrencyAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeRevokeRoleSessionsAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeRestoreRoleSessionsAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeDeactivateAccessKeyAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeReactivateAccessKeyAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeIsolateInstanceAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeRestoreInstanceGroupsAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeSnapshotVolumesAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeBlockPublicAccessAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeRestorePublicAccessAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeQuarantineRoleAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeReleaseRoleAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeQuarantineUserAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeReleaseUserAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeDisableEventSourcesAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeEnableEventSourcesAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeSnapshotFunctionAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeSnsPublishAction(std::shared_ptr<Context> ctx);
std::unique_ptr<core::ActionProvider> makeRotateSecretAction(std::shared_ptr<Context> ctx);

}  // namespace firebreak::actions::aws
