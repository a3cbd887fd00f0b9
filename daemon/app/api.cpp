#include "daemon/app/api.h"

#include <openssl/rand.h>

#include <fmt/format.h>

#include "daemon/core/duration.h"
#include "daemon/intake/silence.h"
#include "daemon/report/report.h"
#include "daemon/store/records_json.h"

namespace firebreak::app {

namespace {

using core::ErrorCode;
using core::Json;
using Reply = Api::Reply;
namespace bhttp = boost::beast::http;

Reply errorReply(const ApiError& e) { return Reply{e.status, errorBody(e)}; }

Reply errorReply(unsigned status, std::string message, std::string field = "") {
  return errorReply(ApiError{status, std::move(message), std::move(field)});
}

// Store and engine errors to statuses: what the caller asked for is missing (404), the state
// does not allow it (409), the input is wrong (400); anything else is ours (500).
Reply fromError(const core::Error& e) {
  switch (e.code()) {
    case ErrorCode::kNotFound: return errorReply(404, e.message());
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kFailedPrecondition: return errorReply(409, e.message());
    case ErrorCode::kInvalidArgument: return errorReply(400, e.message());
    case ErrorCode::kPermissionDenied: return errorReply(403, e.message());
    case ErrorCode::kUnavailable: return errorReply(503, e.message());
    default: return errorReply(500, e.message());
  }
}

std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> out;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    out.emplace_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

bool isMutating(const char* method) { return std::string_view(method) != "GET"; }

}  // namespace

struct Api::Call {
  http::Request& request;
  Identity identity;
  std::map<std::string, std::string> params;  // {run}, {step}, ... from the path
  std::string_view query;
};

const std::vector<Api::Bound>& Api::table() {
  using R = config::Role;
  static const std::vector<Bound> all = {
      {{"GET", "/api/v1/incidents", R::kViewer}, &Api::listIncidents},
      {{"GET", "/api/v1/incidents/{incident}", R::kViewer}, &Api::showIncident},
      {{"POST", "/api/v1/incidents/{incident}/resolve", R::kAdmin}, &Api::resolveIncident},
      {{"GET", "/api/v1/runs", R::kViewer}, &Api::listRuns},
      {{"POST", "/api/v1/runs", R::kResponder}, &Api::startRun},
      {{"GET", "/api/v1/runs/{run}", R::kViewer}, &Api::showRun},
      {{"GET", "/api/v1/runs/{run}/steps", R::kViewer}, &Api::listSteps},
      {{"POST", "/api/v1/runs/{run}/resume", R::kResponder}, &Api::resumeRun},
      {{"POST", "/api/v1/runs/{run}/skip", R::kResponder}, &Api::skipRun},
      {{"POST", "/api/v1/runs/{run}/abort", R::kResponder}, &Api::abortRun},
      {{"GET", "/api/v1/approvals", R::kViewer}, &Api::listApprovals},
      {{"POST", "/api/v1/runs/{run}/approvals/{step}/approve", R::kResponder}, &Api::approve},
      {{"POST", "/api/v1/runs/{run}/approvals/{step}/deny", R::kResponder}, &Api::deny},
      {{"GET", "/api/v1/silences", R::kViewer}, &Api::listSilences},
      {{"POST", "/api/v1/silences", R::kResponder}, &Api::addSilence},
      {{"POST", "/api/v1/silences/{silence}/expire", R::kResponder}, &Api::expireSilence},
      {{"GET", "/api/v1/playbooks", R::kViewer}, &Api::listPlaybooks},
      {{"GET", "/api/v1/playbooks/{playbook}", R::kViewer}, &Api::showPlaybook},
      {{"POST", "/api/v1/breakers/{action}/reset", R::kAdmin}, &Api::resetBreaker},
      {{"GET", "/api/v1/drills", R::kViewer}, &Api::listDrills},
      {{"POST", "/api/v1/drills/{drill}/run", R::kResponder}, &Api::runDrill},
      {{"GET", "/api/v1/drills/{drill}/history", R::kViewer}, &Api::drillHistory},
      {{"GET", "/api/v1/drill-runs/{drill_run}", R::kViewer}, &Api::showDrillRun},
      {{"GET", "/api/v1/reports/{id}", R::kViewer}, &Api::showReport},
  };
  return all;
}

const std::vector<ApiRoute>& Api::routes() {
  static const std::vector<ApiRoute> all = [] {
    std::vector<ApiRoute> out;
    for (const auto& b : table()) out.push_back(b.route);
    return out;
  }();
  return all;
}

Api::Api(store::Store& store, playbook::Engine& engine, intake::Intake& intake,
         const core::Clock& clock, PlaybookSet playbooks, TokenAuth auth,
         std::shared_ptr<spdlog::logger> log)
    : store_(store), engine_(engine), intake_(intake), clock_(clock),
      playbooks_(std::move(playbooks)), auth_(std::move(auth)), log_(std::move(log)) {}

core::Result<std::unique_ptr<Api>> Api::create(const config::Config& config, store::Store& store,
                                               playbook::Engine& engine, intake::Intake& intake,
                                               const core::Clock& clock, PlaybookSet playbooks,
                                               std::shared_ptr<spdlog::logger> log) {
  auto auth = TokenAuth::create(config.api.tokens);
  if (!auth) return core::fail(auth.error());
  auto api = std::unique_ptr<Api>(new Api(store, engine, intake, clock, std::move(playbooks),
                                          std::move(*auth), std::move(log)));
  api->reports_ =
      std::make_unique<report::ReportWriter>(store, clock, config.data_dir, api->log_);
  report::ReportWriter* writer = api->reports_.get();
  intake.setOnResolved([writer](const std::string& id) { writer->schedule(id); });
  return api;
}

Api::~Api() { intake_.setOnResolved(nullptr); }

std::string Api::newId(const char* prefix) {
  unsigned char rnd[4];
  if (RAND_bytes(rnd, sizeof rnd) != 1) std::fill(std::begin(rnd), std::end(rnd), 0);
  return fmt::format("{}-{}-{:02x}{:02x}{:02x}{:02x}", prefix, clock_.nowMs(), rnd[0], rnd[1],
                     rnd[2], rnd[3]);
}

core::awaitable<http::Response> Api::handle(http::Request& request, const http::Peer& peer) {
  std::string_view target(request.target().data(), request.target().size());
  auto qpos = target.find('?');
  std::string_view path = target.substr(0, qpos);
  std::string_view query = qpos == std::string_view::npos ? "" : target.substr(qpos + 1);
  std::string method(request.method_string().data(), request.method_string().size());
  auto reply = [&](const Reply& r) {
    if (!r.content_type.empty())
      return http::makeResponse(request, r.status, r.text, r.content_type);
    return http::makeResponse(request, r.status, r.body.dump(-1, ' ', false,
                                                             Json::error_handler_t::replace));
  };

  // Authentication comes first: without a token, nothing says which routes exist.
  std::optional<Identity> who;
  if (auto it = request.find(bhttp::field::authorization); it != request.end())
    who = auth_.authenticate(std::string_view(it->value().data(), it->value().size()));
  if (!who) {
    log_->warn("api: {} {} from {} refused: missing or unknown token", method, path,
               peer.address);
    auto r = reply(errorReply(401, "token not accepted"));
    r.set(bhttp::field::www_authenticate, "Bearer realm=\"firebreak\"");
    co_return r;
  }

  auto segments = splitPath(path);
  const Bound* found = nullptr;
  std::map<std::string, std::string> params;
  std::string allow;
  bool bad_escape = false;
  for (const auto& b : table()) {
    auto pattern = splitPath(b.route.path);
    if (pattern.size() != segments.size()) continue;
    std::map<std::string, std::string> captured;
    bool ok = true;
    for (size_t i = 0; i < pattern.size() && ok; ++i) {
      const std::string& p = pattern[i];
      if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
        auto v = percentDecode(segments[i], false);
        if (!v) bad_escape = true;
        ok = v && !v->empty() && v->size() <= 256;
        if (ok) captured[p.substr(1, p.size() - 2)] = *v;
      } else {
        ok = p == segments[i];
      }
    }
    if (!ok) continue;
    if (method == b.route.method) {
      found = &b;
      params = std::move(captured);
      break;
    }
    allow += (allow.empty() ? "" : ", ") + std::string(b.route.method);
  }
  if (!found) {
    if (!allow.empty()) {
      auto r = reply(errorReply(405, "use " + allow + " on " + std::string(path)));
      r.set(bhttp::field::allow, allow);
      co_return r;
    }
    co_return reply(errorReply(bad_escape ? 400 : 404,
                               bad_escape ? "bad percent-encoding in the path"
                                          : "no such endpoint: " + std::string(path)));
  }
  if (!allows(who->role, found->route.role)) {
    log_->warn("api: {} {} by '{}' refused: needs role {}, token has {}", method, path, who->name,
               config::roleName(found->route.role), config::roleName(who->role));
    co_return reply(errorReply(403, std::string("this needs the role ") +
                                        config::roleName(found->route.role) + "; token '" +
                                        who->name + "' has " + config::roleName(who->role)));
  }

