// HTTPS on the real server: certificates made at test time by tests/data/tls/make-pki.sh,
// real sockets on 127.0.0.1, an OpenSSL client.
#include "daemon/http/tls.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "daemon/http/server.h"
#include "tests/fakes/test_env.h"

namespace firebreak::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace fs = std::filesystem;
namespace ssl = asio::ssl;
using boost::system::error_code;
using std::chrono::milliseconds;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using ClientResponse = bhttp::response<bhttp::string_body>;

constexpr milliseconds kPatience{5000};

using testing::eventually;

// The PKI of tests/data/tls/make-pki.sh, made once for the whole binary.
class Pki {
 public:
  static const Pki& get() {
    static Pki pki;
    return pki;
  }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }
  const fs::path& dir() const { return dir_; }

 private:
  Pki() {
    char templ[] = "/tmp/firebreak-tls-XXXXXX";
    if (::mkdtemp(templ) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = templ;
    std::string cmd = std::string("sh '") + FIREBREAK_SOURCE_DIR +
                      "/tests/data/tls/make-pki.sh' '" + dir_.string() + "' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("make-pki.sh failed: " + cmd);
  }
  ~Pki() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

TlsOptions serverOptions(bool client_certificates = false) {
  const Pki& pki = Pki::get();
  TlsOptions o{pki.file("server.crt"), pki.file("server.key"), ""};
  if (client_certificates) o.client_ca = pki.file("ca.crt");
  return o;
}

// What the handler saw, and an echo of the body (or the target).
struct Seen {
  std::mutex mu;
  std::optional<Peer> peer;
  std::atomic<int> calls{0};
};

Handler recording(Seen& seen) {
  return [&seen](Request& req, const Peer& peer) -> core::awaitable<Response> {
    ++seen.calls;
    {
      std::lock_guard lock(seen.mu);
      seen.peer = peer;
    }
    std::string body = req.body();
    if (body.empty()) body = std::string(req.target());
    co_return makeResponse(req, 200, std::move(body), "text/plain");
  };
}

class TlsServer {
 public:
  explicit TlsServer(TlsOptions options, Limits limits = {}) {
    auto tls = makeServerTlsContext(options);
    if (!tls) throw std::runtime_error(tls.error().str());
    tls_ = *tls;
    limits_ = limits;
  }
  ~TlsServer() {
    if (server_) {
      std::promise<void> done;
      asio::post(io_, [&] {
        server_->stopAccepting();
        done.set_value();
      });
      done.get_future().wait();
    }
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  void start(Handler handler) {
    auto bound =
        Server::bind(io_.get_executor(), "127.0.0.1", 0, limits_, std::move(handler), tls_);
    ASSERT_TRUE(bound.has_value()) << bound.error().str();
    server_ = std::move(*bound);
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  uint16_t port() const { return server_->port(); }
  ServerStats stats() const { return server_->stats(); }

 private:
  std::shared_ptr<TlsContext> tls_;
  Limits limits_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

// An HTTPS client that trusts the test CA; every operation gives up after kPatience.
class TlsClient {
 public:
  // cert_name: "client", "other-client" or empty for none.
  explicit TlsClient(const std::string& cert_name = "") : ctx_(ssl::context::tls_client) {
    const Pki& pki = Pki::get();
    ctx_.load_verify_file(pki.file("ca.crt"));
    ctx_.set_verify_mode(ssl::verify_peer);
    if (!cert_name.empty()) {
      ctx_.use_certificate_chain_file(pki.file(cert_name + ".crt"));
      ctx_.use_private_key_file(pki.file(cert_name + ".key"), ssl::context::pem);
    }
    stream_.emplace(io_, ctx_);
  }

  // TCP connect and the TLS handshake (checking the server's name 127.0.0.1).
  error_code connect(uint16_t port) {
    error_code ec;
    beast::get_lowest_layer(*stream_).socket().connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return ec;
    SSL_set1_host(stream_->native_handle(), "127.0.0.1");
    return run([&](auto done) { stream_->async_handshake(ssl::stream_base::client, done); });
  }

  error_code send(const std::string& raw) {
    return run([&](auto done) { asio::async_write(*stream_, asio::buffer(raw), done); });
  }

  // The next response, or nothing if the connection failed or closed first.
  std::optional<ClientResponse> read() {
    ClientResponse res;
    error_code ec = run([&](auto done) { bhttp::async_read(*stream_, buffer_, res, done); });
    if (ec) return std::nullopt;
    return res;
  }

 private:
  template <typename Start>
  error_code run(Start start) {
    error_code out = asio::error::would_block;
    beast::get_lowest_layer(*stream_).expires_after(kPatience);
    start([&out](error_code ec, std::size_t = 0) { out = ec; });
    io_.restart();
    io_.run();
    return out;
  }

  asio::io_context io_;
  ssl::context ctx_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
};

std::string get(const std::string& target) {
  return "GET " + target + " HTTP/1.1\r\nHost: test\r\n\r\n";
}

// Reads until the server closes, within kPatience; returns what arrived.
std::optional<std::string> readUntilClosed(tcp::socket& socket) {
  std::string got;
  auto deadline = Clock::now() + kPatience;
  socket.non_blocking(true);
  for (;;) {
    char tmp[4096];
    error_code ec;
    std::size_t n = socket.read_some(asio::buffer(tmp), ec);
    if (ec == asio::error::would_block) {
      if (Clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(milliseconds(5));
      continue;
    }
    if (ec) return got;
    got.append(tmp, n);
  }
}

TEST(TlsTest, HttpsRequestAndResponse) {
  Seen seen;
  TlsServer ts(serverOptions());
  ts.start(recording(seen));
  TlsClient c;
  ASSERT_FALSE(c.connect(ts.port())) << "handshake";
  ASSERT_FALSE(c.send("POST /hooks/x HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello"));
  auto res = c.read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->result_int(), 200u);
  EXPECT_EQ(res->body(), "hello");
  std::lock_guard lock(seen.mu);
  ASSERT_TRUE(seen.peer.has_value());
  EXPECT_TRUE(seen.peer->tls);
  EXPECT_EQ(seen.peer->tls_subject, "");  // no client certificate asked for
  EXPECT_EQ(seen.peer->address, "127.0.0.1");
}

TEST(TlsTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  Seen seen;
  TlsServer ts(serverOptions());
  ts.start(recording(seen));
  TlsClient c;
  ASSERT_FALSE(c.connect(ts.port()));
  for (int i = 0; i < 3; ++i) {
    ASSERT_FALSE(c.send(get("/n" + std::to_string(i))));
    auto res = c.read();
    ASSERT_TRUE(res.has_value()) << "request " << i;
    EXPECT_EQ(res->body(), "/n" + std::to_string(i));
    EXPECT_TRUE(res->keep_alive());
  }
  EXPECT_TRUE(eventually([&] { return ts.stats().requests == 3; }));
  EXPECT_EQ(ts.stats().connections_accepted, 1u);
}

TEST(TlsTest, PlainHttpToTheTlsPortIsRefusedAndTheServerKeepsServing) {
  Seen seen;
  TlsServer ts(serverOptions());
  ts.start(recording(seen));
  asio::io_context io;
  tcp::socket plain(io);
  plain.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), ts.port()));
  asio::write(plain, asio::buffer(get("/")));
  auto got = readUntilClosed(plain);
  ASSERT_TRUE(got.has_value()) << "the server did not close the plain connection";
  EXPECT_EQ(got->find("HTTP/1.1 200"), std::string::npos);
  EXPECT_TRUE(eventually([&] { return ts.stats().tls_handshake_failures == 1; }));
  EXPECT_EQ(seen.calls.load(), 0);

  TlsClient c;
  ASSERT_FALSE(c.connect(ts.port()));
  ASSERT_FALSE(c.send(get("/after")));
  auto res = c.read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->body(), "/after");
}

