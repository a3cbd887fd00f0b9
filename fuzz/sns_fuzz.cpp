// Feeds arbitrary bytes to the `sns` source: the delivery parser, the string to sign, the
// signature check (against the fixtures' test certificate), the certificate URL rules and the
// CloudWatch alarm inside a Notification. Any crash, sanitizer report, hang, exception or
// broken invariant below is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon/core/json.h"
#include "daemon/sources/sns.h"

namespace {

using firebreak::core::ErrorCode;
using firebreak::core::Json;
namespace sources = firebreak::sources;

// Messages go to HTTP answers and logs as JSON: they must be valid UTF-8 (dump throws if not).
void checkMessage(const std::string& message) {
  if (message.empty()) std::abort();
  (void)Json(message).dump();
}

// Any PEM will do for the signature path: the point is that arbitrary signatures are handled.
constexpr std::string_view kNotACertificate = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto m = sources::parseSnsMessage(text);
  if (!m) {
    if (m.error().code() != ErrorCode::kInvalidArgument) std::abort();
    checkMessage(m.error().message());
  } else {
    if (sources::snsStringToSign(*m).empty()) std::abort();
    auto url = sources::checkSigningCertUrl(m->signing_cert_url, {});
    if (!url) checkMessage(url.error().message());
    auto verified = sources::verifySnsSignature(*m, kNotACertificate);
    if (verified) std::abort();  // nothing verifies against no key
    checkMessage(verified.error().message());
    auto alerts = sources::cloudWatchAlarmAlerts(*m, "sns");
    if (!alerts) {
      if (alerts.error().code() != ErrorCode::kInvalidArgument) std::abort();
      checkMessage(alerts.error().message());
    } else {
      for (const auto& a : alerts->alerts) {
        if (a.status != "firing" && a.status != "resolved") std::abort();
        (void)a.toJson().dump();
      }
    }
  }
  // The URL rules on the raw bytes too.
  auto url = sources::checkSigningCertUrl(text, {"sns.*.amazonaws.com", "*.example"});
  if (!url) checkMessage(url.error().message());
  return 0;
}