  Call call{request, *who, std::move(params), query};
  Reply result = co_await (this->*(found->handler))(call);
  if (isMutating(found->route.method))
    log_->info("api: {} {} by '{}' ({}): {}", method, path, who->name, config::roleName(who->role),
               result.status);
  co_return reply(result);
}

// ---- incidents ----

core::awaitable<Reply> Api::listIncidents(Call& call) {
  auto q = parseQuery(call.query, {"status", "limit"});
  if (!q) co_return errorReply(q.error());
  std::string status = q->count("status") ? q->at("status") : "";
  if (!status.empty() && status != "open" && status != "resolved")
    co_return errorReply(400, "'status' must be open or resolved", "status");
  auto limit = intParam(*q, "limit", 100, 1000);
  if (!limit) co_return errorReply(limit.error());
  auto list = store_.incidents(status, *limit);
  if (!list) co_return fromError(list.error());
  Json out = Json::array();
  for (const auto& i : *list) out.push_back(store::toJson(i));
  co_return Reply{200, Json{{"incidents", out}}};
}

core::awaitable<Reply> Api::showIncident(Call& call) {
  if (auto q = parseQuery(call.query, {}); !q) co_return errorReply(q.error());
  const std::string& id = call.params["incident"];
  auto inc = store_.incident(id);
  if (!inc) co_return fromError(inc.error());
  if (!*inc) co_return errorReply(404, "no incident " + id);
  Json out = store::toJson(**inc);
  auto alerts = store_.alertsOfIncident(id);
  store::RunFilter filter;
  filter.incident_id = id;
  filter.limit = 1000;
  auto runs = store_.runs(filter);
  auto timeline = store_.timelineOfIncident(id);
  if (!alerts) co_return fromError(alerts.error());
  if (!runs) co_return fromError(runs.error());
  if (!timeline) co_return fromError(timeline.error());
  out["alerts"] = Json::array();
  for (const auto& a : *alerts)
    out["alerts"].push_back(store::toJson(a));
  out["runs"] = Json::array();
  for (const auto& r : *runs) out["runs"].push_back(store::toJson(r));
  out["timeline"] = Json::array();
  for (const auto& e : *timeline) out["timeline"].push_back(store::toJson(e));
  co_return Reply{200, out};
}

