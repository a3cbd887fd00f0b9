#include "daemon/sources/sns.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cctype>
#include <memory>
#include <optional>

#include "daemon/core/protected.h"
#include "daemon/sources/json_body.h"

namespace firebreak::sources {

namespace {

using core::ErrorCode;
using core::Result;
using core::Status;
namespace dom = simdjson::dom;
using detail::expected;
using detail::invalid;
using detail::member;
using detail::optionalString;
using detail::requiredString;

bool isConfirmation(const std::string& type) {
  return type == "SubscriptionConfirmation" || type == "UnsubscribeConfirmation";
}

std::optional<std::string> decodeBase64(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  size_t pad = (in.back() == '=') + (in[in.size() - 2] == '=');
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

// CloudWatch writes "2025-06-12T09:26:53.471+0000": RFC 3339 wants "+00:00".
std::string withColonInOffset(std::string_view t) {
  std::string s(t);
  if (s.size() > 5) {
    char sign = s[s.size() - 5];
    if ((sign == '+' || sign == '-') && s.find(':', s.size() - 5) == std::string::npos)
      s.insert(s.size() - 2, ":");
  }
  return s;
}

std::string percentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    }
  }
  return out;
}

}  // namespace

Result<SnsMessage> parseSnsMessage(std::string_view body, const ParseOptions& options) {
  detail::JsonDocument doc;
  auto root = doc.parse(body, options);
  if (!root) return tl::unexpected(std::move(root.error()));
  dom::object object;
  if (root->get(object) != simdjson::SUCCESS)
    return invalid("body: " + expected("an object", *root));
  SnsMessage m;
  auto take = [&](std::string_view key, std::string& into) -> Status {
    auto v = requiredString(object, key, "");
    if (!v) return tl::unexpected(std::move(v.error()));
    into = std::string(*v);
    return {};
  };
  if (auto s = take("Type", m.type); !s) return tl::unexpected(std::move(s.error()));
  if (m.type != "Notification" && !isConfirmation(m.type))
    return invalid("Type: expected one of Notification, SubscriptionConfirmation, "
                   "UnsubscribeConfirmation, got " + core::quoteForMessage(m.type));
  for (auto [key, into] : {std::pair<std::string_view, std::string*>{"MessageId", &m.message_id},
                           {"TopicArn", &m.topic_arn},
                           {"Message", &m.message},
                           {"Timestamp", &m.timestamp},
                           {"SignatureVersion", &m.signature_version},
                           {"Signature", &m.signature}}) {
    if (auto s = take(key, *into); !s) return tl::unexpected(std::move(s.error()));
  }
  // SNS-to-Lambda events spell these "...Url"; an HTTP delivery uses "...URL".
  auto eitherSpelling = [&](std::string_view url_key, std::string_view alt_key,
                            std::string& into, bool required) -> Status {
    for (auto key : {url_key, alt_key}) {
      auto v = optionalString(object, key, "");
      if (!v) return tl::unexpected(std::move(v.error()));
      if (*v) {
        into = std::string(**v);
        return {};
      }
    }
    if (required) return invalid("body: missing '" + std::string(url_key) + "'");
    return {};
  };
  if (auto s = eitherSpelling("SigningCertURL", "SigningCertUrl", m.signing_cert_url, true); !s)
    return tl::unexpected(std::move(s.error()));
  if (auto s = eitherSpelling("UnsubscribeURL", "UnsubscribeUrl", m.unsubscribe_url, false); !s)
    return tl::unexpected(std::move(s.error()));
  if (isConfirmation(m.type)) {
    if (auto s = take("SubscribeURL", m.subscribe_url); !s) return tl::unexpected(std::move(s.error()));
    if (auto s = take("Token", m.token); !s) return tl::unexpected(std::move(s.error()));
  } else {
    auto subject = optionalString(object, "Subject", "");
    if (!subject) return tl::unexpected(std::move(subject.error()));
    if (*subject) {
      m.has_subject = true;
      m.subject = std::string(**subject);
    }
  }
  auto ts = core::parseRfc3339Ms(m.timestamp);
  if (!ts) return invalid("Timestamp: " + ts.error().message());
  m.timestamp_ms = *ts;
  return m;
}

