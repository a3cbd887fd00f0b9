// The CLI's side of the management API: where the daemon is (--server or FIREBREAK_SERVER),
// the token (--token-file or FIREBREAK_TOKEN), and one JSON request over libcurl. TLS is
// verified by default (--ca-file names the CA bundle for a private CA); proxies from the
// environment are used except for loopback addresses.
#pragma once

#include <optional>
#include <string>

#include "cli/common.h"
#include "daemon/core/json.h"

namespace firebreak::cli {

// The server URL the verbs talk to, "" when none is given or configured.
std::string serverOf(const Globals& g);
inline bool useRemote(const Globals& g, bool local) { return !local && !serverOf(g).empty(); }

struct RemoteReply {
  long status = 0;
  core::Json body;
  std::string text;  // the body as received (text_body calls)
};

// One request; errors are for people ("cannot reach http://127.0.0.1:9095: connection
// refused"). Any HTTP status is a reply. With text_body, a 2xx body need not be JSON (it is in
// `text`; `body` is null then) and any media type is accepted.
core::Result<RemoteReply> callServer(const Globals& g, const std::string& method,
                                     const std::string& path,
                                     const std::optional<core::Json>& body = std::nullopt,
                                     bool text_body = false);

// As callServer, but a status other than 2xx is printed ("401: token not accepted") and
// sets g.exit_code (2 for 400, else 1): nullopt then.
std::optional<core::Json> callOk(Globals& g, const std::string& method, const std::string& path,
                                 const std::optional<core::Json>& body = std::nullopt);

// A path segment or query value, percent-encoded.
std::string urlEncode(const std::string& text);

// Verbs that only a daemon can do, asked without one.
int needsServer(const std::string& verb);

}  // namespace firebreak::cli