core::awaitable<Reply> Api::resolveIncident(Call& call) {
  auto body = parseBody(call.request.body(), {"reason"});
  if (!body) co_return errorReply(body.error());
  auto reason = stringField(*body, "reason", false);
  if (!reason) co_return errorReply(reason.error());
  const std::string id = call.params["incident"];
  auto inc = store_.incident(id);
  if (!inc) co_return fromError(inc.error());
  if (!*inc) co_return errorReply(404, "no incident " + id);
  const int64_t now = clock_.nowMs();
  bool closed = false;
  const std::string message = "incident resolved by " + call.identity.name +
                              (reason->empty() ? "" : ": " + *reason);
  const std::string by = call.identity.name;
  auto s = co_await store_.commit([&](store::WriteTx& tx) -> core::Status {
    auto r = tx.resolveIncident(id, now);
    if (!r) return core::fail(r.error());
    closed = *r;
    if (!closed) return {};
    return tx.appendTimeline(store::TimelineEvent{0, now, id, "", "", "incident.resolved", message,
                                                  Json{{"by", by}}});
  });
  if (!s) co_return fromError(s.error());
  if (!closed) co_return errorReply(409, "incident " + id + " is already resolved");
  if (reports_) reports_->schedule(id);
  auto after = store_.incident(id);
  if (!after || !*after) co_return Reply{200, Json{{"id", id}, {"status", "resolved"}}};
  co_return Reply{200, store::toJson(**after)};
}

