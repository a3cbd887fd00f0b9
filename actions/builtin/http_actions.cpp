// http.request, http.probe and notify.webhook: three ways of making one HTTP call, all through
// httpCall() (http_client.h) on the blocking pool.
#include <set>

#include "actions/builtin/common.h"
#include "actions/builtin/http_client.h"
#include "actions/builtin/providers.h"
#include "daemon/core/duration.h"

namespace firebreak::actions::builtin {
namespace {

using core::ActionRequest;
using core::ActionResult;
using core::ErrorCode;
using core::fail;
using core::Json;
using core::ParamType;

constexpr int64_t kMaxBodyLimit = int64_t{64} << 20;
constexpr size_t kProbeBodyOutput = 4096;
constexpr size_t kProbeBodyRead = size_t{1} << 20;  // expect_body_contains searches this much

// Runs `call` on the pool; `call` must live in the awaiting coroutine's frame. The closure
// holds only a pointer: GCC 12 frees closures with non-trivial captures given to offload()
// twice.
core::awaitable<core::Result<HttpResponse>> perform(asio::thread_pool& pool, const HttpCall& call) {
  const HttpCall* c = &call;
  co_return co_await core::offload(pool, [c] { return httpCall(*c); });
}

// "https://user:pw@host/x" -> "https://host/x": the URL as it may appear in messages.
std::string withoutUserinfo(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  auto host_end = url.find_first_of("/?#", scheme + 3);
  auto at = url.substr(0, host_end).find('@', scheme + 3);
  if (at == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, scheme + 3)) + std::string(url.substr(at + 1));
}

std::string expectedText(const std::optional<std::vector<int>>& expect) {
  if (!expect) return "2xx";
  std::string out;
  for (size_t i = 0; i < expect->size(); ++i)
    out += (i == 0 ? "" : i + 1 == expect->size() ? " or " : ", ") + std::to_string((*expect)[i]);
  return out;
}

bool statusExpected(int status, const std::optional<std::vector<int>>& expect) {
  if (!expect) return status >= 200 && status <= 299;
  return std::find(expect->begin(), expect->end(), status) != expect->end();
}

Json headersJson(const std::map<std::string, std::string>& headers) {
  Json out = Json::object();
  for (const auto& [k, v] : headers) out[toValidUtf8(k)] = toValidUtf8(v);
  return out;
}

ActionResult transportFailure(const ActionRequest& request, std::string_view action,
                              const core::Error& error, const std::string& target,
                              const std::vector<std::string>& secrets, Json output) {
  std::string what = scrub(target + ": " + error.message(), secrets);
  return isTransient(error) ? ActionResult::retryable(describe(request, action, what), output)
                            : ActionResult::permanent(describe(request, action, what), output);
}

// Header values that are secret references ("env:API_TOKEN") are resolved here, at execute
// time; the resolved values are collected in `secrets` so messages can be scrubbed of them.
core::Result<std::vector<std::pair<std::string, std::string>>> resolveHeaders(
    const std::vector<std::pair<std::string, std::string>>& headers,
    const core::SecretResolver* resolver, std::vector<std::string>& secrets) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, value] : headers) {
    if (!core::isSecretReference(value)) {
      out.emplace_back(name, value);
      continue;
    }
    if (!resolver)
      return fail(ErrorCode::kFailedPrecondition,
                  "header '" + name + "' refers to a secret but no secret resolver is configured");
    auto resolved = resolver->resolve(value);
    if (!resolved)
      return fail(std::move(resolved.error()).context("resolving header '" + name + "'"));
    secrets.push_back(*resolved);
    if (auto s = checkHeader(name, *resolved); !s)
      return fail(ErrorCode::kInvalidArgument,
                  "header '" + name + "': the secret " + value + " holds CR, LF or NUL");
    out.emplace_back(name, std::move(*resolved));
  }
  return out;
}

std::string errorText(const core::Error& e) {
  std::string out = e.message();
  for (const auto& what : e.trail()) out += " (while " + what + ")";
  return out;
}

