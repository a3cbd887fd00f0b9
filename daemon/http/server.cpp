#include "daemon/http/server.h"

#include <algorithm>
#include <limits>
#include <mutex>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <spdlog/spdlog.h>

namespace firebreak::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;
using core::awaitable;
using core::use_awaitable;

constexpr std::size_t kReadChunk = 16 << 10;
// After an error response (or Connection: close) the server shuts down its sending side and
// discards what the client still sends for a little while, so that closing with unread data
// does not reset the connection before the client has read the answer. Bounded in time and
// bytes: the rest of a 256 MiB body is never read.
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr std::size_t kLingerBytes = 256 << 10;
// Accept failures (out of descriptors, out of memory) pause accepting rather than spin.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

using Counter = std::atomic<uint64_t>;

struct Counters {
  Counter connections_accepted{0};
  Counter connections_refused{0};
  Counter accept_errors{0};
  Counter requests{0};
  std::array<Counter, 6> responses_by_class{};
  Counter header_timeouts{0};
  Counter body_timeouts{0};
  Counter idle_timeouts{0};
  Counter write_timeouts{0};
  Counter header_limit_hits{0};
  Counter body_limit_hits{0};
  Counter malformed_requests{0};
  Counter in_flight_limit_hits{0};
  Counter handler_errors{0};
  Counter tls_handshake_failures{0};
};

void countResponse(Counters& c, unsigned status) {
  unsigned cls = status / 100;
  if (cls >= 1 && cls <= 5) ++c.responses_by_class[cls];
}

// What the server can do to a connection from outside its coroutine.
class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  // Any thread: closes the connection if it is waiting for a request to begin.
  virtual void closeIfIdle() = 0;
};

Peer peerFrom(const tcp::endpoint& endpoint) {
  asio::ip::address address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  Peer peer;
  peer.address = address.to_string();
  peer.port = endpoint.port();
  peer.loopback = address.is_loopback();
  return peer;
}

std::string hostPort(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

// The path of a target without its query (which may carry tokens), shortened for a log line.
std::string loggablePath(beast::string_view target) {
  std::string path(target.substr(0, target.find('?')));
  if (path.size() > 200) path = path.substr(0, 200) + "...";
  return path;
}

std::string errorBody(const std::string& reason) { return "{\"error\":\"" + reason + "\"}"; }

// What a failed read means for the client: an answer before closing, or just a close.
std::optional<Rejection> rejectionFor(const error_code& ec) {
  if (ec == bhttp::error::header_limit) return Rejection{431, "request header too large"};
  if (ec == bhttp::error::body_limit) return Rejection{413, "request body too large"};
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) {
    return std::nullopt;  // the client went away
  }
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category()) {
    return Rejection{400, "malformed request"};
  }
  return std::nullopt;  // a socket error or a timeout
}

}  // namespace

struct Server::State {
  State(asio::any_io_executor ex, Limits l, Handler h, std::shared_ptr<TlsContext> t)
      : executor(ex),
        strand(asio::make_strand(ex)),
        acceptor(strand),
        limits(l),
        handler(std::move(h)),
        tls(std::move(t)),
        log(spdlog::get("http")) {
    if (!log) log = spdlog::default_logger();
  }

  asio::any_io_executor executor;
  asio::any_io_executor strand;  // the accept loop and the acceptor
  tcp::acceptor acceptor;
  const Limits limits;
  const Handler handler;
  const std::shared_ptr<TlsContext> tls;  // null: plain HTTP
  std::shared_ptr<spdlog::logger> log;
  std::string address;  // "127.0.0.1:9095", for log lines
  uint16_t port = 0;

  std::atomic<bool> started{false};
  std::atomic<bool> stopping{false};
  Counters counters;
  std::atomic<int64_t> requests_in_flight{0};
  std::atomic<int64_t> handlers_running{0};

  mutable std::mutex mu;  // guards what follows
  std::unordered_map<std::string, int> per_client;
  int open = 0;
  uint64_t next_id = 0;
  std::unordered_map<uint64_t, std::weak_ptr<ConnectionBase>> connections;
  std::vector<std::shared_ptr<core::Event>> drain_waiters;

