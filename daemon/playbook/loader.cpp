// The playbook compiler: a YAML document (read by YamlReader, with locations) becomes a checked
// Playbook with actions bound, parameters checked against their schemas, and every expression
// and template parsed. All problems of a file are collected; nothing is loaded from a file that
// has any.
#include "daemon/playbook/loader.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include <openssl/evp.h>

#include "daemon/playbook/expression.h"
#include "daemon/playbook/reader.h"

namespace firebreak::playbook {

using core::Diagnostics;
using core::ErrorCode;
using Entry = YamlReader::Entry;

namespace {

const std::vector<std::string> kTopKeys = {
    "apiVersion", "kind",     "metadata", "trigger", "dry_run", "dedup",     "concurrency",
    "max_runs",   "deadline", "params",   "steps",   "on_failure"};
const std::vector<std::string> kMetadataKeys = {"name", "description", "labels"};
const std::vector<std::string> kTriggerKeys = {"sources", "match", "when", "on"};
const std::vector<std::string> kDedupKeys = {"key", "window"};
const std::vector<std::string> kConcurrencyKeys = {"key", "limit"};
const std::vector<std::string> kMaxRunsKeys = {"key", "count", "per"};
const std::vector<std::string> kParamKeys = {"default", "required", "description"};
const std::vector<std::string> kStepKeys = {
    "id",      "action", "approval", "parallel",      "with",          "if",
    "timeout", "retry",  "idempotent", "phase",       "undo",          "max_resources",
    "continue_on_failure", "description"};
// Keys that mean something only on an action step.
const std::vector<std::string> kActionOnlyKeys = {"with",  "retry", "idempotent",
                                                  "phase", "undo",  "max_resources"};
const std::vector<std::string> kRetryKeys = {"attempts", "backoff", "max_backoff"};
const std::vector<std::string> kApprovalKeys = {"role", "timeout", "on_timeout", "message"};
const std::vector<std::string> kUndoKeys = {"action", "with"};
const std::vector<std::string> kRoots = {"alert", "incident", "params", "steps", "run", "env"};
const std::vector<std::string> kStepFields = {"status", "output", "error"};

constexpr std::string_view kApiVersion = "firebreak/v1";
constexpr std::string_view kKind = "Playbook";
constexpr int kMaxRetryAttempts = 20;

std::string sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) return {};
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// metadata.name: [a-z0-9][a-z0-9-]{0,62}
bool validPlaybookName(std::string_view s) {
  if (s.empty() || s.size() > 63 || !isLowerAlnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return isLowerAlnum(c) || c == '-'; });
}

// step ids: [a-z0-9][a-z0-9_-]*
bool validStepId(std::string_view s) {
  if (s.empty() || !isLowerAlnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return isLowerAlnum(c) || c == '-' || c == '_'; });
}

