// TLS for the HTTP server: the server's OpenSSL context (TLS 1.2 and later, forward-secret AEAD
// ciphers only, no renegotiation, no compression) and, with a client CA, mutual TLS.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "daemon/core/asio.h"
#include "daemon/core/result.h"

struct ssl_st;

namespace firebreak::http {

struct TlsOptions {
  std::string cert;       // PEM certificate chain, the server's first
  std::string key;        // PEM private key of cert
  std::string client_ca;  // PEM CA bundle; empty: no client certificate is asked for
};

// Not changed once built; shared by every connection of a Server.
struct TlsContext {
  asio::ssl::context context{asio::ssl::context::tls_server};
  bool client_certificates = false;  // a client certificate signed by client_ca is required
};

// Reads and checks the files now, so a daemon with an unreadable or mismatched key does not
// start. Errors name the option and the file: "tls.key '/etc/firebreak/tls.key': cannot read
// it: Permission denied".
core::Result<std::shared_ptr<TlsContext>> makeServerTlsContext(const TlsOptions& options);

// The verified client certificate's subject as RFC 2253 text ("CN=am-1,O=Monitoring"), or
// empty when the client sent none.
std::string peerCertificateSubject(ssl_st* ssl);

}  // namespace firebreak::http
