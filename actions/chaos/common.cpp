#include "actions/chaos/common.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cctype>

#include "actions/backup/fs_util.h"

namespace firebreak::actions::chaos {

using core::ErrorCode;
using core::fail;
using core::Json;

std::string errnoText(int err) {
  char buf[256];
  return strerror_r(err, buf, sizeof buf);
}

core::ParamSpec scopeParam() {
  return {"scope", core::ParamType::kObject, true, nullptr,
          "what it may touch: {paths: [absolute dirs or files], processes: [names], ports: "
          "[numbers]}; a drill fills it in from its scope, a hand-written step must state it",
          {}};
}

namespace {

core::Error bad(std::string why) { return core::Error(ErrorCode::kInvalidArgument, std::move(why)); }

// realpath(), or the lexical form when the path does not exist (a scope may name a dir that
// is created later; nothing under it can then exist either).
std::string canonical(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf)) return buf;
  return backup::normalizePath(path);
}

}  // namespace

core::Result<Scope> parseScope(const Json& params) {
  auto it = params.find("scope");
  if (it == params.end() || it->is_null())
    return fail(bad("'scope' is required: {paths, processes, ports}, what the action may touch"));
  if (!it->is_object()) return fail(bad("'scope' must be a mapping {paths, processes, ports}"));
  Scope s;
  for (const auto& [key, value] : it->items()) {
    if (key != "paths" && key != "processes" && key != "ports")
      return fail(bad("'scope' has an unknown key '" + key + "' (paths, processes, ports)"));
    if (value.is_null()) continue;
    if (!value.is_array()) return fail(bad("scope." + key + " must be a list"));
    for (const auto& item : value) {
      if (key == "ports") {
        int64_t port = 0;
        if (item.is_number_integer()) {
          port = item.get<int64_t>();
        } else if (item.is_string() && !item.get_ref<const std::string&>().empty() &&
                   item.get_ref<const std::string&>().find_first_not_of("0123456789") ==
                       std::string::npos &&
                   item.get_ref<const std::string&>().size() < 6) {
          port = std::stoll(item.get<std::string>());
        } else {
          return fail(bad("scope.ports holds " + item.dump() + ", not a port number"));
        }
        if (port < 1 || port > 65535)
          return fail(bad("scope.ports holds " + std::to_string(port) + ", not a port 1-65535"));
        s.ports.push_back(port);
        continue;
      }
      if (!item.is_string() || item.get_ref<const std::string&>().empty())
        return fail(bad("scope." + key + " holds " + item.dump() + ", not a non-empty string"));
      const auto& v = item.get_ref<const std::string&>();
      if (key == "paths") {
        if (v.front() != '/') return fail(bad("scope.paths holds '" + v + "', not an absolute path"));
        s.paths.push_back(canonical(v));
      } else {
        s.processes.push_back(v);
      }
    }
  }
  s.text = it->dump();
  return s;
}

core::Result<std::string> pathInScope(const Scope& scope, const std::string& path,
                                      std::string_view what) {
  char buf[PATH_MAX];
  if (!::realpath(path.c_str(), buf)) {
    int err = errno;
    return fail(backup::sysError(err, std::string(what) + " " + path));
  }
  std::string real = buf;
  for (const auto& allowed : scope.paths)
    if (backup::isWithin(real, allowed)) return real;
  std::string resolved = real == backup::normalizePath(path) ? "" : " (resolves to " + real + ")";
  return fail(ErrorCode::kPermissionDenied, std::string(what) + " " + path + resolved +
                                                " is outside the scope " + scope.text +
                                                ": refused");
}

core::Status portInScope(const Scope& scope, int64_t port) {
  for (auto p : scope.ports)
    if (p == port) return {};
  return fail(ErrorCode::kPermissionDenied,
              "port " + std::to_string(port) + " is outside the scope " + scope.text + ": refused");
}

bool processInScope(const Scope& scope, const std::string& name) {
  for (const auto& p : scope.processes)
    if (p == name) return true;
  return false;
}

core::Result<int64_t> parseSize(const Json& value, std::string_view name) {
  const std::string n(name);
  if (value.is_number_integer()) {
    auto v = value.get<int64_t>();
    if (v < 0) return fail(bad("'" + n + "' must not be negative"));
    return v;
  }
  if (!value.is_string())
    return fail(bad("'" + n + "' must be a number of bytes or a size such as \"512MiB\""));
  std::string s = value.get<std::string>();
  size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == 0 || i > 18)
    return fail(bad("'" + n + "' is '" + s + "', not a size such as 4096, \"10MB\", \"512MiB\""));
  int64_t number = std::stoll(s.substr(0, i));
  std::string unit = s.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  int64_t mult = 1;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "k" || unit == "kb") mult = 1000;
  else if (unit == "m" || unit == "mb") mult = 1000'000;
  else if (unit == "g" || unit == "gb") mult = 1000'000'000;
  else if (unit == "t" || unit == "tb") mult = 1000'000'000'000;
  else if (unit == "kib") mult = int64_t{1} << 10;
  else if (unit == "mib") mult = int64_t{1} << 20;
  else if (unit == "gib") mult = int64_t{1} << 30;
  else if (unit == "tib") mult = int64_t{1} << 40;
  else
    return fail(bad("'" + n + "' has an unknown unit in '" + s +
                    "' (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)"));
  if (number > INT64_MAX / mult) return fail(bad("'" + n + "' is too large: " + s));
  return number * mult;
}

core::Result<int64_t> intParam(const Json& params, std::string_view name, int64_t fallback) {
  auto it = params.find(name);
  if (it == params.end() || it->is_null()) return fallback;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    if (!s.empty() && s.size() < 19 && s.find_first_not_of("0123456789") == std::string::npos)
      return std::stoll(s);
  }
  return fail(bad("'" + std::string(name) + "' must be an integer, not " + it->dump()));
}

std::string keyHash(const std::string& idempotency_key) {
  return backup::sha256Hex(idempotency_key).substr(0, 16);
}

core::Status checkAbsolute(const Json& params, std::string_view name, bool required) {
  auto it = params.find(name);
  if (it == params.end() || it->is_null()) {
    if (required) return fail(bad("'" + std::string(name) + "' is required"));
    return {};
  }
  if (!it->is_string()) return fail(bad("'" + std::string(name) + "' must be a string"));
  const auto& v = it->get_ref<const std::string&>();
  if (v.find("{{") != std::string::npos) return {};  // checked again once rendered
  if (v.empty() || v.front() != '/')
    return fail(bad("'" + std::string(name) + "' must be an absolute path, not '" + v + "'"));
  return {};
}

core::Result<std::string> stateDir(const std::string& data_dir) {
  if (data_dir.empty())
    return fail(ErrorCode::kFailedPrecondition,
                "no data directory: chaos actions keep their state under <data_dir>/chaos");
  ::mkdir(data_dir.c_str(), 0700);  // EEXIST is the usual case; the next mkdir reports the rest
  std::string dir = backup::joinPath(data_dir, "chaos");
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    int err = errno;
    return fail(backup::sysError(err, "creating " + dir));
  }
  return dir;
}

}  // namespace firebreak::actions::chaos