// ---------------------------------------------------------------------------------------------
// http.request

struct RequestParams {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::string> body;
  std::optional<std::vector<int>> expect;
  std::chrono::milliseconds timeout{30'000};
  int64_t max_body = int64_t{1} << 20;
  bool follow_redirects = false;
};

core::Result<RequestParams> parseRequest(const Json& params, bool templates) {
  RequestParams p;
  auto bad = [](std::string why) { return fail(ErrorCode::kInvalidArgument, std::move(why)); };
  p.method = stringParam(params, "method", "GET");
  static const std::set<std::string, std::less<>> kMethods = {"GET",   "POST",   "PUT",
                                                              "PATCH", "DELETE", "HEAD"};
  auto method = params.find("method");
  bool method_template = templates && method != params.end() && isTemplate(*method);
  if (!kMethods.count(p.method) && !method_template)
    return bad("method '" + p.method + "' must be one of GET, POST, PUT, PATCH, DELETE, HEAD");
  auto url = params.find("url");
  if (url == params.end() || !url->is_string()) return bad("'url' must be a string");
  p.url = url->get<std::string>();
  if (!(templates && isTemplate(*url)))
    if (auto s = checkHttpUrl(p.url, "url"); !s) return fail(s.error());
  auto headers = stringMapParam(params, "headers");
  if (!headers) return fail(headers.error());
  for (const auto& [k, v] : *headers)
    if (auto s = checkHeader(k, v); !s) return fail(s.error());
  p.headers = std::move(*headers);
  if (auto body = params.find("body"); body != params.end() && !body->is_null()) {
    if (!body->is_string()) return bad("'body' must be a string");
    p.body = body->get<std::string>();
  }
  auto expect = statusListParam(params, "expect_status");
  if (!expect) return fail(expect.error());
  p.expect = std::move(*expect);
  if (auto t = params.find("timeout"); !(templates && t != params.end() && isTemplate(*t))) {
    auto timeout = durationParam(params, "timeout", p.timeout);
    if (!timeout) return fail(timeout.error());
    if (timeout->count() <= 0) return bad("'timeout' must be more than 0s");
    p.timeout = *timeout;
  }
  auto max = sizeParam(params, "max_body", p.max_body, kMaxBodyLimit);
  if (!max) return fail(max.error());
  p.max_body = *max;
  if (auto f = params.find("follow_redirects"); f != params.end() && !f->is_null()) {
    if (!f->is_boolean()) return bad("'follow_redirects' must be true or false");
    p.follow_redirects = f->get<bool>();
  }
  return p;
}

class HttpRequestAction final : public core::ActionProvider {
 public:
  static constexpr const char* kName = "http.request";

  explicit HttpRequestAction(const core::ActionEnv& env)
      : blocking_(env.blocking), secrets_(env.secrets) {
    spec_.name = kName;
    spec_.summary = "Send an HTTP request and check its status";
    spec_.params = {
        {"method", ParamType::kString, false, "GET", "HTTP method",
         {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}},
        {"url", ParamType::kString, true, nullptr, "http:// or https:// URL", {}},
        {"headers", ParamType::kStringMap, false, nullptr,
         "request headers; a value may be a secret reference (env:NAME)", {}},
        {"body", ParamType::kString, false, nullptr, "request body, sent as is", {}},
        {"expect_status", ParamType::kIntOrIntList, false, nullptr,
         "status or statuses that count as success; any 2xx when absent", {}},
        {"timeout", ParamType::kDuration, false, "30s", "for the whole exchange", {}},
        {"max_body", ParamType::kInt, false, int64_t{1} << 20,
         "response body bytes kept in the output", {}},
        {"follow_redirects", ParamType::kBool, false, false, "follow up to 10 redirects", {}},
    };
    spec_.idempotent = false;
    spec_.step_may_declare_idempotent = true;
    spec_.phase = core::Phase::kObserve;
    spec_.outputs = {"status", "body", "headers", "duration_ms", "truncated"};
  }