  // A connection id, or nothing when a limit refuses the client.
  std::optional<uint64_t> admit(const std::string& client) {
    std::lock_guard lock(mu);
    if (open >= limits.max_connections) return std::nullopt;
    auto it = per_client.try_emplace(client, 0).first;
    if (it->second >= limits.max_connections_per_client) {
      if (it->second == 0) per_client.erase(it);
      return std::nullopt;
    }
    ++it->second;
    ++open;
    return ++next_id;
  }

  void track(uint64_t id, std::weak_ptr<ConnectionBase> connection) {
    std::lock_guard lock(mu);
    connections.emplace(id, std::move(connection));
  }

  void release(const std::string& client, uint64_t id) {
    std::lock_guard lock(mu);
    connections.erase(id);
    auto it = per_client.find(client);
    if (it != per_client.end() && --it->second <= 0) per_client.erase(it);
    --open;
  }

  std::vector<std::shared_ptr<ConnectionBase>> liveConnections() {
    std::vector<std::shared_ptr<ConnectionBase>> out;
    std::lock_guard lock(mu);
    for (auto& [id, weak] : connections) {
      if (auto c = weak.lock()) out.push_back(std::move(c));
    }
    return out;
  }

  void requestStarted() { ++requests_in_flight; }
  void requestFinished() {
    if (requests_in_flight.fetch_sub(1) != 1) return;
    std::vector<std::shared_ptr<core::Event>> waiters;
    {
      std::lock_guard lock(mu);
      waiters.swap(drain_waiters);
    }
    for (auto& w : waiters) w->set();
  }
};

namespace {

using State = Server::State;

// Counts one request as in flight (for drain) from its header to its response.
class RequestGuard {
 public:
  explicit RequestGuard(State& s) : s_(&s) { s.requestStarted(); }
  ~RequestGuard() { finish(); }
  RequestGuard(const RequestGuard&) = delete;
  RequestGuard& operator=(const RequestGuard&) = delete;
  void finish() {
    if (s_) std::exchange(s_, nullptr)->requestFinished();
  }

 private:
  State* s_;
};

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

template <typename Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

// One accepted connection: Stream is beast::tcp_stream, or TlsStream (a handshake after the
// accept, and its own closeGracefully); everything else is the same code for both.
template <typename Stream>
class Connection : public ConnectionBase, public std::enable_shared_from_this<Connection<Stream>> {
 public:
  Connection(std::shared_ptr<State> state, uint64_t id, Stream stream, Peer peer)
      : state_(std::move(state)),
        id_(id),
        accepted_at(Clock::now()),
        stream(std::move(stream)),
        peer(std::move(peer)) {}
  ~Connection() override { state_->release(peer.address, id_); }

  void closeIfIdle() override {
    asio::post(stream.get_executor(), [self = this->shared_from_this()] {
      if (!self->idle) return;
      // A request already in the socket is answered (with Connection: close) rather than lost.
      error_code ec;
      auto& socket = beast::get_lowest_layer(self->stream).socket();
      if (socket.available(ec) > 0 && !ec) return;
      socket.cancel(ec);
    });
  }

 private:
  std::shared_ptr<State> state_;
  uint64_t id_;

