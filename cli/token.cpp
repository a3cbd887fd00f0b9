// firebreak token hash | token new: the SHA-256 that api.tokens[].sha256 holds, so a token
// never has to be written into the config (or anywhere the daemon reads).
#include <openssl/rand.h>

#include <iostream>
#include <fstream>
#include <sstream>

#include "cli/common.h"
#include "daemon/app/api_auth.h"

namespace firebreak::cli {

void addToken(CLI::App& app, Globals& g) {
  auto* cmd = app.add_subcommand("token", "Make API tokens and the hashes the config holds");
  cmd->require_subcommand(1);
  auto file = std::make_shared<std::string>();

  auto* hash = cmd->add_subcommand(
      "hash", "Print the SHA-256 of a token read from stdin (or --token-file) for api.tokens");
  hash->add_option("--token-file", *file, "Read the token from this file instead of stdin");
  hash->callback([&g, file] {
    std::stringstream ss;
    if (file->empty()) {
      ss << std::cin.rdbuf();
    } else {
      std::ifstream in(*file, std::ios::binary);
      if (!in) {
        printError(*file + ": cannot read it");
        g.exit_code = kExitFailed;
        return;
      }
      ss << in.rdbuf();
    }
    std::string token = ss.str();
    // One trailing newline is what `echo` and editors add; it is not part of the token.
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    if (token.empty()) {
      printError("no token given on stdin");
      g.exit_code = kExitUsage;
      return;
    }
    std::cout << app::sha256Hex(token) << "\n";
  });

  auto* make = cmd->add_subcommand(
      "new",
      "Print a new random token and its SHA-256 (keep the token, put the hash in the config)");
  make->callback([&g] {
    unsigned char rnd[32];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
      printError("no random bytes available");
      g.exit_code = kExitFailed;
      return;
    }
    static const char* kHex = "0123456789abcdef";
    std::string token = "fbk_";
    for (unsigned char c : rnd) {
      token += kHex[c >> 4];
      token += kHex[c & 15];
    }
    if (g.json) {
      std::cout << core::Json{{"token", token}, {"sha256", app::sha256Hex(token)}}.dump(2) << "\n";
      return;
    }
    std::cout << "token   " << token << "\nsha256  " << app::sha256Hex(token) << "\n";
  });
}

}  // namespace firebreak::cli
