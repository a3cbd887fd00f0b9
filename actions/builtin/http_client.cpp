#include "actions/builtin/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

namespace firebreak::actions::builtin {
namespace {

using core::ErrorCode;
using core::fail;

struct Transfer {
  const HttpCall* call;
  HttpResponse response;
  bool overflowed = false;
};

size_t onBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  size_t room = t->call->max_body - std::min(t->call->max_body, t->response.body.size());
  t->response.body.append(data, std::min(room, n));
  if (n > room) {
    // Stop rather than download what we would throw away; httpCall() reports the response.
    t->response.truncated = true;
    t->overflowed = true;
    return 0;
  }
  return n;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

size_t onHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  std::string_view line(data, n);
  // A new status line starts a new response (after 100 Continue or a followed redirect): keep
  // only the final response's headers.
  if (line.rfind("HTTP/", 0) == 0) {
    t->response.headers.clear();
    return n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return n;
  std::string name;
  for (char c : line.substr(0, colon))
    name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string value = trim(line.substr(colon + 1));
  auto [it, inserted] = t->response.headers.emplace(name, value);
  if (!inserted) it->second += ", " + value;
  return n;
}

int onProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return t->call->cancel && t->call->cancel->cancelled() ? 1 : 0;
}

ErrorCode classify(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return ErrorCode::kTimeout;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
    case CURLE_AGAIN:
    case CURLE_ABORTED_BY_CALLBACK:
      return ErrorCode::kUnavailable;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return ErrorCode::kInvalidArgument;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return ErrorCode::kPermissionDenied;
    default:
      return ErrorCode::kIo;
  }
}

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

bool isTransient(const core::Error& error) {
  return error.code() == ErrorCode::kTimeout || error.code() == ErrorCode::kUnavailable;
}

core::Result<HttpResponse> httpCall(const HttpCall& call) {
  static std::once_flag init_once;
  static CURLcode init_result = CURLE_OK;
  std::call_once(init_once, [] { init_result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (init_result != CURLE_OK)
    return fail(ErrorCode::kInternal,
                std::string("libcurl failed to initialise: ") + curl_easy_strerror(init_result));

  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  if (!easy) return fail(ErrorCode::kInternal, "libcurl could not create a handle");
  CURL* h = easy.get();
  Transfer t{&call, {}};

  // Each header is "Name: value"; "Name;" sends a header with an empty value.
  curl_slist* raw = nullptr;
  bool has_expect = false;
  for (const auto& [name, value] : call.headers) {
    std::string line = value.empty() ? name + ";" : name + ": " + value;
    curl_slist* next = curl_slist_append(raw, line.c_str());
    if (!next) {
      curl_slist_free_all(raw);
      return fail(ErrorCode::kInternal, "out of memory building request headers");
    }
    raw = next;
    std::string lower;
    for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    has_expect = has_expect || lower == "expect";
  }
  // libcurl would send "Expect: 100-continue" for larger bodies and wait for an answer many
  // servers never give.
  std::unique_ptr<curl_slist, SlistDeleter> headers(raw);
  if (!has_expect) {
    curl_slist* next = curl_slist_append(headers.get(), "Expect:");
    if (!next) return fail(ErrorCode::kInternal, "out of memory building request headers");
    headers.release();
    headers.reset(next);
  }

  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_URL, call.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, call.follow_redirects ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
  // Threads of the blocking pool must never see SIGALRM from the resolver.
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<int64_t>(
                                              1, call.timeout.count())));
  curl_easy_setopt(h, CURLOPT_USERAGENT, "firebreak/0.1");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, onProgress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  // TLS verification stays at libcurl's default (on); nothing here may turn it off.

  if (call.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (call.method == "GET" && !call.body) {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    bool sends_body = call.body || call.method == "POST" || call.method == "PUT" ||
                      call.method == "PATCH";
    if (sends_body) {
      const std::string empty;
      const std::string& body = call.body ? *call.body : empty;
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      // COPYPOSTFIELDS: the handle owns its copy whatever happens to `call`.
      curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body.c_str());
    }
    if (call.method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  }

  auto start = std::chrono::steady_clock::now();
  CURLcode rc = curl_easy_perform(h);
  t.response.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  t.response.status = static_cast<int>(status);
  if (rc == CURLE_WRITE_ERROR && t.overflowed) rc = CURLE_OK;  // we stopped it: body truncated
  if (rc != CURLE_OK) {
    std::string what = curl_easy_strerror(rc);
    if (rc == CURLE_ABORTED_BY_CALLBACK) what = "cancelled";
    else if (errbuf[0] != '\0') what += std::string(" (") + errbuf + ")";
    return fail(classify(rc), call.method + " failed: " + what);
  }
  return std::move(t.response);
}

}  // namespace firebreak::actions::builtin
