// fb_aws_tool: the AWS client layer from the command line, for the integration tests
// (tests/integration/test_aws_client.py) that run it against moto_server and botocore.
//
//   fb_aws_tool [options] query SERVICE ACTION VERSION [NAME=VALUE...]
//   fb_aws_tool [options] json SERVICE TARGET_PREFIX OPERATION [JSON]
//   fb_aws_tool [options] rest-json SERVICE OPERATION METHOD PATH [BODY]
//   fb_aws_tool [options] rest-xml SERVICE OPERATION METHOD PATH [BODY]
//   fb_aws_tool [options] credentials
//
// Options: --region R, --endpoint-url URL, --assume-role ARN, --external-id ID,
// --session-name NAME, --bucket B (rest-xml), --query NAME=VALUE (rest-*, repeatable),
// --time EPOCH_SECONDS (a fixed clock), --capture (print the signed request instead of sending
// it). Credentials come from the default chain over this process's environment.
//
// Prints one JSON object: the answer {"status", "request_id", "body"}, the captured request
// {"method", "url", "headers", "body"}, or {"error": {...}} with exit status 1.
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actions/aws/client.h"
#include "actions/aws/credentials.h"
#include "actions/aws/errors.h"
#include "actions/aws/sigv4.h"
#include "daemon/core/json.h"

extern char** environ;

namespace {

namespace aws = firebreak::actions::aws;
namespace core = firebreak::core;
using core::Json;

class FixedClock final : public core::Clock {
 public:
  explicit FixedClock(int64_t seconds) : t_(std::chrono::seconds(seconds)) {}
  core::TimePoint now() const override { return t_; }