  const core::ActionSpec& spec() const override { return spec_; }

  core::Status validate(const Json& params) const override {
    if (auto p = parseRequest(params, true); !p) return fail(p.error());
    return {};
  }

  core::awaitable<ActionResult> plan(const ActionRequest& request) override {
    try {
      auto p = parseRequest(request.params, false);
      if (!p) co_return ActionResult::permanent(describe(request, kName, p.error().message()));
      std::string plan = "would send " + p->method + " " + withoutUserinfo(p->url);
      if (!p->headers.empty()) {
        // Names only: values may be credentials.
        plan += " with headers";
        for (size_t i = 0; i < p->headers.size(); ++i)
          plan += (i ? ", " : " ") + p->headers[i].first;
      }
      if (p->body) plan += (p->headers.empty() ? " with a " : " and a ") +
                           std::to_string(p->body->size()) + "-byte body";
      plan += " (timeout " + durationText(request.params, "timeout", p->timeout) + ", expect " +
              expectedText(p->expect) + (p->follow_redirects ? ", following redirects" : "") +
              ")";
      co_return ActionResult::success(Json{{"plan", plan}}, describe(request, kName, "planned"));
    } catch (const std::exception& e) {
      co_return ActionResult::permanent(describe(request, kName, e.what()));
    }
  }

  core::awaitable<ActionResult> execute(const ActionRequest& request) override {
    try {
      co_return co_await run(request);
    } catch (const std::exception& e) {
      co_return ActionResult::permanent(describe(request, kName, e.what()));
    }
  }

 private:
  core::awaitable<ActionResult> run(const ActionRequest& request) {
    auto p = parseRequest(request.params, false);
    if (!p) co_return ActionResult::permanent(describe(request, kName, p.error().message()));
    if (!blocking_)
      co_return ActionResult::permanent(describe(request, kName, "no blocking thread pool"));
    std::vector<std::string> secrets;
    auto headers = resolveHeaders(p->headers, secrets_, secrets);
    if (!headers)
      co_return ActionResult::permanent(describe(request, kName, errorText(headers.error())));

    HttpCall call;
    call.method = p->method;
    call.url = p->url;
    call.headers = std::move(*headers);
    call.body = p->body;
    call.timeout = p->timeout;
    call.max_body = static_cast<size_t>(p->max_body);
    call.follow_redirects = p->follow_redirects;
    std::string target = p->method + " " + withoutUserinfo(p->url);
    call.cancel = request.cancel.get();
    auto r = co_await perform(*blocking_, call);
    if (!r) co_return transportFailure(request, kName, r.error(), target, secrets, Json::object());

    Json output{
        {"status", r->status},
        {"body", toValidUtf8(r->body)},
        {"headers", headersJson(r->headers)},
        {"duration_ms", r->duration.count()},
        {"truncated", r->truncated},
    };
    std::string what = target + " returned " + std::to_string(r->status);
    if (statusExpected(r->status, p->expect))
      co_return ActionResult::success(
          std::move(output),
          describe(request, kName, what + " in " + std::to_string(r->duration.count()) + "ms"));
    what += ", expected " + expectedText(p->expect);
    if (isRetryableStatus(r->status))
      co_return ActionResult::retryable(describe(request, kName, what), std::move(output));
    co_return ActionResult::permanent(describe(request, kName, what), std::move(output));
  }

