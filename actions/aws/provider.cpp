#include "actions/aws/provider.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "actions/aws/context.h"
#include "actions/aws/sigv4.h"

extern char** environ;

namespace firebreak::actions::aws {
namespace {

AwsError settingsError(std::string message) {
  return makeError(AwsError::Source::kRequest, "InvalidConfig", std::move(message), false);
}

// A string key of providers.aws: absent or null gives "", another type an error.
AwsResult<std::string> stringKey(const core::Json& object, const std::string& key,
                                 const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return awsFail(settingsError(where + "." + key + " must be a string"));
  return it->get<std::string>();
}

}  // namespace

AwsResult<Settings> readSettings(const core::Json& providers, const Environment& environment) {
  core::Json aws = core::Json::object();
  if (providers.is_object()) {
    if (auto it = providers.find("aws"); it != providers.end() && !it->is_null()) {
      if (!it->is_object()) return awsFail(settingsError("providers.aws must be a mapping"));
      aws = *it;
    }
  }
  Settings s;
  auto region = stringKey(aws, "region", "providers.aws");
  if (!region) return awsFail(std::move(region.error()));
  s.region = *region;
  if (s.region.empty()) s.region = environment.get("AWS_REGION").value_or("");
  if (s.region.empty()) s.region = environment.get("AWS_DEFAULT_REGION").value_or("");
  if (s.region.empty())
    return awsFail(settingsError(
        "no AWS region: set providers.aws.region in the config, or AWS_REGION in the "
        "environment"));
  auto endpoint = stringKey(aws, "endpoint_url", "providers.aws");
  if (!endpoint) return awsFail(std::move(endpoint.error()));
  s.endpoint_url = endpoint->empty() ? environment.get("AWS_ENDPOINT_URL").value_or("") : *endpoint;
  auto profile = stringKey(aws, "profile", "providers.aws");
  if (!profile) return awsFail(std::move(profile.error()));
  s.profile = *profile;
  // role_arn (with external_id, session_name): every call goes through that role.
  auto arn = stringKey(aws, "role_arn", "providers.aws");
  auto external = stringKey(aws, "external_id", "providers.aws");
  auto session = stringKey(aws, "session_name", "providers.aws");
  for (auto* r : {&arn, &external, &session})
    if (!*r) return awsFail(std::move(r->error()));
  if (!arn->empty()) {
    AssumeRoleOptions options;
    options.role_arn = *arn;
    options.external_id = *external;
    if (!session->empty()) options.session_name = *session;
    if (auto v = validateAssumeRole(options); !v)
      return awsFail(std::move(v.error()).context("reading providers.aws.role_arn"));
    s.assume_role = std::move(options);
  } else if (!external->empty() || !session->empty()) {
    return awsFail(settingsError(
        "providers.aws: external_id and session_name need role_arn, the role to assume"));
  }
  auto quarantine = stringKey(aws, "quarantine_policy_arn", "providers.aws");
  if (!quarantine) return awsFail(std::move(quarantine.error()));
  if (!quarantine->empty()) {
    if (quarantine->rfind("arn:", 0) != 0)
      return awsFail(settingsError(
          "providers.aws.quarantine_policy_arn must be a managed policy ARN "
          "(arn:aws:iam::ACCOUNT:policy/NAME), not '" + *quarantine + "'"));
    s.quarantine_policy_arn = *quarantine;
  }
  return s;
}

std::string roleNameOf(std::string_view role) {
  if (role.rfind("arn:", 0) != 0) return std::string(role);
  auto slash = role.rfind('/');
  return std::string(slash == std::string_view::npos ? role : role.substr(slash + 1));
}

core::Json revokeOlderSessionsPolicy(std::string_view issued_before) {
  return core::Json{
      {"Version", "2012-10-17"},
      {"Statement",
       core::Json::array({core::Json{
           {"Effect", "Deny"},
           {"Action", "*"},
           {"Resource", "*"},
           {"Condition",
            {{"DateLessThan", {{"aws:TokenIssueTime", std::string(issued_before)}}}}},
       }})},
  };
}

std::optional<core::Json> parsePolicyDocument(std::string_view text) {
  core::Json doc = core::Json::parse(text, nullptr, false);
  if (!doc.is_discarded()) return doc;
  // IAM answers the document percent-encoded (RFC 3986: '+' is itself, not a space).
  std::string decoded;
  decoded.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      decoded += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      decoded += text[i];
    }
  }
  doc = core::Json::parse(decoded, nullptr, false);
  if (doc.is_discarded()) return std::nullopt;
  return doc;
}

