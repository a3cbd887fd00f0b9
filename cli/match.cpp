// firebreak match --alert FILE: a saved webhook body through the source's real parser and the
// real router, offline. Prints, per alert, the playbooks that would start (with their
// parameters rendered as the engine would) and why the others would not; runs nothing.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "cli/common.h"
#include "daemon/app/source_parser.h"
#include "daemon/config/config.h"
#include "daemon/config/cross_check.h"
#include "daemon/intake/router.h"
#include "daemon/playbook/expression.h"
#include "daemon/playbook/loader.h"

namespace firebreak::cli {

namespace {

using core::Json;

struct Args {
  std::string alert_file;
  std::string source;
  std::string type;
  std::optional<std::string> config;
  std::vector<std::string> playbooks;
  bool json = false;
};

// A capture may be the whole HTTP request (as tcpdump or a proxy saves it): the body is what
// follows the first empty line.
std::string bodyOf(const std::string& text) {
  if (text.rfind("POST ", 0) != 0 && text.rfind("PUT ", 0) != 0) return text;
  for (const char* sep : {"\r\n\r\n", "\n\n"}) {
    auto at = text.find(sep);
    if (at != std::string::npos) return text.substr(at + std::strlen(sep));
  }
  return text;
}

const char* onName(playbook::Trigger::On on) {
  switch (on) {
    case playbook::Trigger::On::kFiring: return "firing";
    case playbook::Trigger::On::kResolved: return "resolved";
    case playbook::Trigger::On::kBoth: return "both";
  }
  return "?";
}

const char* opName(playbook::LabelMatcher::Op op) {
  using Op = playbook::LabelMatcher::Op;
  switch (op) {
    case Op::kEq: return "=";
    case Op::kNe: return "!=";
    case Op::kRe: return "=~";
    case Op::kNre: return "!~";
  }
  return "?";
}

Json scopeFor(const Json& alert, const Json& env) {
  return Json{{"alert", alert},       {"params", Json::object()}, {"incident", Json{{"id", ""}}},
              {"steps", Json::object()}, {"run", Json::object()},   {"env", env}};
}

// Why the router left `pb` out for this alert, in the router's own order of checks.
std::string whyNot(const playbook::Playbook& pb, const core::Alert& alert, const Json& alert_json,
                   const Json& env) {
  const auto& t = pb.trigger;
  if (t.manual_only) return "no trigger: runs only by hand or from a drill";
  bool on_ok = t.on == playbook::Trigger::On::kBoth ||
               (t.on == playbook::Trigger::On::kFiring && alert.status == "firing") ||
               (t.on == playbook::Trigger::On::kResolved && alert.status == "resolved");
  if (!on_ok) return fmt::format("trigger.on is {}, the alert is {}", onName(t.on), alert.status);
  if (!t.sources.empty() &&
      std::find(t.sources.begin(), t.sources.end(), alert.source) == t.sources.end())
    return fmt::format("trigger.sources is [{}], the alert came from '{}'",
                       fmt::join(t.sources, ", "), alert.source);
  for (const auto& m : t.match) {
    if (m.matches(alert.labels)) continue;
    auto it = alert.labels.find(m.label);
    return fmt::format("trigger.match {}{}\"{}\" fails: {}", m.label, opName(m.op), m.value,
                       it == alert.labels.end() ? "the alert has no label '" + m.label + "'"
                                                : m.label + " is \"" + it->second + "\"");
  }
  if (t.when) {
    auto ok = t.when->test(scopeFor(alert_json, env));
    if (!ok) return "trigger.when failed: " + ok.error().message();
    if (!*ok) return "trigger.when is false";
  }
  return "not chosen by the router";
}

// Parameters as the engine renders them at start (given none by hand): defaults in order,
// each seeing the ones before it.
Json renderParams(const playbook::Playbook& pb, const Json& alert_json, const Json& env,
                  std::vector<std::string>& problems) {
  Json scope = scopeFor(alert_json, env);
  scope["run"] = Json{{"id", ""}, {"playbook", pb.name}, {"dry_run", pb.dry_run},
                      {"trigger", "alert"}, {"url", ""}, {"error", ""}};
  Json params = Json::object();
  for (const auto& d : pb.params) {
    Json value;
    if (!d.default_value.is_null()) {
      scope["params"] = params;
      auto rendered = playbook::renderValue(d.default_value, scope);
      if (!rendered) {
        problems.push_back("parameter '" + d.name + "': " + rendered.error().message());
        continue;
      }
      value = std::move(*rendered);
    }
    if (d.required && (value.is_null() || (value.is_string() && value.get<std::string>().empty())))
      problems.push_back("missing required parameter '" + d.name +
                         "': the run would not start");
    params[d.name] = value;
  }
  return params;
}

std::string readFile(const std::string& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int runMatch(const Args& a, const Globals& g) {
  bool json = a.json || g.json;
  // The config: given, else ./firebreak.yaml when it exists, else the defaults.
  auto cfg = config::loadConfig(a.config, "firebreak.yaml");
  if (!cfg) {
    for (const auto& e : cfg.error()) std::cerr << e.str() << "\n";
    return kExitUsage;
  }
  // The source: --source names one of the config; else the only source, else the first
  // alertmanager one; else (no config source) an ad hoc one of --type (default alertmanager).
  std::string name = a.source;
  config::Source source;
  if (!a.source.empty() && cfg->sources.count(a.source)) {
    source = cfg->sources.at(a.source);
  } else if (!a.source.empty() && !cfg->sources.empty()) {
    std::vector<std::string> names;
    for (const auto& [n, _] : cfg->sources) names.push_back(n);
    std::string msg = "--source " + a.source + ": no such source in " +
                      (cfg->file.empty() ? std::string("the config") : cfg->file) +
                      " (sources: " + fmt::format("{}", fmt::join(names, ", ")) + ")";
    if (auto s = core::suggest(a.source, names); !s.empty()) msg += " (did you mean '" + s + "'?)";
    printError(msg);
    return kExitUsage;
  } else if (a.type.empty() && cfg->sources.size() == 1) {
    name = cfg->sources.begin()->first;
    source = cfg->sources.begin()->second;
  } else {
    const config::Source* chosen = nullptr;
    if (a.type.empty())
      for (const auto& [n, s] : cfg->sources)
        if (s.type == config::SourceType::kAlertmanager && !chosen) chosen = &s, name = n;
    if (chosen) {
      source = *chosen;
    } else {
      std::string type = a.type.empty() ? "alertmanager" : a.type;
      if (type == "alertmanager") source.type = config::SourceType::kAlertmanager;
      else if (type == "generic") source.type = config::SourceType::kGeneric;
      else if (type == "sns") source.type = config::SourceType::kSns;
      else {
        printError("--type " + type + ": one of alertmanager, generic, sns");
        return kExitUsage;
      }
      if (name.empty()) name = type;
    }
  }
  if (!app::hasParser(source.type)) {
    printError("source '" + name + "' is of type '" + config::sourceTypeName(source.type) +
               "', which has no parser in this version (alertmanager, generic, sns)");
    return kExitUsage;
  }

  bool readable = false;
  std::string text = readFile(a.alert_file, readable);
  if (!readable) {
    printError(a.alert_file + ": cannot read it");
    return kExitUsage;
  }
  sources::ParseOptions options;
  options.max_body_bytes = source.max_body;
  options.received_at_ms = core::SystemClock().nowMs();
  auto parsed = app::parseSourceBody(source, name, bodyOf(text), options);
  if (!parsed) {
    std::cerr << a.alert_file << ": error: " << parsed.error().message() << " (as source '"
              << name << "', type " << config::sourceTypeName(source.type) << ")\n";
    return kExitUsage;
  }

  std::vector<std::string> dirs = !a.playbooks.empty()  ? a.playbooks
                                  : a.config.has_value() ? cfg->playbooks
                                                         : g.playbook_dirs;
  asio::thread_pool pool(1);
  core::SystemClock clock;
  app::ProcessSecretResolver secrets;
  core::ActionEnv env_for_actions{&pool, &clock, &secrets, g.data_dir};
  auto registry = app::offlineRegistry(env_for_actions);
  if (!registry) {
    printError(registry.error().str());
    return kExitFailed;
  }
  auto report = playbook::loadPlaybooks(dirs, **registry);
  pool.join();
  // Playbooks with errors would not be loaded by the daemon either: say so, match the rest.
  for (const auto& e : report.errors) std::cerr << e.str() << "\n";
  if (a.config)
    for (const auto& w : config::checkTriggerSources(*cfg, report.playbooks))
      std::cerr << config::warningText(w) << "\n";

  Json env = Json::object();
  for (const auto& n : cfg->allowed_env)
    if (const char* v = std::getenv(n.c_str())) env[n] = v;

  int matched_total = 0;
  Json out = {{"source", name},
              {"type", config::sourceTypeName(source.type)},
              {"playbooks_loaded", report.playbooks.size()},
              {"alerts", Json::array()}};
  if (!json)
    std::cout << parsed->alerts.size() << " alert(s) from " << a.alert_file << " as source '"
              << name << "' (" << config::sourceTypeName(source.type) << "), "
              << report.playbooks.size() << " playbook(s) loaded\n";
  for (size_t i = 0; i < parsed->alerts.size(); ++i) {
    const core::Alert& alert = parsed->alerts[i];
    Json alert_json = alert.toJson();
    auto routing = intake::route(alert, report.playbooks);
    Json item = {{"index", i},          {"name", alert.name},
                 {"status", alert.status}, {"fingerprint", alert.fingerprint},
                 {"labels", alert_json["labels"]}, {"matched", Json::array()},
                 {"not_matched", Json::array()}, {"errors", Json::array()}};
    if (!json)
      std::cout << "\nalert " << i << ": " << alert.name << " " << alert.status << " ("
                << alert.fingerprint << ")\n";
    for (const auto& m : routing.matches) {
      std::vector<std::string> problems;
      Json params = renderParams(*m.playbook, alert_json, env, problems);
      item["matched"].push_back({{"playbook", m.playbook->name},
                                 {"file", m.playbook->file},
                                 {"dedup_key", m.dedup_key},
                                 {"dry_run", m.playbook->dry_run || cfg->dry_run},
                                 {"params", params},
                                 {"problems", problems}});
      ++matched_total;
      if (!json) {
        std::cout << "  would run  " << m.playbook->name << "  (" << m.playbook->file
                  << ")" << (m.playbook->dry_run || cfg->dry_run ? " dry-run" : "") << "\n";
        std::cout << "    incident key: " << m.dedup_key << "\n";
        for (const auto& [k, v] : params.items())
          std::cout << "    params." << k << " = "
                    << (v.is_string() ? v.get<std::string>() : v.dump()) << "\n";
        for (const auto& p : problems) std::cout << "    problem: " << p << "\n";
      }
    }
    for (const auto& e : routing.errors) {
      item["errors"].push_back(e.str());
      if (!json) std::cout << "  error      " << e.str() << "\n";
    }
    for (const auto& pb : report.playbooks) {
      bool chosen = std::any_of(routing.matches.begin(), routing.matches.end(),
                                [&](const intake::Match& m) { return m.playbook == pb; });
      if (chosen) continue;
      std::string why = whyNot(*pb, alert, alert_json, env);
      item["not_matched"].push_back({{"playbook", pb->name}, {"reason", why}});
      if (!json) std::cout << "  not        " << pb->name << ": " << why << "\n";
    }
    out["alerts"].push_back(std::move(item));
  }
  out["matched"] = matched_total;
  if (json) std::cout << out.dump(2) << "\n";
  else
    std::cout << "\n" << matched_total << " run(s) would start; nothing was run\n";
  return matched_total > 0 ? kExitOk : kExitFailed;
}

}  // namespace

void addMatch(CLI::App& app, Globals& g) {
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "match", "Show which playbooks a saved webhook body would start, running nothing");
  cmd->add_option("--alert", a->alert_file, "A saved webhook body (JSON, or the whole request)")
      ->required();
  cmd->add_option("--source", a->source,
                  "The config's source to read it as (default: the only one, else the first "
                  "alertmanager one)");
  cmd->add_option("--type", a->type, "Without a config source: alertmanager (default) or generic");
  cmd->add_option("--config", a->config,
                  "firebreak.yaml (default: ./firebreak.yaml when it exists)");
  cmd->add_option("--playbooks", a->playbooks,
                  "Playbook files or dirs (default: the config's, else --playbooks before the "
                  "verb)");
  cmd->add_flag("--json", a->json, "Print machine-readable JSON");
  cmd->callback([&g, a] { g.exit_code = runMatch(*a, g); });
}

}  // namespace firebreak::cli