std::string snsStringToSign(const SnsMessage& m) {
  std::string out;
  auto add = [&](std::string_view key, const std::string& value) {
    out.append(key).append("\n").append(value).append("\n");
  };
  add("Message", m.message);
  add("MessageId", m.message_id);
  if (isConfirmation(m.type)) {
    add("SubscribeURL", m.subscribe_url);
    add("Timestamp", m.timestamp);
    add("Token", m.token);
  } else {
    if (m.has_subject) add("Subject", m.subject);
    add("Timestamp", m.timestamp);
  }
  add("TopicArn", m.topic_arn);
  add("Type", m.type);
  return out;
}

Status checkSigningCertUrl(std::string_view url, const std::vector<std::string>& host_patterns) {
  auto bad = [&](const std::string& why) {
    return core::fail(ErrorCode::kPermissionDenied, "SigningCertURL " + why);
  };
  constexpr std::string_view kScheme = "https://";
  if (url.substr(0, kScheme.size()) != kScheme) return bad("is not an https:// URL");
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return bad("has no path");
  std::string_view host = rest.substr(0, slash), path = rest.substr(slash);
  if (host.find_first_of("@:") != std::string_view::npos)
    return bad("may not carry user info or a port");
  if (path.find_first_of("?#") != std::string_view::npos || path.size() < 5 ||
      path.substr(path.size() - 4) != ".pem")
    return bad("does not name a .pem file");
  static const std::vector<std::string> kDefault = {"sns.*.amazonaws.com"};
  const auto& patterns = host_patterns.empty() ? kDefault : host_patterns;
  for (const auto& p : patterns)
    if (core::globMatch(p, host)) return {};
  return bad("host " + core::quoteForMessage(host) + " is not an allowed certificate host");
}

Status verifySnsSignature(const SnsMessage& m, std::string_view certificate_pem) {
  const EVP_MD* md = nullptr;
  if (m.signature_version == "1") md = EVP_sha1();
  else if (m.signature_version == "2") md = EVP_sha256();
  else
    return core::fail(ErrorCode::kInvalidArgument,
                      "SignatureVersion " + core::quoteForMessage(m.signature_version) +
                          " is not 1 or 2");
  auto signature = decodeBase64(m.signature);
  if (!signature) return core::fail(ErrorCode::kInvalidArgument, "Signature is not base64");

  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(certificate_pem.data(), static_cast<int>(certificate_pem.size())), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, X509_free);
  if (!cert) return core::fail(ErrorCode::kInvalidArgument, "the signing certificate is not a PEM certificate");
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(X509_get_pubkey(cert.get()), EVP_PKEY_free);
  if (!key) return core::fail(ErrorCode::kInvalidArgument, "the signing certificate has no public key");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  const std::string signed_text = snsStringToSign(m);
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature->data()),
                             signature->size(),
                             reinterpret_cast<const unsigned char*>(signed_text.data()),
                             signed_text.size()) == 1;
  if (!ok)
    return core::fail(ErrorCode::kPermissionDenied,
                      "the message's signature does not verify with its signing certificate");
  return {};
}

Status checkSnsAge(const SnsMessage& m, int64_t now_ms, int64_t max_age_ms) {
  int64_t age = now_ms - m.timestamp_ms;
  if (age > max_age_ms || age < -max_age_ms)
    return core::fail(ErrorCode::kPermissionDenied,
                      "message Timestamp " + core::quoteForMessage(m.timestamp) + " is more than " +
                          std::to_string(max_age_ms / 1000) + " s from now: refused as a replay");
  return {};
}

