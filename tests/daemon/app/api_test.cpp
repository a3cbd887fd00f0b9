// The management API as a function of a request: tokens and roles on every route, strict
// request reading, silences, manual runs and approvals against a real SQLite store and the
// real engine; and docs/openapi.yaml describing exactly the routes the server has.
#include "daemon/app/api.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <cstring>
#include <set>
#include <sstream>

#include "daemon/playbook/loader.h"
#include "daemon/store/sqlite/sqlite_store.h"
#include "tests/fakes/fake_provider.h"
#include "tests/fakes/test_env.h"

namespace firebreak::app {
namespace {

using config::Role;
using core::Json;
namespace bhttp = boost::beast::http;

constexpr const char* kViewer = "viewer-secret-0001";
constexpr const char* kResponder = "responder-secret-0002";
constexpr const char* kAdmin = "admin-secret-0003";

std::vector<config::ApiToken> tokens() {
  return {{"dashboard", sha256Hex(kViewer), Role::kViewer},
          {"oncall", sha256Hex(kResponder), Role::kResponder},
          {"lead", sha256Hex(kAdmin), Role::kAdmin}};
}

TEST(TokenAuth, AcceptsOnlyTheRightBearerTokenAndNamesIt) {
  auto auth = TokenAuth::create(tokens());
  ASSERT_TRUE(auth) << auth.error().str();
  auto who = auth->authenticate(std::string("Bearer ") + kResponder);
  ASSERT_TRUE(who);
  EXPECT_EQ(who->name, "oncall");
  EXPECT_EQ(who->role, Role::kResponder);
  EXPECT_EQ(auth->authenticate(std::string("Bearer ") + kAdmin)->name, "lead");
  EXPECT_FALSE(auth->authenticate(std::string("Bearer ") + kResponder + "x"));
  EXPECT_FALSE(auth->authenticate(std::string("bearer ") + kResponder));
  EXPECT_FALSE(auth->authenticate(std::string("Basic ") + kResponder));
  EXPECT_FALSE(auth->authenticate("Bearer "));
  EXPECT_FALSE(auth->authenticate(""));
  // The digest is what is compared: the hex of the token is not the token.
  EXPECT_FALSE(auth->authenticate("Bearer " + sha256Hex(kResponder)));
}

TEST(TokenAuth, RefusesADigestThatIsNotHex) {
  auto auth = TokenAuth::create({{"x", std::string(63, 'a') + "z", Role::kViewer}});
  ASSERT_FALSE(auth);
  EXPECT_EQ(auth.error().message(), "api.tokens 'x': sha256 is not 64 hex digits");
}

TEST(TokenAuth, Sha256HexIsTheStandardDigest) {
  // printf %s abc | sha256sum
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Roles, AreOrdered) {
  EXPECT_TRUE(allows(Role::kAdmin, Role::kResponder));
  EXPECT_TRUE(allows(Role::kResponder, Role::kResponder));
  EXPECT_FALSE(allows(Role::kViewer, Role::kResponder));
  EXPECT_FALSE(allows(Role::kResponder, Role::kAdmin));
  EXPECT_EQ(parseRole("admin"), Role::kAdmin);
  EXPECT_FALSE(parseRole("root"));
}

TEST(RequestParsing, BodiesAreObjectsWithKnownFieldsOnly) {
  EXPECT_EQ(*parseBody("", {"a"}), Json::object());
  EXPECT_EQ(*parseBody(R"({"a": 1})", {"a"}), (Json{{"a", 1}}));
  auto unknown = parseBody(R"({"a": 1, "dry_rnu": true})", {"a", "dry_run"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().status, 400u);
  EXPECT_EQ(unknown.error().field, "dry_rnu");
  EXPECT_EQ(unknown.error().message, "unknown field 'dry_rnu'");
  EXPECT_EQ(parseBody("[1]", {}).error().message, "body must be a JSON object");
  EXPECT_EQ(parseBody("{", {}).error().message, "body is not valid JSON");
  std::string deep = std::string(kMaxApiDepth + 1, '[') + std::string(kMaxApiDepth + 1, ']');
  EXPECT_EQ(parseBody("{\"a\":" + deep + "}", {"a"}).error().message,
            "body nested deeper than 16 levels");
  // Brackets inside strings are not nesting.
  EXPECT_TRUE(parseBody(R"({"a": ")" + std::string(100, '[') + R"("})", {"a"}));
  EXPECT_EQ(parseBody(std::string(kMaxApiBody + 1, ' '), {}).error().status, 413u);
}

TEST(RequestParsing, TypedFieldsSayWhichFieldIsWrong) {
  Json body{{"name", 3}, {"flag", "yes"}, {"params", Json::array()}};
  EXPECT_EQ(stringField(body, "name", true).error().message, "'name' must be a string");
  EXPECT_EQ(stringField(body, "other", true).error().field, "other");
  EXPECT_EQ(*stringField(body, "other", false), "");
  EXPECT_EQ(boolField(body, "flag", false).error().field, "flag");
  EXPECT_EQ(objectField(body, "params").error().message, "'params' must be an object");
  EXPECT_EQ(stringField(Json{{"s", std::string(20, 'x')}}, "s", true, 10).error().message,
            "'s' is over 10 bytes");
}

TEST(RequestParsing, QueriesHoldKnownParametersOnce) {
  auto q = parseQuery("status=open&incident=inc%2D1&x=a+b", {"status", "incident", "x"});
  ASSERT_TRUE(q);
  EXPECT_EQ(q->at("incident"), "inc-1");
  EXPECT_EQ(q->at("x"), "a b");
  EXPECT_EQ(parseQuery("stauts=open", {"status"}).error().field, "stauts");
  EXPECT_EQ(parseQuery("status=a&status=b", {"status"}).error().message,
            "query parameter 'status' given twice");
  EXPECT_FALSE(parseQuery("status=%zz", {"status"}));
  EXPECT_FALSE(parseQuery("status=%4", {"status"}));
  EXPECT_EQ(intParam({{"limit", "0"}}, "limit", 5, 10).error().field, "limit");
  EXPECT_EQ(*intParam({}, "limit", 5, 10), 5);
}

// Every route the server has is in docs/openapi.yaml with the same role, and every path and
// method there is a route.
TEST(OpenApi, DescribesExactlyTheRoutesTheServerHas) {
  YAML::Node doc = YAML::LoadFile(testing::sourceDir() + "/docs/openapi.yaml");
  ASSERT_EQ(doc["openapi"].as<std::string>().substr(0, 4), "3.0.");
  std::set<std::string> documented;
  std::map<std::string, std::string> roles;
  for (const auto& path : doc["paths"]) {
    for (const auto& op : path.second) {
      std::string method = op.first.as<std::string>();
      if (method == "parameters") continue;
      for (auto& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      std::string key = method + " " + path.first.as<std::string>();
      documented.insert(key);
      ASSERT_TRUE(op.second["x-firebreak-role"]) << key << " has no x-firebreak-role";
      roles[key] = op.second["x-firebreak-role"].as<std::string>();
      EXPECT_TRUE(op.second["responses"]) << key << " has no responses";
      EXPECT_TRUE(op.second["operationId"]) << key << " has no operationId";
    }
  }
  std::set<std::string> served;
  for (const auto& r : Api::routes()) {
    std::string key = std::string(r.method) + " " + r.path;
    served.insert(key);
    if (roles.count(key)) {
      EXPECT_EQ(roles[key], config::roleName(r.role)) << key;
    }
  }
  for (const auto& k : served) {
    EXPECT_TRUE(documented.count(k)) << k << " is not in openapi.yaml";
  }
  for (const auto& k : documented) {
    EXPECT_TRUE(served.count(k)) << k << " is not served";
  }
  EXPECT_FALSE(served.empty());
}

constexpr const char* kManual = R"(apiVersion: firebreak/v1
kind: Playbook
metadata: { name: manual-check }
params:
  target: { default: "db-1" }
steps:
  - { id: act, action: test.ok, with: { value: "{{ params.target }}" } }
)";

constexpr const char* kGated = R"(apiVersion: firebreak/v1
kind: Playbook
metadata: { name: gated }
steps:
  - id: ok
    approval: { role: responder, timeout: 10m }
  - id: boss
    approval: { role: admin, timeout: 10m }
  - { id: act, action: test.ok }
)";

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        registry_.add(std::make_unique<testing::FakeProvider>(testing::fakeSpec("test.ok"))));
    auto s = store::SqliteStore::open(dir_.file("firebreak.db"), clock_, {});
    ASSERT_TRUE(s) << s.error().str();
    store_ = std::move(*s);
    for (const char* text : {kManual, kGated}) {
      auto pb = playbook::compilePlaybook(text, "test.yaml", registry_);
      ASSERT_TRUE(pb) << pb.error().front().str();
      playbooks_.push_back(*pb);
    }
    playbook::EngineOptions options;
    options.poll_interval = std::chrono::milliseconds(10);
    log_ = std::make_shared<spdlog::logger>(
        "api-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(logged_));
    log_->set_level(spdlog::level::debug);
    engine_ = std::make_unique<playbook::Engine>(io_.get_executor(), *store_, registry_, clock_,
                                                 options, log_);
    intake_ = std::make_unique<intake::Intake>(*store_, *engine_, clock_,
                                               [this] { return playbooks_; }, log_);
    config::Config cfg;
    cfg.api.tokens = tokens();
    auto api = Api::create(cfg, *store_, *engine_, *intake_, clock_,
                           [this] { return playbooks_; }, log_);
    ASSERT_TRUE(api) << api.error().str();
    api_ = std::move(*api);
  }

