#include "cli/remote.h"

#include <curl/curl.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

namespace firebreak::cli {

namespace {

size_t collect(char* data, size_t size, size_t n, void* out) {
  auto* s = static_cast<std::string*>(out);
  if (s->size() + size * n > (size_t{16} << 20)) return 0;  // a reply over 16 MiB is not ours
  s->append(data, size * n);
  return size * n;
}

core::Result<std::string> tokenOf(const Globals& g) {
  if (!g.token_file.empty()) {
    std::ifstream in(g.token_file, std::ios::binary);
    if (!in)
      return core::fail(core::ErrorCode::kInvalidArgument,
                        "--token-file " + g.token_file + ": cannot read it");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string t = ss.str();
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
    if (t.empty())
      return core::fail(core::ErrorCode::kInvalidArgument,
                        "--token-file " + g.token_file + " is empty");
    return t;
  }
  if (const char* t = std::getenv("FIREBREAK_TOKEN")) return std::string(t);
  return std::string();
}

std::string why(CURLcode code, const char* errbuf) {
  switch (code) {
    case CURLE_COULDNT_CONNECT: return "connection refused";
    case CURLE_COULDNT_RESOLVE_HOST: return "cannot resolve the host name";
    case CURLE_OPERATION_TIMEDOUT: return "timed out";
    case CURLE_UNSUPPORTED_PROTOCOL: return "only http:// and https:// are supported";
    default: break;
  }
  return errbuf && *errbuf ? std::string(errbuf) : std::string(curl_easy_strerror(code));
}

}  // namespace

std::string serverOf(const Globals& g) {
  std::string s = g.server;
  if (s.empty())
    if (const char* env = std::getenv("FIREBREAK_SERVER")) s = env;
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

std::string urlEncode(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

int needsServer(const std::string& verb) {
  printError("'firebreak " + verb +
             "' talks to firebreakd: give --server URL (or set FIREBREAK_SERVER) and a token "
             "(--token-file or FIREBREAK_TOKEN)");
  return kExitUsage;
}

core::Result<RemoteReply> callServer(const Globals& g, const std::string& method,
                                     const std::string& path,
                                     const std::optional<core::Json>& body, bool text_body) {
  const std::string server = serverOf(g);
  if (server.rfind("http://", 0) != 0 && server.rfind("https://", 0) != 0)
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "--server '" + server +
                          "': write it as http://HOST:PORT or https://HOST:PORT");
  auto token = tokenOf(g);
  if (!token) return core::fail(token.error());

  static const bool initialized = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!initialized) return core::fail(core::ErrorCode::kInternal, "libcurl did not initialize");
  CURL* curl = curl_easy_init();
  if (!curl) return core::fail(core::ErrorCode::kInternal, "libcurl: no handle");
  std::string url = server + path;
  std::string payload = body ? body->dump() : std::string();
  std::string received;
  char errbuf[CURL_ERROR_SIZE] = {0};
  struct curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, text_body ? "Accept: */*" : "Accept: application/json");
  if (body) headers = curl_slist_append(headers, "Content-Type: application/json");
  std::string auth;
  if (!token->empty()) {
    auth = "Authorization: Bearer " + *token;
    headers = curl_slist_append(headers, auth.c_str());
  }
  // Loopback never goes through a proxy; other hosts follow the environment's no_proxy too.
  std::string no_proxy = "localhost,127.0.0.1,::1";
  for (const char* name : {"no_proxy", "NO_PROXY"})
    if (const char* v = std::getenv(name); v && *v) no_proxy += std::string(",") + v;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 60000L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, no_proxy.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!g.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, g.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &received);
  if (body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
  } else if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
  }
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK)
    return core::fail(core::ErrorCode::kUnavailable,
                      "cannot reach " + server + ": " + why(rc, errbuf));
  RemoteReply reply;
  reply.status = status;
  if (text_body && status >= 200 && status < 300) {
    reply.text = std::move(received);
    return reply;
  }
  reply.body = core::Json::parse(received, nullptr, false);
  if (reply.body.is_discarded())
    return core::fail(core::ErrorCode::kInternal,
                      server + path + " answered " + std::to_string(status) +
                          " with a body that is not JSON: is it firebreakd?");
  return reply;
}

std::optional<core::Json> callOk(Globals& g, const std::string& method, const std::string& path,
                                 const std::optional<core::Json>& body) {
  auto reply = callServer(g, method, path, body);
  if (!reply) {
    printError(reply.error().message());
    g.exit_code =
        reply.error().code() == core::ErrorCode::kInvalidArgument ? kExitUsage : kExitFailed;
    return std::nullopt;
  }
  if (reply->status >= 200 && reply->status < 300) return std::move(reply->body);
  std::string message = reply->body.is_object() ? reply->body.value("error", std::string()) : "";
  if (message.empty()) message = "refused";
  std::string text = std::to_string(reply->status) + ": " + message;
  if (reply->body.is_object() && reply->body.contains("field") && reply->body["field"].is_string())
    text += " (field '" + reply->body["field"].get<std::string>() + "')";
  if (reply->status == 401) {
    auto token = tokenOf(g);
    if (token && token->empty()) text += " (no token given: --token-file F or FIREBREAK_TOKEN)";
  }
  printError(text);
  g.exit_code = reply->status == 400 ? kExitUsage : kExitFailed;
  return std::nullopt;
}

}  // namespace firebreak::cli