 public:
  const Clock::time_point accepted_at;
  Stream stream;
  Peer peer;          // the TLS subject is filled in after the handshake, on the strand
  bool idle = false;  // waiting for the first byte of a request; only touched on the strand
};

// Shuts down our side, discards a bounded amount of what the client still sends, closes.
awaitable<void> closeGracefully(beast::tcp_stream& stream, beast::flat_buffer& buffer) {
  error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (!ec) {
    stream.expires_after(kLingerTime);
    std::size_t discarded = 0;
    while (discarded < kLingerBytes) {
      buffer.consume(buffer.size());
      std::size_t n = co_await stream.async_read_some(buffer.prepare(kReadChunk),
                                                      asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      discarded += n;
    }
  }
  stream.close();
}

// TLS: close_notify first (waiting, bounded, for the client's), then as for plain TCP.
awaitable<void> closeGracefully(TlsStream& stream, beast::flat_buffer& buffer) {
  error_code ec;
  beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
  lowest.expires_after(kLingerTime);
  co_await stream.async_shutdown(asio::redirect_error(use_awaitable, ec));
  co_await closeGracefully(lowest, buffer);
}

// The TLS handshake, within the first request's header deadline: a client that starts one
// and never finishes holds the connection no longer than one that sends half a header.
awaitable<bool> handshake(State& s, Connection<TlsStream>& c, Clock::time_point deadline) {
  error_code ec;
  beast::tcp_stream& lowest = beast::get_lowest_layer(c.stream);
  c.idle = true;
  lowest.expires_at(deadline);
  co_await c.stream.async_handshake(asio::ssl::stream_base::server,
                                    asio::redirect_error(use_awaitable, ec));
  c.idle = false;
  if (ec) {
    if (ec == beast::error::timeout) {
      ++s.counters.header_timeouts;
    } else {
      ++s.counters.tls_handshake_failures;
      s.log->debug("TLS handshake with {} failed: {}", c.peer.address, ec.message());
    }
    co_return false;
  }
  c.peer.tls_subject = peerCertificateSubject(c.stream.native_handle());
  if (!c.peer.tls_subject.empty()) {
    s.log->debug("TLS client {} presented certificate subject '{}'", c.peer.address,
                 c.peer.tls_subject);
  }
  co_return true;
}

template <typename Stream>
awaitable<void> reject(State& s, Stream& stream, beast::flat_buffer& buffer, const Rejection& r,
                       unsigned version) {
  Response res{static_cast<bhttp::status>(r.status), version};
  res.set(bhttp::field::server, "firebreak");
  res.set(bhttp::field::content_type, "application/json");
  res.keep_alive(false);
  res.body() = errorBody(r.reason);
  res.prepare_payload();
  error_code ec;
  beast::get_lowest_layer(stream).expires_after(s.limits.write_timeout);
  co_await bhttp::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    if (ec == beast::error::timeout) ++s.counters.write_timeouts;
    co_return;
  }
  countResponse(s.counters, r.status);
  co_await closeGracefully(stream, buffer);
}

// Classifies a failed read, counts it, and answers the client when there is anything to say.
template <typename Stream>
awaitable<void> onReadError(State& s, Connection<Stream>& c, beast::flat_buffer& buffer,
                            const error_code& ec, bool in_body, unsigned version) {
  if (ec == beast::error::timeout) {
    if (in_body) {
      ++s.counters.body_timeouts;
    } else {
      ++s.counters.header_timeouts;
    }
    co_return;
  }
  std::optional<Rejection> rejection = rejectionFor(ec);
  if (!rejection) co_return;
  if (rejection->status == 431) {
    ++s.counters.header_limit_hits;
  } else if (rejection->status == 413) {
    ++s.counters.body_limit_hits;
  } else {
    ++s.counters.malformed_requests;
  }
  s.log->debug("answering {} to {}: {}", rejection->status, c.peer.address, ec.message());
  co_await reject(s, c.stream, buffer, *rejection, version);
}

// Counts the call against max_in_flight and turns a throwing handler into a 500.
awaitable<Response> callHandler(State& s, Request& req, const Peer& peer) {
  if (s.handlers_running.fetch_add(1) >= s.limits.max_in_flight) {
    --s.handlers_running;
    ++s.counters.in_flight_limit_hits;
    Response busy = makeResponse(req, 503, errorBody("server busy"));
    busy.set(bhttp::field::retry_after, "1");
    co_return busy;
  }
  std::optional<Response> res;
  std::string failure;
  try {
    res.emplace(co_await s.handler(req, peer));
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  --s.handlers_running;
  if (!res) {
    ++s.counters.handler_errors;
    s.log->error("handler failed for {} {} from {}: {}", std::string(req.method_string()),
                 loggablePath(req.target()), peer.address, failure);
    res.emplace(makeResponse(req, 500, errorBody("internal error")));
  }
  co_return std::move(*res);
}

// The server's word on framing: the request's version, keep-alive only if both sides (and
// a server not stopping) want it, a length when the handler gave none.
void finalizeResponse(Response& res, unsigned version, bool client_keeps_alive, bool stopping) {
  bool keep_alive = res.keep_alive();
  res.version(version);
  res.keep_alive(keep_alive && client_keeps_alive && !stopping);
  if (res.find(bhttp::field::server) == res.end()) res.set(bhttp::field::server, "firebreak");
  if (!res.has_content_length() && !res.chunked()) res.prepare_payload();
}

template <typename Stream>
awaitable<void> serve(State& s, Connection<Stream>& c) {
  Stream& stream = c.stream;
  auto& lowest = beast::get_lowest_layer(stream);
  const Limits& limits = s.limits;
  beast::flat_buffer buffer;
  bool first = true;
  if constexpr (kIsTls<Stream>) {
    bool shaken = co_await handshake(s, c, c.accepted_at + limits.header_timeout);
    if (!shaken) co_return;
  }
  for (;;) {
    error_code ec;
    // 1. The start of a request: the first one within header_timeout of the accept, later
    // ones within idle_timeout of the previous answer. The header deadline starts here.
    Clock::time_point header_deadline = Clock::now() + limits.header_timeout;
    if (first) header_deadline = c.accepted_at + limits.header_timeout;
    if (buffer.size() == 0) {
      if (s.stopping) co_return;
      c.idle = true;
      if (first) {
        lowest.expires_at(header_deadline);
      } else {
        lowest.expires_after(limits.idle_timeout);
      }
      std::size_t n = co_await stream.async_read_some(buffer.prepare(kReadChunk),
                                                      asio::redirect_error(use_awaitable, ec));
      c.idle = false;
      if (ec) {
        if (ec == beast::error::timeout && first) ++s.counters.header_timeouts;
        if (ec == beast::error::timeout && !first) ++s.counters.idle_timeouts;
        co_return;
      }
      buffer.commit(n);
      if (!first) header_deadline = Clock::now() + limits.header_timeout;
    }
    first = false;

    // 2. The header, within its limit and deadline.
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(limits.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    parser.body_limit(limits.max_body_bytes);
    lowest.expires_at(header_deadline);
    co_await bhttp::async_read_header(stream, buffer, parser,
                                      asio::redirect_error(use_awaitable, ec));
    if (ec) {
      co_await onReadError(s, c, buffer, ec, false, 11);
      co_return;
    }
    RequestGuard in_flight(s);
    const unsigned version = parser.get().version();
    if (std::optional<Rejection> bad = validateHeader(parser.get())) {
      ++s.counters.malformed_requests;
      in_flight.finish();
      unsigned answer_version = 11;
      if (version == 10) answer_version = 10;
      co_await reject(s, stream, buffer, *bad, answer_version);
      co_return;
    }

    // 3. Expect: 100-continue (a Content-Length over the limit already failed the header).
    if (version >= 11 && !parser.is_done() && parser.get().count(bhttp::field::expect) > 0) {
      bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, version};
      lowest.expires_after(limits.write_timeout);
      co_await bhttp::async_write(stream, go_on, asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (ec == beast::error::timeout) ++s.counters.write_timeouts;
        co_return;
      }
      countResponse(s.counters, 100);
    }

    // 4. The body, within its limit and deadline.
    if (!parser.is_done()) {
      lowest.expires_after(limits.body_timeout);
      co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
      if (ec) {
        in_flight.finish();
        co_await onReadError(s, c, buffer, ec, true, version);
        co_return;
      }
    }
    lowest.expires_never();

    // 5. The answer.
    Request req = parser.release();
    const bool client_keeps_alive = req.keep_alive();  // before the handler may move req
    Response res = co_await callHandler(s, req, c.peer);
    finalizeResponse(res, version, client_keeps_alive, s.stopping);
    lowest.expires_after(limits.write_timeout);
    co_await bhttp::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == beast::error::timeout) ++s.counters.write_timeouts;
      co_return;
    }
    ++s.counters.requests;
    countResponse(s.counters, res.result_int());
    in_flight.finish();
    if (res.need_eof()) {
      co_await closeGracefully(stream, buffer);
      co_return;
    }
  }
}