  void TearDown() override {
    engine_->shutdown();
    io_.restart();
    io_.run_for(std::chrono::seconds(2));
    std::string logs = logged_.str();
    for (const char* t : {kViewer, kResponder, kAdmin})
      EXPECT_EQ(logs.find(t), std::string::npos) << "a token reached the log";
  }

  struct Answer {
    unsigned status;
    Json body;
    http::Response raw;
  };

  Answer call(const std::string& method, const std::string& target, const char* token,
              const std::optional<std::string>& body = std::nullopt) {
    http::Request req{bhttp::string_to_verb(method), target, 11};
    if (token) req.set(bhttp::field::authorization, std::string("Bearer ") + token);
    if (body) req.body() = *body;
    req.prepare_payload();
    std::optional<http::Response> out;
    http::Peer peer;
    peer.address = "127.0.0.1";
    peer.port = 40000;
    peer.loopback = true;
    asio::co_spawn(io_, api_->handle(req, peer), [&](std::exception_ptr e, http::Response r) {
      if (e) std::rethrow_exception(e);
      out.emplace(std::move(r));
    });
    io_.restart();
    while (!out && io_.run_one_for(std::chrono::seconds(5))) {
    }
    EXPECT_TRUE(out) << method << " " << target << " did not answer";
    if (!out) return {0, Json(), {}};
    Json parsed = Json::parse(out->body(), nullptr, false);
    return {out->result_int(), parsed, *out};
  }

