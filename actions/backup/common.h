// What the four backup providers share: result messages, parameter access, running blocking
// work on the pool, and finding the backup a step names.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "actions/backup/manifest.h"
#include "daemon/core/action.h"

namespace firebreak::actions::backup {

inline constexpr const char* kCreateAction = "backup.create";
inline constexpr const char* kVerifyAction = "backup.verify";
inline constexpr const char* kRestoreAction = "backup.restore";
inline constexpr const char* kUndoRestoreAction = "backup.undo_restore";

inline constexpr const char* kDirectoryKind = "directory";
inline constexpr const char* kSqliteKind = "sqlite";

std::unique_ptr<core::ActionProvider> makeCreateProvider(const core::ActionEnv& env);
std::unique_ptr<core::ActionProvider> makeVerifyProvider(const core::ActionEnv& env);
std::unique_ptr<core::ActionProvider> makeRestoreProvider(const core::ActionEnv& env);
std::unique_ptr<core::ActionProvider> makeUndoRestoreProvider(const core::ActionEnv& env);

// " [step 'restore-db', attempt 2]": every message names the step and the attempt.
std::string stepSuffix(const core::ActionRequest& request);
// "<action>: <message> (while ...) [step ..., attempt n]". kIo, kUnavailable and kTimeout
// (cancelled) are retryable; bad input, missing files and damaged backups are permanent.
core::ActionResult failure(std::string_view action, const core::ActionRequest& request,
                           const core::Error& error, core::Json output = core::Json::object());
bool isRetryable(core::ErrorCode code);

// A string parameter; "" when absent or null.
std::string stringParam(const core::Json& params, std::string_view name);
std::optional<int64_t> intParam(const core::Json& params, std::string_view name);
core::Error invalidParam(std::string message);
// Checks that `name` holds an absolute path (when present, or always when `required`).
core::Status checkAbsolute(const core::Json& params, std::string_view name, bool required);
// Checks `backup` ("latest" or an absolute path) and `dest_dir` (needed for "latest").
core::Status checkBackupRef(const core::Json& params);
core::Status checkKind(const core::Json& params, bool required);

const core::Clock& clockOf(const core::ActionEnv& env);

// The backup a step names: "latest" (or nothing) is the newest complete backup in `dest_dir`
// of that kind (and source, when given); a path must have its manifest beside it.
core::Result<BackupRef> resolveBackup(const std::string& backup, const std::string& dest_dir,
                                      const std::string& kind, const std::string& source);

// Where verify decompresses a database: <data_dir>/tmp, or the system temp directory.
std::string scratchDir(const core::ActionEnv& env);

// Moves a SQLite database's -wal and -journal (committed data a checkpoint has not reached
// yet) from `from` to `to` when they exist, and removes its -shm (rebuilt on open). Safe to
// repeat, so a resumed step can call it again.
core::Status moveSqliteCompanions(const std::string& from, const std::string& to);
// Renames `from` to `to`, with the companions first when `sqlite`.
core::Status moveWithCompanions(const std::string& from, const std::string& to, bool sqlite);

// An awaitable that yields `result` (owned, deleted once read).
core::awaitable<core::ActionResult> readyResult(core::ActionResult* result);

// Runs fn() -> ActionResult on env.blocking (inline, now, when there is no pool) and turns
// anything it throws into a permanent failure: execute() never throws. Not a coroutine, and
// callers name its result before co_await: GCC 12 destroys non-trivial temporaries and
// by-value callables inside co_await expressions twice (core::offload included), so only a
// lambda holding a raw pointer crosses into offload; the job deletes itself after running.
template <typename F>
core::awaitable<core::ActionResult> runBlocking(const core::ActionEnv& env, const char* action,
                                                const core::ActionRequest& request, F fn) {
  auto guarded = [fn = std::move(fn), prefix = std::string(action) + ": internal error",
                  suffix = stepSuffix(request)]() mutable -> core::ActionResult {
    try {
      return fn();
    } catch (const std::exception& e) {
      return core::ActionResult::permanent(prefix + ": " + e.what() + suffix);
    } catch (...) {
      return core::ActionResult::permanent(prefix + suffix);
    }
  };
  using Job = decltype(guarded);
  Job* job = new Job(std::move(guarded));
  auto run = [job]() {
    std::unique_ptr<Job> owned(job);
    return (*owned)();
  };
  if (!env.blocking) return readyResult(new core::ActionResult(run()));
  return core::offload(*env.blocking, run);
}

// The failure for an exception out of the asio machinery around runBlocking.
core::ActionResult internalError(const char* action, const core::ActionRequest& request,
                                 const char* what);

// A provider's plan() or execute(): `fn(request)` runs through runBlocking on the job's own
// copy of the request; an exception from the machinery around it becomes internalError.
template <typename F>
core::awaitable<core::ActionResult> blockingStep(const core::ActionEnv& env, const char* action,
                                                 core::ActionRequest request, F fn) {
  auto job = runBlocking(env, action, request, [fn, copy = request] { return fn(copy); });
  core::ActionResult result;
  try {
    result = co_await std::move(job);
  } catch (const std::exception& e) {
    result = internalError(action, request, e.what());
  }
  co_return result;
}

}  // namespace firebreak::actions::backup