  asio::thread_pool* blocking_;
  const core::SecretResolver* secrets_;
  core::ActionSpec spec_;
};

// ---------------------------------------------------------------------------------------------
// http.probe

struct ProbeParams {
  std::string url;
  std::vector<int> expect{200};
  std::chrono::milliseconds timeout{5000};
  std::optional<std::string> body_contains;
};

core::Result<ProbeParams> parseProbe(const Json& params, bool templates) {
  ProbeParams p;
  auto url = params.find("url");
  if (url == params.end() || !url->is_string())
    return fail(ErrorCode::kInvalidArgument, "'url' must be a string");
  p.url = url->get<std::string>();
  if (!(templates && isTemplate(*url)))
    if (auto s = checkHttpUrl(p.url, "url"); !s) return fail(s.error());
  auto expect = statusListParam(params, "expect_status");
  if (!expect) return fail(expect.error());
  if (*expect) p.expect = std::move(**expect);
  if (auto t = params.find("timeout"); !(templates && t != params.end() && isTemplate(*t))) {
    auto timeout = durationParam(params, "timeout", p.timeout);
    if (!timeout) return fail(timeout.error());
    if (timeout->count() <= 0)
      return fail(ErrorCode::kInvalidArgument, "'timeout' must be more than 0s");
    p.timeout = *timeout;
  }
  if (auto c = params.find("expect_body_contains"); c != params.end() && !c->is_null()) {
    if (!c->is_string())
      return fail(ErrorCode::kInvalidArgument, "'expect_body_contains' must be a string");
    p.body_contains = c->get<std::string>();
  }
  return p;
}

class HttpProbeAction final : public core::ActionProvider {
 public:
  static constexpr const char* kName = "http.probe";

  explicit HttpProbeAction(const core::ActionEnv& env) : blocking_(env.blocking) {
    spec_.name = kName;
    spec_.summary = "GET a URL and check its status (and optionally its body)";
    spec_.params = {
        {"url", ParamType::kString, true, nullptr, "http:// or https:// URL", {}},
        {"expect_status", ParamType::kIntOrIntList, false, 200,
         "status or statuses that count as healthy", {}},
        {"timeout", ParamType::kDuration, false, "5s", "for the whole exchange", {}},
        {"expect_body_contains", ParamType::kString, false, nullptr,
         "text the body (first 1 MiB) must contain", {}},
    };
    spec_.idempotent = true;
    spec_.phase = core::Phase::kObserve;
    spec_.outputs = {"status", "ok", "body", "duration_ms"};
  }

  const core::ActionSpec& spec() const override { return spec_; }

  core::Status validate(const Json& params) const override {
    if (auto p = parseProbe(params, true); !p) return fail(p.error());
    return {};
  }

  core::awaitable<ActionResult> plan(const ActionRequest& request) override {
    try {
      auto p = parseProbe(request.params, false);
      if (!p) co_return ActionResult::permanent(describe(request, kName, p.error().message()));
      std::string plan = "would GET " + withoutUserinfo(p->url) + " and expect status " +
                         expectedText(p->expect);
      if (p->body_contains) plan += " and a body containing '" + *p->body_contains + "'";
      plan += " (timeout " + durationText(request.params, "timeout", p->timeout) + ")";
      co_return ActionResult::success(Json{{"plan", plan}}, describe(request, kName, "planned"));
    } catch (const std::exception& e) {
      co_return ActionResult::permanent(describe(request, kName, e.what()));
    }
  }

  core::awaitable<ActionResult> execute(const ActionRequest& request) override {
    try {
      co_return co_await run(request);
    } catch (const std::exception& e) {
      co_return ActionResult::permanent(describe(request, kName, e.what()));
    }
  }

