#include "daemon/app/sns_receiver.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "actions/builtin/http_client.h"
#include "daemon/core/alert.h"
#include "daemon/core/protected.h"

namespace firebreak::app {

namespace {

using core::ErrorCode;

// Certificates fetched and kept; every URL is on an allowed host, so only AWS's own rotation
// adds to them, but a bound keeps a stream of forged URLs from growing the map.
constexpr size_t kMaxCachedCertificates = 64;
constexpr size_t kMaxRefused = 256;
constexpr int64_t kRefusedForMs = 10 * 60 * 1000;

// SubscribeURL: https, no user info or port, on an allowed host. The daemon fetches it, so
// anything else would let a sender make it call where it likes.
core::Status checkSubscribeUrl(std::string_view url, const std::vector<std::string>& hosts) {
  auto bad = [&](const std::string& why) {
    return core::fail(ErrorCode::kPermissionDenied, "SubscribeURL " + why);
  };
  constexpr std::string_view kScheme = "https://";
  if (url.substr(0, kScheme.size()) != kScheme) return bad("is not an https:// URL");
  std::string_view rest = url.substr(kScheme.size());
  std::string_view host = rest.substr(0, rest.find_first_of("/?#"));
  if (host.find_first_of("@:") != std::string_view::npos)
    return bad("may not carry user info or a port");
  if (url.find("Action=ConfirmSubscription") == std::string_view::npos)
    return bad("is not a ConfirmSubscription call");
  for (const auto& p : hosts)
    if (core::globMatch(p, host)) return {};
  return bad("host " + core::quoteForMessage(host) + " is not an allowed SNS host");
}

}  // namespace

core::Result<std::string> fetchOverHttps(const std::string& url) {
  actions::builtin::HttpCall call;
  call.url = url;
  call.timeout = std::chrono::milliseconds(10'000);
  call.max_body = size_t{64} << 10;
  auto r = actions::builtin::httpCall(call);
  if (!r) return core::fail(r.error());
  if (r->truncated)
    return core::fail(ErrorCode::kPermissionDenied, "the answer is over 64 KiB");
  if (r->status < 200 || r->status > 299)
    return core::fail(r->status >= 500 ? ErrorCode::kUnavailable : ErrorCode::kPermissionDenied,
                      "answered HTTP " + std::to_string(r->status));
  return std::move(r->body);
}

core::Result<std::unique_ptr<SnsReceiver>> SnsReceiver::create(const config::SnsSettings& settings,
                                                               const core::Clock& clock,
                                                               SnsFetch fetch) {
  std::unique_ptr<SnsReceiver> r(new SnsReceiver(settings, clock, std::move(fetch)));
  for (const auto& [url, file] : settings.certificates) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    if (in) text << in.rdbuf();
    if (!in || text.str().empty())
      return core::fail(ErrorCode::kInvalidArgument,
                        "sns.certificates: cannot read " + file + " (for " + url + ")");
    r->certificates_.emplace(url, text.str());
  }
  return r;
}

bool SnsReceiver::topicAllowed(std::string_view topic) const {
  for (const auto& p : settings_.topics)
    if (core::globMatch(p, topic)) return true;
  return false;
}

core::Result<std::string> SnsReceiver::certificate(const std::string& url) {
  const int64_t now = clock_.nowMs();
  {
    std::lock_guard lock(mu_);
    if (auto it = certificates_.find(url); it != certificates_.end()) return it->second;
    if (auto it = refused_.find(url); it != refused_.end() && now < it->second)
      return core::fail(ErrorCode::kPermissionDenied,
                        "the signing certificate " + url + " was refused less than 10 minutes ago");
  }
  auto pem = fetch_(url);
  if (!pem) {
    auto e = pem.error();
    // A failed connection may work later; anything else will not.
    bool transient = e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kTimeout;
    if (!transient) {
      std::lock_guard lock(mu_);
      if (refused_.size() >= kMaxRefused) refused_.clear();
      refused_[url] = now + kRefusedForMs;
    }
    return core::fail(transient ? ErrorCode::kUnavailable : ErrorCode::kPermissionDenied,
                      "fetching the signing certificate " + url + ": " + e.message());
  }
  std::lock_guard lock(mu_);
  if (certificates_.size() < kMaxCachedCertificates + settings_.certificates.size())
    certificates_.emplace(url, *pem);
  return std::move(*pem);
}

core::Result<SnsOutcome> SnsReceiver::receive(std::string_view body, std::string_view message_type,
                                              const std::string& source_name,
                                              const sources::ParseOptions& options) {
  auto message = sources::parseSnsMessage(body, options);
  if (!message) return core::fail(message.error());
  sources::SnsMessage& m = *message;
  if (!message_type.empty() && message_type != m.type)
    return core::fail(ErrorCode::kInvalidArgument,
                      "header x-amz-sns-message-type " + core::quoteForMessage(message_type) +
                          " disagrees with the body's Type " + core::quoteForMessage(m.type));
  if (!topicAllowed(m.topic_arn))
    return core::fail(ErrorCode::kPermissionDenied,
                      "TopicArn " + core::quoteForMessage(m.topic_arn, 200) +
                          " is not one of the source's sns.topics");
  if (auto s = sources::checkSigningCertUrl(m.signing_cert_url, settings_.cert_hosts); !s)
    return core::fail(s.error());
  auto pem = certificate(m.signing_cert_url);
  if (!pem) return core::fail(pem.error());
  if (auto s = sources::verifySnsSignature(m, *pem); !s) {
    if (s.error().code() == ErrorCode::kPermissionDenied) return core::fail(s.error());
    // A certificate that cannot be read is the certificate's fault, not the body's.
    return core::fail(ErrorCode::kPermissionDenied, s.error().message());
  }
  if (auto s = sources::checkSnsAge(m, clock_.nowMs(), settings_.max_age.count()); !s)
    return core::fail(s.error());

  SnsOutcome out;
  if (m.type == "Notification") {
    auto parsed = sources::cloudWatchAlarmAlerts(m, source_name, options);
    if (!parsed) return core::fail(parsed.error());
    out.parsed = std::move(*parsed);
  } else if (m.type == "SubscriptionConfirmation") {
    if (auto s = checkSubscribeUrl(m.subscribe_url, settings_.cert_hosts); !s)
      return core::fail(s.error());
    auto confirmed = fetch_(m.subscribe_url);
    if (!confirmed)
      return core::fail(confirmed.error().code() == ErrorCode::kPermissionDenied
                            ? ErrorCode::kPermissionDenied
                            : ErrorCode::kUnavailable,
                        "confirming the subscription to " + m.topic_arn + ": " +
                            confirmed.error().message());
    spdlog::info("source {}: subscription to {} confirmed", source_name, m.topic_arn);
    out.kind = SnsOutcome::Kind::kConfirmed;
  } else {
    spdlog::warn("source {}: SNS says the subscription to {} was removed; no more alerts come "
                 "from it until it is subscribed again",
                 source_name, m.topic_arn);
    out.kind = SnsOutcome::Kind::kUnsubscribed;
  }
  out.message = std::move(m);
  return out;
}

}  // namespace firebreak::app
