#include "daemon/http/tls.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace firebreak::http {
namespace {

// Mozilla's "intermediate" TLS 1.2 list: ECDHE key exchange and AEAD ciphers only. TLS 1.3
// suites are OpenSSL's defaults, all of which qualify.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Sessions resumed with a ticket skip certificate verification, so OpenSSL refuses them
// unless the context names itself.
constexpr unsigned char kSessionContext[] = "firebreakd";

// The newest OpenSSL error on this thread as text, and the queue emptied.
std::string openSslError() {
  unsigned long code = ERR_peek_last_error();
  std::string text = "unknown OpenSSL error";
  if (code != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    text = buffer;
    // "error:0480006C:PEM routines::no start line" -> "PEM routines::no start line"
    auto second = text.find(':', text.find(':') + 1);
    if (text.starts_with("error:") && second != std::string::npos) text = text.substr(second + 1);
  }
  ERR_clear_error();
  return text;
}

std::string fileLabel(const char* option, const std::string& path) {
  return std::string("tls.") + option + " '" + path + "'";
}

// OpenSSL's message for a missing file is "system lib"; errno's is clearer and names the cause.
core::Status checkReadable(const char* option, const std::string& path) {
  if (path.empty()) {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      std::string("tls.") + option + ": no file given");
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    core::ErrorCode code = core::ErrorCode::kIo;
    if (err == ENOENT) code = core::ErrorCode::kNotFound;
    if (err == EACCES || err == EPERM) code = core::ErrorCode::kPermissionDenied;
    return core::fail(code, fileLabel(option, path) + ": cannot read it: " + std::strerror(err));
  }
  ::close(fd);
  return {};
}

core::Error invalid(const char* option, const std::string& path, const std::string& what) {
  return core::Error(core::ErrorCode::kInvalidArgument,
                     fileLabel(option, path) + ": " + what + " (" + openSslError() + ")");
}

}  // namespace

core::Result<std::shared_ptr<TlsContext>> makeServerTlsContext(const TlsOptions& options) {
  for (auto [option, path] :
       {std::pair<const char*, const std::string*>{"cert", &options.cert}, {"key", &options.key}}) {
    if (auto readable = checkReadable(option, *path); !readable) {
      return core::fail(readable.error());
    }
  }
  if (!options.client_ca.empty()) {
    if (auto readable = checkReadable("client_ca", options.client_ca); !readable) {
      return core::fail(readable.error());
    }
  }

  ERR_clear_error();
  auto tls = std::make_shared<TlsContext>();
  SSL_CTX* ctx = tls->context.native_handle();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return core::fail(core::ErrorCode::kInternal, "TLS: cannot require TLS 1.2: " + openSslError());
  }
  // Client-initiated renegotiation costs the server a handshake per request: refused.
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    return core::fail(core::ErrorCode::kInternal, "TLS: cipher list refused: " + openSslError());
  }
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);

  if (SSL_CTX_use_certificate_chain_file(ctx, options.cert.c_str()) != 1) {
    return core::fail(invalid("cert", options.cert, "not a PEM certificate chain"));
  }
  const std::string mismatch =
      "does not match the certificate of " + fileLabel("cert", options.cert);
  if (SSL_CTX_use_PrivateKey_file(ctx, options.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    // Loading a key checks it against the certificate already loaded.
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      return core::fail(invalid("key", options.key, mismatch));
    }
    return core::fail(invalid("key", options.key, "not a PEM private key"));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) return core::fail(invalid("key", options.key, mismatch));

  if (!options.client_ca.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, options.client_ca.c_str(), nullptr) != 1) {
      return core::fail(invalid("client_ca", options.client_ca, "not a PEM CA bundle"));
    }
    // The names the server sends in its CertificateRequest, so clients pick the right cert.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca.c_str());
    if (names == nullptr) {
      return core::fail(invalid("client_ca", options.client_ca, "holds no CA certificate"));
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    tls->client_certificates = true;
  }
  ERR_clear_error();
  return tls;
}

std::string peerCertificateSubject(ssl_st* ssl) {
  if (ssl == nullptr) return {};
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return {};
  X509_NAME* name = X509_get_subject_name(cert);
  if (name == nullptr) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  std::string out;
  if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    if (n > 0 && data != nullptr) out.assign(data, static_cast<std::size_t>(n));
  }
  BIO_free(bio);
  // Subjects are attacker-chosen text headed for log lines: bounded.
  if (out.size() > 256) {
    out.resize(256);
    out.append("...");
  }
  return out;
}

}  // namespace firebreak::http
