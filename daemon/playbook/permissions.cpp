#include "daemon/playbook/permissions.h"

#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

namespace firebreak::playbook {

namespace {

using core::Json;

// A value the playbook fixes: a string with no template in it.
std::optional<std::string> literal(const Json& with, const std::string& name) {
  auto it = with.find(name);
  if (it == with.end() || !it->is_string()) return std::nullopt;
  const auto& s = it->get_ref<const std::string&>();
  if (s.empty() || s.find("{{") != std::string::npos) return std::nullopt;
  return s;
}

// "network-interface" -> "NetworkInterface": a Sid is letters and digits only.
std::string camel(std::string_view text) {
  std::string out;
  bool upper = true;
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out;
}

// What a statement is about, for its Sid: "IamRole" for arn:aws:iam::*:role/..., "S3Bucket"
// for arn:aws:s3:::name, "Any" for "*".
std::string sidFor(const std::string& resource) {
  if (resource == "*") return "Any";
  std::vector<std::string_view> parts;
  std::string_view rest(resource);
  for (int i = 0; i < 5 && rest.find(':') != std::string_view::npos; ++i) {
    parts.push_back(rest.substr(0, rest.find(':')));
    rest.remove_prefix(rest.find(':') + 1);
  }
  if (parts.size() < 3) return "Resources";
  std::string service = camel(parts[2]);
  if (parts[2] == "s3") return service + "Bucket";
  return service + camel(rest.substr(0, rest.find_first_of("/:")));
}

void collect(const core::ActionSpec& spec, const Json& with,
             std::map<std::string, std::set<std::string>>& needs) {
  for (const auto& p : spec.permissions)
    needs[p.action].insert(p.resource.empty() ? "*" : permissionResource(p.resource, with));
}

}  // namespace

std::string permissionResource(const std::string& pattern, const Json& with) {
  auto open = pattern.find('{');
  auto close = pattern.find('}', open);
  if (open == std::string::npos || close == std::string::npos) return pattern;
  const std::string name = pattern.substr(open + 1, close - open - 1);
  auto value = literal(with, name);
  if (value && value->rfind("arn:", 0) == 0) return *value;
  std::string filled = value ? *value : "*";
  return pattern.substr(0, open) + filled + permissionResource(pattern.substr(close + 1), with);
}

Json permissionsPolicy(const std::vector<PlaybookPtr>& playbooks,
                       const core::ProviderRegistry& registry, const std::string& role) {
  // IAM action -> the resources it is needed on, over every step of every playbook.
  std::map<std::string, std::set<std::string>> needs;
  for (const auto& pb : playbooks) {
    for (const Step* step : pb->allSteps()) {
      if (step->kind != Step::Kind::kAction || !step->provider) continue;
      const auto& spec = step->provider->spec();
      // Whose permissions these are: the daemon's, or the role the step assumes.
      std::optional<std::string> assumed;
      if (auto a = step->with.find("assume_role"); a != step->with.end() && a->is_object())
        assumed = literal(*a, "role_arn").value_or("*");
      if (role.empty() && assumed) {
        needs["sts:AssumeRole"].insert(*assumed == "*" ? "arn:aws:iam::*:role/*" : *assumed);
        continue;
      }
      if (role.empty() ? assumed.has_value() : assumed != role) continue;
      collect(spec, step->with, needs);
      if (step->undo && step->undo->provider) {
        collect(step->undo->provider->spec(), step->undo->with, needs);
      } else if (const auto* undo = spec.undo.empty() ? nullptr : registry.find(spec.undo)) {
        collect(undo->spec(), step->with, needs);  // the engine gives it the step's parameters
      }
    }
  }
  // Actions that need the same resources share a statement.
  std::map<std::set<std::string>, std::set<std::string>> by_resources;
  for (const auto& [action, resources] : needs) by_resources[resources].insert(action);
  Json statements = Json::array();
  std::map<std::string, int> sids;
  for (const auto& [resources, actions] : by_resources) {
    std::string sid = sidFor(*resources.begin());
    if (int n = ++sids[sid]; n > 1) sid += std::to_string(n);
    Json resource = resources.size() == 1 ? Json(*resources.begin()) : Json(resources);
    statements.push_back({{"Sid", sid},
                          {"Effect", "Allow"},
                          {"Action", Json(actions)},
                          {"Resource", resource}});
  }
  return {{"Version", "2012-10-17"}, {"Statement", statements}};
}

}  // namespace firebreak::playbook