 private:
  core::awaitable<ActionResult> run(const ActionRequest& request) {
    auto p = parseProbe(request.params, false);
    if (!p) co_return ActionResult::permanent(describe(request, kName, p.error().message()));
    if (!blocking_)
      co_return ActionResult::permanent(describe(request, kName, "no blocking thread pool"));
    HttpCall call;
    call.url = p->url;
    call.timeout = p->timeout;
    call.max_body = p->body_contains ? kProbeBodyRead : kProbeBodyOutput;
    std::string target = "GET " + withoutUserinfo(p->url);
    call.cancel = request.cancel.get();
    auto r = co_await perform(*blocking_, call);
    if (!r)
      co_return transportFailure(request, kName, r.error(), target, {},
                                 Json{{"status", 0}, {"ok", false}, {"body", ""},
                                      {"duration_ms", 0}});

    std::string_view body(r->body);
    Json output{
        {"status", r->status},
        {"ok", false},
        {"body", toValidUtf8(body.substr(0, kProbeBodyOutput))},
        {"duration_ms", r->duration.count()},
    };
    std::optional<std::vector<int>> expect(p->expect);
    if (!statusExpected(r->status, expect))
      co_return ActionResult::permanent(
          describe(request, kName,
                   target + " returned " + std::to_string(r->status) + ", expected " +
                       expectedText(expect)),
          std::move(output));
    if (p->body_contains && body.find(*p->body_contains) == std::string_view::npos)
      co_return ActionResult::permanent(
          describe(request, kName,
                   target + " returned " + std::to_string(r->status) +
                       " but the body does not contain '" + *p->body_contains + "'"),
          std::move(output));
    output["ok"] = true;
    co_return ActionResult::success(
        std::move(output),
        describe(request, kName,
                 target + " returned " + std::to_string(r->status) + " in " +
                     std::to_string(r->duration.count()) + "ms"));
  }

  asio::thread_pool* blocking_;
  core::ActionSpec spec_;
};

// ---------------------------------------------------------------------------------------------
// notify.webhook

struct WebhookParams {
  std::string url;  // a secret reference or a literal URL; resolved only in execute()
  std::string text;
  Json payload;     // Slack-compatible: {"text": ..., "channel": ..., ...}
  std::chrono::milliseconds timeout{10'000};

  // How the URL appears in plans and messages: the reference, or a literal cut to its host
  // (a webhook URL's path is its credential).
  std::string display() const {
    return core::isSecretReference(url) ? url : redactUrl(url);
  }
};

core::Result<WebhookParams> parseWebhook(const Json& params, bool templates) {
  WebhookParams p;
  auto url = params.find("url");
  if (url == params.end() || !url->is_string())
    return fail(ErrorCode::kInvalidArgument, "'url' must be a secret reference or a URL");
  p.url = url->get<std::string>();
  if (!core::isSecretReference(p.url) && !(templates && isTemplate(*url)))
    if (auto s = checkHttpUrl(p.url, "url"); !s) return fail(s.error());
  auto text = params.find("text");
  if (text == params.end() || !text->is_string())
    return fail(ErrorCode::kInvalidArgument, "'text' must be a string");
  p.text = text->get<std::string>();
  p.payload = Json{{"text", p.text}};
  for (const char* field : {"channel", "username", "icon_emoji"}) {
    auto it = params.find(field);
    if (it == params.end() || it->is_null()) continue;
    if (!it->is_string())
      return fail(ErrorCode::kInvalidArgument, std::string("'") + field + "' must be a string");
    p.payload[field] = *it;
  }
  if (auto t = params.find("timeout"); !(templates && t != params.end() && isTemplate(*t))) {
    auto timeout = durationParam(params, "timeout", p.timeout);
    if (!timeout) return fail(timeout.error());
    if (timeout->count() <= 0)
      return fail(ErrorCode::kInvalidArgument, "'timeout' must be more than 0s");
    p.timeout = *timeout;
  }
  return p;
}

class WebhookAction final : public core::ActionProvider {
 public:
  static constexpr const char* kName = "notify.webhook";

  explicit WebhookAction(const core::ActionEnv& env)
      : blocking_(env.blocking), secrets_(env.secrets) {
    spec_.name = kName;
    spec_.summary = "Post a Slack-compatible message to a webhook";
    spec_.params = {
        {"url", ParamType::kSecret, true, nullptr,
         "webhook URL, best as a secret reference such as env:SLACK_WEBHOOK_URL", {}},
        {"text", ParamType::kString, true, nullptr, "message text", {}},
        {"channel", ParamType::kString, false, nullptr, "channel override", {}},
        {"username", ParamType::kString, false, nullptr, "sender name override", {}},
        {"icon_emoji", ParamType::kString, false, nullptr, "sender icon, e.g. :fire:", {}},
        {"timeout", ParamType::kDuration, false, "10s", "for the whole exchange", {}},
    };
    spec_.idempotent = false;  // a second post is a second message
    spec_.step_may_declare_idempotent = true;
    spec_.phase = core::Phase::kNotify;
    spec_.outputs = {"status"};
  }

