// http.request, http.probe, notify.webhook and httpCall() against a scripted HTTP server on
// 127.0.0.1 (an OS-assigned port, a plain socket per connection).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "actions/builtin/builtin.h"
#include "actions/builtin/http_client.h"
#include "tests/fakes/test_env.h"

namespace firebreak::actions::builtin {
namespace {

namespace fbt = firebreak::testing;
using core::ActionResult;
using core::Json;
using Outcome = core::ActionResult::Outcome;

struct SeenRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};

struct Reply {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool hang = false;  // never answer; hold the connection until the client gives up
};

class TestHttpServer {
 public:
  using Handler = std::function<Reply(const SeenRequest&)>;

  explicit TestHttpServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 16) != 0)
      throw std::runtime_error("test server cannot listen");
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }

  ~TestHttpServer() {
    stop_ = true;
    acceptor_.join();
    std::vector<std::thread> connections;
    {
      std::lock_guard lock(mutex_);  // serve() takes it too: join outside
      connections.swap(connections_);
    }
    for (auto& t : connections) t.join();
    ::close(listen_fd_);
  }

  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int port() const { return port_; }

  std::vector<SeenRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void acceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mutex_);
      connections_.emplace_back([this, fd] { serve(fd); });
    }
  }

  // Reads with a short poll so the destructor is never stuck behind a silent client.
  bool readSome(int fd, std::string& buf) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char chunk[4096];
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n <= 0) return false;
      buf.append(chunk, static_cast<size_t>(n));
      return true;
    }
    return false;
  }

  void serve(int fd) {
    std::string buf;
    size_t header_end;
    while ((header_end = buf.find("\r\n\r\n")) == std::string::npos)
      if (!readSome(fd, buf)) return (void)::close(fd);
    SeenRequest req;
    std::istringstream head(buf.substr(0, header_end));
    std::string line;
    std::getline(head, line);
    std::istringstream request_line(line);
    request_line >> req.method >> req.target;
    while (std::getline(head, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      req.headers[name] = value;
    }
    size_t length = req.headers.count("content-length") ? std::stoul(req.headers["content-length"])
                                                        : 0;
    req.body = buf.substr(header_end + 4);
    while (req.body.size() < length)
      if (!readSome(fd, req.body)) break;
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(req);
    }
    Reply reply = handler_(req);
    if (reply.hang) {
      std::string ignored;
      while (readSome(fd, ignored)) {
      }
      ::close(fd);
      return;
    }
    std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " Scripted\r\n";
    for (const auto& [k, v] : reply.headers) out += k + ": " + v + "\r\n";
    out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\nConnection: close\r\n\r\n";
    if (req.method != "HEAD") out += reply.body;
    for (size_t sent = 0; sent < out.size();) {
      ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    ::close(fd);
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::vector<std::thread> connections_;
  std::vector<SeenRequest> requests_;
};

// A loopback port nothing listens on.
int closedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class HttpActionsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // A proxy configured in the environment must not capture loopback test traffic.
    ::setenv("no_proxy", "127.0.0.1,localhost", 1);
    ::setenv("NO_PROXY", "127.0.0.1,localhost", 1);
  }

  void SetUp() override {
    env_.blocking = &pool_;
    env_.secrets = &secrets_;
    ASSERT_TRUE(registerActions(registry_, env_));
  }

  ActionResult call(const std::string& action, Json params, bool plan = false,
                    std::shared_ptr<core::CancelFlag> cancel = nullptr) {
    auto* provider = registry_.find(action);
    EXPECT_NE(provider, nullptr) << action;
    auto issues = core::checkParams(provider->spec(), params, false, true);
    EXPECT_TRUE(issues.empty()) << issues.front().message;
    auto valid = provider->validate(params);
    EXPECT_TRUE(valid) << valid.error().message();
    core::ActionRequest request;
    request.step_id = "tell";
    request.attempt = 3;
    request.params = std::move(params);
    if (cancel) request.cancel = cancel;
    return fbt::runAwaitable(plan ? provider->plan(request) : provider->execute(request));
  }

  std::string validateError(const std::string& action, const Json& params) {
    auto s = registry_.find(action)->validate(params);
    return s ? std::string() : s.error().message();
  }

  asio::thread_pool pool_{2};
  fbt::MapSecretResolver secrets_;
  core::ActionEnv env_;
  core::ProviderRegistry registry_;
};

