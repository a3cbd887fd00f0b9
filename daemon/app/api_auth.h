// Management API tokens: the config names each token with the SHA-256 of its secret and a
// role; the daemon keeps only those digests. A request's bearer token is hashed and compared
// with every digest in constant time (CRYPTO_memcmp, no early exit), so neither the time
// taken nor the order of the list tells how close a guess was.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config/config.h"

namespace firebreak::app {

struct Identity {
  std::string name;  // the token's name: logged and recorded, never the token
  config::Role role = config::Role::kViewer;
};

// viewer < responder < admin: each role may do what the lower ones may.
inline bool allows(config::Role have, config::Role need) {
  return static_cast<int>(have) >= static_cast<int>(need);
}
std::optional<config::Role> parseRole(std::string_view name);

// 64 lowercase hex digits.
std::string sha256Hex(std::string_view data);

class TokenAuth {
 public:
  // The config reader has checked the hex form; a digest that does not decode is an error.
  static core::Result<TokenAuth> create(const std::vector<config::ApiToken>& tokens);

  // The value of an Authorization header ("Bearer <token>"); nullopt when it is missing,
  // malformed or matches no token.
  std::optional<Identity> authenticate(std::string_view authorization) const;
  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    Identity identity;
    std::array<unsigned char, 32> digest{};
  };
  std::vector<Entry> entries_;
};

}  // namespace firebreak::app
