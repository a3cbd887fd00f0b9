// Runs a child process without a shell: its own process group, only the environment given,
// bounded output, a deadline and a cancel flag. Blocking: call it through core::offload().
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/asio.h"
#include "daemon/core/result.h"

namespace firebreak::actions::builtin {

// The PATH a child gets when its environment does not set one.
inline constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct ProcessSpec {
  std::string path;               // executable to run, absolute (see findExecutable)
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // "NAME=value", the child's whole environment
  std::string cwd = "/";
  std::optional<std::string> stdin_data;  // nullopt: stdin is /dev/null
  std::chrono::milliseconds timeout{60'000};
  size_t max_output = 65536;  // per stream; the rest is read and discarded
  std::chrono::milliseconds kill_grace{2000};  // SIGTERM to SIGKILL
  const core::CancelFlag* cancel = nullptr;
};

struct ProcessResult {
  enum class End { kExited, kSignaled, kTimedOut, kCancelled };
  End end = End::kExited;
  int exit_code = -1;  // kExited: the status; kSignaled: 128 + signal, as shells report it
  int signal = 0;      // kSignaled: the signal
  std::string out;
  std::string err;
  bool out_truncated = false;
  bool err_truncated = false;
  std::chrono::milliseconds duration{0};
};

// Starts the child and waits for it. On timeout or cancel the child's whole process group gets
// SIGTERM, then SIGKILL after kill_grace. An error means the child never ran: kNotFound or
// kPermissionDenied for the executable ("<path>: No such file or directory"), kIo otherwise.
core::Result<ProcessResult> runProcess(const ProcessSpec& spec);

// `name` when it holds a slash, else the first executable regular file called `name` in the
// colon-separated `path_var` (like execvp, but decided in the parent so messages are clear).
core::Result<std::string> findExecutable(std::string_view name, std::string_view path_var);

}  // namespace firebreak::actions::builtin