// ---- runs ----

core::awaitable<Reply> Api::listRuns(Call& call) {
  auto q = parseQuery(call.query, {"incident", "status", "playbook", "limit"});
  if (!q) co_return errorReply(q.error());
  store::RunFilter filter;
  if (q->count("status")) {
    filter.status = store::parseRunStatus(q->at("status"));
    if (!filter.status)
      co_return errorReply(400,
                           "'status' must be one of queued, running, waiting-approval, "
                           "succeeded, failed, aborted, denied, needs-attention",
                           "status");
  }
  if (q->count("incident")) filter.incident_id = q->at("incident");
  if (q->count("playbook")) filter.playbook = q->at("playbook");
  auto limit = intParam(*q, "limit", 100, 1000);
  if (!limit) co_return errorReply(limit.error());
  filter.limit = *limit;
  auto runs = store_.runs(filter);
  if (!runs) co_return fromError(runs.error());
  Json out = Json::array();
  for (const auto& r : *runs) out.push_back(store::toJson(r));
  co_return Reply{200, Json{{"runs", out}}};
}

core::awaitable<Reply> Api::startRun(Call& call) {
  auto body = parseBody(call.request.body(), {"playbook", "params", "dry_run"});
  if (!body) co_return errorReply(body.error());
  auto name = stringField(*body, "playbook", true, 256);
  if (!name) co_return errorReply(name.error());
  auto params = objectField(*body, "params");
  if (!params) co_return errorReply(params.error());
  auto dry_run = boolField(*body, "dry_run", false);
  if (!dry_run) co_return errorReply(dry_run.error());
  playbook::PlaybookPtr pb;
  std::vector<std::string> names;
  for (const auto& p : playbooks_()) {
    if (p->name == *name) pb = p;
    names.push_back(p->name);
  }
  if (!pb) {
    std::string msg = "no loaded playbook named '" + *name + "'";
    if (auto s = core::suggest(*name, names); !s.empty()) msg += " (did you mean '" + s + "'?)";
    co_return errorReply(404, msg, "playbook");
  }
  playbook::RunRequest req;
  req.playbook = pb;
  req.trigger = "manual";
  req.params = *params;
  req.dry_run = *dry_run;
  auto started = co_await engine_.start(std::move(req));
  if (!started) {
    Reply r = fromError(started.error());
    if (r.status == 400) r.body["field"] = "params";
    co_return r;
  }
  if (!started->started) co_return errorReply(409, "no run started: " + started->reason);
  log_->info("api: run {} of playbook '{}' started by '{}'{}", started->run_id, pb->name,
             call.identity.name, *dry_run ? " (dry-run)" : "");
  co_return Reply{201, Json{{"run_id", started->run_id}, {"reason", started->reason}}};
}