// Names read as identifiers in expressions: params.<name>, alert labels.
bool validIdentifier(std::string_view s) {
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (s.empty() || !alpha(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

std::vector<std::string> split(const std::string& path, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t at = path.find(sep, start);
    out.push_back(path.substr(start, at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return out;
}

bool containsTemplate(const Json& v) {
  if (v.is_string()) return v.get_ref<const std::string&>().find("{{") != std::string::npos;
  if (v.is_array() || v.is_object()) {
    for (const auto& item : v)
      if (containsTemplate(item)) return true;
  }
  return false;
}

std::string didYouMean(const std::string& s) {
  return s.empty() ? std::string() : "did you mean '" + s + "'?";
}

// When an expression or template is evaluated decides what it can read.
enum class Stage {
  kWhen,    // trigger.when: routing an alert, before any run exists
  kKeys,    // dedup/concurrency/max_runs keys: a run is being started, no step has run
  kParams,  // parameter defaults: rendered in order before the first step
  kSteps,   // steps and on_failure
};

// A scope path read by an expression, checked once every step id and parameter is known.
struct Reference {
  std::vector<std::string> parts;
  core::SourceLoc where;
  std::string context;
  Stage stage;
  size_t param_index = 0;  // kParams: the parameter whose default reads it
};

class Compiler {
 public:
  Compiler(std::string_view text, const std::string& file, const core::ProviderRegistry& registry)
      : text_(text), r_(text, file), registry_(registry) {}

  // The steps of one key of another document's root (a drill's), as their own playbook.
  tl::expected<PlaybookPtr, Diagnostics> runSection(const StepSection& section) {
    try {
      auto pb = compileSection(section);
      if (r_.failed()) return tl::unexpected(r_.takeErrors());
      return pb;
    } catch (const std::exception& e) {
      r_.error({r_.file(), 1, 1}, std::string("internal error reading the steps: ") + e.what(),
               {});
      return tl::unexpected(r_.takeErrors());
    }
  }

  // Compiles the document; with `skip_other_kinds`, a file of another kind (Drill) answers
  // nullptr without errors.
  tl::expected<PlaybookPtr, Diagnostics> run(bool skip_other_kinds) {
    try {
      auto pb = compile(skip_other_kinds);
      if (r_.failed()) return tl::unexpected(r_.takeErrors());
      return pb;
    } catch (const std::exception& e) {
      // yaml-cpp throws on misuse we did not foresee; never let a file take the daemon down.
      r_.error({r_.file(), 1, 1}, std::string("internal error reading the playbook: ") + e.what(),
               {});
      return tl::unexpected(r_.takeErrors());
    }
  }

 private:
  PlaybookPtr compile(bool skip_other_kinds);
  PlaybookPtr compileSection(const StepSection& section);
  void compileMetadata(const Entry& e, Playbook& pb);
  void compileTrigger(const Entry& e, Playbook& pb);
  void compileMatch(const Entry& e, Trigger& trigger);
  std::optional<KeyedLimit> compileLimit(const Entry& e, const std::vector<std::string>& keys);
  void compileParams(const Entry& e, Playbook& pb);
  std::vector<Step> compileSteps(const Entry& e, const std::string& label,
                                 const std::string& parent, int depth, bool allow_empty);
  Step compileStep(const YAML::Node& node, const std::string& label, size_t index,
                   const std::string& parent, int depth);
  void compileActionStep(const YamlReader::Fields& f, Step& step, const std::string& ctx,
                         int depth);
  void compileApproval(const Entry& e, Step& step, const std::string& ctx);
  void compileRetry(const Entry& e, Step& step, const std::string& ctx);
  void compileUndo(const Entry& e, Step& step, const std::string& ctx, int depth);
  // `with` (of a step or an undo) as Json, templates parsed, checked against the action.
  Json compileWith(const Entry* with, const YAML::Node& fallback, core::ActionProvider* provider,
                   const std::string& ctx, int depth);

  std::optional<Expression> expression(const Entry& e, const std::string& ctx, Stage stage);
  void templateAt(const std::string& text, const YAML::Node& node, const std::string& ctx,
                  Stage stage, size_t param_index = 0);
  std::optional<std::string> templateEntry(const Entry& e, const std::string& ctx, Stage stage);
  void collect(const std::vector<std::string>& paths, const std::string& text,
               const YAML::Node& node, const std::string& ctx, Stage stage, size_t param_index);
  void checkReferences();
  core::ActionProvider* findAction(const Entry& e, const std::string& ctx);
  core::SourceLoc paramLoc(const Entry* with, const YAML::Node& fallback,
                           const core::ParamIssue& issue, const core::ActionSpec& spec);

  std::string_view text_;
  YamlReader r_;
  const core::ProviderRegistry& registry_;
  std::map<std::string, core::SourceLoc> step_ids_;
  std::map<std::string, const core::ActionProvider*> step_actions_;
  std::vector<std::string> param_names_;
  std::vector<Reference> references_;
};

PlaybookPtr Compiler::compile(bool skip_other_kinds) {
  auto doc = r_.parse();
  if (!doc) return nullptr;
  const YAML::Node& root = *doc;
  if (!root.IsMap()) {
    r_.error(r_.loc(root),
             "a playbook must be a mapping with apiVersion, kind, metadata and steps, not " +
                 YamlReader::describe(root),
             {});
    return nullptr;
  }
  // The kind first: a file of another kind is not ours, and its keys would all be "unknown".
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (!it->first.IsScalar() || it->first.Scalar() != "kind" || !it->second.IsScalar()) continue;
    const std::string& kind = it->second.Scalar();
    if (kind == kKind) break;
    std::string near = core::suggest(kind, {std::string(kKind)});
    if (skip_other_kinds && near.empty()) return nullptr;
    r_.error(r_.loc(it->second), "'kind' must be 'Playbook', not '" + kind + "'", {},
             didYouMean(near));
    return nullptr;
  }

  auto pb = std::make_shared<Playbook>();
  pb->file = r_.file();
  pb->source = std::string(text_);
  pb->hash = sha256Hex(text_);
  pb->loc = r_.loc(root);

  auto f = r_.fields(root, kTopKeys, {}, "a playbook");
  r_.require(f, root, {"apiVersion", "kind", "metadata", "steps"}, {});
  if (auto* e = f.find("apiVersion")) {
    if (auto v = r_.string(*e, {}); v && *v != kApiVersion)
      r_.error(r_.loc(*e), "'apiVersion' must be '" + std::string(kApiVersion) + "', not '" + *v +
                               "'", {});
  }
  if (auto* e = f.find("kind")) r_.string(*e, {});  // a non-scalar kind is reported here
  if (auto* e = f.find("metadata")) compileMetadata(*e, *pb);
  if (auto* e = f.find("trigger")) compileTrigger(*e, *pb);
  else pb->trigger.manual_only = true;
  if (auto* e = f.find("dry_run")) pb->dry_run = r_.boolean(*e, {}).value_or(false);
  if (auto* e = f.find("dedup")) pb->dedup = compileLimit(*e, kDedupKeys);
  if (auto* e = f.find("concurrency")) pb->concurrency = compileLimit(*e, kConcurrencyKeys);
  if (auto* e = f.find("max_runs")) pb->max_runs = compileLimit(*e, kMaxRunsKeys);
  if (auto* e = f.find("deadline")) pb->deadline = r_.duration(*e, {});
  if (auto* e = f.find("params")) compileParams(*e, *pb);
  if (auto* e = f.find("steps")) pb->steps = compileSteps(*e, "step", {}, 1, false);
  if (auto* e = f.find("on_failure")) pb->on_failure = compileSteps(*e, "on_failure", {}, 1, true);
  checkReferences();
  return pb;
}

PlaybookPtr Compiler::compileSection(const StepSection& section) {
  auto doc = r_.parse();
  if (!doc || !doc->IsMap()) return nullptr;  // the document's own loader reports that
  YAML::Node root = *doc;
  std::optional<Entry> entry;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == section.key)
      entry = Entry{section.key, it->first, it->second};
  }
  if (!entry) return nullptr;
  if (section.single) {
    if (!entry->value.IsMap()) {
      r_.error(r_.loc(*entry), "'" + section.key + "' must be a mapping, not " +
                                   YamlReader::describe(entry->value), {});
      return nullptr;
    }
    YAML::Node step = entry->value;
    if (!step["id"]) step["id"] = section.key;
    YAML::Node list(YAML::NodeType::Sequence);
    list.push_back(step);
    // A new Entry, not an assignment: assigning a YAML::Node writes through to the node.
    entry.emplace(Entry{section.key, entry->key, list});
  }
  // What the caller adds to the steps of some actions (a drill's scope for its chaos steps),
  // before they are checked against the actions' parameters.
  if (!section.extra_with.empty() && entry->value.IsSequence()) {
    for (auto step : entry->value) {
      if (!step.IsMap() || !step["action"] || !step["action"].IsScalar()) continue;
      if (step["action"].Scalar().rfind(section.with_prefix, 0) != 0) continue;
      if (step["with"] && !step["with"].IsMap()) continue;  // reported by the step's checks
      for (const auto& [key, value] : section.extra_with.items())
        if (!step["with"][key]) step["with"][key] = YAML::Load(value.dump());
    }
  }
  auto pb = std::make_shared<Playbook>();
  pb->name = section.name;
  pb->file = r_.file();
  pb->loc = r_.loc(entry->key);
  pb->trigger.manual_only = true;
  pb->steps = compileSteps(*entry, section.key, {}, 1, false);
  checkReferences();
  if (r_.failed()) return nullptr;
  // The engine stores the source of what it runs and compiles it again to resume: a playbook
  // document of these steps. JSON is YAML, and keeps every string quoted as a string.
  auto steps = r_.json(entry->value, section.key, 1);
  if (!steps) return nullptr;
  Json document = {{"apiVersion", std::string(kApiVersion)},
                   {"kind", std::string(kKind)},
                   {"metadata", {{"name", section.name}}},
                   {"steps", std::move(*steps)}};
  pb->source = document.dump(2);
  pb->hash = sha256Hex(pb->source);
  return pb;
}

void Compiler::compileMetadata(const Entry& e, Playbook& pb) {
  const std::string ctx = "metadata";
  if (!r_.mapping(e, {})) return;
  auto f = r_.fields(e.value, kMetadataKeys, ctx, "'metadata'");
  r_.require(f, e.value, {"name"}, ctx);
  if (auto* n = f.find("name")) {
    if (auto v = r_.string(*n, ctx)) {
      if (!validPlaybookName(*v)) {
        r_.error(r_.loc(*n), "'name' must be 1 to 63 lowercase letters, digits and '-', "
                             "starting with a letter or digit, not '" + *v + "'", ctx);
      }
      pb.name = *v;
      pb.loc = r_.loc(*n);
    }
  }
  if (auto* d = f.find("description")) pb.description = r_.string(*d, ctx).value_or("");
  if (auto* l = f.find("labels")) {
    if (auto v = r_.stringMap(*l, ctx)) pb.labels = std::move(*v);
  }
}

void Compiler::compileTrigger(const Entry& e, Playbook& pb) {
  const std::string ctx = "trigger";
  if (e.value.IsNull()) {
    r_.error(r_.loc(e), "'trigger' must be a mapping, not empty", {},
             "remove it for a playbook that runs only by hand");
    return;
  }
  if (!r_.mapping(e, {})) return;
  auto f = r_.fields(e.value, kTriggerKeys, ctx, "'trigger'");
  Trigger& t = pb.trigger;
  if (auto* s = f.find("sources")) t.sources = r_.stringList(*s, ctx).value_or(t.sources);
  if (auto* m = f.find("match")) compileMatch(*m, t);
  if (auto* w = f.find("when")) t.when = expression(*w, ctx + ".when", Stage::kWhen);
  if (auto* o = f.find("on")) {
    if (auto v = r_.oneOf(*o, ctx, {"firing", "resolved", "both"})) {
      t.on = *v == "firing" ? Trigger::On::kFiring
             : *v == "resolved" ? Trigger::On::kResolved : Trigger::On::kBoth;
    }
  }
}

void Compiler::compileMatch(const Entry& e, Trigger& trigger) {
  const std::string ctx = "trigger.match";
  if (!e.value.IsMap()) {
    r_.error(r_.loc(e), "'match' must be a mapping of label: value, not " +
                            YamlReader::describe(e.value), "trigger");
    return;
  }
  std::set<std::string> seen;
  for (auto it = e.value.begin(); it != e.value.end(); ++it) {
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    if (!r_.spend(key, ctx)) return;
    if (!key.IsScalar()) {
      r_.error(r_.loc(key), "a label name must be a string, not " + YamlReader::describe(key),
               ctx);
      continue;
    }
    const std::string& label = key.Scalar();
    if (!validIdentifier(label)) {
      r_.error(r_.loc(key), "invalid label name '" + label + "'", ctx,
               "label names are letters, digits and '_', not starting with a digit");
      continue;
    }
    if (!seen.insert(label).second) {
      r_.error(r_.loc(key), "duplicate key '" + label + "'", ctx);
      continue;
    }
    Entry entry{label, key, value};
    if (value.IsNull()) {
      r_.error(r_.loc(key), "the matcher for '" + label + "' is empty", ctx,
               "write \"\" to match alerts without this label");
      continue;
    }
    auto text = r_.string(entry, ctx);  // reports lists, maps and `!=x` read as a YAML tag
    if (!text) continue;
    LabelMatcher m;
    m.label = label;
    std::string_view v = *text;
    size_t skip = 0;
    if (v.rfind("=~", 0) == 0) m.op = LabelMatcher::Op::kRe, skip = 2;
    else if (v.rfind("!~", 0) == 0) m.op = LabelMatcher::Op::kNre, skip = 2;
    else if (v.rfind("!=", 0) == 0) m.op = LabelMatcher::Op::kNe, skip = 2;
    else if (v.rfind("=", 0) == 0) m.op = LabelMatcher::Op::kEq, skip = 1;
    // Operators are read from quoted values too: quoting is how YAML lets one start with '!'.
    m.value = std::string(v.substr(skip));
    if (m.op == LabelMatcher::Op::kRe || m.op == LabelMatcher::Op::kNre) {
      RE2::Options options;
      options.set_log_errors(false);
      auto re = std::make_shared<RE2>(m.value, options);
      if (!re->ok()) {
        r_.error(r_.locIn(value, skip), "invalid regular expression '" + m.value + "': " +
                                            re->error(), ctx);
        continue;
      }
      m.re = std::move(re);
    }
    trigger.match.push_back(std::move(m));
  }
}

std::optional<KeyedLimit> Compiler::compileLimit(const Entry& e,
                                                 const std::vector<std::string>& keys) {
  const std::string& ctx = e.name;
  if (!r_.mapping(e, {})) return std::nullopt;
  auto f = r_.fields(e.value, keys, ctx, "'" + e.name + "'");
  KeyedLimit limit;
  constexpr int64_t kMaxInt = std::numeric_limits<int>::max();
  if (e.name == "dedup") {
    r_.require(f, e.value, {"key", "window"}, ctx);
    if (auto* w = f.find("window")) limit.window = r_.duration(*w, ctx).value_or(limit.window);
  } else if (e.name == "concurrency") {
    if (auto* l = f.find("limit"))
      limit.count = static_cast<int>(r_.integer(*l, ctx, 1, kMaxInt).value_or(1));
  } else {
    r_.require(f, e.value, {"count", "per"}, ctx);
    if (auto* c = f.find("count"))
      limit.count = static_cast<int>(r_.integer(*c, ctx, 1, kMaxInt).value_or(1));
    if (auto* p = f.find("per")) limit.window = r_.duration(*p, ctx).value_or(limit.window);
  }
  if (auto* k = f.find("key"))
    limit.key = templateEntry(*k, ctx + ".key", Stage::kKeys).value_or("");
  return limit;
}

void Compiler::compileParams(const Entry& e, Playbook& pb) {
  if (!e.value.IsMap()) {
    r_.error(r_.loc(e), "'params' must be a mapping of name: { default, required, description }, "
                        "not " + YamlReader::describe(e.value), {});
    return;
  }
  std::set<std::string> seen;
  for (auto it = e.value.begin(); it != e.value.end(); ++it) {
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    if (!r_.spend(key, "params")) return;
    if (!key.IsScalar()) {
      r_.error(r_.loc(key), "a parameter name must be a string, not " + YamlReader::describe(key),
               "params");
      continue;
    }
    ParamDecl decl;
    decl.name = key.Scalar();
    const std::string ctx = "params." + decl.name;
    if (!seen.insert(decl.name).second) {
      r_.error(r_.loc(key), "duplicate key '" + decl.name + "'", "params");
      continue;
    }
    if (!validIdentifier(decl.name)) {
      r_.error(r_.loc(key), "invalid parameter name '" + decl.name + "'", "params",
               "letters, digits and '_', not starting with a digit: expressions read it as "
               "params.<name>");
    }
    size_t index = param_names_.size();
    param_names_.push_back(decl.name);
    if (!value.IsNull()) {
      if (!value.IsMap()) {
        r_.error(r_.loc(value), "parameter '" + decl.name +
                                    "' must be a mapping like { default: ..., required: true }, "
                                    "not " + YamlReader::describe(value), "params");
        continue;
      }
      auto f = r_.fields(value, kParamKeys, ctx, "a parameter");
      if (auto* d = f.find("default")) {
        auto visit = [&](const std::string& s, const YAML::Node& n, const std::string& path) {
          templateAt(s, n, ctx + ".default" + (path.empty() ? "" : "." + path), Stage::kParams,
                     index);
        };
        decl.default_value = r_.json(d->value, ctx, 3, visit).value_or(Json());
      }
      if (auto* r = f.find("required")) decl.required = r_.boolean(*r, ctx).value_or(false);
      if (auto* d = f.find("description")) decl.description = r_.string(*d, ctx).value_or("");
    }
    pb.params.push_back(std::move(decl));
  }
}

std::vector<Step> Compiler::compileSteps(const Entry& e, const std::string& label,
                                         const std::string& parent, int depth, bool allow_empty) {
  std::vector<Step> out;
  if (!e.value.IsSequence()) {
    r_.error(r_.loc(e), "'" + e.name + "' must be a list of steps, not " +
                            YamlReader::describe(e.value), parent);
    return out;
  }
  if (e.value.size() == 0 && !allow_empty) {
    r_.error(r_.loc(e), "'" + e.name + "' must list at least one step", parent);
    return out;
  }
  size_t i = 0;
  for (const auto& item : e.value) {
    if (!r_.checkDepth(depth + 1, item, parent)) break;
    out.push_back(compileStep(item, label + "[" + std::to_string(i) + "]", i, parent, depth + 1));
    ++i;
  }
  return out;
}

Step Compiler::compileStep(const YAML::Node& node, const std::string& label, size_t index,
                           const std::string& parent, int depth) {
  Step step;
  step.loc = r_.loc(node);
  // Read the id first, so every message about this step names it.
  std::string named = label;
  if (node.IsMap()) {
    std::string id;
    bool group = false;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      if (it->first.Scalar() == "id" && it->second.IsScalar() && id.empty())
        id = it->second.Scalar();
      if (it->first.Scalar() == "parallel") group = true;
    }
    if (id.empty() && group) id = "parallel-" + std::to_string(index);
    if (!id.empty()) named += " '" + id + "'";
  }
  const std::string ctx = parent.empty() ? named : parent + " > " + named;
  if (!r_.spend(node, ctx)) return step;
  auto f = r_.fields(node, kStepKeys, ctx, "a step");
  if (!node.IsMap()) return step;

  std::vector<const Entry*> kinds;  // in document order: the second one is the error
  for (const auto& e : f.all())
    if (e.name == "action" || e.name == "approval" || e.name == "parallel") kinds.push_back(&e);
  if (kinds.empty()) {
    r_.error(r_.loc(node), "a step needs one of 'action', 'approval' or 'parallel'", ctx);
  } else if (kinds.size() > 1) {
    r_.error(r_.loc(kinds[1]->key), "a step does one thing; this one has both '" +
                                        kinds[0]->name + "' and '" + kinds[1]->name + "'", ctx);
  }
  const std::string kind = kinds.empty() ? "" : kinds[0]->name;
  step.kind = kind == "approval"   ? Step::Kind::kApproval
              : kind == "parallel" ? Step::Kind::kParallel
                                   : Step::Kind::kAction;

  // The id: required, unique across the whole playbook (steps.<id> names it).
  core::SourceLoc id_loc = step.loc;
  if (auto* e = f.find("id")) {
    if (auto v = r_.string(*e, ctx)) {
      id_loc = r_.loc(*e);
      if (!validStepId(*v)) {
        r_.error(id_loc, "step id '" + *v + "' must be lowercase letters, digits, '-' and '_', "
                         "starting with a letter or digit", ctx);
      }
      step.id = *v;
    }
  } else if (step.kind == Step::Kind::kParallel) {
    step.id = "parallel-" + std::to_string(index);
  } else {
    r_.error(step.loc, "missing required key 'id'", ctx, "every step needs a unique id");
  }
  if (!step.id.empty()) {
    auto [first, inserted] = step_ids_.emplace(step.id, id_loc);
    if (!inserted) {
      r_.error(id_loc, "duplicate step id '" + step.id + "' (first used on line " +
                           std::to_string(first->second.line) + ")", ctx);
    }
  }

  // Keys that belong to another kind of step (unless the kind itself is in doubt).
  if (kinds.size() == 1) {
    for (const auto& e : f.all()) {
      bool action_only = std::find(kActionOnlyKeys.begin(), kActionOnlyKeys.end(), e.name) !=
                         kActionOnlyKeys.end();
      if (action_only && step.kind != Step::Kind::kAction) {
        r_.error(r_.loc(e.key), "'" + e.name + "' is only for action steps, not a " + kind +
                                    " step", ctx);
      } else if (e.name == "timeout" && step.kind == Step::Kind::kApproval) {
        r_.error(r_.loc(e.key), "'timeout' is not allowed on an approval step", ctx,
                 "set approval.timeout");
      }
    }
  }

  if (auto* e = f.find("if")) step.condition = expression(*e, ctx + " > if", Stage::kSteps);
  if (auto* e = f.find("description")) step.description = r_.string(*e, ctx).value_or("");
  if (auto* e = f.find("continue_on_failure"))
    step.continue_on_failure = r_.boolean(*e, ctx).value_or(false);
  if (auto* e = f.find("timeout"); e && step.kind != Step::Kind::kApproval)
    step.timeout = r_.duration(*e, ctx);

  switch (step.kind) {
    case Step::Kind::kAction:
      if (!kind.empty()) compileActionStep(f, step, ctx, depth);
      break;
    case Step::Kind::kApproval:
      compileApproval(*kinds[0], step, ctx);
      break;
    case Step::Kind::kParallel:
      step.parallel = compileSteps(*kinds[0], "parallel", ctx, depth + 1, false);
      break;
  }
  return step;
}

core::ActionProvider* Compiler::findAction(const Entry& e, const std::string& ctx) {
  auto name = r_.string(e, ctx);
  if (!name) return nullptr;
  if (auto* p = registry_.find(*name)) return p;
  r_.error(r_.loc(e), "unknown action '" + *name + "'", ctx,
           didYouMean(core::suggest(*name, registry_.names())));
  return nullptr;
}

void Compiler::compileActionStep(const YamlReader::Fields& f, Step& step, const std::string& ctx,
                                 int depth) {
  const Entry& action = *f.find("action");
  step.provider = findAction(action, ctx);
  if (action.value.IsScalar()) step.action = action.value.Scalar();
  if (step.provider && !step.id.empty()) step_actions_[step.id] = step.provider;
  step.with = compileWith(f.find("with"), action.value, step.provider, ctx, depth);

  if (step.provider) step.retry = step.provider->spec().retry;
  if (auto* e = f.find("retry")) compileRetry(*e, step, ctx);
  if (auto* e = f.find("idempotent")) {
    auto v = r_.boolean(*e, ctx);
    if (v && step.provider) {
      const auto& spec = step.provider->spec();
      if (spec.step_may_declare_idempotent) {
        step.idempotent = *v;
      } else {
        std::string allowed;
        for (const auto* p : registry_.all())
          if (p->spec().step_may_declare_idempotent)
            allowed += (allowed.empty() ? "" : ", ") + p->spec().name;
        r_.error(r_.loc(e->key), "'idempotent' cannot be set here: action '" + spec.name +
                                     "' is " + (spec.idempotent ? "always" : "never") +
                                     " idempotent", ctx,
                 allowed.empty() ? "" : "only these actions take the step's word: " + allowed);
      }
    }
  }
  if (auto* e = f.find("phase")) {
    if (auto v = r_.oneOf(*e, ctx, {"observe", "contain", "recover", "notify"}))
      step.phase = core::parsePhase(*v);
  }
  if (auto* e = f.find("undo")) compileUndo(*e, step, ctx, depth);
  if (auto* e = f.find("max_resources")) {
    if (auto v = r_.integer(*e, ctx, 0, std::numeric_limits<int>::max()))
      step.max_resources = static_cast<int>(*v);
  }
}

void Compiler::compileRetry(const Entry& e, Step& step, const std::string& ctx) {
  const std::string sub = ctx + " > retry";
  if (!r_.mapping(e, ctx)) return;
  auto f = r_.fields(e.value, kRetryKeys, sub, "'retry'");
  RetryPolicy& r = step.retry;
  if (auto* a = f.find("attempts"))
    r.attempts = static_cast<int>(r_.integer(*a, sub, 1, kMaxRetryAttempts).value_or(1));
  auto* b = f.find("backoff");
  auto* m = f.find("max_backoff");
  if (b) r.backoff = r_.duration(*b, sub).value_or(r.backoff);
  if (m) r.max_backoff = r_.duration(*m, sub).value_or(r.max_backoff);
  if (m && r.max_backoff < r.backoff) {
    r_.error(r_.loc(*m), "'max_backoff' must not be shorter than 'backoff'", sub);
  } else if (r.max_backoff < r.backoff) {
    r.max_backoff = r.backoff;  // a long backoff raises the default cap rather than failing
  }
}

void Compiler::compileApproval(const Entry& e, Step& step, const std::string& ctx) {
  const std::string sub = ctx + " > approval";
  if (e.value.IsNull()) return;  // `approval:` alone: every default
  if (!r_.mapping(e, ctx)) return;
  auto f = r_.fields(e.value, kApprovalKeys, sub, "'approval'");
  ApprovalSpec& a = step.approval;
  if (auto* r = f.find("role")) a.role = r_.oneOf(*r, sub, {"viewer", "responder", "admin"})
                                            .value_or(a.role);
  if (auto* t = f.find("timeout")) a.timeout = r_.duration(*t, sub).value_or(a.timeout);
  if (auto* o = f.find("on_timeout")) {
    if (auto v = r_.oneOf(*o, sub, {"abort", "approve", "deny"})) {
      a.on_timeout = *v == "abort" ? OnTimeout::kAbort
                     : *v == "approve" ? OnTimeout::kApprove : OnTimeout::kDeny;
    }
  }
  if (auto* m = f.find("message"))
    a.message = templateEntry(*m, sub + ".message", Stage::kSteps).value_or("");
}

void Compiler::compileUndo(const Entry& e, Step& step, const std::string& ctx, int depth) {
  const std::string sub = ctx + " > undo";
  if (!r_.mapping(e, ctx)) return;
  auto f = r_.fields(e.value, kUndoKeys, sub, "'undo'");
  r_.require(f, e.value, {"action"}, sub);
  UndoSpec undo;
  undo.loc = r_.loc(e.value);
  const Entry* action = f.find("action");
  if (action) {
    undo.provider = findAction(*action, sub);
    if (action->value.IsScalar()) undo.action = action->value.Scalar();
  }
  undo.with = compileWith(f.find("with"), action ? action->value : e.value, undo.provider, sub,
                          depth + 1);
  step.undo = std::move(undo);
}

Json Compiler::compileWith(const Entry* with, const YAML::Node& fallback,
                           core::ActionProvider* provider, const std::string& ctx, int depth) {
  Json params = Json::object();
  bool ok = true;
  if (with) {
    auto visit = [&](const std::string& s, const YAML::Node& n, const std::string& path) {
      templateAt(s, n, ctx + " > with" + (path.empty() ? "" : "." + path), Stage::kSteps);
    };
    auto v = r_.json(with->value, ctx + " > with", depth + 1, visit);
    if (v) params = std::move(*v);
    else ok = false;
  }
  if (!provider || !ok) return params;
  const auto& spec = provider->spec();
  auto issues = core::checkParams(spec, params, /*templates_allowed=*/true, /*fill_defaults=*/true);
  for (const auto& issue : issues)
    r_.error(paramLoc(with, fallback, issue, spec), issue.message, ctx);
  // Fully literal parameters can have the provider's own checks now rather than mid-incident.
  if (issues.empty() && !containsTemplate(params)) {
    if (auto s = provider->validate(params); !s)
      r_.error(with ? r_.loc(*with) : r_.loc(fallback), s.error().message(), ctx);
  }
  return params;
}

core::SourceLoc Compiler::paramLoc(const Entry* with, const YAML::Node& fallback,
                                   const core::ParamIssue& issue, const core::ActionSpec& spec) {
  if (!with) return r_.loc(fallback);
  // reset() rebinds; yaml-cpp's operator= would overwrite the document's node instead.
  YAML::Node node = with->value;
  core::SourceLoc best = r_.loc(*with);
  for (size_t i = 0; i < issue.path.size(); ++i) {
    const std::string& part = issue.path[i];
    if (node.IsMap()) {
      bool found = false;
      for (auto it = node.begin(); it != node.end(); ++it) {
        if (!it->first.IsScalar() || it->first.Scalar() != part) continue;
        // An unknown parameter is its name's fault; anything else its value's.
        if (i == 0 && !spec.param(part)) return r_.loc(it->first);
        best = it->second.IsNull() ? r_.loc(it->first) : r_.loc(it->second);
        node.reset(it->second);
        found = true;
        break;
      }
      if (!found) break;
    } else if (node.IsSequence()) {
      size_t idx = 0;
      auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), idx);
      if (ec != std::errc() || p != part.data() + part.size() || idx >= node.size()) break;
      YAML::Node item = node[idx];
      node.reset(item);
      best = r_.loc(node);
    } else {
      break;
    }
  }
  return best;
}

