#include "daemon/drill/loader.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <openssl/sha.h>

#include "daemon/core/duration.h"
#include "daemon/playbook/loader.h"
#include "daemon/playbook/reader.h"

namespace firebreak::drill {

using core::Diagnostics;
using core::ErrorCode;
using playbook::YamlReader;
using Entry = YamlReader::Entry;

namespace {

const std::vector<std::string> kTopKeys = {
    "apiVersion", "kind",    "metadata", "schedule", "timezone",       "mode",    "inject",
    "expect",     "steady_state", "stop_if", "probe_interval", "rollback", "scope", "timeout"};
const std::vector<std::string> kMetadataKeys = {"name", "description", "labels"};
const std::vector<std::string> kAlertKeys = {"source", "labels", "annotations", "severity"};
const std::vector<std::string> kObjectiveKeys = {"detected_within", "first_action_within",
                                                 "contained_within", "recovered_within"};
const std::vector<std::string> kScopeKeys = {"paths", "processes", "ports"};

constexpr std::string_view kApiVersion = "firebreak/v1";
constexpr std::string_view kKind = "Drill";

std::string sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

bool validName(std::string_view s) {
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (s.empty() || s.size() > 50 || !ok(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return ok(c) || c == '-'; });
}

class DrillCompiler {
 public:
  DrillCompiler(std::string_view text, const std::string& file,
                const core::ProviderRegistry& registry)
      : text_(text), r_(text, file), registry_(registry) {}

  tl::expected<DrillPtr, Diagnostics> run(bool skip_other_kinds) {
    DrillPtr out;
    try {
      out = compile(skip_other_kinds);
    } catch (const std::exception& e) {
      r_.error({r_.file(), 1, 1}, std::string("internal error reading the drill: ") + e.what(),
               {});
    }
    auto errors = r_.takeErrors();
    errors.insert(errors.end(), section_errors_.begin(), section_errors_.end());
    if (!errors.empty()) {
      std::stable_sort(errors.begin(), errors.end(), [](const core::Error& a, const core::Error& b) {
        return std::make_pair(a.loc().line, a.loc().column) <
               std::make_pair(b.loc().line, b.loc().column);
      });
      return tl::unexpected(std::move(errors));
    }
    return out;
  }

 private:
  std::shared_ptr<Drill> compile(bool skip_other_kinds);
  void compileInject(const Entry& e, Drill& d);
  void compileExpect(const Entry& e, Drill& d);
  void compileScope(const Entry& e, Drill& d);
  // Compiles the steps under `key` (nullptr when absent). Probes may not change anything.
  playbook::PlaybookPtr section(const Drill& d, const std::string& key, bool single, bool probes);

  std::string_view text_;
  YamlReader r_;
  const core::ProviderRegistry& registry_;
  Diagnostics section_errors_;
};

std::shared_ptr<Drill> DrillCompiler::compile(bool skip_other_kinds) {
  auto doc = r_.parse();
  if (!doc) return nullptr;
  const YAML::Node& root = *doc;
  if (!root.IsMap()) {
    r_.error(r_.loc(root),
             "a drill must be a mapping with apiVersion, kind, metadata, inject and expect, not " +
                 YamlReader::describe(root),
             {});
    return nullptr;
  }
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (!it->first.IsScalar() || it->first.Scalar() != "kind" || !it->second.IsScalar()) continue;
    const std::string& kind = it->second.Scalar();
    if (kind == kKind) break;
    std::string near = core::suggest(kind, {std::string(kKind)});
    if (skip_other_kinds && near.empty()) return nullptr;
    r_.error(r_.loc(it->second), "'kind' must be 'Drill', not '" + kind + "'", {},
             near.empty() ? "" : "did you mean '" + near + "'?");
    return nullptr;
  }

  auto d = std::make_shared<Drill>();
  d->file = r_.file();
  d->source = std::string(text_);
  d->hash = sha256Hex(text_);
  d->loc = r_.loc(root);

