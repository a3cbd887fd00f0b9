// A compiled playbook: checked, with actions bound and templates parsed. The engine runs
// only this; the reader and compiler (loader.h) produce it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <re2/re2.h>

#include "daemon/core/action.h"
#include "daemon/core/json.h"
#include "daemon/core/result.h"
#include "daemon/playbook/expression.h"

namespace firebreak::playbook {

using core::Json;
using core::SourceLoc;
using std::chrono::milliseconds;

using core::RetryPolicy;

struct UndoSpec {
  std::string action;
  core::ActionProvider* provider = nullptr;
  Json with = Json::object();       // strings may be templates
  SourceLoc loc;
};

enum class OnTimeout { kAbort, kApprove, kDeny };

struct ApprovalSpec {
  std::string role = "responder";   // viewer | responder | admin
  milliseconds timeout{std::chrono::hours(1)};
  OnTimeout on_timeout = OnTimeout::kAbort;
  std::string message;              // a template shown to the approver
};

struct Step {
  enum class Kind { kAction, kApproval, kParallel };
  Kind kind = Kind::kAction;
  std::string id;                   // parallel groups get "parallel-<n>" unless they name one
  SourceLoc loc;

  // kAction
  std::string action;
  core::ActionProvider* provider = nullptr;
  Json with = Json::object();       // strings may be templates; rendered at run time
  std::optional<bool> idempotent;   // the author's word, where the action allows it
  std::optional<core::Phase> phase;
  std::optional<UndoSpec> undo;     // explicit undo; otherwise the action's own, if any
  std::optional<int> max_resources;

  // kApproval
  ApprovalSpec approval;

  // kParallel
  std::vector<Step> parallel;

  // all kinds
  std::optional<Expression> condition;  // `if:`
  std::optional<milliseconds> timeout;
  RetryPolicy retry;
  bool continue_on_failure = false;
  std::string description;          // for people reading the plan and the timeline

  bool isIdempotent() const;        // the action's spec, or the step's word where allowed
  bool isDestructive() const;
  core::Phase effectivePhase() const;
};

struct LabelMatcher {
  enum class Op { kEq, kNe, kRe, kNre };
  std::string label;
  Op op = Op::kEq;
  std::string value;
  std::shared_ptr<const RE2> re;    // anchored, for kRe and kNre
  bool matches(const std::map<std::string, std::string>& labels) const;
};

struct Trigger {
  std::vector<std::string> sources;  // empty: any
  std::vector<LabelMatcher> match;
  std::optional<Expression> when;
  enum class On { kFiring, kResolved, kBoth } on = On::kFiring;
  bool manual_only = false;          // no trigger section: runs only by hand or from a drill
};

struct ParamDecl {
  std::string name;
  Json default_value;                // may be a template; null: none
  bool required = false;
  std::string description;
};

struct KeyedLimit {
  std::string key;                   // template
  milliseconds window{0};            // dedup: window; max_runs: per
  int count = 1;                     // concurrency: limit; max_runs: count
};

struct Playbook {
  std::string name;
  std::string description;
  std::map<std::string, std::string> labels;  // metadata.labels
  std::string file;
  SourceLoc loc;                     // of metadata.name, for messages about the playbook
  std::string source;                // the YAML text
  std::string hash;                  // sha256 of source, hex
  Trigger trigger;
  bool dry_run = false;
  std::optional<KeyedLimit> dedup;
  std::optional<KeyedLimit> concurrency;
  std::optional<KeyedLimit> max_runs;
  std::optional<milliseconds> deadline;  // whole run
  std::vector<ParamDecl> params;
  std::vector<Step> steps;
  std::vector<Step> on_failure;

  // Every action step, depth first, including parallel branches, on_failure and undo.
  std::vector<const Step*> allSteps() const;
  const Step* findStep(const std::string& id) const;
};

using PlaybookPtr = std::shared_ptr<const Playbook>;

}  // namespace firebreak::playbook