std::optional<Expression> Compiler::expression(const Entry& e, const std::string& ctx,
                                               Stage stage) {
  auto text = r_.string(e, ctx);
  if (!text) return std::nullopt;
  auto parsed = Expression::parse(*text);
  if (!parsed) {
    int col = parsed.error().loc().column;
    r_.error(r_.locIn(e.value, col > 0 ? static_cast<size_t>(col - 1) : 0),
             "invalid expression: " + parsed.error().message(), ctx);
    return std::nullopt;
  }
  collect(parsed->references(), *text, e.value, ctx, stage, 0);
  return std::move(*parsed);
}

void Compiler::templateAt(const std::string& text, const YAML::Node& node, const std::string& ctx,
                          Stage stage, size_t param_index) {
  auto parsed = Template::parse(text);
  if (!parsed) {
    int col = parsed.error().loc().column;
    r_.error(r_.locIn(node, col > 0 ? static_cast<size_t>(col - 1) : 0),
             "invalid template: " + parsed.error().message(), ctx);
    return;
  }
  collect(parsed->references(), text, node, ctx, stage, param_index);
}

std::optional<std::string> Compiler::templateEntry(const Entry& e, const std::string& ctx,
                                                   Stage stage) {
  auto text = r_.string(e, ctx);
  if (text) templateAt(*text, e.value, ctx, stage);
  return text;
}

