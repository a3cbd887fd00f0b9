#include "daemon/app/webhooks.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <spdlog/spdlog.h>

#include "daemon/app/metrics.h"
#include "daemon/app/source_parser.h"

namespace firebreak::app {

namespace {

using core::ErrorCode;
using core::Json;
namespace bhttp = boost::beast::http;

// Equal-length digests compared with CRYPTO_memcmp: the time taken says nothing about how
// much of a guess was right, nor about the secret's length.
bool sameSecret(std::string_view given, const std::string& expected) {
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(given.data()), given.size(), a);
  SHA256(reinterpret_cast<const unsigned char*>(expected.data()), expected.size(), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0 && !expected.empty();
}

std::optional<std::string> base64Decode(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0 || in.size() > 4096) return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  size_t pad = 0;
  if (in.back() == '=') ++pad;
  if (in.size() > 1 && in[in.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

}  // namespace

core::Result<std::unique_ptr<Webhooks>> Webhooks::create(const config::Config& config,
                                                         const core::SecretResolver& secrets,
                                                         intake::Intake& intake,
                                                         const core::Clock& clock,
                                                         asio::thread_pool& blocking) {
  std::unique_ptr<Webhooks> w(new Webhooks(intake, clock, blocking));
  for (const auto& [name, src] : config.sources) {
    if (!hasParser(src.type))
      return core::fail(ErrorCode::kInvalidArgument,
                        src.loc.str() + ": source '" + name + "': type '" +
                            config::sourceTypeName(src.type) +
                            "' is not available in this version (alertmanager, generic, sns)");
    Source s;
    s.config = src;
    if (src.auth.scheme == config::Auth::Scheme::kBearer) {
      auto token = secrets.resolve(src.auth.bearer);
      if (!token)
        return core::fail(token.error().context("source '" + name + "': auth.bearer"));
      s.bearer = *token;
    } else if (src.auth.scheme == config::Auth::Scheme::kBasic) {
      auto password = secrets.resolve(src.auth.password);
      if (!password)
        return core::fail(password.error().context("source '" + name + "': auth.basic.password"));
      s.basic_user = src.auth.username;
      s.basic_password = *password;
    }
    if (src.type == config::SourceType::kSns) {
      if (!src.sns)
        return core::fail(ErrorCode::kInvalidArgument,
                          src.loc.str() + ": source '" + name + "': type sns needs sns.topics");
      auto receiver = SnsReceiver::create(*src.sns, clock);
      if (!receiver) return core::fail(receiver.error().context("source '" + name + "'"));
      s.sns = std::move(*receiver);
    }
    if (src.rate_limit) s.tokens = static_cast<double>(src.rate_limit->burst);
    s.refilled = std::chrono::steady_clock::now();
    w->sources_.emplace(name, std::move(s));
  }
  return w;
}

bool Webhooks::authorized(const Source& source, const http::Request& request) const {
  using Scheme = config::Auth::Scheme;
  if (source.config.auth.scheme == Scheme::kNone) return true;
  auto it = request.find(bhttp::field::authorization);
  if (it == request.end()) return false;
  std::string_view value(it->value().data(), it->value().size());
  if (source.config.auth.scheme == Scheme::kBearer) {
    constexpr std::string_view kPrefix = "Bearer ";
    if (value.size() <= kPrefix.size() || value.substr(0, kPrefix.size()) != kPrefix) return false;
    return sameSecret(value.substr(kPrefix.size()), source.bearer);
  }
  constexpr std::string_view kPrefix = "Basic ";
  if (value.size() <= kPrefix.size() || value.substr(0, kPrefix.size()) != kPrefix) return false;
  auto decoded = base64Decode(value.substr(kPrefix.size()));
  if (!decoded) return false;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  bool user_ok = sameSecret(std::string_view(*decoded).substr(0, colon), source.basic_user);
  bool password_ok = sameSecret(std::string_view(*decoded).substr(colon + 1), source.basic_password);
  return user_ok && password_ok;
}

bool Webhooks::takeToken(Source& source) {
  if (!source.config.rate_limit) return true;
  const auto& rl = *source.config.rate_limit;
  auto now = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(now - source.refilled).count();
  source.refilled = now;
  source.tokens = std::min(static_cast<double>(rl.burst), source.tokens + elapsed * rl.per_second);
  if (source.tokens < 1) return false;
  source.tokens -= 1;
  return true;
}

http::Response Webhooks::answer(const http::Request& request, const std::string& source,
                                unsigned status, const std::string& outcome, Json body) {
  if (!source.empty()) {
    ++stats_.requests[source + " " + outcome];
    if (metrics_) metrics_->webhook_requests.with({source, outcome}).inc();
  }
  return http::makeResponse(request, status, body.dump());
}

core::awaitable<http::Response> Webhooks::handle(http::Request& request, const http::Peer&) {
  std::string_view target(request.target().data(), request.target().size());
  auto query = target.find('?');
  std::string_view path = target.substr(0, query);
  if (path == "/healthz") co_return http::makeResponse(request, 200, R"({"status":"ok"})");
  if (path == "/readyz") {
    if (ready_ && !shutting_down_) co_return http::makeResponse(request, 200, R"({"ready":true})");
    co_return http::makeResponse(request, 503, R"({"ready":false})");
  }
  constexpr std::string_view kHooks = "/hooks/";
  if (path.substr(0, kHooks.size()) == kHooks) {
    std::string name(path.substr(kHooks.size()));
    co_return co_await hook(request, name);
  }
  co_return http::makeResponse(request, 404, R"({"error":"no such endpoint"})");
}

core::awaitable<http::Response> Webhooks::hook(http::Request& request, const std::string& name) {
  auto it = sources_.find(name);
  if (it == sources_.end())
    co_return answer(request, "", 404, "", Json{{"error", "no source '" + name + "'"}});
  Source& source = it->second;
  if (request.method() != bhttp::verb::post) {
    auto r = answer(request, name, 405, "bad_request", Json{{"error", "use POST"}});
    r.set(bhttp::field::allow, "POST");
    co_return r;
  }
  if (shutting_down_) {
    auto r = answer(request, name, 503, "unavailable", Json{{"error", "shutting down"}});
    r.set(bhttp::field::retry_after, "5");
    co_return r;
  }
  if (!authorized(source, request)) {
    spdlog::warn("source {}: request refused: missing or wrong credentials", name);
    auto r = answer(request, name, 401, "unauthorized", Json{{"error", "unauthorized"}});
    r.set(bhttp::field::www_authenticate,
          source.config.auth.scheme == config::Auth::Scheme::kBasic ? "Basic realm=\"firebreak\""
                                                                     : "Bearer");
    co_return r;
  }
  if (request.body().size() > source.config.max_body)
    co_return answer(request, name, 413, "too_large",
                     Json{{"error", "body over the source's limit of " +
                                        config::formatSize(source.config.max_body)}});
  if (!takeToken(source)) {
    spdlog::warn("source {}: rate limit hit", name);
    auto r = answer(request, name, 429, "rate_limited", Json{{"error", "rate limited"}});
    r.set(bhttp::field::retry_after, "1");
    co_return r;
  }
  sources::ParseOptions options;
  options.max_body_bytes = source.config.max_body;
  options.received_at_ms = clock_.nowMs();
  core::Result<sources::ParsedRequest> parsed = sources::ParsedRequest{};
  if (source.sns) {
    auto header = request.find("x-amz-sns-message-type");
    std::string type = header == request.end() ? std::string() : std::string(header->value());
    std::shared_ptr<SnsReceiver> sns = source.sns;
    const std::string& body = request.body();
    auto outcome = co_await core::offload(
        blocking_, [&] { return sns->receive(body, type, name, options); });
    if (!outcome) {
      const auto& e = outcome.error();
      if (e.code() == ErrorCode::kPermissionDenied) {
        spdlog::warn("source {}: SNS message refused: {}", name, e.message());
        co_return answer(request, name, 403, "forbidden", Json{{"error", e.message()}});
      }
      if (e.code() != ErrorCode::kInvalidArgument) {
        spdlog::warn("source {}: {}", name, e.message());
        auto r = answer(request, name, 503, "unavailable", Json{{"error", e.message()}});
        r.set(bhttp::field::retry_after, "5");
        co_return r;
      }
      parsed = core::fail(e);
    } else if (outcome->kind == SnsOutcome::Kind::kConfirmed) {
      co_return answer(request, name, 200, "confirmed",
                       Json{{"confirmed", outcome->message.topic_arn}});
    } else if (outcome->kind == SnsOutcome::Kind::kUnsubscribed) {
      co_return answer(request, name, 200, "unsubscribed",
                       Json{{"unsubscribed", outcome->message.topic_arn}});
    } else {
      parsed = std::move(outcome->parsed);
    }
  } else {
    parsed = parseSourceBody(source.config, name, request.body(), options);
  }
  if (!parsed) {
    spdlog::info("source {}: unreadable body: {}", name, parsed.error().message());
    co_return answer(request, name, 400, "bad_request", Json{{"error", parsed.error().message()}});
  }
  auto result = co_await intake_.accept(std::move(parsed->alerts));
  if (!result) {
    spdlog::error("source {}: {}", name, result.error().str());
    auto r = answer(request, name, 503, "unavailable",
                    Json{{"error", "cannot store the alerts now; retry"}});
    r.set(bhttp::field::retry_after, "1");
    co_return r;
  }
  if (metrics_) {
    auto& m = metrics_->alerts_received;
    m.with({name, "new"}).inc(static_cast<uint64_t>(result->accepted - result->resolved));
    m.with({name, "resolved"}).inc(static_cast<uint64_t>(result->resolved));
    m.with({name, "repeat"}).inc(static_cast<uint64_t>(result->repeats));
  }
  spdlog::debug("source {}: {} accepted, {} repeat(s), {} run(s) to start", name,
                result->accepted, result->repeats, result->runs.size());
  co_return answer(request, name, 202, "accepted",
                   Json{{"accepted", result->accepted}, {"repeats", result->repeats},
                        {"incidents", result->incidents}});
}

}  // namespace firebreak::app