Reply status(int code, std::string body = {}) {
  Reply r;
  r.status = code;
  r.body = std::move(body);
  return r;
}

// ---- http.request

TEST_F(HttpActionsTest, GetSucceedsWithStatusBodyAndHeaders) {
  TestHttpServer server([](const SeenRequest&) {
    Reply r = status(200, "hello");
    r.headers = {{"X-Test", "one"}, {"X-Test", "two"}, {"Content-Type", "text/plain"}};
    return r;
  });
  auto r = call("http.request", {{"url", server.url("/health?x=1")}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["status"], 200);
  EXPECT_EQ(r.output["body"], "hello");
  EXPECT_EQ(r.output["headers"]["x-test"], "one, two");
  EXPECT_EQ(r.output["headers"]["content-type"], "text/plain");
  EXPECT_EQ(r.output["truncated"], false);
  EXPECT_TRUE(r.output["duration_ms"].is_number_integer());
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].method, "GET");
  EXPECT_EQ(server.requests()[0].target, "/health?x=1");
  EXPECT_NE(r.message.find("http.request: GET " + server.url("/health?x=1") + " returned 200"),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("(step tell, attempt 3)"), std::string::npos) << r.message;
}

TEST_F(HttpActionsTest, PostSendsBodyAndHeadersAndAcceptsListedStatus) {
  TestHttpServer server([](const SeenRequest&) { return status(204); });
  auto r = call("http.request", {{"method", "POST"},
                                 {"url", server.url("/api/items")},
                                 {"headers", {{"Content-Type", "application/json"}}},
                                 {"body", R"({"a":1})"},
                                 {"expect_status", {200, 204}}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["status"], 204);
  auto seen = server.requests().at(0);
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.body, R"({"a":1})");
  EXPECT_EQ(seen.headers["content-type"], "application/json");
  EXPECT_EQ(seen.headers.count("expect"), 0u);
}

TEST_F(HttpActionsTest, PutPatchDeleteHead) {
  TestHttpServer server([](const SeenRequest&) { return status(200, "body"); });
  for (std::string method : {"PUT", "PATCH", "DELETE", "HEAD"}) {
    SCOPED_TRACE(method);
    auto r = call("http.request", {{"method", method}, {"url", server.url("/x")}});
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(server.requests().back().method, method);
    EXPECT_EQ(r.output["body"], method == "HEAD" ? "" : "body");
  }
}

TEST_F(HttpActionsTest, ServerErrorAndThrottlingAreRetryable) {
  TestHttpServer server([](const SeenRequest& req) {
    return status(req.target == "/busy" ? 429 : 503, "try later");
  });
  auto r = call("http.request", {{"url", server.url("/down")}});
  EXPECT_EQ(r.outcome, Outcome::kRetryable);
  EXPECT_EQ(r.output["status"], 503);
  EXPECT_EQ(r.output["body"], "try later");
  EXPECT_EQ(r.message, "http.request: GET " + server.url("/down") +
                           " returned 503, expected 2xx (step tell, attempt 3)");
  r = call("http.request", {{"url", server.url("/busy")}});
  EXPECT_EQ(r.outcome, Outcome::kRetryable);
}

