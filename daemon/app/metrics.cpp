#include "daemon/app/metrics.h"

#include <array>
#include <chrono>
#include <limits>
#include <memory>

#ifndef FIREBREAK_VERSION
#define FIREBREAK_VERSION "unknown"
#endif

namespace firebreak::app {

namespace {

// The collections of /api/v1 (FORMATS.md); anything else is "other", so a client cannot
// make new label values.
constexpr std::array<std::string_view, 11> kApiCollections = {
    "incidents", "runs",     "steps",  "approvals", "silences", "drills",
    "reports",   "playbooks", "audit", "pause",     "resume"};

double secondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

DaemonMetrics::DaemonMetrics()
    : alerts_received(registry.counter(
          "firebreak_alerts_received_total",
          "Alerts received in accepted webhook requests, by source and outcome: new (a firing "
          "alert stored), resolved (a resolution stored), repeat (already known in that status).",
          {"source", "outcome"})),
      webhook_requests(registry.counter(
          "firebreak_webhook_requests_total",
          "Webhook requests by source and outcome: accepted, or why refused (unauthorized, "
          "too_large, rate_limited, bad_request, unavailable).",
          {"source", "outcome"})),
      http_requests(registry.counter("firebreak_http_requests_total",
                                     "HTTP requests answered, by route pattern and status code.",
                                     {"route", "code"})),
      http_seconds(registry.histogram("firebreak_http_request_duration_seconds",
                                      "Time from a complete request to its answer, by route.",
                                      core::latencyBuckets(), {"route"})),
      runs(registry.counter("firebreak_runs_total",
                            "Runs that ended (or stopped for an operator), by playbook and status.",
                            {"playbook", "status"})),
      step_seconds(registry.histogram(
          "firebreak_step_duration_seconds",
          "Duration of step attempts (executed or planned), by action.",
          core::durationBuckets(), {"action"})),
      commit_batch(registry.histogram(
          "firebreak_store_commit_batch_size",
          "Commit requests grouped into one store transaction (one fsync).", core::sizeBuckets())),
      commit_seconds(registry.histogram(
          "firebreak_store_commit_duration_seconds",
          "Time of one store transaction, BEGIN to durable COMMIT.", core::latencyBuckets())),
      reloads(registry.counter("firebreak_reloads_total",
                               "Reloads of config and playbooks (SIGHUP), by result: ok, failed.",
                               {"result"})),
      build_info(registry.gauge("firebreak_build_info",
                                "Always 1; the labels say which firebreak is running.",
                                {"version"})),
      start_time(registry.gauge("firebreak_start_time_seconds",
                                "When this process started, in seconds since the Unix epoch.")),
      playbooks_loaded(registry.gauge("firebreak_playbooks_loaded",
                                      "Playbooks in the set in use.")),
      sources_configured(registry.gauge("firebreak_sources_configured",
                                        "Webhook sources in the config in use.")),
      last_reload_ok(registry.gauge(
          "firebreak_config_last_reload_successful",
          "1 when the last reload was applied (or none was asked for), 0 when it was refused.")) {
  build_info.with({FIREBREAK_VERSION}).set(1);
  start_time.with(std::vector<std::string>{})
      .set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
               .count());
  last_reload_ok.with(std::vector<std::string>{}).set(1);
  // Both results are shown from the start, so a rate over them is defined before the first.
  reloads.with({"ok"});
  reloads.with({"failed"});
}

void DaemonMetrics::watchStore(const store::Store& store) {
  auto countRuns = [&store](store::RunStatus status) -> double {
    auto runs = store.unfinishedRuns();
    if (!runs) return std::numeric_limits<double>::quiet_NaN();
    double n = 0;
    for (const auto& r : *runs)
      if (r.status == status) ++n;
    return n;
  };
  registry.gaugeFunction("firebreak_runs_waiting_approval",
                         "Runs waiting for an approval now.",
                         [countRuns] { return countRuns(store::RunStatus::kWaitingApproval); });
  registry.gaugeFunction("firebreak_runs_needing_attention",
                         "Runs stopped in needs-attention for an operator now.",
                         [countRuns] { return countRuns(store::RunStatus::kNeedsAttention); });
}

http::Response DaemonMetrics::respond(const http::Request& request) const {
  return http::makeResponse(request, 200, registry.render(), core::kMetricsContentType);
}

std::string routeOf(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/healthz" || path == "/readyz" || path == "/metrics") return std::string(path);
  constexpr std::string_view kHooks = "/hooks/";
  if (path.substr(0, kHooks.size()) == kHooks && path.size() > kHooks.size() &&
      path.find('/', kHooks.size()) == std::string_view::npos)
    return "/hooks/{source}";
  constexpr std::string_view kApi = "/api/v1/";
  if (path.substr(0, kApi.size()) == kApi) {
    std::string_view rest = path.substr(kApi.size());
    auto slash = rest.find('/');
    std::string_view collection = rest.substr(0, slash);
    for (auto c : kApiCollections) {
      if (c != collection) continue;
      std::string route = "/api/v1/" + std::string(c);
      if (slash == std::string_view::npos || slash + 1 == rest.size()) return route;
      std::string_view tail = rest.substr(slash + 1);
      route += "/{id}";
      if (tail.find('/') != std::string_view::npos) route += "/...";
      return route;
    }
  }
  return "other";
}

namespace {

// A plain coroutine function, its arguments copied into its frame: a coroutine lambda would
// read its captures from a closure that the caller may destroy first.
core::awaitable<http::Response> counted(std::shared_ptr<const http::Handler> inner,
                                        DaemonMetrics* metrics, http::Request& request,
                                        const http::Peer& peer) {
  auto started = std::chrono::steady_clock::now();
  std::string route = routeOf(std::string_view(request.target().data(), request.target().size()));
  http::Response response = co_await (*inner)(request, peer);
  metrics->http_requests.with({route, std::to_string(response.result_int())}).inc();
  metrics->http_seconds.with({route}).observe(secondsSince(started));
  co_return response;
}

}  // namespace

http::Handler countRequests(http::Handler inner, DaemonMetrics& metrics) {
  auto shared = std::make_shared<const http::Handler>(std::move(inner));
  DaemonMetrics* m = &metrics;
  return [shared, m](http::Request& request, const http::Peer& peer) {
    return counted(shared, m, request, peer);
  };
}

}  // namespace firebreak::app
