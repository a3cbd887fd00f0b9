#include "daemon/app/secrets.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace firebreak::app {

core::Result<std::string> ProcessSecretResolver::resolve(std::string_view reference) const {
  using core::ErrorCode;
  if (reference.rfind("env:", 0) == 0) {
    std::string name(reference.substr(4));
    const char* value = std::getenv(name.c_str());
    if (!value || !*value)
      return core::fail(ErrorCode::kNotFound, "environment variable " + name + " is not set");
    return std::string(value);
  }
  if (reference.rfind("file:", 0) == 0) {
    std::string path(reference.substr(5));
    std::ifstream in(path, std::ios::binary);
    if (!in) return core::fail(ErrorCode::kNotFound, "cannot read secret file " + path);
    std::ostringstream buf;
    buf << in.rdbuf();
    std::string value = buf.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    return value;
  }
  return std::string(reference);
}

}  // namespace firebreak::app