  auto f = r_.fields(root, kTopKeys, {}, "a drill");
  r_.require(f, root, {"apiVersion", "kind", "metadata", "inject"}, {});
  if (auto* e = f.find("apiVersion")) {
    if (auto v = r_.string(*e, {}); v && *v != kApiVersion)
      r_.error(r_.loc(*e), "'apiVersion' must be '" + std::string(kApiVersion) + "', not '" + *v +
                               "'", {});
  }
  if (auto* e = f.find("kind")) r_.string(*e, {});
  if (auto* e = f.find("metadata"); e && r_.mapping(*e, {})) {
    auto m = r_.fields(e->value, kMetadataKeys, "metadata", "'metadata'");
    r_.require(m, e->value, {"name"}, "metadata");
    if (auto* n = m.find("name")) {
      if (auto v = r_.string(*n, "metadata")) {
        if (!validName(*v))
          r_.error(r_.loc(*n), "'name' must be 1 to 50 lowercase letters, digits and '-', "
                               "starting with a letter or digit, not '" + *v + "'", "metadata");
        d->name = *v;
        d->loc = r_.loc(*n);
      }
    }
    if (auto* x = m.find("description")) d->description = r_.string(*x, "metadata").value_or("");
    if (auto* x = m.find("labels")) r_.stringMap(*x, "metadata");
  }
  std::string zone = "UTC";
  if (auto* e = f.find("timezone")) zone = r_.string(*e, {}).value_or("UTC");
  if (auto* e = f.find("schedule")) {
    if (auto v = r_.string(*e, {})) {
      auto schedule = CronSchedule::parse(*v, zone);
      if (schedule) {
        d->schedule = std::move(*schedule);
      } else {
        // The scalar's own characters when the schedule names a field, else the value.
        auto where = f.find("timezone") && schedule.error().message().find("time zone") !=
                                               std::string::npos
                         ? r_.loc(*f.find("timezone"))
                         : r_.loc(*e);
        r_.error(where, "'schedule': " + schedule.error().message(), {});
      }
    }
  } else if (auto* tz = f.find("timezone")) {
    r_.error(r_.loc(*tz), "'timezone' without 'schedule' means nothing", {},
             "add a schedule, or remove the time zone");
  }
  if (auto* e = f.find("mode")) {
    if (auto v = r_.oneOf(*e, {}, {"dry-run", "live"})) d->dry_run = *v == "dry-run";
  }
  if (auto* e = f.find("scope")) compileScope(*e, *d);
  if (auto* e = f.find("timeout")) {
    if (auto v = r_.duration(*e, {})) d->timeout = *v;
  }
  if (auto* e = f.find("probe_interval")) {
    if (auto v = r_.duration(*e, {})) {
      if (*v < std::chrono::milliseconds(100))
        r_.error(r_.loc(*e), "'probe_interval' must be at least 100ms", {});
      else
        d->probe_interval = *v;
    }
  }
  if (auto* e = f.find("expect")) compileExpect(*e, *d);
  if (auto* e = f.find("inject")) compileInject(*e, *d);
  d->steady_state = section(*d, "steady_state", false, true);
  d->stop_if = section(*d, "stop_if", false, true);
  d->rollback = section(*d, "rollback", false, false);
  if (f.has("probe_interval") && !f.has("stop_if"))
    r_.error(r_.loc(*f.find("probe_interval")), "'probe_interval' without 'stop_if' means nothing",
             {});
  // An objective longer than the wait for it could never be met.
  for (const auto& o : d->objectives) {
    if (o.target > d->timeout) {
      r_.error(f.find("expect") ? r_.loc(*f.find("expect")) : d->loc,
               "objective '" + o.name + "' is longer than the drill's timeout (" +
                   core::formatDuration(d->timeout) + ")",
               "expect", "raise 'timeout'");
    }
  }
  return d;
}

void DrillCompiler::compileInject(const Entry& e, Drill& d) {
  const std::string ctx = "inject";
  if (!r_.mapping(e, {})) return;
  bool has_alert = false;
  for (auto it = e.value.begin(); it != e.value.end(); ++it)
    if (it->first.IsScalar() && it->first.Scalar() == "alert") has_alert = true;
  if (!has_alert) {
    d.inject_action = section(d, "inject", true, false);
    if (d.inject_action && d.inject_action->steps.size() == 1 &&
        d.inject_action->steps[0].kind != playbook::Step::Kind::kAction) {
      section_errors_.emplace_back(ErrorCode::kInvalidArgument,
                                   "'inject' must be an alert or one action, not an approval "
                                   "or a parallel group in inject",
                                   r_.loc(e));
    }
    return;
  }
  auto f = r_.fields(e.value, {"alert"}, ctx, "'inject'");
  const Entry* a = f.find("alert");
  if (!a || !r_.mapping(*a, ctx)) return;
  const std::string actx = "inject.alert";
  auto af = r_.fields(a->value, kAlertKeys, actx, "'alert'");
  r_.require(af, a->value, {"source", "labels"}, actx);
  InjectedAlert alert;
  if (auto* x = af.find("source")) alert.source = r_.string(*x, actx).value_or("");
  if (auto* x = af.find("labels")) {
    if (auto v = r_.stringMap(*x, actx)) {
      alert.labels = std::move(*v);
      if (!alert.labels.count("alertname"))
        r_.error(r_.loc(*x), "the labels of an alert must include 'alertname'", actx);
      else
        alert.name = alert.labels["alertname"];
    }
  }
  if (auto* x = af.find("annotations")) {
    if (auto v = r_.stringMap(*x, actx)) alert.annotations = std::move(*v);
  }
  alert.severity = alert.labels.count("severity") ? alert.labels["severity"] : "";
  if (auto* x = af.find("severity")) alert.severity = r_.string(*x, actx).value_or("");
  d.inject_alert = std::move(alert);
}

void DrillCompiler::compileExpect(const Entry& e, Drill& d) {
  const std::string ctx = "expect";
  if (!r_.mapping(e, {})) return;
  std::vector<std::string> keys = {"playbook"};
  keys.insert(keys.end(), kObjectiveKeys.begin(), kObjectiveKeys.end());
  auto f = r_.fields(e.value, keys, ctx, "'expect'");
  if (auto* x = f.find("playbook")) d.expect_playbook = r_.string(*x, ctx).value_or("");
  for (const auto& name : kObjectiveKeys) {
    if (auto* x = f.find(name)) {
      if (auto v = r_.duration(*x, ctx)) d.objectives.push_back({name, *v});
    }
  }
}

void DrillCompiler::compileScope(const Entry& e, Drill& d) {
  const std::string ctx = "scope";
  if (!r_.mapping(e, {})) return;
  auto f = r_.fields(e.value, kScopeKeys, ctx, "'scope'");
  Json scope = Json::object();
  if (auto* x = f.find("paths")) {
    if (auto v = r_.stringList(*x, ctx)) {
      for (const auto& p : *v)
        if (p.empty() || p[0] != '/')
          r_.error(r_.loc(*x), "'paths' must hold absolute paths, not '" + p + "'", ctx);
      scope["paths"] = *v;
    }
  }
  if (auto* x = f.find("processes")) {
    if (auto v = r_.stringList(*x, ctx)) scope["processes"] = *v;
  }
  if (auto* x = f.find("ports")) {
    if (!x->value.IsSequence()) {
      r_.error(r_.loc(*x), "'ports' must be a list of port numbers, not " +
                               YamlReader::describe(x->value), ctx);
    } else {
      Json ports = Json::array();
      for (const auto& item : x->value) {
        int port = 0;
        bool ok = item.IsScalar() && r_.isPlain(item);
        if (ok) {
          try {
            size_t used = 0;
            port = std::stoi(item.Scalar(), &used);
            ok = used == item.Scalar().size() && port >= 1 && port <= 65535;
          } catch (const std::exception&) {
            ok = false;
          }
        }
        if (!ok) {
          r_.error(r_.loc(item), "a port must be a number from 1 to 65535, not " +
                                     (item.IsScalar() ? "'" + item.Scalar() + "'"
                                                      : YamlReader::describe(item)),
                   ctx);
          continue;
        }
        ports.push_back(port);
      }
      scope["ports"] = ports;
    }
  }
  d.scope = std::move(scope);
}

playbook::PlaybookPtr DrillCompiler::section(const Drill& d, const std::string& key, bool single,
                                             bool probes) {
  playbook::StepSection s;
  s.key = key;
  std::string suffix = key;
  std::replace(suffix.begin(), suffix.end(), '_', '-');
  s.name = (d.name.empty() ? std::string("drill") : d.name) + "-" + suffix;
  s.single = single;
  s.with_prefix = "chaos.";
  s.extra_with = Json{{"scope", d.scope}};
  auto pb = playbook::compileStepSection(text_, r_.file(), registry_, s);
  if (!pb) {
    section_errors_.insert(section_errors_.end(), pb.error().begin(), pb.error().end());
    return nullptr;
  }
  if (probes && *pb) {
    for (const auto* step : (*pb)->allSteps()) {
      if (step->kind == playbook::Step::Kind::kApproval) {
        section_errors_.emplace_back(ErrorCode::kInvalidArgument,
                                     "a probe cannot wait for an approval in " + key, step->loc);
      } else if (step->provider && step->isDestructive()) {
        section_errors_.emplace_back(
            ErrorCode::kInvalidArgument,
            "a probe must not change anything: '" + step->action + "' is destructive in " + key +
                " (step '" + step->id + "')",
            step->loc);
      }
    }
  }
  return *pb;
}

}  // namespace

