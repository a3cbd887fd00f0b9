// The daemon's metrics, served at GET /metrics: what each part counts, made in one place so
// names, help and labels are read together (docs/metrics.md lists them). Labels take values
// from bounded sets only: configured source names, loaded playbook names, action names, route
// patterns and status codes; never a raw path or anything a client chose.
#pragma once

#include <string>
#include <string_view>

#include "daemon/core/asio.h"
#include "daemon/core/metrics.h"
#include "daemon/http/server.h"
#include "daemon/store/store.h"

namespace firebreak::app {

struct DaemonMetrics {
  DaemonMetrics();

  core::MetricsRegistry registry;
  core::CounterFamily& alerts_received;    // source, outcome: new | resolved | repeat
  core::CounterFamily& webhook_requests;   // source, outcome: accepted | unauthorized | ...
  core::CounterFamily& http_requests;      // route, code
  core::HistogramFamily& http_seconds;     // route
  core::CounterFamily& runs;               // playbook, status (when a run ends or pauses)
  core::HistogramFamily& step_seconds;     // action
  core::HistogramFamily& commit_batch;     // requests per store transaction
  core::HistogramFamily& commit_seconds;   // BEGIN to durable COMMIT
  core::CounterFamily& reloads;            // result: ok | failed
  core::GaugeFamily& build_info;           // version (always 1)
  core::GaugeFamily& start_time;           // seconds since the epoch
  core::GaugeFamily& playbooks_loaded;
  core::GaugeFamily& sources_configured;
  core::GaugeFamily& last_reload_ok;       // 1 when the last reload was applied

  // Gauges read from the store when scraped: runs waiting for approval, runs needing an
  // operator. `store` must outlive the registry's scrapes.
  void watchStore(const store::Store& store);

  // The text exposition, as a response to `request`.
  http::Response respond(const http::Request& request) const;
};

// The route pattern a path falls under, for the http_requests labels: "/healthz", "/readyz",
// "/metrics", "/hooks/{source}", "/api/v1/<collection>", "/api/v1/<collection>/{id}" (and
// "/api/v1/<collection>/{id}/..." deeper) for the collections of FORMATS.md, else "other".
std::string routeOf(std::string_view target);

// `inner`, counting every answer by route and code and timing it.
http::Handler countRequests(http::Handler inner, DaemonMetrics& metrics);

}  // namespace firebreak::app
