// One HTTP exchange over libcurl, for every action that speaks HTTP (http.request, http.probe,
// notify.webhook, and cloud clients later). Blocking: run it through core::offload().
//
// Always: TLS verification on, http/https only (redirects too), proxies from the environment
// (libcurl's http_proxy/https_proxy/no_proxy), no signals, one overall timeout.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/core/asio.h"
#include "daemon/core/result.h"

namespace firebreak::actions::builtin {

struct HttpCall {
  std::string method = "GET";  // any token; HEAD reads no body
  std::string url;             // http:// or https://
  std::vector<std::pair<std::string, std::string>> headers;  // resolved values, sent as given
  std::optional<std::string> body;  // sent as is (no Content-Type is added for you)
  std::chrono::milliseconds timeout{30'000};  // the whole exchange, connect included
  size_t max_body = size_t{1} << 20;  // bytes kept; the transfer stops there (truncated = true)
  bool follow_redirects = false;      // at most 10, http/https only
  const core::CancelFlag* cancel = nullptr;  // checked during the transfer; aborts it
};

struct HttpResponse {
  int status = 0;
  std::string body;  // raw bytes, at most max_body
  bool truncated = false;
  // Of the final response; names lowercased, repeated headers joined with ", ".
  std::map<std::string, std::string> headers;
  std::chrono::milliseconds duration{0};
};

// Performs the call. An HTTP error status is a response, not an error. Errors (whose messages
// never hold the URL's path or query, nor header values):
//   kTimeout      the timeout passed
//   kUnavailable  could not resolve, connect, send or receive; cancelled (see call.cancel)
//   kInvalidArgument  malformed URL or a scheme other than http/https
//   kPermissionDenied TLS certificate or host verification failed
//   kIo           anything else libcurl reports
core::Result<HttpResponse> httpCall(const HttpCall& call);

// kTimeout and kUnavailable: the same call may succeed later.
bool isTransient(const core::Error& error);

// 5xx and 429: the server asks to be asked again later.
inline bool isRetryableStatus(int status) { return status >= 500 || status == 429; }

}  // namespace firebreak::actions::builtin
