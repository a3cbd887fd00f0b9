#include "daemon/intake/intake.h"

#include <openssl/rand.h>

#include <fmt/format.h>
#include <map>
#include <set>

#include "daemon/intake/router.h"

namespace firebreak::intake {

bool isDryRunDrillAlert(const core::Json& alert) {
  if (!alert.is_object() || !alert.value("drill", false)) return false;
  auto annotations = alert.find("annotations");
  if (annotations == alert.end() || !annotations->is_object()) return true;
  return annotations->value(kDrillModeAnnotation, std::string("dry-run")) != "live";
}

namespace {

using core::Json;
using core::Result;
using core::Status;
using store::AlertNovelty;

std::string titleOf(const core::Alert& a) {
  auto it = a.annotations.find("summary");
  return it != a.annotations.end() ? a.name + ": " + it->second : a.name;
}

struct Planned {
  store::AlertRecord record;
  core::Alert alert;
  std::vector<Match> matches;
  Json alert_json;  // alert.toJson() when it starts runs; else null, made only if needed
};

}  // namespace

Intake::Intake(store::Store& store, playbook::Engine& engine, const core::Clock& clock,
               PlaybookSet playbooks, std::shared_ptr<spdlog::logger> log)
    : store_(store), engine_(engine), clock_(clock), playbooks_(std::move(playbooks)),
      log_(std::move(log)) {
  unsigned char rnd[4];
  if (RAND_bytes(rnd, sizeof rnd) != 1) std::fill(std::begin(rnd), std::end(rnd), 0);
  id_salt_ = fmt::format("{:02x}{:02x}{:02x}{:02x}", rnd[0], rnd[1], rnd[2], rnd[3]);
}

// Time, this process's salt and a counter: unique without a random draw per id.
std::string Intake::newId(const char* prefix) {
  return fmt::format("{}-{}-{}-{}", prefix, clock_.nowMs(), id_salt_, ++seq_);
}

std::shared_ptr<const std::vector<Silence>> Intake::activeSilences(int64_t now_ms) {
  std::lock_guard lock(silences_mu_);
  if (silences_ && !silences_dirty_ && now_ms - silences_loaded_ms_ < 1000 &&
      now_ms >= silences_loaded_ms_)
    return silences_;
  silences_dirty_ = false;
  auto records = store_.silences(now_ms, false);
  if (!records) {
    // Keep what was loaded: a read that fails must not lift every silence at once.
    log_->error("reading silences: {}", records.error().str());
    return silences_ ? silences_ : std::make_shared<const std::vector<Silence>>();
  }
  auto compiled = std::make_shared<std::vector<Silence>>();
  for (const auto& r : *records) {
    auto s = compileSilence(r);
    if (!s) log_->error("{}", s.error().str());
    else compiled->push_back(std::move(*s));
  }
  silences_ = std::move(compiled);
  silences_loaded_ms_ = now_ms;
  return silences_;
}

core::awaitable<Result<IntakeResult>> Intake::accept(std::vector<core::Alert> alerts) {
  const int64_t now = clock_.nowMs();
  const auto playbooks = playbooks_();
  const auto silences = activeSilences(now);
  std::vector<Planned> planned;
  for (auto& a : alerts) {
    Planned p;
    p.record.id = newId("a");
    p.record.identity = a.identity();  // without the status: the store keeps the last one
    p.record.source = a.source;
    p.record.fingerprint = a.fingerprint;
    p.record.status = a.status;
    p.record.name = a.name;
    p.record.labels = a.labels;
    p.record.annotations = a.annotations;
    p.record.starts_at_ms = a.starts_at_ms;
    p.record.ends_at_ms = a.ends_at_ms.value_or(0);
    p.record.received_at_ms = now;
    p.record.drill = a.drill;
    auto routing = route(a, playbooks);
    for (const auto& e : routing.errors)
      log_->warn("alert {} ({}): {}", a.name, a.fingerprint, e.str());
    p.matches = std::move(routing.matches);
    p.alert_json = std::move(routing.alert_json);
    // Silenced: stored and deduplicated as usual, filed under no new incident, starts nothing.
    if (const Silence* silence = findSilence(*silences, a.labels, a.name, now)) {
      p.record.silence_id = silence->id;
      p.matches.clear();
    }
    p.alert = std::move(a);
    planned.push_back(std::move(p));
  }

  IntakeResult result;
  std::vector<store::PendingStart> starts;
  int64_t opened = 0, resolved = 0;
  std::vector<std::string> resolved_ids;
  auto fn = [&](store::WriteTx& tx) -> Status {
    // The function may run again if its batch is retried: start from nothing each time.
    result = IntakeResult{};
    starts.clear();
    opened = resolved = 0;
    resolved_ids.clear();
    std::set<std::string> incidents;
    for (const auto& p : planned) {
      auto note = tx.noteAlert(p.record);
      if (!note) return core::fail(note.error());
      if (note->novelty == AlertNovelty::kRepeat) {
        ++result.repeats;
        if (!note->incident_id.empty()) incidents.insert(note->incident_id);
        continue;
      }
      ++result.accepted;
      if (p.alert.status == "resolved") ++result.resolved;
      if (!p.record.silence_id.empty()) ++result.silenced;
      std::string filed_under = note->incident_id;
      for (const auto& m : p.matches) {
        auto open = tx.openIncidentId(m.dedup_key);
        if (!open) return core::fail(open.error());
        std::string incident_id;
        if (*open) {
          incident_id = **open;
        } else if (p.alert.status == "firing") {
          store::IncidentRecord inc{newId("inc"), m.playbook->name, m.dedup_key, "open",
                                    p.alert.severity, titleOf(p.alert), now, 0, p.alert.drill};
          if (auto s = tx.upsertIncident(inc); !s) return s;
          store::TimelineEvent ev{0, now, inc.id, "", "", "incident.opened",
                                  "incident opened by " + p.alert.name + " for playbook '" +
                                      m.playbook->name + "'",
                                  Json{{"playbook", m.playbook->name}}};
          if (auto s = tx.appendTimeline(ev); !s) return s;
          incident_id = inc.id;
          ++opened;
        }
        if (!incident_id.empty()) {
          incidents.insert(incident_id);
          if (filed_under.empty()) {
            filed_under = incident_id;
            if (auto s = tx.setAlertIncident(p.record.id, p.record.identity, incident_id); !s)
              return s;
          }
        }
        // route() kept only playbooks whose `on` fits this status: each one starts a run
        // (whose own dedup, concurrency and max_runs limits still apply).
        store::PendingStart start{newId("r"), m.playbook->name, incident_id, p.alert_json, now};
        if (auto s = tx.addPendingStart(start); !s) return s;
        starts.push_back(std::move(start));
      }
      if (!filed_under.empty()) {
        incidents.insert(filed_under);
        store::TimelineEvent ev{0, now, filed_under, "", "", "alert.received",
                                fmt::format("alert {} {} from {}", p.alert.name, p.alert.status,
                                            p.alert.source),
                                Json{{"fingerprint", p.alert.fingerprint},
                                     {"status", p.alert.status},
                                     {"labels", p.alert.labels}}};
        if (auto s = tx.appendTimeline(ev); !s) return s;
        if (p.alert.status == "resolved") {
          auto firing = tx.firingAlertsOf(filed_under);
          if (!firing) return core::fail(firing.error());
          if (*firing == 0) {
            auto closed = tx.resolveIncident(filed_under, now);
            if (!closed) return core::fail(closed.error());
            if (*closed) {
              store::TimelineEvent done{0, now, filed_under, "", "", "incident.resolved",
                                        "incident resolved: its last alert resolved", Json::object()};
              if (auto s = tx.appendTimeline(done); !s) return s;
              ++resolved;
              resolved_ids.push_back(filed_under);
            }
          }
        }
      }
    }
    result.incidents.assign(incidents.begin(), incidents.end());
    return {};
  };
  auto committed = co_await store_.commit(fn);
  if (!committed) co_return core::fail(committed.error().context("storing alerts"));
  stats_.alerts_accepted += result.accepted;
  stats_.alerts_repeated += result.repeats;
  stats_.alerts_silenced += result.silenced;
  if (result.silenced > 0)
    log_->debug("{} alert(s) stored under a silence: no run started for them", result.silenced);
  stats_.incidents_opened += opened;
  stats_.incidents_resolved += resolved;
  if (on_resolved_)
    for (const auto& id : resolved_ids) on_resolved_(id);
  for (auto& start : starts) {
    result.runs.push_back(start.run_id);
    // Started after the answer is possible: each start is its own coroutine.
    asio::co_spawn(co_await asio::this_coro::executor, startRun(std::move(start)),
                   asio::detached);
  }
  co_return result;
}

core::awaitable<void> Intake::startRun(store::PendingStart pending) {
  playbook::PlaybookPtr pb;
  for (const auto& p : playbooks_())
    if (p->name == pending.playbook) pb = p;
  // Whether the pending start is cleared here: when nothing will come of it. A run the engine
  // recorded (or refused under its dedup) cleared it in that same commit.
  bool clear_here = true;
  if (!pb) {
    log_->error("run {}: playbook '{}' is no longer loaded; not started", pending.run_id,
                pending.playbook);
    ++stats_.start_failures;
  } else {
    playbook::RunRequest req;
    req.playbook = pb;
    bool drill = pending.alert.value("drill", false);
    req.trigger = drill ? "drill" : "alert";
    // A dry-run drill says so on the alert it injects; its playbooks act on nothing.
    if (drill) req.dry_run = isDryRunDrillAlert(pending.alert);
    req.alert = pending.alert;
    req.incident_id = pending.incident_id;
    req.run_id = pending.run_id;
    req.clears_pending_start = true;
    auto started = co_await engine_.start(req);
    if (started) {
      clear_here = false;
      if (started->started) ++stats_.runs_started;
      else ++stats_.runs_deduped;  // the playbook's own limits said no; the timeline says why
    } else if (started.error().code() == core::ErrorCode::kAlreadyExists) {
      // Recorded by a version that cleared pending starts in a commit of their own, and
      // stopped between the two.
    } else {
      log_->error("run {} of playbook '{}': {}", pending.run_id, pending.playbook,
                  started.error().str());
      ++stats_.start_failures;
      clear_here = false;  // kept: the next start-up tries again
    }
  }
  if (clear_here) {
    const std::string id = pending.run_id;
    auto cleared =
        co_await store_.commit([&](store::WriteTx& tx) { return tx.removePendingStart(id); });
    if (!cleared) log_->error("run {}: {}", id, cleared.error().str());
  }
}

core::awaitable<void> Intake::startPending() {
  auto pending = store_.pendingStarts();
  if (!pending) {
    log_->error("{}", pending.error().str());
    co_return;
  }
  for (auto& p : *pending) {
    log_->info("starting run {} of playbook '{}' recorded before the last stop", p.run_id,
               p.playbook);
    co_await startRun(std::move(p));
  }
}

}  // namespace firebreak::intake
