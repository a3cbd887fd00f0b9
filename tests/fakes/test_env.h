// Helpers for tests: temporary directories, source paths, running a coroutine to completion.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "daemon/core/action.h"
#include "daemon/core/asio.h"

namespace firebreak::testing {

// A fresh directory under the system temp dir, removed when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The repository root (for playbooks/, tests/data/, ../shared/fixtures/).
std::string sourceDir();

std::string readFile(const std::string& path);
void writeFile(const std::string& path, const std::string& content);

// Polls `condition` every 2 ms until it holds or `patience` passes (false then): tests wait
// for a condition, never for a fixed time. The patience is an upper bound, not an expectation.
template <typename Pred>
bool eventually(Pred condition,
                std::chrono::milliseconds patience = std::chrono::milliseconds(10000)) {
  auto end = std::chrono::steady_clock::now() + patience;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// Runs a coroutine on a fresh io_context until it finishes and returns its value.
template <typename T>
T runAwaitable(core::awaitable<T> aw) {
  asio::io_context io;
  std::optional<T> out;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) out.emplace(std::move(value));
  });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

// Secrets from a map: "env:NAME" looks NAME up.
class MapSecretResolver final : public core::SecretResolver {
 public:
  std::map<std::string, std::string> values;
  core::Result<std::string> resolve(std::string_view reference) const override;
};

}  // namespace firebreak::testing