void Compiler::collect(const std::vector<std::string>& paths, const std::string& text,
                       const YAML::Node& node, const std::string& ctx, Stage stage,
                       size_t param_index) {
  std::set<std::string> seen;  // one report per path per string
  for (const auto& path : paths) {
    if (path.empty() || !seen.insert(path).second) continue;
    Reference ref;
    ref.parts = split(path, '.');
    ref.context = ctx;
    ref.stage = stage;
    ref.param_index = param_index;
    // Point at the reference itself where the text shows it: "steps.nope" in the string.
    std::string shown = ref.parts[0];
    if (ref.parts.size() > 1) shown += "." + ref.parts[1];
    size_t at = text.find(shown);
    ref.where = at == std::string::npos ? r_.loc(node) : r_.locIn(node, at);
    references_.push_back(std::move(ref));
  }
}

void Compiler::checkReferences() {
  std::vector<std::string> ids;
  for (const auto& [id, _] : step_ids_) ids.push_back(id);
  for (const auto& ref : references_) {
    const std::string& root = ref.parts[0];
    const auto& ctx = ref.context;
    if (std::find(kRoots.begin(), kRoots.end(), root) == kRoots.end()) {
      std::string near = core::suggest(root, kRoots);
      r_.error(ref.where, "unknown name '" + root + "'", ctx,
               near.empty() ? "expressions read alert, incident, params, steps, run and env"
                            : didYouMean(near));
      continue;
    }
    if (ref.stage == Stage::kWhen && (root == "params" || root == "steps" || root == "run")) {
      r_.error(ref.where, "'" + root + "' cannot be read here", ctx,
               "trigger.when is evaluated before a run starts; it reads alert, incident and env");
      continue;
    }
    if (root == "steps" && ref.stage != Stage::kSteps) {
      r_.error(ref.where, "'steps' cannot be read here", ctx, "no step has run yet");
      continue;
    }
    if (ref.parts.size() < 2) continue;
    const std::string& name = ref.parts[1];
    if (root == "steps") {
      if (!step_ids_.count(name)) {
        r_.error(ref.where, "unknown step '" + name + "'", ctx,
                 didYouMean(core::suggest(name, ids)));
        continue;
      }
      if (ref.parts.size() < 3) continue;
      const std::string& field = ref.parts[2];
      if (std::find(kStepFields.begin(), kStepFields.end(), field) == kStepFields.end()) {
        std::string near = core::suggest(field, kStepFields);
        r_.error(ref.where, "unknown field '" + field + "' of steps." + name, ctx,
                 near.empty() ? "a step has status, output and error" : didYouMean(near));
        continue;
      }
      // Outputs an action declares; "plan" is what any dry run puts there.
      auto action = step_actions_.find(name);
      if (field == "output" && ref.parts.size() >= 4 && action != step_actions_.end()) {
        auto outputs = action->second->spec().outputs;
        const std::string& out = ref.parts[3];
        if (!outputs.empty() && out != "plan" &&
            std::find(outputs.begin(), outputs.end(), out) == outputs.end()) {
          std::string near = core::suggest(out, outputs);
          std::string all;
          for (const auto& o : outputs) all += (all.empty() ? "" : ", ") + o;
          r_.error(ref.where, "action '" + action->second->spec().name + "' has no output '" +
                                  out + "'", ctx,
                   near.empty() ? "its outputs: " + all : didYouMean(near));
        }
      }
    } else if (root == "params") {
      auto it = std::find(param_names_.begin(), param_names_.end(), name);
      if (it == param_names_.end()) {
        std::string near = core::suggest(name, param_names_);
        r_.error(ref.where, "undeclared parameter '" + name + "'", ctx,
                 near.empty() ? "declare it under 'params'" : didYouMean(near));
        continue;
      }
      size_t index = static_cast<size_t>(it - param_names_.begin());
      if (ref.stage == Stage::kParams && index >= ref.param_index) {
        r_.error(ref.where, index == ref.param_index
                                ? "a parameter's default cannot read the parameter itself"
                                : "parameter '" + name + "' is declared after '" +
                                      param_names_[ref.param_index] + "'",
                 ctx, "a default reads only the parameters declared before it");
      }
    }
  }
}

}  // namespace