const char* objectiveDefinition(const std::string& name) {
  if (name == "detected_within") return "fault injected to the first alert of it received";
  if (name == "first_action_within") return "fault injected to the first action step started";
  if (name == "contained_within")
    return "fault injected to the first containment step succeeded";
  if (name == "recovered_within")
    return "fault injected to the last recovery step succeeded, or to the steady state "
           "probes passing again when the playbook has no recovery step";
  return "";
}

tl::expected<DrillPtr, Diagnostics> compileDrill(std::string_view yaml_text,
                                                 const std::string& file,
                                                 const core::ProviderRegistry& registry) {
  return DrillCompiler(yaml_text, file, registry).run(false);
}

DrillLoadReport loadDrills(const std::vector<std::string>& paths,
                           const core::ProviderRegistry& registry) {
  namespace fs = std::filesystem;
  DrillLoadReport report;
  auto files = playbook::listYamlFiles(paths, report.errors);
  std::set<std::string> seen;
  std::map<std::string, DrillPtr> by_name;
  for (const auto& file : files) {
    std::error_code ec;
    auto canonical = fs::weakly_canonical(file, ec).string();
    if (!seen.insert(ec ? file : canonical).second) continue;
    auto text = playbook::readYamlFile(file);
    if (!text) {
      report.errors.push_back(text.error());
      continue;
    }
    auto d = DrillCompiler(*text, file, registry).run(/*skip_other_kinds=*/true);
    if (!d) {
      report.errors.insert(report.errors.end(), d.error().begin(), d.error().end());
      continue;
    }
    if (!*d) continue;  // a playbook: its own loader reads it
    auto [first, inserted] = by_name.emplace((*d)->name, *d);
    if (!inserted) {
      report.errors.emplace_back(ErrorCode::kAlreadyExists,
                                 "duplicate drill name '" + (*d)->name + "' (also in " +
                                     first->second->loc.str() + ")",
                                 (*d)->loc);
      continue;
    }
    report.drills.push_back(*d);
  }
  return report;
}

std::string documentKind(std::string_view yaml_text) {
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    if (!root.IsMap() || !root["kind"] || !root["kind"].IsScalar()) return "";
    return root["kind"].Scalar();
  } catch (const std::exception&) {
    return "";
  }
}

}  // namespace firebreak::drill