Result<ParsedRequest> cloudWatchAlarmAlerts(const SnsMessage& m, const std::string& source_name,
                                            const ParseOptions& options) {
  ParsedRequest out;
  if (m.type != "Notification") return out;
  detail::JsonDocument doc;
  auto root = doc.parse(m.message, options);
  if (!root) return invalid("Message: " + root.error().message());
  dom::object alarm;
  if (root->get(alarm) != simdjson::SUCCESS)
    return invalid("Message: " + expected("a CloudWatch alarm object", *root));
  const std::string base = "Message";
  auto name = requiredString(alarm, "AlarmName", base);
  if (!name) return tl::unexpected(std::move(name.error()));
  auto state = requiredString(alarm, "NewStateValue", base);
  if (!state) return tl::unexpected(std::move(state.error()));
  auto arn = requiredString(alarm, "AlarmArn", base);
  if (!arn) return tl::unexpected(std::move(arn.error()));
  if (*state == "INSUFFICIENT_DATA") return out;
  if (*state != "ALARM" && *state != "OK")
    return invalid("Message.NewStateValue: expected ALARM, OK or INSUFFICIENT_DATA, got " +
                   core::quoteForMessage(*state));

  core::Alert a;
  a.source = source_name;
  a.source_type = "sns";
  a.name = std::string(*name);
  a.status = *state == "ALARM" ? "firing" : "resolved";
  a.fingerprint = std::string(*arn);
  a.labels["alertname"] = a.name;
  // arn:aws:cloudwatch:<region>:<account>:alarm:<name>
  std::vector<std::string> parts;
  for (size_t at = 0, next; parts.size() < 5; at = next + 1) {
    next = a.fingerprint.find(':', at);
    if (next == std::string::npos) break;
    parts.push_back(a.fingerprint.substr(at, next - at));
  }
  std::string region = parts.size() == 5 ? parts[3] : "";
  if (!region.empty()) a.labels["region"] = region;
  if (auto account = optionalString(alarm, "AWSAccountId", base); account && *account)
    a.labels["account"] = std::string(**account);
  if (auto trigger = member(alarm, "Trigger")) {
    dom::object t;
    if (trigger->get(t) == simdjson::SUCCESS) {
      if (auto ns = optionalString(t, "Namespace", base + ".Trigger"); ns && *ns)
        a.labels["namespace"] = std::string(**ns);
      if (auto metric = optionalString(t, "MetricName", base + ".Trigger"); metric && *metric)
        a.labels["metric"] = std::string(**metric);
      dom::array dims;
      if (auto d = member(t, "Dimensions"); d && d->get(dims) == simdjson::SUCCESS) {
        for (auto dim : dims) {
          dom::object o;
          if (dim.get(o) != simdjson::SUCCESS) continue;
          auto dn = optionalString(o, "name", base + ".Trigger.Dimensions");
          auto dv = optionalString(o, "value", base + ".Trigger.Dimensions");
          if (dn && *dn && dv && *dv) a.labels.emplace(std::string(**dn), std::string(**dv));
        }
      }
    }
  }
  if (auto d = optionalString(alarm, "AlarmDescription", base); d && *d)
    a.annotations["description"] = std::string(**d);
  if (auto r = optionalString(alarm, "NewStateReason", base); r && *r)
    a.annotations["reason"] = std::string(**r);
  if (auto t = optionalString(alarm, "StateChangeTime", base); t && *t) {
    a.annotations["state_change_time"] = std::string(**t);
    if (auto ms = core::parseRfc3339Ms(withColonInOffset(**t)); ms && a.status == "resolved")
      a.ends_at_ms = *ms;
  }
  if (m.has_subject) a.annotations["summary"] = m.subject;
  a.annotations["topic_arn"] = m.topic_arn;
  a.annotations["message_id"] = m.message_id;
  if (!region.empty())
    a.generator_url = "https://console.aws.amazon.com/cloudwatch/home?region=" + region +
                      "#alarmsV2:alarm/" + percentEncode(a.name);
  out.alerts.push_back(std::move(a));
  return out;
}

}  // namespace firebreak::sources