core::awaitable<Reply> Api::showRun(Call& call) {
  if (auto q = parseQuery(call.query, {}); !q) co_return errorReply(q.error());
  const std::string& id = call.params["run"];
  auto run = store_.run(id);
  if (!run) co_return fromError(run.error());
  if (!*run) co_return errorReply(404, "no run " + id);
  auto steps = store_.steps(id);
  auto approvals = store_.approvals(id);
  auto timeline = store_.timelineOfRun(id);
  if (!steps) co_return fromError(steps.error());
  if (!approvals) co_return fromError(approvals.error());
  if (!timeline) co_return fromError(timeline.error());
  Json out = store::toJson(**run);
  out["steps"] = Json::array();
  for (const auto& s : *steps) out["steps"].push_back(store::toJson(s));
  out["approvals"] = Json::array();
  for (const auto& a : *approvals) out["approvals"].push_back(store::toJson(a));
  out["timeline"] = Json::array();
  for (const auto& e : *timeline) out["timeline"].push_back(store::toJson(e));
  co_return Reply{200, out};
}

core::awaitable<Reply> Api::listSteps(Call& call) {
  if (auto q = parseQuery(call.query, {}); !q) co_return errorReply(q.error());
  const std::string& id = call.params["run"];
  auto run = store_.run(id);
  if (!run) co_return fromError(run.error());
  if (!*run) co_return errorReply(404, "no run " + id);
  auto steps = store_.steps(id);
  if (!steps) co_return fromError(steps.error());
  Json out = Json::array();
  for (const auto& s : *steps) out.push_back(store::toJson(s));
  co_return Reply{200, Json{{"steps", out}}};
}

core::awaitable<Reply> Api::resume(Call& call, playbook::ResumeMode mode) {
  const std::string id = call.params["run"];
  auto s = co_await engine_.resume(id, mode);
  if (!s) co_return fromError(s.error());
  auto run = store_.run(id);
  if (!run || !*run) co_return Reply{200, Json{{"id", id}}};
  co_return Reply{200, store::toJson(**run)};
}

core::awaitable<Reply> Api::resumeRun(Call& call) {
  auto body = parseBody(call.request.body(), {"retry"});
  if (!body) co_return errorReply(body.error());
  auto retry = boolField(*body, "retry", false);
  if (!retry) co_return errorReply(retry.error());
  auto mode = *retry ? playbook::ResumeMode::kRetry : playbook::ResumeMode::kContinue;
  co_return co_await resume(call, mode);
}

core::awaitable<Reply> Api::skipRun(Call& call) {
  auto body = parseBody(call.request.body(), {});
  if (!body) co_return errorReply(body.error());
  co_return co_await resume(call, playbook::ResumeMode::kSkip);
}

core::awaitable<Reply> Api::abortRun(Call& call) {
  auto body = parseBody(call.request.body(), {"reason"});
  if (!body) co_return errorReply(body.error());
  auto reason = stringField(*body, "reason", false);
  if (!reason) co_return errorReply(reason.error());
  const std::string id = call.params["run"];
  auto s = co_await engine_.abort(id, call.identity.name, *reason);
  if (!s) co_return fromError(s.error());
  co_return Reply{200, Json{{"id", id}, {"aborted", true}}};
}

// ---- approvals ----

core::awaitable<Reply> Api::listApprovals(Call& call) {
  if (auto q = parseQuery(call.query, {}); !q) co_return errorReply(q.error());
  auto pending = store_.pendingApprovals();
  if (!pending) co_return fromError(pending.error());
  Json out = Json::array();
  for (const auto& a : *pending) out.push_back(store::toJson(a));
  co_return Reply{200, Json{{"approvals", out}}};
}

core::awaitable<Reply> Api::approve(Call& call) { co_return co_await decide(call, true); }
core::awaitable<Reply> Api::deny(Call& call) { co_return co_await decide(call, false); }