  const core::ActionSpec& spec() const override { return spec_; }

  core::Status validate(const Json& params) const override {
    if (auto p = parseWebhook(params, true); !p) return fail(p.error());
    return {};
  }

  core::awaitable<ActionResult> plan(const ActionRequest& request) override {
    try {
      auto p = parseWebhook(request.params, false);
      if (!p) co_return ActionResult::permanent(describe(request, kName, p.error().message()));
      co_return ActionResult::success(Json{{"plan", "would post to " + p->display() + ": " +
                                                        p->text}},
                                      describe(request, kName, "planned"));
    } catch (const std::exception& e) {
      co_return ActionResult::permanent(describe(request, kName, e.what()));
    }
  }

  core::awaitable<ActionResult> execute(const ActionRequest& request) override {
    try {
      co_return co_await run(request);
    } catch (const std::exception& e) {
      co_return ActionResult::permanent(describe(request, kName, e.what()));
    }
  }

 private:
  core::awaitable<ActionResult> run(const ActionRequest& request) {
    auto p = parseWebhook(request.params, false);
    if (!p) co_return ActionResult::permanent(describe(request, kName, p.error().message()));
    if (!blocking_)
      co_return ActionResult::permanent(describe(request, kName, "no blocking thread pool"));
    std::string target = "POST to " + p->display();
    std::string url = p->url;
    // A literal webhook URL is a credential as much as a resolved one.
    std::vector<std::string> secrets{p->url};
    if (core::isSecretReference(p->url)) {
      if (!secrets_)
        co_return ActionResult::permanent(
            describe(request, kName, p->url + " needs a secret resolver; none is configured"));
      auto resolved = secrets_->resolve(p->url);
      if (!resolved)
        co_return ActionResult::permanent(describe(
            request, kName, "resolving " + p->url + ": " + errorText(resolved.error())));
      url = std::move(*resolved);
      secrets = {url};
      // The check's message names the reference, never the URL it resolved to.
      if (auto s = checkHttpUrl(url, "the URL in " + p->url); !s)
        co_return ActionResult::permanent(describe(request, kName, s.error().message()));
    }

    HttpCall call;
    call.method = "POST";
    call.url = std::move(url);
    call.headers = {{"Content-Type", "application/json"}};
    call.body = p->payload.dump(-1, ' ', false, Json::error_handler_t::replace);
    call.timeout = p->timeout;
    call.max_body = 4096;
    call.cancel = request.cancel.get();
    auto r = co_await perform(*blocking_, call);
    if (!r) co_return transportFailure(request, kName, r.error(), target, secrets, Json::object());

    Json output{{"status", r->status}};
    std::string what = target + " returned " + std::to_string(r->status);
    if (r->status >= 200 && r->status <= 299)
      co_return ActionResult::success(std::move(output), describe(request, kName, what));
    what += ", expected 2xx";
    if (isRetryableStatus(r->status))
      co_return ActionResult::retryable(describe(request, kName, what), std::move(output));
    co_return ActionResult::permanent(describe(request, kName, what), std::move(output));
  }

  asio::thread_pool* blocking_;
  const core::SecretResolver* secrets_;
  core::ActionSpec spec_;
};

}  // namespace

std::unique_ptr<core::ActionProvider> makeHttpRequestAction(const core::ActionEnv& env) {
  return std::make_unique<HttpRequestAction>(env);
}
std::unique_ptr<core::ActionProvider> makeHttpProbeAction(const core::ActionEnv& env) {
  return std::make_unique<HttpProbeAction>(env);
}
std::unique_ptr<core::ActionProvider> makeWebhookAction(const core::ActionEnv& env) {
  return std::make_unique<WebhookAction>(env);
}

}  // namespace firebreak::actions::builtin