std::string lambdaPath(std::string_view version, std::string_view function,
                       std::string_view suffix) {
  return "/" + std::string(version) + "/functions/" + uriEncode(function) + std::string(suffix);
}

std::string rotationRequestToken(std::string_view idempotency_key) {
  // Domain-separated, so that the token is not the hash other uses of the key give.
  std::string h =
      sha256Hex("firebreak:secretsmanager.rotate_secret:" + std::string(idempotency_key));
  h.resize(32);
  h[12] = '8';                                                         // version 8: custom
  h[16] = "89ab"[std::stoi(std::string(1, h[16]), nullptr, 16) & 3];  // RFC 9562 variant
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" +
         h.substr(16, 4) + "-" + h.substr(20, 12);
}

std::string snsDeduplicationId(std::string_view idempotency_key) {
  return sha256Hex("firebreak:sns.publish:" + std::string(idempotency_key));
}

std::optional<QueryParams> snsMessageAttributes(const core::Json& attributes) {
  QueryParams out;
  if (attributes.is_null()) return out;
  if (!attributes.is_object()) return std::nullopt;
  int n = 0;
  // nlohmann's object iterates by key: the entries come out sorted by name.
  for (auto it = attributes.begin(); it != attributes.end(); ++it) {
    if (!it->is_string()) return std::nullopt;
    const std::string prefix = "MessageAttributes.entry." + std::to_string(++n) + ".";
    out.emplace_back(prefix + "Name", it.key());
    out.emplace_back(prefix + "Value.DataType", "String");
    out.emplace_back(prefix + "Value.StringValue", it->get<std::string>());
  }
  return out;
}

core::Json functionEvidence(const core::Json& configuration) {
  using core::Json;
  auto field = [&](const char* name) {
    auto it = configuration.find(name);
    return it == configuration.end() ? Json() : *it;
  };
  Json layers = Json::array();
  if (auto it = configuration.find("Layers"); it != configuration.end() && it->is_array())
    for (const auto& l : *it)
      if (l.is_object())
        layers.push_back(
            Json{{"arn", l.value("Arn", "")}, {"code_size", l.value("CodeSize", Json())}});
  Json names = Json::array();
  // Only the keys: the values of a function's environment are often credentials.
  if (auto env = configuration.find("Environment");
      env != configuration.end() && env->is_object())
    if (auto vars = env->find("Variables"); vars != env->end() && vars->is_object())
      for (auto it = vars->begin(); it != vars->end(); ++it) names.push_back(it.key());
  return Json{{"function_name", field("FunctionName")},
              {"function_arn", field("FunctionArn")},
              {"runtime", field("Runtime")},
              {"handler", field("Handler")},
              {"role", field("Role")},
              {"code_sha256", field("CodeSha256")},
              {"code_size", field("CodeSize")},
              {"last_modified", field("LastModified")},
              {"version", field("Version")},
              {"package_type", field("PackageType")},
              {"memory_size", field("MemorySize")},
              {"timeout", field("Timeout")},
              {"state", field("State")},
              {"layers", std::move(layers)},
              {"environment_variable_names", std::move(names)}};
}

// ---- Context ----

Context::Context(const core::ActionEnv& env, Environment environment)
    : blocking_(env.blocking),
      clock_(env.clock),
      protected_(env.protected_resources),
      data_dir_(env.data_dir),
      providers_(env.providers),
      environment_(std::move(environment)) {}