core::awaitable<Reply> Api::decide(Call& call, bool approve) {
  auto body = parseBody(call.request.body(), {"reason"});
  if (!body) co_return errorReply(body.error());
  auto reason = stringField(*body, "reason", false);
  if (!reason) co_return errorReply(reason.error());
  const std::string run = call.params["run"];
  const std::string step = call.params["step"];
  auto all = store_.approvals(run);
  if (!all) co_return fromError(all.error());
  const store::ApprovalRecord* found = nullptr;
  for (const auto& a : *all)
    if (a.step_id == step) found = &a;
  if (!found) co_return errorReply(404, "run " + run + " has no approval '" + step + "'");
  // A step may ask for more than the route's role: `approval: { role: admin }`.
  auto needed = parseRole(found->role).value_or(config::Role::kResponder);
  if (!allows(call.identity.role, needed))
    co_return errorReply(403, "approval '" + step + "' needs the role " +
                                  config::roleName(needed) + "; token '" + call.identity.name +
                                  "' has " + config::roleName(call.identity.role));
  auto s = co_await engine_.decide(run, step, approve, call.identity.name, *reason);
  if (!s) co_return fromError(s.error());
  co_return Reply{200, Json{{"run_id", run},
                            {"step", step},
                            {"status", approve ? "approved" : "denied"},
                            {"decided_by", call.identity.name}}};
}

// ---- silences ----

core::awaitable<Reply> Api::listSilences(Call& call) {
  auto q = parseQuery(call.query, {"expired"});
  if (!q) co_return errorReply(q.error());
  bool expired = false;
  if (q->count("expired")) {
    const std::string& v = q->at("expired");
    if (v != "true" && v != "false")
      co_return errorReply(400, "'expired' must be true or false", "expired");
    expired = v == "true";
  }
  const int64_t now = clock_.nowMs();
  auto list = store_.silences(now, expired);
  if (!list) co_return fromError(list.error());
  Json out = Json::array();
  for (const auto& s : *list) out.push_back(store::toJson(s, now));
  co_return Reply{200, Json{{"silences", out}}};
}

core::awaitable<Reply> Api::addSilence(Call& call) {
  auto body = parseBody(call.request.body(), {"matchers", "duration", "reason"});
  if (!body) co_return errorReply(body.error());
  auto it = body->find("matchers");
  if (it == body->end()) co_return errorReply(400, "'matchers' is required", "matchers");
  auto matchers = intake::matchersFromJson(*it, "matchers");
  if (!matchers) co_return errorReply(400, matchers.error().message, matchers.error().field);
  auto duration_text = stringField(*body, "duration", true, 64);
  if (!duration_text) co_return errorReply(duration_text.error());
  auto duration = core::parseDuration(*duration_text);
  if (!duration) co_return errorReply(400, duration.error().message(), "duration");
  if (duration->count() <= 0)
    co_return errorReply(400, "'duration' must be more than 0", "duration");
  if (*duration > std::chrono::hours(24 * 366))
    co_return errorReply(400, "'duration' must be at most a year", "duration");
  auto reason = stringField(*body, "reason", true, 1024);
  if (!reason) co_return errorReply(reason.error());
  store::SilenceRecord rec;
  rec.id = newId("s");
  rec.matchers = Json::array();
  for (const auto& m : *matchers) rec.matchers.push_back(m.toJson());
  rec.created_by = call.identity.name;
  rec.reason = *reason;
  rec.starts_at_ms = clock_.nowMs();
  rec.ends_at_ms = rec.starts_at_ms + duration->count();
  auto s = co_await store_.commit([&](store::WriteTx& tx) { return tx.insertSilence(rec); });
  if (!s) co_return fromError(s.error());
  intake_.silencesChanged();
  std::string text;
  for (const auto& m : *matchers) text += (text.empty() ? "" : ",") + m.str();
  log_->info("api: silence {} {{{}}} until {} by '{}': {}", rec.id, text,
             core::formatTime(rec.ends_at_ms), rec.created_by, rec.reason);
  co_return Reply{201, store::toJson(rec, rec.starts_at_ms)};
}