TEST(TlsTest, AHandshakeThatNeverFinishesIsCutOffByTheHeaderTimeout) {
  Limits limits;
  limits.header_timeout = milliseconds(300);
  Seen seen;
  TlsServer ts(serverOptions(), limits);
  ts.start(recording(seen));
  asio::io_context io;
  // One client says nothing; the other starts a ClientHello record and stops.
  tcp::socket silent(io), partial(io);
  silent.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), ts.port()));
  partial.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), ts.port()));
  const char hello_start[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
  asio::write(partial, asio::buffer(hello_start, sizeof hello_start));
  auto start = Clock::now();
  EXPECT_TRUE(readUntilClosed(silent).has_value());
  EXPECT_TRUE(readUntilClosed(partial).has_value());
  auto took = Clock::now() - start;
  EXPECT_GE(took, milliseconds(200));
  EXPECT_TRUE(eventually([&] { return ts.stats().header_timeouts == 2; }));
  EXPECT_EQ(ts.stats().tls_handshake_failures, 0u);
  EXPECT_TRUE(eventually([&] { return ts.stats().connections_open == 0; }));
}

TEST(TlsTest, ConnectionsPerClientLimitAppliesToTls) {
  Limits limits;
  limits.max_connections_per_client = 1;
  Seen seen;
  TlsServer ts(serverOptions(), limits);
  ts.start(recording(seen));
  TlsClient first;
  ASSERT_FALSE(first.connect(ts.port()));
  TlsClient second;
  EXPECT_TRUE(second.connect(ts.port())) << "a second connection from the same address";
  EXPECT_TRUE(eventually([&] { return ts.stats().connections_refused == 1; }));
  ASSERT_FALSE(first.send(get("/still")));
  auto res = first.read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->body(), "/still");
}

