// What a `sns` source does with a delivery beyond parsing it: the topic must be allowed, the
// signature must verify with a certificate from an allowed HTTPS host (fetched once, then
// cached), the message must be recent; then a Notification becomes alerts, a
// SubscriptionConfirmation of an allowed topic is confirmed by fetching its SubscribeURL, and
// an UnsubscribeConfirmation is only logged. Blocking (it may fetch): run it off the io thread.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "daemon/config/config.h"
#include "daemon/core/clock.h"
#include "daemon/core/result.h"
#include "daemon/sources/parsed_request.h"
#include "daemon/sources/sns.h"

namespace firebreak::app {

// One HTTPS GET: the body of a 2xx answer, else an error (kUnavailable: worth a retry).
using SnsFetch = std::function<core::Result<std::string>(const std::string& url)>;
// builtin::httpCall with TLS verification, no redirects, a 10 s timeout and a 64 KiB limit.
core::Result<std::string> fetchOverHttps(const std::string& url);

struct SnsOutcome {
  enum class Kind { kAlerts, kConfirmed, kUnsubscribed };
  Kind kind = Kind::kAlerts;
  sources::ParsedRequest parsed;  // kAlerts
  sources::SnsMessage message;
};

class SnsReceiver {
 public:
  // Reads the pinned certificate files now: one that cannot be read fails the config.
  static core::Result<std::unique_ptr<SnsReceiver>> create(const config::SnsSettings& settings,
                                                           const core::Clock& clock,
                                                           SnsFetch fetch = fetchOverHttps);

  // Errors: kInvalidArgument for a body that can never be read (400), kPermissionDenied for a
  // message that is not to be believed or not for us (403), kUnavailable when a fetch failed
  // and a retry may succeed (503). `message_type` is the x-amz-sns-message-type header
  // ("" when absent); it must agree with the body's Type.
  core::Result<SnsOutcome> receive(std::string_view body, std::string_view message_type,
                                   const std::string& source_name,
                                   const sources::ParseOptions& options);

 private:
  SnsReceiver(const config::SnsSettings& settings, const core::Clock& clock, SnsFetch fetch)
      : settings_(settings), clock_(clock), fetch_(std::move(fetch)) {}
  core::Result<std::string> certificate(const std::string& url);
  bool topicAllowed(std::string_view topic) const;

  config::SnsSettings settings_;
  const core::Clock& clock_;
  SnsFetch fetch_;
  std::mutex mu_;
  std::map<std::string, std::string> certificates_;  // URL -> PEM: pinned, then fetched ones
  // URL -> until when (ms) a refused fetch is not tried again: forged messages naming
  // made-up certificates on an allowed host cost one fetch each, not one per message.
  std::map<std::string, int64_t> refused_;
};

}  // namespace firebreak::app
