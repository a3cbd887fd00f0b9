#include "daemon/intake/router.h"

#include <algorithm>

#include "daemon/playbook/expression.h"

namespace firebreak::intake {

namespace {

using playbook::Trigger;

bool statusFits(Trigger::On on, const std::string& status) {
  switch (on) {
    case Trigger::On::kFiring: return status == "firing";
    case Trigger::On::kResolved: return status == "resolved";
    case Trigger::On::kBoth: return true;
  }
  return false;
}

}  // namespace

Routing route(const core::Alert& alert, const std::vector<playbook::PlaybookPtr>& playbooks) {
  Routing out;
  // Built for the first playbook that gets past the cheap checks: most alerts of a storm
  // match nothing, and building the JSON is most of the cost of routing one.
  core::Json scope;
  auto scopeOfAlert = [&]() -> const core::Json& {
    if (scope.is_null())
      scope = {{"alert", alert.toJson()},        {"params", core::Json::object()},
               {"incident", core::Json::object()}, {"steps", core::Json::object()},
               {"run", core::Json::object()},      {"env", core::Json::object()}};
    return scope;
  };
  for (const auto& pb : playbooks) {
    const Trigger& t = pb->trigger;
    if (t.manual_only || !statusFits(t.on, alert.status)) continue;
    if (!t.sources.empty() &&
        std::find(t.sources.begin(), t.sources.end(), alert.source) == t.sources.end())
      continue;
    bool all = std::all_of(t.match.begin(), t.match.end(),
                           [&](const auto& m) { return m.matches(alert.labels); });
    if (!all) continue;
    if (t.when) {
      auto ok = t.when->test(scopeOfAlert());
      if (!ok) {
        out.errors.push_back(ok.error().context("playbook '" + pb->name + "': trigger.when"));
        continue;
      }
      if (!*ok) continue;
    }
    // Without a dedup key each alert is its own incident; its identity has no status, so its
    // firing and resolved deliveries meet there.
    Match m{pb, pb->name + "|" + alert.identity()};
    if (pb->dedup) {
      auto key = playbook::renderValue(core::Json(pb->dedup->key), scopeOfAlert());
      if (key && key->is_string() && !key->get<std::string>().empty())
        m.dedup_key = pb->name + "|" + key->get<std::string>();
    }
    out.matches.push_back(std::move(m));
  }
  if (!out.matches.empty()) out.alert_json = std::move(scopeOfAlert()["alert"]);
  return out;
}

}  // namespace firebreak::intake
