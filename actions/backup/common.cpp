#include "actions/backup/common.h"

#include <filesystem>

#include "actions/backup/fs_util.h"

namespace firebreak::actions::backup {

std::string stepSuffix(const core::ActionRequest& request) {
  return " [step '" + request.step_id + "', attempt " + std::to_string(request.attempt) + "]";
}

core::awaitable<core::ActionResult> readyResult(core::ActionResult* result) {
  std::unique_ptr<core::ActionResult> owned(result);
  co_return std::move(*owned);
}

core::ActionResult internalError(const char* action, const core::ActionRequest& request,
                                 const char* what) {
  return core::ActionResult::permanent(std::string(action) + ": internal error: " + what +
                                       stepSuffix(request));
}

bool isRetryable(core::ErrorCode code) {
  return code == core::ErrorCode::kIo || code == core::ErrorCode::kUnavailable ||
         code == core::ErrorCode::kTimeout;
}

core::ActionResult failure(std::string_view action, const core::ActionRequest& request,
                           const core::Error& error, core::Json output) {
  std::string message = std::string(action) + ": " + error.message();
  for (const auto& what : error.trail()) message += " (while " + what + ")";
  message += stepSuffix(request);
  if (request.log) request.log->warn("{}", message);
  return isRetryable(error.code()) ? core::ActionResult::retryable(message, std::move(output))
                                   : core::ActionResult::permanent(message, std::move(output));
}

std::string stringParam(const core::Json& params, std::string_view name) {
  auto it = params.find(name);
  if (it == params.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

std::optional<int64_t> intParam(const core::Json& params, std::string_view name) {
  auto it = params.find(name);
  if (it == params.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

core::Error invalidParam(std::string message) {
  return core::Error(core::ErrorCode::kInvalidArgument, std::move(message));
}

core::Status checkAbsolute(const core::Json& params, std::string_view name, bool required) {
  std::string value = stringParam(params, name);
  if (value.empty()) {
    if (!required) return {};
    return core::fail(invalidParam("parameter '" + std::string(name) + "' is required"));
  }
  if (value[0] != '/')
    return core::fail(invalidParam("parameter '" + std::string(name) +
                                   "' must be an absolute path, got '" + value + "'"));
  if (normalizePath(value) == "/")
    return core::fail(invalidParam("parameter '" + std::string(name) + "' must not be '/'"));
  return {};
}

core::Status checkBackupRef(const core::Json& params) {
  std::string backup = stringParam(params, "backup");
  if (backup.empty() || backup == "latest")
    return checkAbsolute(params, "dest_dir", true).map_error([](core::Error e) {
      return invalidParam("parameter 'dest_dir' is required (an absolute path) when 'backup' is "
                          "'latest': " + e.message());
    });
  if (backup[0] != '/')
    return core::fail(invalidParam(
        "parameter 'backup' must be 'latest' or an absolute path, got '" + backup + "'"));
  return checkAbsolute(params, "dest_dir", false);
}

core::Status checkKind(const core::Json& params, bool required) {
  std::string kind = stringParam(params, "kind");
  if (kind.empty() && !required) return {};
  if (kind != kDirectoryKind && kind != kSqliteKind)
    return core::fail(invalidParam("parameter 'kind' must be 'directory' or 'sqlite', got '" +
                                   kind + "'"));
  return {};
}

const core::Clock& clockOf(const core::ActionEnv& env) {
  static const core::SystemClock kSystemClock;
  return env.clock ? *env.clock : kSystemClock;
}

core::Result<BackupRef> resolveBackup(const std::string& backup, const std::string& dest_dir,
                                      const std::string& kind, const std::string& source) {
  if (backup.empty() || backup == "latest") {
    auto list = listBackups(dest_dir, kind, source);
    if (!list) return core::fail(list.error());
    if (list->empty()) {
      std::string what = kind.empty() ? "" : kind + " ";
      std::string of = source.empty() ? "" : " of " + source;
      return core::fail(core::ErrorCode::kNotFound,
                        "no complete " + what + "backup" + of + " in " + dest_dir);
    }
    return std::move(list->front());
  }
  BackupRef ref;
  ref.path = normalizePath(backup);
  ref.manifest_path = manifestPathFor(ref.path);
  if (!pathExists(ref.path))
    return core::fail(core::ErrorCode::kNotFound, ref.path + ": no such backup");
  auto manifest = readManifest(ref.manifest_path);
  if (!manifest) {
    if (manifest.error().code() == core::ErrorCode::kNotFound)
      return core::fail(core::ErrorCode::kFailedPrecondition,
                        ref.path + ": incomplete backup (no manifest " + ref.manifest_path + ")");
    return core::fail(manifest.error());
  }
  if (manifest->backup != baseName(ref.path))
    return core::fail(core::ErrorCode::kFailedPrecondition,
                      ref.manifest_path + ": describes '" + manifest->backup + "', not " +
                          baseName(ref.path));
  if (!kind.empty() && manifest->kind != kind)
    return core::fail(core::ErrorCode::kInvalidArgument,
                      ref.path + ": is a " + manifest->kind + " backup, not " + kind);
  ref.manifest = std::move(*manifest);
  return ref;
}

std::string scratchDir(const core::ActionEnv& env) {
  if (!env.data_dir.empty()) return joinPath(env.data_dir, "tmp");
  return std::filesystem::temp_directory_path().string();
}

core::Status moveSqliteCompanions(const std::string& from, const std::string& to) {
  for (const char* suffix : {"-wal", "-journal"}) {
    if (pathExists(from + suffix)) {
      if (auto s = renamePath(from + suffix, to + suffix); !s) return s;
    }
  }
  return removeFile(from + "-shm");
}

core::Status moveWithCompanions(const std::string& from, const std::string& to, bool sqlite) {
  if (sqlite) {
    if (auto s = moveSqliteCompanions(from, to); !s) return s;
  }
  return renamePath(from, to);
}

}  // namespace firebreak::actions::backup