tl::expected<std::string, core::Error> readYamlFile(const std::string& path) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status))
    return tl::unexpected(core::Error(ErrorCode::kNotFound, "no such file or directory", {path}));
  if (!std::filesystem::is_regular_file(status))
    return tl::unexpected(core::Error(ErrorCode::kInvalidArgument, "not a regular file", {path}));
  auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxFileBytes) {
    return tl::unexpected(core::Error(ErrorCode::kInvalidArgument,
                                      "file is larger than 1 MiB (" + std::to_string(size) +
                                          " bytes)", {path, 1, 1}));
  }
  std::FILE* fp = std::fopen(path.c_str(), "rb");
  if (!fp) {
    return tl::unexpected(core::Error(ErrorCode::kIo, std::string("cannot read: ") +
                                                          std::strerror(errno), {path}));
  }
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, fp)) > 0) {
    out.append(buf, n);
    if (out.size() > kMaxFileBytes) break;  // it grew while we read; parse() reports it
  }
  bool failed = std::ferror(fp);
  std::fclose(fp);
  if (failed)
    return tl::unexpected(core::Error(ErrorCode::kIo, "cannot read the file", {path}));
  return out;
}

namespace {

tl::expected<PlaybookPtr, Diagnostics> loadFile(const std::string& path,
                                                const core::ProviderRegistry& registry,
                                                bool skip_other_kinds) {
  auto text = readYamlFile(path);
  if (!text) return tl::unexpected(Diagnostics{text.error()});
  return Compiler(*text, path, registry).run(skip_other_kinds);
}

bool isYamlFile(const std::filesystem::path& p) {
  auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml";
}

// Files under a directory, sorted. Hidden entries (editor files, Kubernetes' ..data links to
// the same files) and `schema` folders are not playbooks.
void listDirectory(const std::string& dir, std::vector<std::string>& files, Diagnostics& errors) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  std::vector<std::string> found;
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const auto& entry = *it;
    std::string name = entry.path().filename().string();
    std::error_code type_ec;
    if (entry.is_directory(type_ec)) {
      if (name == "schema" || name.rfind('.', 0) == 0) it.disable_recursion_pending();
      continue;
    }
    if (name.rfind('.', 0) == 0 || !isYamlFile(entry.path())) continue;
    if (entry.is_regular_file(type_ec)) found.push_back(entry.path().string());
  }
  if (ec) {
    errors.emplace_back(ErrorCode::kIo, "cannot list directory: " + ec.message(),
                        core::SourceLoc{dir});
  }
  std::sort(found.begin(), found.end());
  files.insert(files.end(), found.begin(), found.end());
}

}  // namespace

