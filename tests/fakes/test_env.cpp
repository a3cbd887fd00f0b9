#include "tests/fakes/test_env.h"

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

namespace firebreak::testing {

TempDir::TempDir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("firebreak-test-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string sourceDir() {
#ifdef FIREBREAK_SOURCE_DIR
  return FIREBREAK_SOURCE_DIR;
#else
  return ".";
#endif
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

void writeFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

core::Result<std::string> MapSecretResolver::resolve(std::string_view reference) const {
  if (reference.rfind("env:", 0) == 0) {
    auto it = values.find(std::string(reference.substr(4)));
    if (it == values.end())
      return core::fail(core::ErrorCode::kNotFound,
                        "environment variable " + std::string(reference.substr(4)) + " is not set");
    return it->second;
  }
  return std::string(reference);
}

}  // namespace firebreak::testing