TEST(TlsTest, ClientCertificateIsRequiredWithAClientCa) {
  Seen seen;
  TlsServer ts(serverOptions(true));
  ts.start(recording(seen));
  TlsClient c;  // no certificate
  // With TLS 1.3 the client's side of the handshake may complete before the server refuses.
  if (!c.connect(ts.port())) {
    c.send(get("/"));
    EXPECT_FALSE(c.read().has_value());
  }
  EXPECT_TRUE(eventually([&] { return ts.stats().tls_handshake_failures == 1; }));
  EXPECT_EQ(seen.calls.load(), 0);
}

TEST(TlsTest, ClientCertificateFromTheCaIsAcceptedAndItsSubjectReachesTheHandler) {
  Seen seen;
  TlsServer ts(serverOptions(true));
  ts.start(recording(seen));
  TlsClient c("client");
  ASSERT_FALSE(c.connect(ts.port()));
  ASSERT_FALSE(c.send(get("/mtls")));
  auto res = c.read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->result_int(), 200u);
  std::lock_guard lock(seen.mu);
  ASSERT_TRUE(seen.peer.has_value());
  EXPECT_EQ(seen.peer->tls_subject, "CN=client-one,O=Firebreak Test");
}

TEST(TlsTest, ClientCertificateFromAnotherCaIsRefused) {
  Seen seen;
  TlsServer ts(serverOptions(true));
  ts.start(recording(seen));
  TlsClient c("other-client");
  if (!c.connect(ts.port())) {
    c.send(get("/"));
    EXPECT_FALSE(c.read().has_value());
  }
  EXPECT_TRUE(eventually([&] { return ts.stats().tls_handshake_failures == 1; }));
  EXPECT_EQ(seen.calls.load(), 0);
}

// A scratch directory for files the context must refuse.
class TlsFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/firebreak-tls-bad-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, ec);
    fs::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  fs::path dir_;
};

TEST_F(TlsFilesTest, MissingKeyNamesTheFile) {
  TlsOptions o = serverOptions();
  o.key = (dir_ / "nope.key").string();
  auto made = makeServerTlsContext(o);
  ASSERT_FALSE(made.has_value());
  EXPECT_EQ(made.error().message(),
            "tls.key '" + o.key + "': cannot read it: No such file or directory");
}