tl::expected<PlaybookPtr, Diagnostics> compilePlaybook(std::string_view yaml_text,
                                                       const std::string& file,
                                                       const core::ProviderRegistry& registry) {
  return Compiler(yaml_text, file, registry).run(false);
}

tl::expected<PlaybookPtr, Diagnostics> compileStepSection(std::string_view yaml_text,
                                                          const std::string& file,
                                                          const core::ProviderRegistry& registry,
                                                          const StepSection& section) {
  auto pb = Compiler(yaml_text, file, registry).runSection(section);
  if (!pb || !*pb) return pb;
  // A resume compiles the generated document: it must compile as these steps did. The steps
  // kept are these, with their places in the document they came from.
  auto generated = compilePlaybook((*pb)->source, file, registry);
  if (!generated) return generated;
  return pb;
}

tl::expected<PlaybookPtr, Diagnostics> loadPlaybookFile(const std::string& path,
                                                        const core::ProviderRegistry& registry) {
  return loadFile(path, registry, false);
}

std::vector<std::string> listYamlFiles(const std::vector<std::string>& paths,
                                       Diagnostics& errors) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const auto& path : paths) {
    std::error_code ec;
    auto status = fs::status(path, ec);
    if (ec || !fs::exists(status)) {
      errors.emplace_back(ErrorCode::kNotFound, "no such file or directory",
                          core::SourceLoc{path});
    } else if (fs::is_directory(status)) {
      listDirectory(path, files, errors);
    } else {
      files.push_back(path);
    }
  }
  return files;
}