  Answer call(const std::string& method, const std::string& target, const char* token,
              const Json& body) {
    return call(method, target, token, std::optional<std::string>(body.dump()));
  }

  // Runs the engine until `done` holds, at most a few seconds.
  template <typename F>
  bool runUntil(F done) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    io_.restart();
    while (!done() && std::chrono::steady_clock::now() < until)
      io_.run_for(std::chrono::milliseconds(10));
    return done();
  }

  std::string runStatus(const std::string& id) {
    auto r = store_->run(id);
    return r && *r ? store::runStatusName((*r)->status) : "";
  }

  testing::TempDir dir_;
  core::SystemClock clock_;
  asio::io_context io_;
  core::ProviderRegistry registry_;
  std::unique_ptr<store::SqliteStore> store_;
  std::vector<playbook::PlaybookPtr> playbooks_;
  std::ostringstream logged_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<playbook::Engine> engine_;
  std::unique_ptr<intake::Intake> intake_;
  std::unique_ptr<Api> api_;
};

TEST_F(ApiTest, WithoutAnAcceptedTokenEveryPathIs401) {
  for (const char* token : {static_cast<const char*>(nullptr), "wrong-token"}) {
    for (const char* path : {"/api/v1/runs", "/api/v1/nothing-here", "/api/v1/silences"}) {
      auto a = call("GET", path, token);
      EXPECT_EQ(a.status, 401u) << path;
      EXPECT_EQ(a.body, (Json{{"error", "token not accepted"}, {"field", nullptr}}));
      EXPECT_EQ(a.raw[bhttp::field::www_authenticate], "Bearer realm=\"firebreak\"");
    }
  }
  EXPECT_NE(logged_.str().find("refused: missing or unknown token"), std::string::npos);
}