TEST_F(HttpActionsTest, ClientErrorIsPermanent) {
  TestHttpServer server([](const SeenRequest&) { return status(404, "no such thing"); });
  auto r = call("http.request", {{"url", server.url("/missing")}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_EQ(r.output["status"], 404);
  EXPECT_NE(r.message.find("returned 404, expected 2xx"), std::string::npos) << r.message;
  // ...unless the step expects it.
  r = call("http.request", {{"url", server.url("/missing")}, {"expect_status", 404}});
  EXPECT_TRUE(r.ok()) << r.message;
}

TEST_F(HttpActionsTest, UnexpectedSuccessStatusIsPermanent) {
  TestHttpServer server([](const SeenRequest&) { return status(200); });
  auto r = call("http.request", {{"url", server.url("/")}, {"expect_status", {201, 202, 204}}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_NE(r.message.find("returned 200, expected 201, 202 or 204"), std::string::npos)
      << r.message;
}

TEST_F(HttpActionsTest, TimeoutIsRetryable) {
  TestHttpServer server([](const SeenRequest&) {
    Reply r;
    r.hang = true;
    return r;
  });
  auto start = std::chrono::steady_clock::now();
  auto r = call("http.request", {{"url", server.url("/slow")}, {"timeout", "300ms"}});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(r.outcome, Outcome::kRetryable);
  EXPECT_NE(r.message.find("Timeout was reached"), std::string::npos) << r.message;
}

TEST_F(HttpActionsTest, ConnectionRefusedIsRetryable) {
  auto r = call("http.request",
                {{"url", "http://127.0.0.1:" + std::to_string(closedPort()) + "/"}});
  EXPECT_EQ(r.outcome, Outcome::kRetryable);
  EXPECT_NE(r.message.find("Couldn't connect to server"), std::string::npos) << r.message;
}

TEST_F(HttpActionsTest, CancelAbortsTheTransfer) {
  TestHttpServer server([](const SeenRequest&) {
    Reply r;
    r.hang = true;
    return r;
  });
  auto cancel = std::make_shared<core::CancelFlag>();
  std::thread canceller([&] {
    auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (server.requests().empty() && std::chrono::steady_clock::now() < limit)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    cancel->cancel();
  });
  auto start = std::chrono::steady_clock::now();
  auto r = call("http.request", {{"url", server.url("/")}, {"timeout", "30s"}}, false, cancel);
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(r.outcome, Outcome::kRetryable);
  EXPECT_NE(r.message.find("cancelled"), std::string::npos) << r.message;
}

TEST_F(HttpActionsTest, SecretHeaderIsResolvedAndNeverReported) {
  secrets_.values["API_TOKEN"] = "Bearer s3cr3t-value";
  TestHttpServer server([](const SeenRequest&) { return status(500); });
  auto r = call("http.request",
                {{"url", server.url("/")}, {"headers", {{"Authorization", "env:API_TOKEN"}}}});
  EXPECT_EQ(r.outcome, Outcome::kRetryable);
  EXPECT_EQ(server.requests().at(0).headers["authorization"], "Bearer s3cr3t-value");
  EXPECT_EQ(r.output.dump().find("s3cr3t"), std::string::npos);
  EXPECT_EQ(r.message.find("s3cr3t"), std::string::npos);

  auto plan = call("http.request",
                   {{"url", server.url("/")}, {"headers", {{"Authorization", "env:API_TOKEN"}}}},
                   true);
  EXPECT_EQ(plan.output.dump().find("s3cr3t"), std::string::npos);
}

TEST_F(HttpActionsTest, MissingSecretIsPermanent) {
  TestHttpServer server([](const SeenRequest&) { return status(200); });
  auto r = call("http.request",
                {{"url", server.url("/")}, {"headers", {{"Authorization", "env:NOPE"}}}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_NE(r.message.find("environment variable NOPE is not set"), std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("resolving header 'Authorization'"), std::string::npos) << r.message;
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpActionsTest, BodyIsTruncatedToMaxBody) {
  TestHttpServer server([](const SeenRequest&) { return status(200, std::string(100000, 'b')); });
  auto r = call("http.request", {{"url", server.url("/")}, {"max_body", 100}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["body"], std::string(100, 'b'));
  EXPECT_EQ(r.output["truncated"], true);
}

TEST_F(HttpActionsTest, RedirectsAreFollowedOnlyWhenAsked) {
  TestHttpServer server([&](const SeenRequest& req) {
    if (req.target == "/start") {
      Reply r = status(302);
      r.headers = {{"Location", "/final"}};
      return r;
    }
    return status(200, "final");
  });
  auto r = call("http.request", {{"url", server.url("/start")}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_EQ(r.output["status"], 302);
  EXPECT_EQ(r.output["headers"]["location"], "/final");
  r = call("http.request", {{"url", server.url("/start")}, {"follow_redirects", true}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["body"], "final");
  EXPECT_EQ(r.output["headers"].count("location"), 0u);  // headers of the final response
  EXPECT_EQ(server.requests().back().target, "/final");
}

TEST_F(HttpActionsTest, PlanSendsNothing) {
  TestHttpServer server([](const SeenRequest&) { return status(200); });
  auto r = call("http.request",
                {{"method", "POST"},
                 {"url", server.url("/x")},
                 {"headers", {{"Authorization", "env:T"}}},
                 {"body", "12345"},
                 {"expect_status", {200, 204}}},
                true);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["plan"], "would send POST " + server.url("/x") +
                                  " with headers Authorization and a 5-byte body (timeout 30s, "
                                  "expect 200 or 204)");
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpActionsTest, ValidateRejectsOtherSchemesAndHeaderInjection) {
  EXPECT_EQ(validateError("http.request", {{"url", "ftp://example.com/x"}}),
            "url must be an http:// or https:// URL");
  EXPECT_EQ(validateError("http.request", {{"url", "file:///etc/passwd"}}),
            "url must be an http:// or https:// URL");
  EXPECT_EQ(validateError("http.request",
                          {{"url", "https://x"}, {"headers", {{"X-A", "v\r\nX-Evil: 1"}}}}),
            "header 'X-A' value must not contain CR, LF or NUL");
  EXPECT_EQ(validateError("http.request", {{"url", "https://x"}, {"expect_status", 99}}),
            "parameter 'expect_status' must hold HTTP statuses (100..599), not 99");
  EXPECT_EQ(validateError("http.request", {{"url", "https://x"}}), "");
}

// ---- http.probe

TEST_F(HttpActionsTest, ProbeHealthy) {
  TestHttpServer server([](const SeenRequest&) { return status(200, R"({"status":"healthy"})"); });
  auto r =
      call("http.probe", {{"url", server.url("/health")}, {"expect_body_contains", "healthy"}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["ok"], true);
  EXPECT_EQ(r.output["status"], 200);
  EXPECT_EQ(r.output["body"], R"({"status":"healthy"})");
}

TEST_F(HttpActionsTest, ProbeFailuresArePermanent) {
  TestHttpServer server([](const SeenRequest& req) {
    return req.target == "/down" ? status(503, "down") : status(200, "degraded");
  });
  auto r = call("http.probe", {{"url", server.url("/down")}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_EQ(r.output["ok"], false);
  EXPECT_EQ(r.output["status"], 503);
  EXPECT_EQ(r.message, "http.probe: GET " + server.url("/down") +
                           " returned 503, expected 200 (step tell, attempt 3)");
  r = call("http.probe", {{"url", server.url("/up")}, {"expect_body_contains", "healthy"}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_EQ(r.output["ok"], false);
  EXPECT_NE(r.message.find("the body does not contain 'healthy'"), std::string::npos);
}

TEST_F(HttpActionsTest, ProbeConnectionFailureIsRetryable) {
  auto r = call("http.probe",
                {{"url", "http://127.0.0.1:" + std::to_string(closedPort()) + "/health"}});
  EXPECT_EQ(r.outcome, Outcome::kRetryable);
  EXPECT_EQ(r.output["ok"], false);
}

TEST_F(HttpActionsTest, ProbeBodyOutputIsCutTo4KiB) {
  std::string body(10000, 'x');
  body.append("needle");
  TestHttpServer server([body](const SeenRequest&) { return status(200, body); });
  auto r = call("http.probe", {{"url", server.url("/")}, {"expect_body_contains", "needle"}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["body"].get<std::string>().size(), 4096u);
}

TEST_F(HttpActionsTest, ProbePlan) {
  auto r = call("http.probe", {{"url", "http://127.0.0.1:8080/health"}}, true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.output["plan"],
            "would GET http://127.0.0.1:8080/health and expect status 200 (timeout 5s)");
}

// ---- notify.webhook

TEST_F(HttpActionsTest, WebhookPostsSlackJsonToTheResolvedUrl) {
  TestHttpServer server([](const SeenRequest&) { return status(200, "ok"); });
  secrets_.values["SLACK_WEBHOOK_URL"] = server.url("/services/T000/B000/XXXXSECRET");
  auto r = call("notify.webhook", {{"url", "env:SLACK_WEBHOOK_URL"},
                                   {"text", "Contained fn-1 \"quoted\""},
                                   {"channel", "#ops"},
                                   {"icon_emoji", ":fire:"}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output, (Json{{"status", 200}}));
  EXPECT_EQ(r.message,
            "notify.webhook: POST to env:SLACK_WEBHOOK_URL returned 200 (step tell, attempt 3)");
  auto seen = server.requests().at(0);
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.target, "/services/T000/B000/XXXXSECRET");
  EXPECT_EQ(seen.headers["content-type"], "application/json");
  EXPECT_EQ(Json::parse(seen.body), (Json{{"text", "Contained fn-1 \"quoted\""},
                                          {"channel", "#ops"},
                                          {"icon_emoji", ":fire:"}}));
  EXPECT_EQ(r.output.dump().find("XXXXSECRET"), std::string::npos);
}

TEST_F(HttpActionsTest, WebhookFailuresNameTheReferenceNotTheUrl) {
  TestHttpServer server([](const SeenRequest& req) {
    return status(req.target.find("gone") != std::string::npos ? 404 : 500);
  });
  secrets_.values["HOOK"] = server.url("/hook/XXXXSECRET");
  auto r = call("notify.webhook", {{"url", "env:HOOK"}, {"text", "hi"}});
  EXPECT_EQ(r.outcome, Outcome::kRetryable);
  EXPECT_EQ(r.message,
            "notify.webhook: POST to env:HOOK returned 500, expected 2xx (step tell, attempt 3)");
  secrets_.values["HOOK"] = server.url("/gone/XXXXSECRET");
  r = call("notify.webhook", {{"url", "env:HOOK"}, {"text", "hi"}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_EQ(r.message.find("XXXXSECRET"), std::string::npos);

  secrets_.values["HOOK"] = "http://127.0.0.1:" + std::to_string(closedPort()) + "/XXXXSECRET";
  r = call("notify.webhook", {{"url", "env:HOOK"}, {"text", "hi"}});
  EXPECT_EQ(r.outcome, Outcome::kRetryable);
  EXPECT_NE(r.message.find("POST to env:HOOK: "), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("XXXXSECRET"), std::string::npos) << r.message;

  secrets_.values["HOOK"] = "ftp://example.com/XXXXSECRET";
  r = call("notify.webhook", {{"url", "env:HOOK"}, {"text", "hi"}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_EQ(r.message,
            "notify.webhook: the URL in env:HOOK must be an http:// or https:// URL "
            "(step tell, attempt 3)");
}

TEST_F(HttpActionsTest, WebhookMissingSecretIsPermanent) {
  auto r = call("notify.webhook", {{"url", "env:SLACK_WEBHOOK_URL"}, {"text", "hi"}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_NE(r.message.find("environment variable SLACK_WEBHOOK_URL is not set"),
            std::string::npos)
      << r.message;
}

TEST_F(HttpActionsTest, WebhookPlanShowsTheReference) {
  secrets_.values["SLACK_WEBHOOK_URL"] = "https://hooks.slack.com/services/XXXXSECRET";
  auto r = call("notify.webhook", {{"url", "env:SLACK_WEBHOOK_URL"}, {"text", "Contained fn"}},
                true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.output["plan"], "would post to env:SLACK_WEBHOOK_URL: Contained fn");
  // A literal URL is shown without its path: the path of a webhook URL is its credential.
  r = call("notify.webhook",
           {{"url", "https://hooks.slack.com/services/XXXXSECRET"}, {"text", "hi"}}, true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.output["plan"], "would post to https://hooks.slack.com/...: hi");
}

TEST_F(HttpActionsTest, WebhookLiteralUrl) {
  TestHttpServer server([](const SeenRequest&) { return status(200); });
  auto r = call("notify.webhook", {{"url", server.url("/literal/XXXXSECRET")}, {"text", "hi"}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.message.find("XXXXSECRET"), std::string::npos) << r.message;
  EXPECT_EQ(server.requests().at(0).target, "/literal/XXXXSECRET");
  EXPECT_EQ(validateError("notify.webhook", {{"url", "ftp://x/y"}, {"text", "hi"}}),
            "url must be an http:// or https:// URL");
}

// ---- httpCall, the shared client

TEST_F(HttpActionsTest, HttpCallIsGeneral) {
  TestHttpServer server([](const SeenRequest& req) {
    Reply r = status(201, "method=" + req.method + " body=" + req.body);
    r.headers = {{"X-Request-Id", "abc"}};
    return r;
  });
  HttpCall call;
  call.method = "PUT";
  call.url = server.url("/thing");
  call.headers = {{"X-Amz-Date", "20260101T000000Z"}, {"X-Empty", ""}};
  call.body = std::string("a\0b", 3);
  call.timeout = std::chrono::seconds(5);
  auto r = httpCall(call);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, std::string("method=PUT body=a\0b", 19));
  EXPECT_EQ(r->headers.at("x-request-id"), "abc");
  EXPECT_FALSE(r->truncated);
  auto seen = server.requests().at(0);
  EXPECT_EQ(seen.headers["x-amz-date"], "20260101T000000Z");
  EXPECT_EQ(seen.headers.count("x-empty"), 1u);

  call.url = "ftp://127.0.0.1/";
  r = httpCall(call);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), core::ErrorCode::kInvalidArgument);
  EXPECT_FALSE(isTransient(r.error()));
}

}  // namespace
}  // namespace firebreak::actions::builtin
