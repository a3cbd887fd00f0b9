#include "daemon/app/api_auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace firebreak::app {

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<config::Role> parseRole(std::string_view name) {
  if (name == "viewer") return config::Role::kViewer;
  if (name == "responder") return config::Role::kResponder;
  if (name == "admin") return config::Role::kAdmin;
  return std::nullopt;
}

std::string sha256Hex(std::string_view data) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

core::Result<TokenAuth> TokenAuth::create(const std::vector<config::ApiToken>& tokens) {
  TokenAuth auth;
  for (const auto& t : tokens) {
    Entry e;
    e.identity = Identity{t.name, t.role};
    if (t.sha256.size() != 64)
      return core::fail(core::ErrorCode::kInvalidArgument,
                        "api.tokens '" + t.name + "': sha256 is not 64 hex digits");
    for (size_t i = 0; i < 32; ++i) {
      int hi = hexValue(t.sha256[2 * i]), lo = hexValue(t.sha256[2 * i + 1]);
      if (hi < 0 || lo < 0)
        return core::fail(core::ErrorCode::kInvalidArgument,
                          "api.tokens '" + t.name + "': sha256 is not 64 hex digits");
      e.digest[i] = static_cast<unsigned char>(hi * 16 + lo);
    }
    auth.entries_.push_back(std::move(e));
  }
  return auth;
}

std::optional<Identity> TokenAuth::authenticate(std::string_view authorization) const {
  constexpr std::string_view kPrefix = "Bearer ";
  if (authorization.size() <= kPrefix.size() || authorization.substr(0, kPrefix.size()) != kPrefix)
    return std::nullopt;
  std::string_view token = authorization.substr(kPrefix.size());
  if (token.size() > 4096) return std::nullopt;
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), d);
  const Entry* found = nullptr;
  for (const auto& e : entries_)  // every entry, even after a match
    if (CRYPTO_memcmp(d, e.digest.data(), sizeof d) == 0) found = &e;
  if (!found) return std::nullopt;
  return found->identity;
}

}  // namespace firebreak::app