template <typename Stream>
awaitable<void> runConnection(std::shared_ptr<State> s, std::shared_ptr<Connection<Stream>> c) {
  try {
    co_await serve(*s, *c);
  } catch (const std::exception& e) {
    s->log->error("connection from {} failed: {}", c->peer.address, e.what());
  }
  error_code ec;
  beast::get_lowest_layer(c->stream).socket().close(ec);
}

template <typename Stream>
void spawnConnection(const std::shared_ptr<State>& s, uint64_t id, Stream stream, Peer peer,
                     const asio::any_io_executor& executor) {
  auto connection = std::make_shared<Connection<Stream>>(s, id, std::move(stream), std::move(peer));
  s->track(id, connection);
  asio::co_spawn(executor, runConnection(s, connection), asio::detached);
}

awaitable<void> acceptLoop(std::shared_ptr<State> s) {
  asio::steady_timer pause(s->strand);
  bool failing = false;
  for (;;) {
    error_code ec;
    // Each connection gets its own strand: handlers may run on several threads.
    asio::any_io_executor connection_executor = asio::make_strand(s->executor);
    tcp::socket socket = co_await s->acceptor.async_accept(connection_executor,
                                                           asio::redirect_error(use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !s->acceptor.is_open()) break;
    if (ec) {
      ++s->counters.accept_errors;
      if (!failing) {
        s->log->warn("accept on {} failed: {}; pausing {} ms between attempts", s->address,
                     ec.message(), kAcceptPause.count());
      }
      failing = true;
      pause.expires_after(kAcceptPause);
      co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    if (failing) s->log->info("accepting on {} again", s->address);
    failing = false;
    if (s->stopping) {
      ++s->counters.connections_refused;
      socket.close(ec);
      continue;
    }
    tcp::endpoint remote = socket.remote_endpoint(ec);
    if (ec) {
      socket.close(ec);
      continue;
    }
    Peer peer = peerFrom(remote);
    std::optional<uint64_t> id = s->admit(peer.address);
    if (!id) {
      ++s->counters.connections_refused;
      s->log->debug("refusing a connection from {}: connection limit", peer.address);
      socket.close(ec);
      continue;
    }
    ++s->counters.connections_accepted;
    socket.set_option(tcp::no_delay(true), ec);
    if (s->tls) {
      peer.tls = true;
      TlsStream stream(beast::tcp_stream(std::move(socket)), s->tls->context);
      spawnConnection(s, *id, std::move(stream), std::move(peer), connection_executor);
    } else {
      spawnConnection(s, *id, beast::tcp_stream(std::move(socket)), std::move(peer),
                      connection_executor);
    }
  }
}

}  // namespace

std::optional<Rejection> validateHeader(const Request& header) {
  if (header.version() != 10 && header.version() != 11) {
    return Rejection{505, "HTTP version not supported"};
  }
  std::size_t hosts = header.count(bhttp::field::host);
  if (hosts > 1 || (header.version() == 11 && hosts == 0)) {
    return Rejection{400, "exactly one Host header is required"};
  }
  if (header.count(bhttp::field::transfer_encoding) > 0 && !header.chunked()) {
    return Rejection{400, "unsupported Transfer-Encoding"};
  }
  if (header.count(bhttp::field::expect) > 1) return Rejection{417, "unsupported Expect"};
  auto expect = header.find(bhttp::field::expect);
  if (expect != header.end() && !beast::iequals(expect->value(), "100-continue")) {
    return Rejection{417, "unsupported Expect"};
  }
  return std::nullopt;
}

Response makeResponse(const Request& request, unsigned status, std::string body,
                      std::string content_type) {
  Response res{static_cast<bhttp::status>(status), request.version()};
  res.set(bhttp::field::server, "firebreak");
  if (!content_type.empty()) res.set(bhttp::field::content_type, content_type);
  res.keep_alive(request.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Server::Server(std::shared_ptr<State> state) : state_(std::move(state)) {}

Server::~Server() {
  if (state_) stopAccepting();
}

core::Result<std::unique_ptr<Server>> Server::bind(asio::any_io_executor executor,
                                                   const std::string& host, uint16_t port,
                                                   Limits limits, Handler handler,
                                                   std::shared_ptr<TlsContext> tls) {
  const std::string where = "cannot listen on " + hostPort(host, port);
  if (!handler) return core::fail(core::ErrorCode::kInvalidArgument, where + ": no handler");
  if (limits.max_header_bytes == 0 || limits.max_connections < 1 ||
      limits.max_connections_per_client < 1 || limits.max_in_flight < 1) {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      where +
                          ": limits must be positive (max_header_bytes, max_connections, "
                          "max_connections_per_client, max_in_flight)");
  }
  error_code ec;
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      where + ": '" + host + "' is not an IPv4 or IPv6 address");
  }
  auto state = std::make_shared<State>(executor, limits, std::move(handler), std::move(tls));
  tcp::endpoint endpoint(address, port);
  tcp::acceptor& acceptor = state->acceptor;
  auto failed = [&](const char* what) {
    core::ErrorCode code = core::ErrorCode::kIo;
    if (ec == asio::error::access_denied) code = core::ErrorCode::kPermissionDenied;
    if (ec == asio::error::address_in_use) code = core::ErrorCode::kUnavailable;
    return core::fail(core::Error(code, where + ": " + ec.message()).context(what));
  };
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return failed("opening the socket");
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return failed("setting SO_REUSEADDR");
  acceptor.bind(endpoint, ec);
  if (ec) return failed("binding");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return failed("listening");
  state->port = acceptor.local_endpoint(ec).port();
  if (ec) return failed("reading the bound port");
  state->address = hostPort(host, state->port);
  return std::unique_ptr<Server>(new Server(std::move(state)));
}