LoadReport loadPlaybooks(const std::vector<std::string>& paths,
                         const core::ProviderRegistry& registry) {
  namespace fs = std::filesystem;
  LoadReport report;
  std::vector<std::string> files = listYamlFiles(paths, report.errors);
  // The same file named twice (a directory and a file in it) is loaded once.
  std::set<std::string> seen;
  std::map<std::string, PlaybookPtr> by_name;
  for (const auto& file : files) {
    std::error_code ec;
    auto canonical = fs::weakly_canonical(file, ec).string();
    if (!seen.insert(ec ? file : canonical).second) continue;
    auto pb = loadFile(file, registry, /*skip_other_kinds=*/true);
    if (!pb) {
      report.errors.insert(report.errors.end(), pb.error().begin(), pb.error().end());
      continue;
    }
    if (!*pb) continue;  // another kind (a drill): its own loader reads it
    auto [first, inserted] = by_name.emplace((*pb)->name, *pb);
    if (!inserted) {
      report.errors.emplace_back(ErrorCode::kAlreadyExists,
                                 "duplicate playbook name '" + (*pb)->name + "' (also in " +
                                     first->second->loc.str() + ")",
                                 (*pb)->loc);
      continue;
    }
    report.playbooks.push_back(*pb);
  }
  return report;
}

}  // namespace firebreak::playbook