AwsResult<Client*> Context::client(const core::ActionRequest& request) {
  // The step's own account and region, checked before anything is built.
  std::optional<AssumeRoleOptions> role;
  std::string region;
  if (auto it = request.params.find("assume_role"); it != request.params.end() && !it->is_null()) {
    if (!it->is_object())
      return awsFail(settingsError("'assume_role' must be a mapping of role_arn, external_id, "
                                   "session_name"));
    AssumeRoleOptions options;
    options.session_name = "firebreak";
    for (auto f = it->begin(); f != it->end(); ++f) {
      if (!f->is_string())
        return awsFail(settingsError("'assume_role." + f.key() + "' must be a string"));
      const auto& v = f->get_ref<const std::string&>();
      if (f.key() == "role_arn") options.role_arn = v;
      else if (f.key() == "external_id") options.external_id = v;
      else if (f.key() == "session_name") options.session_name = v;
      else
        return awsFail(settingsError("'assume_role' has no key '" + f.key() +
                                     "' (role_arn, external_id, session_name)"));
    }
    if (auto v = validateAssumeRole(options); !v)
      return awsFail(std::move(v.error()).context("reading the step's assume_role"));
    role = std::move(options);
  }
  if (auto it = request.params.find("region"); it != request.params.end() && it->is_string())
    region = it->get<std::string>();

  std::lock_guard lock(mu_);
  if (!clock_)
    return awsFail(settingsError("the AWS actions were registered without a clock"));
  if (!settings_) {
    auto settings = readSettings(providers_, environment_);
    if (!settings) return awsFail(std::move(settings.error()));
    Environment environment = environment_;
    // providers.aws.profile names the profile as AWS_PROFILE would, and wins over it.
    if (!settings->profile.empty()) environment.set("AWS_PROFILE", settings->profile);
    ProviderDeps deps{clock_, builtin::httpCall, settings->region, settings->endpoint_url,
                      nullptr};
    std::shared_ptr<CredentialsProvider> credentials = defaultCredentialsChain(environment, deps);
    if (settings->assume_role)
      credentials = std::make_shared<RefreshingProvider>(
          std::make_shared<AssumeRoleProvider>(credentials, *settings->assume_role, deps),
          *clock_);
    credentials_ = std::move(credentials);
    settings_ = std::move(*settings);
  }
  if (region.empty()) region = settings_->region;
  const std::string key = role ? role->role_arn + "\n" + role->external_id + "\n" +
                                     role->session_name + "\n" + region
                         : region == settings_->region ? std::string()
                                                       : "\n\n\n" + region;
  if (auto it = clients_.find(key); it != clients_.end()) return it->second.get();
  std::shared_ptr<CredentialsProvider> credentials = credentials_;
  if (role) {
    // Assumed with the provider's credentials (a role chain when providers.aws assumes one).
    ProviderDeps deps{clock_, builtin::httpCall, region, settings_->endpoint_url, nullptr};
    credentials = std::make_shared<RefreshingProvider>(
        std::make_shared<AssumeRoleProvider>(credentials_, *role, deps), *clock_);
  }
  ClientConfig config;
  config.region = region;
  config.endpoint_url = settings_->endpoint_url;
  auto& client = clients_[key];
  client = std::make_unique<Client>(std::move(config), std::move(credentials), *clock_);
  return client.get();
}

void addSharedSpec(core::ActionSpec& spec) {
  spec.retry = {3, std::chrono::milliseconds(1000), std::chrono::milliseconds(20000)};
  spec.params.push_back(
      {"assume_role", core::ParamType::kStringMap, false, nullptr,
       "another account: {role_arn, external_id, session_name}; this step's calls go through "
       "that role, assumed with the provider's credentials",
       {}});
  spec.params.push_back({"region", core::ParamType::kString, false, nullptr,
                         "the region of this step's calls; default providers.aws.region",
                         {}});
}

std::optional<std::string> Context::protectedBy(
    std::initializer_list<std::string_view> resources) const {
  if (!protected_) return std::nullopt;
  for (auto r : resources)
    if (!r.empty())
      if (auto p = protected_->match(r)) return p;
  return std::nullopt;
}

std::string Context::journalPath(const std::string& action, const std::string& key) const {
  return data_dir_ + "/aws-state/" + action + "-" + sha256Hex(key).substr(0, 32) + ".json";
}

std::optional<core::Json> Context::recalled(const std::string& action,
                                            const std::string& key) const {
  if (data_dir_.empty() || key.empty()) return std::nullopt;
  std::ifstream in(journalPath(action, key));
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  core::Json state = core::Json::parse(text.str(), nullptr, false);
  if (state.is_discarded() || !state.is_object()) return std::nullopt;
  return state;
}

bool Context::remember(const std::string& action, const std::string& key,
                       const core::Json& state) const {
  if (data_dir_.empty() || key.empty()) return true;  // nowhere to keep it: nothing to recall
  std::error_code ec;
  std::filesystem::create_directories(data_dir_ + "/aws-state", ec);
  if (ec) return false;
  const std::string path = journalPath(action, key);
  const std::string tmp = path + ".tmp";
  const std::string text = state.dump();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) return false;
  return true;
}