TEST_F(ApiTest, EveryRouteEnforcesItsRole) {
  const std::map<Role, const char*> by_role = {
      {Role::kViewer, kViewer}, {Role::kResponder, kResponder}, {Role::kAdmin, kAdmin}};
  for (const auto& r : Api::routes()) {
    std::string path = r.path;
    for (const char* p : {"{incident}", "{run}", "{step}", "{silence}", "{playbook}", "{action}"})
      if (auto at = path.find(p); at != std::string::npos) path.replace(at, strlen(p), "nope");
    for (const auto& [role, token] : by_role) {
      auto a = call(r.method, path, token, std::optional<std::string>("{}"));
      if (allows(role, r.role)) {
        EXPECT_NE(a.status, 401u) << r.method << " " << path;
        EXPECT_NE(a.status, 403u) << r.method << " " << path << " as " << config::roleName(role);
      } else {
        EXPECT_EQ(a.status, 403u) << r.method << " " << path << " as " << config::roleName(role);
        EXPECT_NE(a.body.value("error", "").find(std::string("needs the role ") +
                                                 config::roleName(r.role)),
                  std::string::npos);
      }
    }
  }
}

TEST_F(ApiTest, UnknownPathsAre404AndWrongMethods405) {
  EXPECT_EQ(call("GET", "/api/v1/nothing", kViewer).status, 404u);
  EXPECT_EQ(call("GET", "/api/v2/runs", kViewer).status, 404u);
  auto a = call("GET", "/api/v1/runs/r-1/abort", kAdmin);
  EXPECT_EQ(a.status, 405u);
  EXPECT_EQ(a.raw[bhttp::field::allow], "POST");
  EXPECT_EQ(call("DELETE", "/api/v1/runs", kAdmin).raw[bhttp::field::allow], "GET, POST");
  EXPECT_EQ(call("GET", "/api/v1/runs/nope", kViewer).status, 404u);
  EXPECT_EQ(call("GET", "/api/v1/incidents/nope", kViewer).status, 404u);
  EXPECT_EQ(call("POST", "/api/v1/incidents/nope/resolve", kAdmin).status, 404u);
}

TEST_F(ApiTest, RequestsAreReadStrictly) {
  auto a = call("GET", "/api/v1/runs?stauts=failed", kViewer);
  EXPECT_EQ(a.status, 400u);
  EXPECT_EQ(a.body["field"], "stauts");
  EXPECT_EQ(call("GET", "/api/v1/runs?status=lost", kViewer).body["field"], "status");
  EXPECT_EQ(call("GET", "/api/v1/incidents?limit=0", kViewer).body["field"], "limit");
  a = call("POST", "/api/v1/runs", kResponder,
           Json{{"playbook", "manual-check"}, {"dry_rnu", true}});
  EXPECT_EQ(a.status, 400u);
  EXPECT_EQ(a.body, (Json{{"error", "unknown field 'dry_rnu'"}, {"field", "dry_rnu"}}));
  a = call("POST", "/api/v1/runs", kResponder, Json{{"playbook", "manual-check"}, {"params", 3}});
  EXPECT_EQ(a.body["field"], "params");
  a = call("POST", "/api/v1/runs", kResponder, Json{{"playbook", "manual-chek"}});
  EXPECT_EQ(a.status, 404u);
  EXPECT_EQ(a.body["error"],
            "no loaded playbook named 'manual-chek' (did you mean 'manual-check'?)");
  EXPECT_EQ(call("POST", "/api/v1/runs", kResponder, std::optional<std::string>("{nope")).status,
            400u);
  EXPECT_EQ(call("POST", "/api/v1/silences", kResponder,
                 std::optional<std::string>(std::string(kMaxApiBody + 10, ' ')))
                .status,
            413u);
}