 private:
  core::TimePoint t_;
};

int usage(const std::string& why) {
  std::cerr << "fb_aws_tool: " << why << "\n(see the comment at the top of aws_tool.cpp)\n";
  return 2;
}

int printError(const aws::AwsError& e) {
  Json out = {{"error",
               {{"code", e.code},
                {"message", e.message},
                {"http_status", e.http_status},
                {"request_id", e.request_id},
                {"operation", e.operation},
                {"retryable", e.retryable},
                {"outcome", core::outcomeName(aws::outcomeFor(e))},
                {"str", e.str()}}}};
  std::cout << out.dump() << "\n";
  return 1;
}

int printResponse(const aws::Response& r) {
  std::cout << Json{{"status", r.status}, {"request_id", r.request_id}, {"body", r.body}}.dump()
            << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string region, endpoint_url, assume_role, external_id, session_name, bucket;
  aws::QueryParams rest_query;
  std::optional<int64_t> fixed_time;
  bool capture = false;
  size_t i = 0;
  auto value = [&](const std::string& flag) -> std::optional<std::string> {
    if (i + 1 >= args.size()) return std::nullopt;
    (void)flag;
    return args[++i];
  };
  for (; i < args.size() && args[i].rfind("--", 0) == 0; ++i) {
    const std::string flag = args[i];
    if (flag == "--capture") {
      capture = true;
      continue;
    }
    auto v = value(flag);
    if (!v) return usage(flag + " needs a value");
    if (flag == "--region")
      region = *v;
    else if (flag == "--endpoint-url")
      endpoint_url = *v;
    else if (flag == "--assume-role")
      assume_role = *v;
    else if (flag == "--external-id")
      external_id = *v;
    else if (flag == "--session-name")
      session_name = *v;
    else if (flag == "--bucket")
      bucket = *v;
    else if (flag == "--time")
      fixed_time = std::strtoll(v->c_str(), nullptr, 10);
    else if (flag == "--query") {
      auto eq = v->find('=');
      rest_query.emplace_back(v->substr(0, eq), eq == std::string::npos ? "" : v->substr(eq + 1));
    } else {
      return usage("unknown option " + flag);
    }
  }
  if (i >= args.size()) return usage("no command");
  const std::string command = args[i++];
  std::vector<std::string> rest(args.begin() + static_cast<long>(i), args.end());

  aws::Environment env = aws::Environment::fromEnvp(environ);
  if (region.empty()) region = aws::regionFrom(env).value_or("us-east-1");

  core::SystemClock system_clock;
  std::unique_ptr<FixedClock> fixed;
  if (fixed_time) fixed = std::make_unique<FixedClock>(*fixed_time);
  const core::Clock& clock = fixed ? static_cast<const core::Clock&>(*fixed) : system_clock;

  Json captured;
  aws::HttpFn http = firebreak::actions::builtin::httpCall;
  if (capture) {
    http = [&captured](const firebreak::actions::builtin::HttpCall& call)
        -> core::Result<firebreak::actions::builtin::HttpResponse> {
      Json headers = Json::array();
      for (const auto& [n, v] : call.headers) headers.push_back({n, v});
      captured = {{"method", call.method},
                  {"url", call.url},
                  {"headers", headers},
                  {"body", call.body ? Json(*call.body) : Json()}};
      firebreak::actions::builtin::HttpResponse r;
      r.status = 200;
      return r;
    };
  }

  aws::ProviderDeps deps;
  deps.clock = &clock;
  deps.region = region;
  deps.endpoint_url = endpoint_url;
  std::shared_ptr<aws::CredentialsProvider> credentials = aws::defaultCredentialsChain(env, deps);
  if (!assume_role.empty()) {
    aws::AssumeRoleOptions options;
    options.role_arn = assume_role;
    options.external_id = external_id;
    if (!session_name.empty()) options.session_name = session_name;
    credentials = std::make_shared<aws::RefreshingProvider>(
        std::make_shared<aws::AssumeRoleProvider>(credentials, options, deps), clock);
  }

  if (command == "credentials") {
    auto c = credentials->credentials();
    if (!c) return printError(c.error());
    // The secret only as a digest: enough for a test to compare, nothing to use.
    Json out = {
        {"access_key_id", c->access_key_id},
        {"secret_sha256", aws::sha256Hex(c->secret_access_key)},
        {"has_session_token", !c->session_token.empty()},
        {"source", c->source},
        {"expiration",
         c->expiration ? Json(core::formatTime(core::Clock::toMs(*c->expiration))) : Json()}};
    std::cout << out.dump() << "\n";
    return 0;
  }

  aws::ClientConfig config;
  config.region = region;
  config.endpoint_url = endpoint_url;
  config.timeout = std::chrono::seconds(20);
  aws::Client client(config, credentials, clock, http);

  aws::AwsResult<aws::Response> result = aws::awsFail(
      aws::makeError(aws::AwsError::Source::kRequest, "InvalidRequest", "no call made", false));
  if (command == "query") {
    if (rest.size() < 3) return usage("query SERVICE ACTION VERSION [NAME=VALUE...]");
    aws::QueryParams params;
    for (size_t k = 3; k < rest.size(); ++k) {
      auto eq = rest[k].find('=');
      if (eq == std::string::npos) return usage("query parameter without '=': " + rest[k]);
      params.emplace_back(rest[k].substr(0, eq), rest[k].substr(eq + 1));
    }
    auto r = client.query(rest[0], rest[1], rest[2], params);
    if (r)
      result = std::move(r->http);
    else
      result = aws::awsFail(std::move(r.error()));
  } else if (command == "json") {
    if (rest.size() < 3) return usage("json SERVICE TARGET_PREFIX OPERATION [JSON]");
    Json body = rest.size() > 3 ? Json::parse(rest[3], nullptr, false) : Json::object();
    if (body.is_discarded()) return usage("the JSON body does not parse");
    auto r = client.json(rest[0], rest[1], rest[2], body);
    if (r)
      result = std::move(r->http);
    else
      result = aws::awsFail(std::move(r.error()));
  } else if (command == "rest-json" || command == "rest-xml") {
    if (rest.size() < 4) return usage(command + " SERVICE OPERATION METHOD PATH [BODY]");
    aws::RestRequest req;
    req.service = rest[0];
    req.operation = rest[1];
    req.method = rest[2];
    req.path = rest[3];
    req.query = rest_query;
    req.bucket = bucket;
    if (rest.size() > 4) req.body = rest[4];
    if (command == "rest-json") {
      auto r = client.restJson(req);
      if (r)
        result = std::move(r->http);
      else
        result = aws::awsFail(std::move(r.error()));
    } else {
      req.content_md5 = req.body.has_value();
      auto r = client.restXml(req);
      if (r)
        result = std::move(r->http);
      else
        result = aws::awsFail(std::move(r.error()));
    }
  } else {
    return usage("unknown command " + command);
  }

  if (capture && !captured.is_null()) {
    std::cout << captured.dump() << "\n";
    return 0;
  }
  if (!result) return printError(result.error());
  return printResponse(*result);
}
