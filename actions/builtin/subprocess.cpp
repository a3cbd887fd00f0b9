#include "actions/builtin/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace firebreak::actions::builtin {
namespace {

using Clock = std::chrono::steady_clock;
using core::ErrorCode;
using core::fail;

// How often the loop looks at the cancel flag, and how long output is still read after the
// child exits while something it started (a background job) keeps its pipes open.
constexpr std::chrono::milliseconds kTick{50};
constexpr std::chrono::milliseconds kDrainAfterExit{100};

std::string errnoText(int err) {
  char buf[256];
  return strerror_r(err, buf, sizeof buf);  // the GNU variant returns the text
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

core::Status makePipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return fail(ErrorCode::kIo, "cannot create a pipe: " + errnoText(errno));
  read_end = Fd(fds[0]);
  write_end = Fd(fds[1]);
  return {};
}

void setNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Writing to the stdin of a child that exited raises SIGPIPE, which would kill the daemon
// unless it ignores SIGPIPE; block it on this thread only and discard what was raised here.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~SigpipeBlock() {
    if (!sigismember(&old_, SIGPIPE)) {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGPIPE);
      timespec zero{};
      while (sigtimedwait(&set, nullptr, &zero) > 0) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t old_;
};

// posix_spawn's attribute and file-action objects, destroyed on every path.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

std::vector<char*> cStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// One output stream of the child: read to EOF, keep the first `max` bytes, discard the rest
// (so the child never blocks on a full pipe).
struct Stream {
  Fd fd;
  std::string* data;
  bool* truncated;
  size_t max;

  // Reads what is available, a bounded number of times so the loop still sees its deadline.
  void read(std::string& buf) {
    for (int i = 0; i < 16 && fd.open(); ++i) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n > 0) {
        size_t room = max - std::min(max, data->size());
        data->append(buf.data(), std::min(room, static_cast<size_t>(n)));
        if (static_cast<size_t>(n) > room) *truncated = true;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      fd.reset();  // EOF or a read error: nothing more will come
    }
  }
};

int waitMs(Clock::time_point now, Clock::time_point until) {
  if (until <= now) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(until - now);
  return static_cast<int>(std::min(ms, kTick).count());
}

}  // namespace

core::Result<std::string> findExecutable(std::string_view name, std::string_view path_var) {
  if (name.empty()) return fail(ErrorCode::kInvalidArgument, "the command name is empty");
  auto usable = [](const std::string& path, int& err) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      err = errno;
      return false;
    }
    if (!S_ISREG(st.st_mode) || ::access(path.c_str(), X_OK) != 0) {
      err = EACCES;
      return false;
    }
    return true;
  };
  int err = 0;
  if (name.find('/') != std::string_view::npos) {
    std::string path(name);
    if (usable(path, err)) return path;
    return fail(err == ENOENT || err == ENOTDIR ? ErrorCode::kNotFound
                                                : ErrorCode::kPermissionDenied,
                path + ": " + errnoText(err));
  }
  size_t pos = 0;
  while (pos <= path_var.size()) {
    size_t end = path_var.find(':', pos);
    if (end == std::string_view::npos) end = path_var.size();
    auto dir = path_var.substr(pos, end - pos);
    // An empty entry means the current directory to execvp; never search it.
    if (!dir.empty() && dir.front() == '/') {
      std::string candidate = std::string(dir) + "/" + std::string(name);
      if (usable(candidate, err)) return candidate;
    }
    pos = end + 1;
  }
  return fail(ErrorCode::kNotFound,
              std::string(name) + ": command not found on PATH " + std::string(path_var));
}

