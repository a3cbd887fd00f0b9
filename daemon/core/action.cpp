#include "daemon/core/action.h"

#include <algorithm>

#include "daemon/core/duration.h"

namespace firebreak::core {

const char* paramTypeName(ParamType type) {
  switch (type) {
    case ParamType::kString: return "string";
    case ParamType::kInt: return "integer";
    case ParamType::kNumber: return "number";
    case ParamType::kBool: return "boolean";
    case ParamType::kDuration: return "duration";
    case ParamType::kStringList: return "list of strings";
    case ParamType::kStringMap: return "map of strings";
    case ParamType::kIntOrIntList: return "integer or list of integers";
    case ParamType::kSecret: return "secret reference or string";
    case ParamType::kObject: return "mapping";
    case ParamType::kAny: return "any value";
  }
  return "value";
}

const char* phaseName(Phase phase) {
  switch (phase) {
    case Phase::kObserve: return "observe";
    case Phase::kContain: return "contain";
    case Phase::kRecover: return "recover";
    case Phase::kNotify: return "notify";
  }
  return "observe";
}

std::optional<Phase> parsePhase(std::string_view name) {
  if (name == "observe") return Phase::kObserve;
  if (name == "contain") return Phase::kContain;
  if (name == "recover") return Phase::kRecover;
  if (name == "notify") return Phase::kNotify;
  return std::nullopt;
}

const char* outcomeName(ActionResult::Outcome outcome) {
  switch (outcome) {
    case ActionResult::Outcome::kOk: return "ok";
    case ActionResult::Outcome::kRetryable: return "retryable";
    case ActionResult::Outcome::kPermanent: return "permanent";
  }
  return "?";
}

const ParamSpec* ActionSpec::param(std::string_view n) const {
  for (const auto& p : params)
    if (p.name == n) return &p;
  return nullptr;
}

ActionResult ActionResult::success(Json output, std::string message) {
  return {Outcome::kOk, std::move(message), std::move(output), std::nullopt};
}
ActionResult ActionResult::retryable(std::string message, Json output) {
  return {Outcome::kRetryable, std::move(message), std::move(output), std::nullopt};
}
ActionResult ActionResult::permanent(std::string message, Json output) {
  return {Outcome::kPermanent, std::move(message), std::move(output), std::nullopt};
}

namespace {

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      // Transposition counts as one edit ("rnu" -> "run").
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        cur[j] = std::min(cur[j], prev[j - 1]);  // approximate Damerau: good enough for names
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

bool isTemplate(const Json& v) {
  return v.is_string() && v.get_ref<const std::string&>().find("{{") != std::string::npos;
}

std::string typeOf(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer() || v.is_number_unsigned()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "list";
  return "mapping";
}

}  // namespace

std::string suggest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = word.size() <= 3 ? 1 : (word.size() <= 6 ? 2 : 3);
  for (const auto& c : candidates) {
    size_t d = editDistance(word, c);
    if (d <= best_d && (best.empty() || d < best_d)) {
      best = c;
      best_d = d;
    }
  }
  return best;
}

bool isSecretReference(std::string_view value) {
  return value.rfind("env:", 0) == 0 || value.rfind("file:", 0) == 0;
}