uint16_t Server::port() const { return state_->port; }

void Server::start() {
  if (state_->started.exchange(true)) return;
  const char* scheme = "HTTP";
  if (state_->tls) scheme = "HTTPS";
  if (state_->tls && state_->tls->client_certificates) {
    scheme = "HTTPS, client certificates required";
  }
  state_->log->info("listening on {} ({})", state_->address, scheme);
  asio::co_spawn(state_->strand, acceptLoop(state_), asio::detached);
}

void Server::stopAccepting() {
  std::shared_ptr<State> s = state_;
  s->stopping = true;
  asio::post(s->strand, [s] {
    error_code ec;
    s->acceptor.close(ec);
  });
  for (auto& connection : s->liveConnections()) connection->closeIfIdle();
}

core::awaitable<void> Server::drain() {
  std::shared_ptr<State> s = state_;
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  for (;;) {
    auto done = std::make_shared<core::Event>(executor);
    {
      std::lock_guard lock(s->mu);
      s->drain_waiters.push_back(done);
    }
    if (s->requests_in_flight.load() == 0) {
      std::lock_guard lock(s->mu);
      std::erase(s->drain_waiters, done);
      co_return;
    }
    co_await done->wait();
  }
}

ServerStats Server::stats() const {
  const Counters& c = state_->counters;
  ServerStats out;
  out.connections_accepted = c.connections_accepted;
  out.connections_refused = c.connections_refused;
  {
    std::lock_guard lock(state_->mu);
    out.connections_open = static_cast<uint64_t>(state_->open);
  }
  out.accept_errors = c.accept_errors;
  out.requests = c.requests;
  for (std::size_t i = 0; i < out.responses_by_class.size(); ++i) {
    out.responses_by_class[i] = c.responses_by_class[i];
  }
  out.header_timeouts = c.header_timeouts;
  out.body_timeouts = c.body_timeouts;
  out.idle_timeouts = c.idle_timeouts;
  out.write_timeouts = c.write_timeouts;
  out.header_limit_hits = c.header_limit_hits;
  out.body_limit_hits = c.body_limit_hits;
  out.malformed_requests = c.malformed_requests;
  out.in_flight_limit_hits = c.in_flight_limit_hits;
  out.handler_errors = c.handler_errors;
  out.tls_handshake_failures = c.tls_handshake_failures;
  out.requests_in_flight = static_cast<uint64_t>(std::max<int64_t>(0, state_->requests_in_flight));
  out.handlers_running = static_cast<uint64_t>(std::max<int64_t>(0, state_->handlers_running));
  return out;
}

}  // namespace firebreak::http
