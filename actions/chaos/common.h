// What the chaos providers share: the scope every one of them must stay inside, parameter
// parsing (sizes, integers), names tied to the idempotency key, and result messages.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/action.h"

namespace firebreak::actions::chaos {

inline constexpr const char* kKillProcess = "chaos.kill_process";
inline constexpr const char* kFillDisk = "chaos.fill_disk";
inline constexpr const char* kRemoveFill = "chaos.remove_fill";
inline constexpr const char* kCorruptFile = "chaos.corrupt_file";
inline constexpr const char* kRestoreFile = "chaos.restore_file";
inline constexpr const char* kBlockPort = "chaos.block_port";
inline constexpr const char* kUnblockPort = "chaos.unblock_port";

// The name prefix of every file fill_disk creates: remove_fill deletes nothing else.
inline constexpr std::string_view kFillPrefix = "firebreak-fill-";

std::unique_ptr<core::ActionProvider> makeKillProcess(const core::ActionEnv& env);
std::unique_ptr<core::ActionProvider> makeFillDisk(const core::ActionEnv& env);
std::unique_ptr<core::ActionProvider> makeRemoveFill(const core::ActionEnv& env);
std::unique_ptr<core::ActionProvider> makeCorruptFile(const core::ActionEnv& env);
std::unique_ptr<core::ActionProvider> makeRestoreFile(const core::ActionEnv& env);
std::unique_ptr<core::ActionProvider> makeBlockPort(const core::ActionEnv& env);
std::unique_ptr<core::ActionProvider> makeUnblockPort(const core::ActionEnv& env);

// What a chaos action may touch: the drill's declared scope (or the step author's).
struct Scope {
  std::vector<std::string> paths;  // canonical where they exist
  std::vector<std::string> processes;
  std::vector<int64_t> ports;
  std::string text;  // for messages: {paths: [...], processes: [...], ports: [...]}
};

// The `scope` parameter every chaos action declares (required).
core::ParamSpec scopeParam();
// Reads params.scope; an error when it is missing or malformed. Touches the file system only to
// canonicalize the scope's paths (realpath), so a symlinked scope dir still compares equal.
core::Result<Scope> parseScope(const core::Json& params);

// The canonical form of `path` (realpath: every symlink resolved) when it lies under one of the
// scope's paths; a kPermissionDenied error naming both otherwise. `what` names the target.
core::Result<std::string> pathInScope(const Scope& scope, const std::string& path,
                                      std::string_view what);
core::Status portInScope(const Scope& scope, int64_t port);
bool processInScope(const Scope& scope, const std::string& name);

// A size: an integer of bytes, or a string "4096", "10MB", "512MiB", "1GiB", "2k" (SI and IEC
// units, case-insensitive B). `name` names the parameter in errors.
core::Result<int64_t> parseSize(const core::Json& value, std::string_view name);
// An integer parameter (an integer, or a string of digits from a template); `fallback` when
// absent or null.
core::Result<int64_t> intParam(const core::Json& params, std::string_view name, int64_t fallback);

// The first 16 hex digits of the key's SHA-256: ties file names and rules to one step.
std::string keyHash(const std::string& idempotency_key);

// Whether `v` is an absolute path string; `name` names the parameter in the error.
core::Status checkAbsolute(const core::Json& params, std::string_view name, bool required);

// "<dir>/chaos" under env.data_dir, created (0700) when missing.
core::Result<std::string> stateDir(const std::string& data_dir);

// errno text.
std::string errnoText(int err);

}  // namespace firebreak::actions::chaos