std::vector<ParamIssue> checkParams(const ActionSpec& spec, Json& params, bool templates_allowed,
                                    bool fill_defaults) {
  std::vector<ParamIssue> issues;
  if (params.is_null()) params = Json::object();
  if (!params.is_object()) {
    issues.push_back({{}, "'with' must be a mapping of parameters, not a " + typeOf(params)});
    return issues;
  }
  std::vector<std::string> known;
  for (const auto& p : spec.params) known.push_back(p.name);
  for (const auto& [key, value] : params.items()) {
    if (!spec.param(key)) {
      std::string msg = "unknown parameter '" + key + "' for action '" + spec.name + "'";
      if (auto s = suggest(key, known); !s.empty()) msg += " (did you mean '" + s + "'?)";
      issues.push_back({{key}, msg});
    }
  }
  for (const auto& p : spec.params) {
    auto it = params.find(p.name);
    if (it == params.end() || it->is_null()) {
      if (fill_defaults && !p.default_value.is_null()) {
        params[p.name] = p.default_value;
      } else if (p.required) {
        issues.push_back({{p.name}, "missing required parameter '" + p.name + "' (" +
                                        paramTypeName(p.type) + ") for action '" + spec.name + "'"});
      }
      continue;
    }
    Json& v = *it;
    if (templates_allowed && isTemplate(v)) continue;
    auto wrong = [&](std::vector<std::string> path) {
      issues.push_back({std::move(path), "parameter '" + p.name + "' must be a " +
                                             paramTypeName(p.type) + ", not a " + typeOf(v)});
    };
    switch (p.type) {
      case ParamType::kString:
      case ParamType::kSecret:
        if (!v.is_string()) wrong({p.name});
        else if (!p.one_of.empty() &&
                 std::find(p.one_of.begin(), p.one_of.end(), v.get<std::string>()) ==
                     p.one_of.end()) {
          std::string all;
          for (const auto& o : p.one_of) all += (all.empty() ? "" : ", ") + o;
          issues.push_back({{p.name}, "parameter '" + p.name + "' must be one of " + all +
                                          ", not '" + v.get<std::string>() + "'"});
        }
        break;
      case ParamType::kInt:
        if (!v.is_number_integer()) wrong({p.name});
        break;
      case ParamType::kNumber:
        if (!v.is_number()) wrong({p.name});
        break;
      case ParamType::kBool:
        if (!v.is_boolean()) wrong({p.name});
        break;
      case ParamType::kDuration:
        if (!v.is_string()) {
          wrong({p.name});
        } else if (auto d = parseDuration(v.get<std::string>()); !d) {
          issues.push_back({{p.name}, "parameter '" + p.name + "': " + d.error().message()});
        }
        break;
      case ParamType::kStringList:
        if (!v.is_array()) {
          wrong({p.name});
        } else {
          for (size_t i = 0; i < v.size(); ++i) {
            if (!v[i].is_string() && !(v[i].is_number() || v[i].is_boolean()))
              issues.push_back({{p.name, std::to_string(i)},
                                "parameter '" + p.name + "' item " + std::to_string(i) +
                                    " must be a string, not a " + typeOf(v[i])});
            else if (!v[i].is_string())
              v[i] = v[i].dump();  // argv: [sleep, 5] means "5"
          }
        }
        break;
      case ParamType::kStringMap:
        if (!v.is_object()) {
          wrong({p.name});
        } else {
          for (auto& [k, item] : v.items()) {
            if (item.is_number() || item.is_boolean()) item = item.dump();
            else if (!item.is_string())
              issues.push_back({{p.name, k}, "parameter '" + p.name + "' entry '" + k +
                                                 "' must be a string, not a " + typeOf(item)});
          }
        }
        break;
      case ParamType::kIntOrIntList:
        if (v.is_number_integer()) break;
        if (!v.is_array()) {
          wrong({p.name});
        } else {
          for (size_t i = 0; i < v.size(); ++i)
            if (!v[i].is_number_integer() && !(templates_allowed && isTemplate(v[i])))
              issues.push_back({{p.name, std::to_string(i)},
                                "parameter '" + p.name + "' item " + std::to_string(i) +
                                    " must be an integer, not a " + typeOf(v[i])});
        }
        break;
      case ParamType::kObject:
        if (!v.is_object()) wrong({p.name});
        break;
      case ParamType::kAny:
        break;
    }
  }
  return issues;
}

Status ProviderRegistry::add(std::unique_ptr<ActionProvider> provider) {
  std::string name = provider->spec().name;
  if (providers_.count(name))
    return fail(ErrorCode::kAlreadyExists, "action '" + name + "' is registered twice");
  providers_.emplace(std::move(name), std::move(provider));
  return {};
}

ActionProvider* ProviderRegistry::find(std::string_view name) const {
  auto it = providers_.find(name);
  return it == providers_.end() ? nullptr : it->second.get();
}

std::vector<std::string> ProviderRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : providers_) out.push_back(name);
  return out;
}

std::vector<const ActionProvider*> ProviderRegistry::all() const {
  std::vector<const ActionProvider*> out;
  for (const auto& [_, p] : providers_) out.push_back(p.get());
  return out;
}

}  // namespace firebreak::core