core::Result<ProcessResult> runProcess(const ProcessSpec& spec) {
  if (spec.argv.empty()) return fail(ErrorCode::kInvalidArgument, "argv is empty");
  SigpipeBlock sigpipe;

  Fd in_read, in_write, out_read, out_write, err_read, err_write;
  if (spec.stdin_data)
    if (auto s = makePipe(in_read, in_write); !s) return fail(s.error());
  if (auto s = makePipe(out_read, out_write); !s) return fail(s.error());
  if (auto s = makePipe(err_read, err_write); !s) return fail(s.error());

  SpawnSetup setup;
  if (spec.stdin_data)
    posix_spawn_file_actions_adddup2(&setup.actions, in_read.get(), 0);
  else
    posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&setup.actions, out_write.get(), 1);
  posix_spawn_file_actions_adddup2(&setup.actions, err_write.get(), 2);
  posix_spawn_file_actions_addchdir_np(&setup.actions, spec.cwd.c_str());
  // Nothing of the daemon leaks into the child: sockets, the database, other pipes.
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, 3);
  // Its own process group, so a timeout can kill everything it started; default signal
  // dispositions and an empty mask, whatever the calling thread has.
  sigset_t no_signals, all_signals;
  sigemptyset(&no_signals);
  sigfillset(&all_signals);
  posix_spawnattr_setpgroup(&setup.attr, 0);
  posix_spawnattr_setsigmask(&setup.attr, &no_signals);
  posix_spawnattr_setsigdefault(&setup.attr, &all_signals);
  posix_spawnattr_setflags(&setup.attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  // posix_spawn reports exec and chdir failures as its result, so "not found" is an error here
  // and never a child that exits 127.
  auto argv = cStrings(spec.argv);
  auto envp = cStrings(spec.env);
  auto start = Clock::now();
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, spec.path.c_str(), &setup.actions, &setup.attr, argv.data(),
                         envp.data());
  if (rc != 0) {
    ErrorCode code = rc == ENOENT || rc == ENOTDIR ? ErrorCode::kNotFound
                     : rc == EACCES || rc == EPERM ? ErrorCode::kPermissionDenied
                     : rc == ENOEXEC               ? ErrorCode::kInvalidArgument
                                                   : ErrorCode::kIo;
    return fail(code, spec.path + ": " + errnoText(rc));
  }
  in_read.reset();
  out_write.reset();
  err_write.reset();

  ProcessResult result;
  Stream streams[2] = {{std::move(out_read), &result.out, &result.out_truncated, spec.max_output},
                       {std::move(err_read), &result.err, &result.err_truncated, spec.max_output}};
  for (auto& s : streams) setNonBlocking(s.fd.get());
  size_t in_offset = 0;
  if (spec.stdin_data && spec.stdin_data->empty()) in_write.reset();
  if (in_write.open()) setNonBlocking(in_write.get());
  // A pidfd wakes poll() the moment the child exits; without one (old kernels) the loop
  // notices on its next tick.
  // (The raw syscall: glibc 2.36's <sys/pidfd.h> lacks extern "C" and does not link from C++.)
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));

  std::optional<int> status;
  Clock::time_point exited_at;
  auto reap = [&](bool block) {
    if (status) return;
    int st = 0;
    pid_t r;
    do {
      r = ::waitpid(pid, &st, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    // ECHILD: someone else reaped it (SIGCHLD ignored process-wide); its status is lost.
    if (r == pid || (r < 0 && errno == ECHILD)) {
      status = r == pid ? st : -1;
      exited_at = Clock::now();
      pidfd.reset();
    }
  };
  std::string buf(65536, '\0');
  // Polls the open pipes (and the pidfd) for at most `ms`, then moves data.
  auto pump = [&](int ms) {
    pollfd fds[4];
    nfds_t n = 0;
    for (auto& s : streams)
      if (s.fd.open()) fds[n++] = {s.fd.get(), POLLIN, 0};
    int in_index = -1;
    if (in_write.open()) {
      in_index = static_cast<int>(n);
      fds[n++] = {in_write.get(), POLLOUT, 0};
    }
    if (pidfd.open()) fds[n++] = {pidfd.get(), POLLIN, 0};
    if (::poll(fds, n, ms) <= 0) return;
    for (auto& s : streams) s.read(buf);
    if (in_index >= 0 && fds[in_index].revents != 0) {
      const std::string& data = *spec.stdin_data;
      ssize_t w = ::write(in_write.get(), data.data() + in_offset, data.size() - in_offset);
      if (w > 0) in_offset += static_cast<size_t>(w);
      // The child closed its stdin or took it all: either way we are done writing.
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || in_offset == data.size())
        in_write.reset();
    }
  };
  auto streamsOpen = [&] { return streams[0].fd.open() || streams[1].fd.open(); };

  auto deadline = start + spec.timeout;
  ProcessResult::End end = ProcessResult::End::kExited;
  while (true) {
    reap(false);
    auto now = Clock::now();
    if (status) {
      if (!streamsOpen() || now >= exited_at + kDrainAfterExit) break;
      pump(waitMs(now, exited_at + kDrainAfterExit));
      continue;
    }
    if (spec.cancel && spec.cancel->cancelled()) {
      end = ProcessResult::End::kCancelled;
      break;
    }
    if (now >= deadline) {
      end = ProcessResult::End::kTimedOut;
      break;
    }
    pump(waitMs(now, deadline));
  }

  if (end != ProcessResult::End::kExited) {
    // The group id is the child's pid, which stays ours until we reap it; a member that is
    // still alive keeps the group id from being reused after that.
    ::kill(-pid, SIGTERM);
    ::kill(pid, SIGTERM);  // in case it left its group
    auto grace_end = Clock::now() + spec.kill_grace;
    while (true) {
      reap(false);
      if (status && ::kill(-pid, 0) != 0 && errno == ESRCH) break;  // the whole group is gone
      auto now = Clock::now();
      if (now >= grace_end) {
        ::kill(-pid, SIGKILL);
        if (!status) ::kill(pid, SIGKILL);
        break;
      }
      pump(waitMs(now, grace_end));  // keep the pipes moving so nothing blocks on them
    }
    reap(true);
  }
  in_write.reset();

  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  result.end = end;
  if (*status == -1) {
    result.exit_code = -1;
  } else if (WIFEXITED(*status)) {
    result.exit_code = WEXITSTATUS(*status);
  } else if (WIFSIGNALED(*status)) {
    result.signal = WTERMSIG(*status);
    result.exit_code = 128 + result.signal;
    if (end == ProcessResult::End::kExited) result.end = ProcessResult::End::kSignaled;
  }
  return result;
}

}  // namespace firebreak::actions::builtin