core::awaitable<Reply> Api::expireSilence(Call& call) {
  auto body = parseBody(call.request.body(), {});
  if (!body) co_return errorReply(body.error());
  const std::string id = call.params["silence"];
  auto existing = store_.silence(id);
  if (!existing) co_return fromError(existing.error());
  if (!*existing) co_return errorReply(404, "no silence " + id);
  const int64_t now = clock_.nowMs();
  bool expired = false;
  auto s = co_await store_.commit([&](store::WriteTx& tx) -> core::Status {
    auto r = tx.expireSilence(id, now);
    if (!r) return core::fail(r.error());
    expired = *r;
    return {};
  });
  if (!s) co_return fromError(s.error());
  if (!expired) co_return errorReply(409, "silence " + id + " has already ended");
  intake_.silencesChanged();
  auto after = store_.silence(id);
  if (!after || !*after) co_return Reply{200, Json{{"id", id}, {"active", false}}};
  co_return Reply{200, store::toJson(**after, now)};
}

// ---- playbooks ----

namespace {

Json playbookSummary(const playbook::Playbook& p) {
  Json params = Json::array();
  for (const auto& d : p.params)
    params.push_back(Json{{"name", d.name},
                          {"required", d.required},
                          {"default", d.default_value},
                          {"description", d.description}});
  return Json{{"name", p.name},
              {"description", p.description},
              {"file", p.file},
              {"hash", p.hash},
              {"dry_run", p.dry_run},
              {"manual_only", p.trigger.manual_only},
              {"params", params}};
}

}  // namespace

core::awaitable<Reply> Api::listPlaybooks(Call& call) {
  if (auto q = parseQuery(call.query, {}); !q) co_return errorReply(q.error());
  Json out = Json::array();
  for (const auto& p : playbooks_()) out.push_back(playbookSummary(*p));
  co_return Reply{200, Json{{"playbooks", out}}};
}

core::awaitable<Reply> Api::showPlaybook(Call& call) {
  if (auto q = parseQuery(call.query, {}); !q) co_return errorReply(q.error());
  const std::string& name = call.params["playbook"];
  for (const auto& p : playbooks_()) {
    if (p->name != name) continue;
    Json out = playbookSummary(*p);
    out["steps"] = Json::array();
    for (const auto* s : p->allSteps())
      out["steps"].push_back(Json{{"id", s->id},
                                  {"kind", s->kind == playbook::Step::Kind::kApproval ? "approval"
                                                                                      : "action"},
                                  {"action", s->action}});
    out["source"] = p->source;
    co_return Reply{200, out};
  }
  co_return errorReply(404, "no loaded playbook named '" + name + "'");
}

// ---- breakers ----

core::awaitable<Reply> Api::resetBreaker(Call& call) {
  auto body = parseBody(call.request.body(), {});
  if (!body) co_return errorReply(body.error());
  const std::string action = call.params["action"];
  auto s = co_await engine_.resetBreaker(action, call.identity.name);
  if (!s) co_return fromError(s.error());
  co_return Reply{200, Json{{"action", action}, {"open", false}}};
}

// ---- drills ----

void Api::setDrills(DrillSet drills, drill::DrillRunner* runner, NextRun next_run) {
  drills_ = std::move(drills);
  drill_runner_ = runner;
  next_drill_run_ = std::move(next_run);
}

namespace {

Json drillSummary(const drill::Drill& d) {
  Json objectives = Json::array();
  for (const auto& o : d.objectives)
    objectives.push_back(Json{{"name", o.name},
                              {"target", core::formatDuration(o.target)},
                              {"definition", drill::objectiveDefinition(o.name)}});
  return Json{{"name", d.name},
              {"description", d.description},
              {"file", d.file},
              {"schedule", d.schedule ? d.schedule->expression() : ""},
              {"timezone", d.schedule ? d.schedule->timeZone() : ""},
              {"mode", d.dry_run ? "dry-run" : "live"},
              {"inject", d.inject_alert ? "alert " + d.inject_alert->name
                                        : d.inject_action->steps.front().action},
              {"expect_playbook", d.expect_playbook},
              {"objectives", objectives}};
}

}  // namespace