std::optional<core::Json> Context::undoneState(const core::ActionRequest& request,
                                               const std::string& field) const {
  if (request.undo_state.is_object() && request.undo_state.contains(field))
    return request.undo_state;
  return std::nullopt;
}

// ---- helpers ----

std::string describe(const core::ActionRequest& request, std::string_view action,
                     std::string_view what) {
  return std::string(action) + ": " + std::string(what) + " (step " + request.step_id +
         ", attempt " + std::to_string(request.attempt) + ")";
}

core::ActionResult failed(const core::ActionRequest& request, std::string_view action,
                          const AwsError& error, std::string_view doing, core::Json output) {
  core::ActionResult r;
  r.outcome = outcomeFor(error);
  r.message = describe(request, action, std::string(doing) + ": " + error.str());
  r.output = std::move(output);
  return r;
}

core::ActionResult protectedFailure(const core::ActionRequest& request, std::string_view action,
                                    std::string_view resource, const std::string& pattern) {
  return core::ActionResult::permanent(describe(
      request, action,
      std::string(resource) + " is protected (limits.protected pattern '" + pattern +
          "'); nothing was changed"));
}

CallOptions callOptions(const core::ActionRequest& request) {
  CallOptions options;
  options.cancel = request.cancel.get();
  return options;
}

std::string paramString(const core::Json& params, const char* name) {
  auto it = params.find(name);
  return it != params.end() && it->is_string() ? it->get<std::string>() : std::string();
}

core::ActionResult BlockingAction::act(const core::ActionRequest& request, bool) {
  // Reached only by an action that overrides neither act() nor planNow()/executeNow().
  return core::ActionResult::permanent(describe(request, spec_.name, "has no implementation"));
}

core::ActionResult BlockingAction::guarded(const core::ActionRequest& request, bool plan) {
  try {
    return plan ? planNow(request) : executeNow(request);
  } catch (const std::exception& e) {
    return core::ActionResult::permanent(describe(request, spec_.name, e.what()));
  }
}

core::awaitable<core::ActionResult> BlockingAction::run(const core::ActionRequest& request,
                                                        bool plan) {
  if (!ctx_->blocking())
    co_return core::ActionResult::permanent(
        describe(request, spec_.name, "no blocking thread pool"));
  // Pointers only: GCC 12 frees non-trivial captures of a closure given to offload() twice.
  BlockingAction* self = this;
  const core::ActionRequest* r = &request;
  auto work = [self, r, plan] { return self->guarded(*r, plan); };
  co_return co_await core::offload(*ctx_->blocking(), std::move(work));
}

core::Status registerActions(core::ProviderRegistry& registry, const core::ActionEnv& env,
                             Environment environment) {
  auto ctx = std::make_shared<Context>(env, std::move(environment));
  std::unique_ptr<core::ActionProvider> providers[] = {
      makeSetConcurrencyAction(ctx),
      makeRestoreConcurrencyAction(ctx),
      makeRevokeRoleSessionsAction(ctx),
      makeRestoreRoleSessionsAction(ctx),
      makeDeactivateAccessKeyAction(ctx),
      makeReactivateAccessKeyAction(ctx),
      makeIsolateInstanceAction(ctx),
      makeRestoreInstanceGroupsAction(ctx),
      makeSnapshotVolumesAction(ctx),
      makeBlockPublicAccessAction(ctx),
      makeRestorePublicAccessAction(ctx),
      makeQuarantineRoleAction(ctx),
      makeReleaseRoleAction(ctx),
      makeQuarantineUserAction(ctx),
      makeReleaseUserAction(ctx),
      makeDisableEventSourcesAction(ctx),
      makeEnableEventSourcesAction(ctx),
      makeSnapshotFunctionAction(ctx),
      makeSnsPublishAction(ctx),
      makeRotateSecretAction(ctx),
  };
  for (auto& p : providers) {
    if (auto* action = dynamic_cast<BlockingAction*>(p.get())) action->addSharedSpec();
    if (auto s = registry.add(std::move(p)); !s) return s;
  }
  return {};
}

core::Status registerActions(core::ProviderRegistry& registry, const core::ActionEnv& env) {
  // The one place the AWS actions see the process environment: region and credentials
  // variables, as the AWS SDKs read them.
  return registerActions(registry, env, Environment::fromEnvp(environ));
}

}  // namespace firebreak::actions::aws
