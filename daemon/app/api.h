// The management API under /api/v1: incidents, runs and their steps, approvals, silences,
// playbooks, manual runs and breaker resets, JSON in and out. Every route names the least
// role that may call it, and every request is authenticated by a bearer token before its
// route is looked at (docs/openapi.yaml describes each route; a test keeps the two equal).
// A request in, an answer out, testable without sockets.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "daemon/app/api_auth.h"
#include "daemon/app/api_request.h"
#include "daemon/config/config.h"
#include "daemon/drill/runner.h"
#include "daemon/core/clock.h"
#include "daemon/http/server.h"
#include "daemon/intake/intake.h"
#include "daemon/playbook/engine.h"
#include "daemon/report/writer.h"
#include "daemon/store/store.h"

namespace firebreak::app {

struct ApiRoute {
  const char* method;  // GET, POST
  const char* path;    // "/api/v1/runs/{run}", as in docs/openapi.yaml
  config::Role role;   // the least role that may call it
};

class Api {
 public:
  using PlaybookSet = std::function<std::vector<playbook::PlaybookPtr>()>;

  static core::Result<std::unique_ptr<Api>> create(const config::Config& config,
                                                   store::Store& store, playbook::Engine& engine,
                                                   intake::Intake& intake,
                                                   const core::Clock& clock, PlaybookSet playbooks,
                                                   std::shared_ptr<spdlog::logger> log);

  // Any path under /api/: 401 without an accepted token, 404 for no route, 405 for a route
  // without this method, 403 below the route's role.
  core::awaitable<http::Response> handle(http::Request& request, const http::Peer& peer);

  static const std::vector<ApiRoute>& routes();

  // The drills routes answer 503 until the daemon gives its drills, its runner and the
  // scheduler's next run of each.
  using DrillSet = std::function<std::vector<drill::DrillPtr>()>;
  using NextRun = std::function<std::optional<int64_t>(const std::string& drill)>;
  void setDrills(DrillSet drills, drill::DrillRunner* runner, NextRun next_run);
  // Where reports are written off the io thread (drill runs schedule theirs when they finish).
  report::ReportWriter& reports() { return *reports_; }

  struct Call;
  struct Reply {
    unsigned status = 200;
    core::Json body;
    std::string text;          // sent instead of body when content_type is set
    std::string content_type;  // "" for JSON from body
  };

  ~Api();

 private:
  Api(store::Store& store, playbook::Engine& engine, intake::Intake& intake,
      const core::Clock& clock, PlaybookSet playbooks, TokenAuth auth,
      std::shared_ptr<spdlog::logger> log);

  using Handler = core::awaitable<Reply> (Api::*)(Call& call);
  struct Bound {
    ApiRoute route;
    Handler handler;
  };
  static const std::vector<Bound>& table();

  core::awaitable<Reply> listIncidents(Call& call);
  core::awaitable<Reply> showIncident(Call& call);
  core::awaitable<Reply> resolveIncident(Call& call);
  core::awaitable<Reply> listRuns(Call& call);
  core::awaitable<Reply> startRun(Call& call);
  core::awaitable<Reply> showRun(Call& call);
  core::awaitable<Reply> listSteps(Call& call);
  core::awaitable<Reply> resumeRun(Call& call);
  core::awaitable<Reply> skipRun(Call& call);
  core::awaitable<Reply> abortRun(Call& call);
  core::awaitable<Reply> listApprovals(Call& call);
  core::awaitable<Reply> approve(Call& call);
  core::awaitable<Reply> deny(Call& call);
  core::awaitable<Reply> decide(Call& call, bool approve);
  core::awaitable<Reply> listSilences(Call& call);
  core::awaitable<Reply> addSilence(Call& call);
  core::awaitable<Reply> expireSilence(Call& call);
  core::awaitable<Reply> listPlaybooks(Call& call);
  core::awaitable<Reply> showPlaybook(Call& call);
  core::awaitable<Reply> resetBreaker(Call& call);
  core::awaitable<Reply> listDrills(Call& call);
  core::awaitable<Reply> runDrill(Call& call);
  core::awaitable<Reply> drillHistory(Call& call);
  core::awaitable<Reply> showDrillRun(Call& call);
  core::awaitable<Reply> showReport(Call& call);

  core::awaitable<Reply> resume(Call& call, playbook::ResumeMode mode);
  std::string newId(const char* prefix);

  store::Store& store_;
  playbook::Engine& engine_;
  intake::Intake& intake_;
  const core::Clock& clock_;
  PlaybookSet playbooks_;
  TokenAuth auth_;
  std::shared_ptr<spdlog::logger> log_;
  DrillSet drills_;
  drill::DrillRunner* drill_runner_ = nullptr;
  NextRun next_drill_run_;
  // Reports of incidents as they resolve (through the API or their last alert).
  std::unique_ptr<report::ReportWriter> reports_;
};

// The JSON forms of records it answers with are daemon/store/records_json.h.

}  // namespace firebreak::app
