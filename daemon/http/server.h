// The daemon's HTTP server: Boost.Beast over Asio C++20 coroutines, one coroutine per
// connection on the given executor. Every read has a size limit and a deadline, because the
// peers are monitoring tools on a network we do not control (see "Hostile input the server
// must survive" in ARCHITECTURE.md). Handlers are plain functions of a request, so routing and
// sources are tested without sockets.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "daemon/core/asio.h"
#include "daemon/core/result.h"
#include "daemon/http/tls.h"

namespace firebreak::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

struct Limits {
  std::size_t max_header_bytes = 16 << 10;  // request line and fields: over it, 431 and close
  std::size_t max_body_bytes = 1 << 20;     // Content-Length or chunked total: 413 and close
  std::chrono::milliseconds header_timeout{10000};  // the whole header must arrive within
  std::chrono::milliseconds body_timeout{30000};    // the whole body must arrive within
  std::chrono::milliseconds idle_timeout{60000};    // keep-alive wait for the next request
  int max_connections_per_client = 64;              // per client address; over it: closed at once
  int max_connections = 4096;                       // in all; over it: closed at once
  int max_in_flight = 1024;  // handler calls at once; over it: 503, Retry-After: 1
  // A response (or a 100 Continue) must be sent within; a client that does not read is dropped.
  std::chrono::milliseconds write_timeout{30000};
};

struct Peer {
  std::string address;  // client IP as text (IPv4-mapped IPv6 addresses shown as IPv4)
  uint16_t port = 0;
  bool loopback = false;
  bool tls = false;
  // The verified client certificate's subject (RFC 2253) under mutual TLS, for logs; empty
  // otherwise.
  std::string tls_subject;
};

// Called once per complete request, on the connection's strand (so concurrently for several
// connections when the io_context has several threads). Exceptions become a 500.
// The response's keep-alive may only be narrowed by the server (client or shutdown asks to
// close); a missing Content-Length is filled in.
using Handler = std::function<core::awaitable<Response>(Request&, const Peer&)>;

// Counters since bind(); gauges (open, in flight, running) are the values at the call.
struct ServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;  // closed at once: max_connections(_per_client), stopping
  uint64_t connections_open = 0;     // gauge
  uint64_t accept_errors = 0;        // EMFILE, ENFILE, ...: each pauses accepting ~100 ms
  uint64_t requests = 0;             // requests read completely and answered
  std::array<uint64_t, 6> responses_by_class{};  // [1] 1xx (100 Continue) ... [5] 5xx
  uint64_t header_timeouts = 0;  // header (or the first byte of a new connection) too slow
  uint64_t body_timeouts = 0;
  uint64_t idle_timeouts = 0;  // keep-alive connections closed after idle_timeout
  uint64_t write_timeouts = 0;
  uint64_t header_limit_hits = 0;     // 431
  uint64_t body_limit_hits = 0;       // 413
  uint64_t malformed_requests = 0;    // 400, 417, 505
  uint64_t in_flight_limit_hits = 0;  // 503
  uint64_t handler_errors = 0;        // 500: the handler threw
  // TLS handshakes that failed (plain HTTP, no or a refused client certificate, a protocol
  // error); those cut off by header_timeout count as header_timeouts instead.
  uint64_t tls_handshake_failures = 0;
  uint64_t requests_in_flight = 0;    // gauge: header read, response not yet written
  uint64_t handlers_running = 0;      // gauge: what max_in_flight limits
};

// Why a request header is refused before its body is read.
struct Rejection {
  unsigned status;
  std::string reason;  // short, fixed text: goes into the JSON body {"error": reason}
};

// Checks what Beast's parser accepts but we do not: HTTP/1.1 without exactly one Host (400),
// a Transfer-Encoding that is not chunked last (400: the body length would be ambiguous, a
// request-smuggling vector), an Expect other than 100-continue (417); and, for headers not
// built by Beast's parser (which refuses them itself), a version other than 1.0/1.1 (505).
// Pure: a function of the parsed header.
std::optional<Rejection> validateHeader(const Request& header);

// A response to `request`: its version and keep-alive, Content-Length from the body,
// `Server: firebreak`, and Content-Type (unless content_type is empty).
Response makeResponse(const Request& request, unsigned status, std::string body,
                      std::string content_type = "application/json");

class Server {
 public:
  // Listens on host:port (an IPv4 or IPv6 literal: "127.0.0.1", "::1", "0.0.0.0", "::"; port
  // 0 takes any free port). Errors name the address: "cannot listen on 127.0.0.1:9095:
  // Address already in use". Nothing is accepted before start(). With `tls`, every
  // connection is HTTPS: the handshake must finish within header_timeout of the accept, and
  // every other limit applies as to plain HTTP.
  static core::Result<std::unique_ptr<Server>> bind(asio::any_io_executor executor,
                                                    const std::string& host, uint16_t port,
                                                    Limits limits, Handler handler,
                                                    std::shared_ptr<TlsContext> tls = nullptr);
  // Stops accepting; connections still busy finish on their own. Destroy the Server before
  // its io_context.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const;  // the bound port (useful after port 0)
  void start();           // spawns the accept loop (once)
  // From any thread: the listening socket closes, idle connections (waiting for a request
  // to begin) are closed, and busy ones close after their current response.
  void stopAccepting();
  // Completes when no request is in flight (header read but response not yet written).
  // The Server must outlive the wait.
  core::awaitable<void> drain();
  ServerStats stats() const;

  struct State;

 private:
  explicit Server(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace firebreak::http