TEST_F(ApiTest, AManualRunStartsAndIsListed) {
  auto a = call("POST", "/api/v1/runs", kResponder,
                Json{{"playbook", "manual-check"},
                     {"params", {{"target", "db-7"}}},
                     {"dry_run", false}});
  ASSERT_EQ(a.status, 201u) << a.body.dump();
  std::string id = a.body["run_id"];
  ASSERT_TRUE(runUntil([&] { return runStatus(id) == "succeeded"; })) << runStatus(id);
  auto run = call("GET", "/api/v1/runs/" + id, kViewer);
  EXPECT_EQ(run.body["status"], "succeeded");
  EXPECT_EQ(run.body["trigger"], "manual");
  EXPECT_EQ(run.body["params"]["target"], "db-7");
  ASSERT_EQ(run.body["steps"].size(), 1u);
  EXPECT_EQ(run.body["steps"][0]["status"], "succeeded");
  auto steps = call("GET", "/api/v1/runs/" + id + "/steps", kViewer);
  EXPECT_EQ(steps.body["steps"][0]["step"], "act");
  auto listed = call("GET", "/api/v1/runs?status=succeeded", kViewer);
  ASSERT_EQ(listed.body["runs"].size(), 1u);
  EXPECT_EQ(listed.body["runs"][0]["id"], id);
  EXPECT_TRUE(call("GET", "/api/v1/runs?status=failed", kViewer).body["runs"].empty());
  // Finished: abort and resume are conflicts.
  EXPECT_EQ(call("POST", "/api/v1/runs/" + id + "/abort", kResponder).status, 409u);
  EXPECT_EQ(call("POST", "/api/v1/runs/" + id + "/resume", kResponder).status, 409u);
  EXPECT_NE(logged_.str().find("api: POST /api/v1/runs by 'oncall' (responder): 201"),
            std::string::npos)
      << logged_.str();
}

TEST_F(ApiTest, ApprovalsAreDecidedByTheTokenWithTheRoleTheStepAsks) {
  auto a = call("POST", "/api/v1/runs", kResponder, Json{{"playbook", "gated"}});
  ASSERT_EQ(a.status, 201u) << a.body.dump();
  std::string id = a.body["run_id"];
  auto pending = [&] {
    auto p = store_->pendingApprovals();
    return p && !p->empty();
  };
  ASSERT_TRUE(runUntil(pending));
  auto listed = call("GET", "/api/v1/approvals", kViewer);
  ASSERT_EQ(listed.body["approvals"].size(), 1u);
  EXPECT_EQ(listed.body["approvals"][0]["step"], "ok");
  EXPECT_EQ(call("POST", "/api/v1/runs/" + id + "/approvals/ok/approve", kViewer).status, 403u);
  EXPECT_EQ(call("POST", "/api/v1/runs/" + id + "/approvals/nope/approve", kResponder).status,
            404u);
  a = call("POST", "/api/v1/runs/" + id + "/approvals/ok/approve", kResponder,
           Json{{"reason", "checked the graphs"}});
  ASSERT_EQ(a.status, 200u) << a.body.dump();
  EXPECT_EQ(a.body["decided_by"], "oncall");
  EXPECT_EQ(call("POST", "/api/v1/runs/" + id + "/approvals/ok/deny", kResponder).status, 409u);
  ASSERT_TRUE(runUntil([&] {
    auto all = store_->approvals(id);
    return all && all->size() == 2 && (*all)[1].status == "pending";
  }));
  // `boss` asks for admin: a responder may not decide it.
  a = call("POST", "/api/v1/runs/" + id + "/approvals/boss/approve", kResponder);
  EXPECT_EQ(a.status, 403u);
  EXPECT_EQ(a.body["error"], "approval 'boss' needs the role admin; token 'oncall' has responder");
  EXPECT_EQ(call("POST", "/api/v1/runs/" + id + "/approvals/boss/approve", kAdmin).status, 200u);
  ASSERT_TRUE(runUntil([&] { return runStatus(id) == "succeeded"; })) << runStatus(id);
  auto run = call("GET", "/api/v1/runs/" + id, kViewer);
  ASSERT_EQ(run.body["approvals"].size(), 2u);
  EXPECT_EQ(run.body["approvals"][0]["decided_by"], "oncall");
  EXPECT_EQ(run.body["approvals"][0]["reason"], "checked the graphs");
  EXPECT_EQ(run.body["approvals"][1]["decided_by"], "lead");
}

