// POST /hooks/<source>, /healthz and /readyz: a request in, an answer out, testable without
// sockets. Per source: authentication first (nothing of a refused request is parsed or
// stored), then the body limit and the rate limit, then the parser, then intake's durable
// commit; 202 only after it.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "daemon/config/config.h"
#include "daemon/core/action.h"
#include "daemon/core/clock.h"
#include "daemon/http/server.h"
#include "daemon/app/sns_receiver.h"
#include "daemon/intake/intake.h"

namespace firebreak::app {

struct DaemonMetrics;

struct WebhookStats {
  // "<source> <outcome>": accepted, unauthorized, forbidden, too_large, rate_limited,
  // bad_request, unavailable; sns sources also confirmed and unsubscribed.
  std::map<std::string, int64_t> requests;
};

class Webhooks {
 public:
  // Resolves every source's secrets now: a reference that cannot be read fails start-up.
  static core::Result<std::unique_ptr<Webhooks>> create(const config::Config& config,
                                                        const core::SecretResolver& secrets,
                                                        intake::Intake& intake,
                                                        const core::Clock& clock,
                                                        asio::thread_pool& blocking);

  core::awaitable<http::Response> handle(http::Request& request, const http::Peer& peer);

  void setReady(bool ready) { ready_ = ready; }
  void setShuttingDown() { shutting_down_ = true; }
  bool ready() const { return ready_; }
  // Counts requests and alerts there from now on; it outlives this object.
  void setMetrics(DaemonMetrics* metrics) { metrics_ = metrics; }
  const WebhookStats& stats() const { return stats_; }

 private:
  struct Source {
    config::Source config;
    std::string bearer;  // resolved secrets, compared in constant time, never logged
    std::string basic_user;
    std::string basic_password;
    std::shared_ptr<SnsReceiver> sns;  // sns sources: the signature is their auth
    double tokens = 0;   // rate limit bucket
    std::chrono::steady_clock::time_point refilled{};
  };

  Webhooks(intake::Intake& intake, const core::Clock& clock, asio::thread_pool& blocking)
      : intake_(intake), clock_(clock), blocking_(blocking) {}
  core::awaitable<http::Response> hook(http::Request& request, const std::string& name);
  bool authorized(const Source& source, const http::Request& request) const;
  bool takeToken(Source& source);
  http::Response answer(const http::Request& request, const std::string& source, unsigned status,
                        const std::string& outcome, core::Json body);

  intake::Intake& intake_;
  const core::Clock& clock_;
  asio::thread_pool& blocking_;
  std::map<std::string, Source> sources_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> shutting_down_{false};
  WebhookStats stats_;
  DaemonMetrics* metrics_ = nullptr;
};

}  // namespace firebreak::app
