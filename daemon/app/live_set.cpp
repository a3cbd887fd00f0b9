#include "daemon/app/live_set.h"

#include <algorithm>
#include <filesystem>

#include "daemon/config/cross_check.h"
#include "daemon/core/duration.h"
#include "daemon/drill/loader.h"
#include "daemon/playbook/loader.h"

namespace firebreak::app {

namespace {

// The set is an argument, so the coroutine frame owns a reference to it until the answer.
core::awaitable<http::Response> serveWith(LiveSetPtr set, const DaemonMetrics* metrics,
                                          http::Request& request, const http::Peer& peer) {
  std::string_view target(request.target().data(), request.target().size());
  if (target.substr(0, target.find('?')) == "/metrics") {
    if (request.method() != boost::beast::http::verb::get &&
        request.method() != boost::beast::http::verb::head)
      co_return http::makeResponse(request, 405, R"({"error":"use GET"})");
    co_return metrics->respond(request);
  }
  co_return co_await set->webhooks->handle(request, peer);
}

}  // namespace

http::Handler serveLive(const LiveSets& live, const DaemonMetrics& metrics) {
  const LiveSets* sets = &live;
  const DaemonMetrics* m = &metrics;
  return [sets, m](http::Request& request, const http::Peer& peer) {
    return serveWith(sets->current(), m, request, peer);
  };
}

SetBuild buildSet(config::Config config, const core::ProviderRegistry& registry,
                  const core::SecretResolver& secrets, intake::Intake& intake,
                  const core::Clock& clock, asio::thread_pool& blocking, bool partial) {
  SetBuild out;
  out.warnings = config.warnings();
  auto report = playbook::loadPlaybooks(config.playbooks, registry);
  out.errors = report.errors;
  std::vector<std::string> drill_paths;
  for (const auto& p : config.drills) {
    std::error_code ec;
    if (config.drills_given || std::filesystem::exists(p, ec)) drill_paths.push_back(p);
  }
  auto drills = drill::loadDrills(drill_paths, registry);
  out.errors.insert(out.errors.end(), drills.errors.begin(), drills.errors.end());
  // What a drill names must exist: the playbook it expects, the source it injects through.
  std::vector<drill::DrillPtr> usable;
  for (const auto& d : drills.drills) {
    bool ok = true;
    if (!d->expect_playbook.empty() &&
        std::none_of(report.playbooks.begin(), report.playbooks.end(),
                     [&](const auto& p) { return p->name == d->expect_playbook; })) {
      out.errors.emplace_back(core::ErrorCode::kInvalidArgument,
                              "drill '" + d->name + "' expects playbook '" + d->expect_playbook +
                                  "', which is not loaded",
                              d->loc);
      ok = false;
    }
    // Intake takes the alert whatever its source; a playbook restricted to sources sees it
    // as sent by that one.
    if (d->inject_alert && !config.sources.count(d->inject_alert->source)) {
      out.warnings.push_back(d->loc.str() + ": drill '" + d->name + "' injects through source '" +
                             d->inject_alert->source + "', which the config does not have");
    }
    if (ok) usable.push_back(d);
  }
  auto webhooks = Webhooks::create(config, secrets, intake, clock, blocking);
  if (!webhooks) out.errors.push_back(webhooks.error());
  if (!webhooks || (!partial && !out.errors.empty())) return out;
  for (const auto& w : config::checkTriggerSources(config, report.playbooks))
    out.warnings.push_back(config::warningText(w));
  auto set = std::make_shared<LiveSet>();
  set->config = std::make_shared<const config::Config>(std::move(config));
  set->playbooks = std::make_shared<const std::vector<playbook::PlaybookPtr>>(report.playbooks);
  set->drills = std::make_shared<const std::vector<drill::DrillPtr>>(std::move(usable));
  set->webhooks = std::move(*webhooks);
  out.set = std::move(set);
  return out;
}

std::vector<std::string> restartOnlyChanges(const config::Config& running,
                                            const config::Config& next,
                                            uint64_t listener_body_limit) {
  std::vector<std::string> out;
  auto changed = [&](const std::string& key, const std::string& a, const std::string& b) {
    if (a != b) out.push_back(key + " (" + a + " -> " + b + ")");
  };
  changed("listen", running.listen.str(), next.listen.str());
  auto tls = [](const std::optional<config::Tls>& t) {
    return t ? "cert " + t->cert + ", key " + t->key +
                   (t->client_ca.empty() ? "" : ", client_ca " + t->client_ca)
             : std::string("none");
  };
  changed("tls", tls(running.tls), tls(next.tls));
  changed("data_dir", running.data_dir, next.data_dir);
  changed("drill_catch_up", core::formatDuration(running.drill_catch_up),
          core::formatDuration(next.drill_catch_up));
  changed("log.format", config::logFormatName(running.log.format),
          config::logFormatName(next.log.format));
  const auto& a = running.http;
  const auto& b = next.http;
  changed("http.max_header_bytes", std::to_string(a.max_header_bytes),
          std::to_string(b.max_header_bytes));
  changed("http.max_body_bytes", std::to_string(a.max_body_bytes),
          std::to_string(b.max_body_bytes));
  changed("http.header_timeout", std::to_string(a.header_timeout.count()) + "ms",
          std::to_string(b.header_timeout.count()) + "ms");
  changed("http.body_timeout", std::to_string(a.body_timeout.count()) + "ms",
          std::to_string(b.body_timeout.count()) + "ms");
  changed("http.idle_timeout", std::to_string(a.idle_timeout.count()) + "ms",
          std::to_string(b.idle_timeout.count()) + "ms");
  changed("http.max_connections_per_client", std::to_string(a.max_connections_per_client),
          std::to_string(b.max_connections_per_client));
  changed("http.max_in_flight", std::to_string(a.max_in_flight), std::to_string(b.max_in_flight));
  // Provider settings may hold endpoints and names but no secrets (those are references):
  // still, say only which provider changed.
  for (const auto& [name, value] : next.providers) {
    auto it = running.providers.find(name);
    if (it == running.providers.end() || it->second != value)
      out.push_back("providers." + name);
  }
  for (const auto& [name, _] : running.providers)
    if (!next.providers.count(name)) out.push_back("providers." + name + " (removed)");
  auto tokens = [](const config::Config& c) {
    std::string s;
    for (const auto& t : c.api.tokens)
      s += t.name + ":" + config::roleName(t.role) + ":" + t.sha256 + ";";
    return s;
  };
  if (tokens(running) != tokens(next)) out.push_back("api.tokens");
  for (const auto& [name, s] : next.sources) {
    if (s.max_body > listener_body_limit)
      out.push_back("sources." + name + ".max_body (" + config::formatSize(s.max_body) +
                    " is over the listener's body limit of " +
                    config::formatSize(listener_body_limit) + " set at start)");
  }
  return out;
}

}  // namespace firebreak::app