TEST_F(TlsFilesTest, MissingCertAndClientCaNameTheirFiles) {
  TlsOptions o = serverOptions();
  o.cert = (dir_ / "nope.crt").string();
  auto made = makeServerTlsContext(o);
  ASSERT_FALSE(made.has_value());
  EXPECT_EQ(made.error().message(),
            "tls.cert '" + o.cert + "': cannot read it: No such file or directory");
  o = serverOptions();
  o.client_ca = (dir_ / "ca.pem").string();
  made = makeServerTlsContext(o);
  ASSERT_FALSE(made.has_value());
  EXPECT_EQ(made.error().message(),
            "tls.client_ca '" + o.client_ca + "': cannot read it: No such file or directory");
}

TEST_F(TlsFilesTest, UnreadableKeyNamesTheFile) {
  TlsOptions o = serverOptions();
  o.key = write("server.key", "");
  fs::copy_file(Pki::get().file("server.key"), o.key, fs::copy_options::overwrite_existing);
  ::chmod(o.key.c_str(), 0);
  if (::geteuid() == 0) {
    // root reads any file; a directory where the key should be is unreadable to everyone.
    fs::remove(o.key);
    fs::create_directory(o.key);
  }
  auto made = makeServerTlsContext(o);
  ASSERT_FALSE(made.has_value());
  EXPECT_TRUE(made.error().message().starts_with("tls.key '" + o.key + "': "))
      << made.error().message();
  if (::geteuid() != 0) {
    EXPECT_EQ(made.error().message(), "tls.key '" + o.key + "': cannot read it: Permission denied");
  }
}

TEST_F(TlsFilesTest, GarbageKeyAndMismatchedKeyAreRefused) {
  TlsOptions o = serverOptions();
  o.key = write("garbage.key", "not a key\n");
  auto made = makeServerTlsContext(o);
  ASSERT_FALSE(made.has_value());
  EXPECT_TRUE(
      made.error().message().starts_with("tls.key '" + o.key + "': not a PEM private key ("))
      << made.error().message();

  o = serverOptions();
  o.key = Pki::get().file("client.key");
  made = makeServerTlsContext(o);
  ASSERT_FALSE(made.has_value());
  EXPECT_TRUE(made.error().message().starts_with(
      "tls.key '" + o.key + "': does not match the certificate of tls.cert '" + o.cert + "'"))
      << made.error().message();
}

TEST_F(TlsFilesTest, GarbageCertIsRefused) {
  TlsOptions o = serverOptions();
  o.cert = write("garbage.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  auto made = makeServerTlsContext(o);
  ASSERT_FALSE(made.has_value());
  EXPECT_TRUE(made.error().message().starts_with("tls.cert '" + o.cert +
                                                 "': not a PEM certificate chain ("))
      << made.error().message();
}

TEST(TlsContextTest, OnlyTls12AndLaterAreOffered) {
  auto made = makeServerTlsContext(serverOptions());
  ASSERT_TRUE(made.has_value()) << made.error().str();
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*made)->context.native_handle()), TLS1_2_VERSION);
  EXPECT_FALSE((*made)->client_certificates);
  auto mutual = makeServerTlsContext(serverOptions(true));
  ASSERT_TRUE(mutual.has_value()) << mutual.error().str();
  EXPECT_TRUE((*mutual)->client_certificates);
}

TEST(TlsTest, ATls11ClientIsRefused) {
  Seen seen;
  TlsServer ts(serverOptions());
  ts.start(recording(seen));
  asio::io_context io;
  ssl::context ctx(ssl::context::tls_client);
  SSL_CTX_set_security_level(ctx.native_handle(), 0);  // let the client offer TLS 1.1
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_1_VERSION);
  SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_1_VERSION);
  beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
  beast::get_lowest_layer(stream).connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), ts.port()));
  beast::get_lowest_layer(stream).expires_after(kPatience);
  error_code ec;
  stream.async_handshake(ssl::stream_base::client, [&](error_code e) { ec = e; });
  io.run();
  EXPECT_TRUE(ec);
  EXPECT_NE(ec, beast::error::timeout);
  beast::get_lowest_layer(stream).close();  // whichever side gave up, the server sees the end
  EXPECT_TRUE(eventually([&] { return ts.stats().tls_handshake_failures == 1; }));
}

}  // namespace
}  // namespace firebreak::http