core::awaitable<Reply> Api::listDrills(Call& call) {
  if (auto q = parseQuery(call.query, {}); !q) co_return errorReply(q.error());
  if (!drills_) co_return errorReply(503, "drills are not served by this process");
  Json out = Json::array();
  for (const auto& d : drills_()) {
    Json j = drillSummary(*d);
    auto next = next_drill_run_ ? next_drill_run_(d->name) : std::nullopt;
    j["next_run"] = next ? core::formatTime(*next) : "";
    j["running"] = drill_runner_ && drill_runner_->running(d->name);
    auto last = store_.drillRuns(d->name, 1);
    if (!last) co_return fromError(last.error());
    j["last_run"] = last->empty() ? Json(nullptr) : store::toJson(last->front());
    out.push_back(std::move(j));
  }
  co_return Reply{200, Json{{"drills", out}}};
}

core::awaitable<Reply> Api::runDrill(Call& call) {
  auto body = parseBody(call.request.body(), {"live"});
  if (!body) co_return errorReply(body.error());
  auto live = boolField(*body, "live", false);
  if (!live) co_return errorReply(live.error());
  if (!drills_ || !drill_runner_) co_return errorReply(503, "drills are not served by this process");
  const std::string& name = call.params["drill"];
  drill::DrillPtr found;
  std::vector<std::string> names;
  for (const auto& d : drills_()) {
    if (d->name == name) found = d;
    names.push_back(d->name);
  }
  if (!found) {
    std::string msg = "no loaded drill named '" + name + "'";
    if (auto s = core::suggest(name, names); !s.empty()) msg += " (did you mean '" + s + "'?)";
    co_return errorReply(404, msg);
  }
  drill::DrillStart how;
  how.trigger = "manual";
  how.live = *live;
  auto started = co_await drill_runner_->start(found, how);
  if (!started) co_return fromError(started.error());
  log_->info("api: drill run {} of '{}' started by '{}'{}", *started, name, call.identity.name,
             found->dry_run && !*live ? " (dry-run)" : " (live)");
  co_return Reply{201, Json{{"drill_run_id", *started},
                            {"dry_run", found->dry_run && !*live}}};
}

core::awaitable<Reply> Api::drillHistory(Call& call) {
  auto q = parseQuery(call.query, {"limit"});
  if (!q) co_return errorReply(q.error());
  int limit = 50;
  if (auto it = q->find("limit"); it != q->end()) {
    try {
      limit = std::stoi(it->second);
    } catch (const std::exception&) {
      limit = 0;
    }
    if (limit < 1 || limit > 1000) co_return errorReply(400, "limit must be 1 to 1000", "limit");
  }
  const std::string& name = call.params["drill"];
  auto runs = store_.drillRuns(name, limit);
  if (!runs) co_return fromError(runs.error());
  Json out = Json::array();
  for (const auto& r : *runs) out.push_back(store::toJson(r));
  co_return Reply{200, Json{{"drill", name}, {"runs", out}}};
}

core::awaitable<Reply> Api::showDrillRun(Call& call) {
  if (auto q = parseQuery(call.query, {}); !q) co_return errorReply(q.error());
  const std::string& id = call.params["drill_run"];
  auto run = store_.drillRun(id);
  if (!run) co_return fromError(run.error());
  if (!*run) co_return errorReply(404, "no drill run " + id);
  auto timeline = store_.timelineOfRun(id);
  if (!timeline) co_return fromError(timeline.error());
  Json out = store::toJson(**run);
  out["timeline"] = Json::array();
  for (const auto& e : *timeline) out["timeline"].push_back(store::toJson(e));
  co_return Reply{200, out};
}

// ---- reports ----

core::awaitable<Reply> Api::showReport(Call& call) {
  auto q = parseQuery(call.query, {"format"});
  if (!q) co_return errorReply(q.error());
  const std::string name = q->count("format") ? q->at("format") : "json";
  auto format = report::parseFormat(name);
  if (!format) co_return errorReply(400, "'format' must be md, html or json", "format");
  const std::string id = call.params["id"];
  auto built = report::buildReport(store_, id, clock_.nowMs());
  if (!built) co_return fromError(built.error());
  Reply out;
  out.text = report::render(*built, *format);
  out.content_type = report::contentType(*format);
  co_return out;
}

}  // namespace firebreak::app
