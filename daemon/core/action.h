// The action provider interface, the main extension point: every step of a playbook runs an
// action through it. A provider declares its schema and safety properties as data; the engine
// and the loader use only this interface.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/logger.h>

#include "daemon/core/asio.h"
#include "daemon/core/clock.h"
#include "daemon/core/json.h"
#include "daemon/core/protected.h"
#include "daemon/core/result.h"

namespace firebreak::core {

enum class ParamType {
  kString,
  kInt,
  kNumber,
  kBool,
  kDuration,        // "30s", "10m" (see duration.h)
  kStringList,
  kStringMap,       // string -> string
  kIntOrIntList,    // 200 or [200, 204]
  kSecret,          // a secret reference (env:NAME, file:PATH) or a literal; never stored resolved
  kObject,          // any mapping
  kAny,
};
const char* paramTypeName(ParamType type);

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kString;
  bool required = false;
  Json default_value;  // null: no default
  std::string description;
  std::vector<std::string> one_of;  // allowed values of a string parameter, empty: any
  // Names a resource the action changes (a string or a list of them): the engine refuses
  // the step when one matches `limits.protected`.
  bool resource = false;
};

// What an action does to the world; drills measure from it, a step may override it.
enum class Phase { kObserve, kContain, kRecover, kNotify };
const char* phaseName(Phase phase);
std::optional<Phase> parsePhase(std::string_view name);

// A cloud permission an action needs, and the resource it needs it on: what
// `firebreak permissions` turns into a least-privilege policy.
struct Permission {
  std::string action;  // "iam:PutRolePolicy"
  // The resource's ARN, "{param}" standing for the name that parameter gives
  // ("arn:aws:iam::*:role/{role}"); "" for "*", when the API has no resource-level permission.
  std::string resource;
};

// How the engine retries a step whose action answers Retryable.
struct RetryPolicy {
  int attempts = 1;                                    // total attempts, 1 = no retry
  std::chrono::milliseconds backoff{1000};             // first delay; doubles, full jitter
  std::chrono::milliseconds max_backoff{30000};
};

struct ActionSpec {
  std::string name;     // <area>.<verb_object>
  std::string summary;  // one line for `firebreak actions`
  std::vector<ParamSpec> params;
  bool idempotent = false;              // safe to re-execute with the same idempotency key
  bool step_may_declare_idempotent = false;  // exec.run, http.request: the author knows
  bool destructive = false;             // counts against the destructive-actions budget
  std::string undo;                     // action run to undo it ("" when there is none)
  Phase phase = Phase::kObserve;
  std::vector<Permission> permissions;   // cloud permissions it needs
  std::vector<std::string> outputs;      // fields of steps.<id>.output
  std::string resources_param;           // list parameter that counts resources (max_resources)
  // The retry of a step that gives none (or gives only some of its keys): none for most
  // actions; the AWS actions retry as the AWS SDKs do.
  RetryPolicy retry;

  const ParamSpec* param(std::string_view name) const;
};

// One call of an action. Params are rendered (no templates left) and checked against the spec.
struct ActionRequest {
  std::string run_id;
  std::string step_id;
  std::string incident_id;
  int attempt = 1;
  std::string idempotency_key;  // the same across retries and resumes of one step
  Json params = Json::object();
  Json undo_state;              // for an undo: the output of the step being undone
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  std::shared_ptr<CancelFlag> cancel = std::make_shared<CancelFlag>();
  std::shared_ptr<spdlog::logger> log;  // carries run and step; never log a secret
};

struct ActionResult {
  enum class Outcome { kOk, kRetryable, kPermanent };
  Outcome outcome = Outcome::kOk;
  std::string message;      // for people: what happened or what went wrong
  Json output = Json::object();  // steps.<id>.output; a plan puts what it would do under "plan"
  std::optional<int64_t> resources;  // how many resources it acts on, when a plan knows

  bool ok() const { return outcome == Outcome::kOk; }
  static ActionResult success(Json output = Json::object(), std::string message = {});
  static ActionResult retryable(std::string message, Json output = Json::object());
  static ActionResult permanent(std::string message, Json output = Json::object());
};
const char* outcomeName(ActionResult::Outcome outcome);

class ActionProvider {
 public:
  virtual ~ActionProvider() = default;
  virtual const ActionSpec& spec() const = 0;
  // Checks beyond the schema on rendered params (a URL's scheme, an absolute path); no I/O.
  virtual Status validate(const Json& /*params*/) const { return {}; }
  // What it would do, from the live state, with no side effects (dry-run).
  virtual awaitable<ActionResult> plan(const ActionRequest& request) = 0;
  // Does it. Never throws, never sleeps to retry: the engine owns retries.
  virtual awaitable<ActionResult> execute(const ActionRequest& request) = 0;
};

// A problem in a step's parameters: where (path under `with`) and what.
struct ParamIssue {
  std::vector<std::string> path;  // {"argv", "1"}
  std::string message;
};

// Checks params against the spec: unknown names (with a suggestion), missing required ones,
// wrong types, values outside one_of. With templates_allowed, a string holding "{{" stands
// for any type (checked again after rendering). Fills in defaults when `fill_defaults`.
std::vector<ParamIssue> checkParams(const ActionSpec& spec, Json& params, bool templates_allowed,
                                    bool fill_defaults);

// The closest candidate within a small edit distance, or "" ("dry_rnu" -> "dry_run").
std::string suggest(std::string_view word, const std::vector<std::string>& candidates);

// Resolves secret references: "env:NAME", "file:PATH"; anything else is returned as is.
class SecretResolver {
 public:
  virtual ~SecretResolver() = default;
  virtual Result<std::string> resolve(std::string_view reference) const = 0;
};
bool isSecretReference(std::string_view value);

// What providers are built with. Nothing global: collaborators come in here.
struct ActionEnv {
  asio::thread_pool* blocking = nullptr;  // for blocking work (offload())
  const Clock* clock = nullptr;
  const SecretResolver* secrets = nullptr;
  std::string data_dir;  // staging for backups and the like
  // Never null when built by the runtime; actions check the ARNs they resolve against it.
  const ProtectedResources* protected_resources = nullptr;
  // The config's `providers` map (`aws: {region, ...}`); each provider reads its own key.
  Json providers = Json::object();
};

// All known actions, by name. Duplicate names are an error; lookups suggest near names.
class ProviderRegistry {
 public:
  Status add(std::unique_ptr<ActionProvider> provider);
  ActionProvider* find(std::string_view name) const;
  std::vector<std::string> names() const;  // sorted
  std::vector<const ActionProvider*> all() const;  // sorted by name

 private:
  std::map<std::string, std::unique_ptr<ActionProvider>, std::less<>> providers_;
};

}  // namespace firebreak::core