TEST_F(ApiTest, SilencesAreAddedListedAndExpired) {
  Json matchers = Json::array({{{"name", "alertname"}, {"op", "="}, {"value", "DiskFull"}}});
  auto a = call("POST", "/api/v1/silences", kResponder,
                Json{{"matchers", matchers}, {"duration", "2h"}});
  EXPECT_EQ(a.body["field"], "reason");
  a = call("POST", "/api/v1/silences", kResponder,
           Json{{"matchers", matchers}, {"duration", "soon"}, {"reason", "r"}});
  EXPECT_EQ(a.body["field"], "duration");
  a = call("POST", "/api/v1/silences", kResponder,
           Json{{"matchers", Json::array({{{"name", "a"}, {"op", "=~"}, {"value", "("}}})},
                {"duration", "2h"},
                {"reason", "r"}});
  EXPECT_EQ(a.status, 400u);
  EXPECT_EQ(a.body["field"], "matchers[0].value");

  a = call("POST", "/api/v1/silences", kResponder,
           Json{{"matchers", matchers}, {"duration", "2h"}, {"reason", "disk swap"}});
  ASSERT_EQ(a.status, 201u) << a.body.dump();
  std::string id = a.body["id"];
  EXPECT_EQ(a.body["created_by"], "oncall");
  EXPECT_EQ(a.body["active"], true);
  auto list = call("GET", "/api/v1/silences", kViewer);
  ASSERT_EQ(list.body["silences"].size(), 1u);
  EXPECT_EQ(list.body["silences"][0]["matchers"], matchers);
  EXPECT_EQ(list.body["silences"][0]["reason"], "disk swap");

  EXPECT_EQ(call("POST", "/api/v1/silences/" + id + "/expire", kViewer).status, 403u);
  a = call("POST", "/api/v1/silences/" + id + "/expire", kResponder);
  ASSERT_EQ(a.status, 200u) << a.body.dump();
  EXPECT_EQ(a.body["active"], false);
  EXPECT_EQ(call("POST", "/api/v1/silences/" + id + "/expire", kResponder).status, 409u);
  EXPECT_EQ(call("POST", "/api/v1/silences/s-nope/expire", kResponder).status, 404u);
  EXPECT_TRUE(call("GET", "/api/v1/silences", kViewer).body["silences"].empty());
  EXPECT_EQ(call("GET", "/api/v1/silences?expired=true", kViewer).body["silences"].size(), 1u);
  EXPECT_NE(logged_.str().find("by 'oncall'"), std::string::npos);
}

TEST_F(ApiTest, PlaybooksAreListedAndShown) {
  auto list = call("GET", "/api/v1/playbooks", kViewer);
  ASSERT_EQ(list.body["playbooks"].size(), 2u);
  EXPECT_EQ(list.body["playbooks"][0]["name"], "manual-check");
  auto one = call("GET", "/api/v1/playbooks/gated", kViewer);
  ASSERT_EQ(one.status, 200u);
  EXPECT_EQ(one.body["steps"].size(), 3u);
  EXPECT_EQ(one.body["steps"][0]["kind"], "approval");
  EXPECT_EQ(call("GET", "/api/v1/playbooks/nope", kViewer).status, 404u);
}

}  // namespace
}  // namespace firebreak::app
