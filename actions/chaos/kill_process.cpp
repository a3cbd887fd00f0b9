// `chaos.kill_process`: sends a signal to the processes a pid file or an exact name points to,
// never to pid 1, to Firebreak itself or to its parent. Re-executing with the same idempotency
// key signals nothing again: a marker under <data_dir>/chaos records what was signalled (a
// drill's fault is injected at most once, even when the service came back under the same name).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "actions/backup/common.h"
#include "actions/backup/fs_util.h"
#include "actions/chaos/common.h"

namespace firebreak::actions::chaos {
namespace {

using core::ActionRequest;
using core::ActionResult;
using core::ErrorCode;
using core::fail;
using core::Json;
using core::ParamType;

struct Signal {
  const char* name;
  int number;
};
constexpr Signal kSignals[] = {{"KILL", SIGKILL}, {"TERM", SIGTERM}, {"INT", SIGINT},
                               {"HUP", SIGHUP},   {"QUIT", SIGQUIT}, {"USR1", SIGUSR1},
                               {"USR2", SIGUSR2}, {"STOP", SIGSTOP}, {"CONT", SIGCONT}};

core::Result<Signal> parseSignal(std::string name) {
  for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name.rfind("SIG", 0) == 0) name.erase(0, 3);
  for (const auto& s : kSignals)
    if (name == s.name) return s;
  return fail(ErrorCode::kInvalidArgument,
              "'signal' is '" + name + "', not one of KILL, TERM, INT, HUP, QUIT, USR1, USR2, "
                                       "STOP, CONT (with or without SIG)");
}

struct Params {
  std::string pid_file;
  std::string name;
  Signal signal{"TERM", SIGTERM};
  bool all = false;
};

core::Result<Params> parseParams(const Json& params) {
  Params p;
  p.pid_file = backup::stringParam(params, "pid_file");
  p.name = backup::stringParam(params, "name");
  if (p.pid_file.empty() == p.name.empty())
    return fail(ErrorCode::kInvalidArgument,
                "give exactly one of 'pid_file' and 'name' (the process to signal)");
  if (auto s = checkAbsolute(params, "pid_file", false); !s) return fail(s.error());
  if (p.name.find('/') != std::string::npos)
    return fail(ErrorCode::kInvalidArgument,
                "'name' is '" + p.name + "': an exact process name, not a path");
  std::string sig = backup::stringParam(params, "signal");
  if (sig.empty()) sig = "TERM";
  auto s = parseSignal(sig);
  if (!s) return fail(s.error());
  p.signal = *s;
  if (auto a = params.find("all"); a != params.end() && !a->is_null()) {
    if (!a->is_boolean()) return fail(ErrorCode::kInvalidArgument, "'all' must be true or false");
    p.all = a->get<bool>();
  }
  return p;
}

// A /proc file's content, "" when unreadable. Plain read(): a process may exit while it is
// read (ESRCH), and std::ifstream throws then.
std::string readProc(pid_t pid, const char* file) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + file;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1 << 16)) break;  // argv[0] and the state are at the start
  }
  ::close(fd);
  return out;
}

struct ProcInfo {
  bool alive = false;  // exists and is not a zombie (a zombie can no longer do anything)
  std::string comm;
  std::string argv0;  // basename of argv[0]
};

ProcInfo procInfo(pid_t pid) {
  ProcInfo info;
  std::string stat = readProc(pid, "stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos || stat.size() < close + 3) return info;
  char state = stat[close + 2];
  info.alive = state != 'Z' && state != 'X';
  info.comm = readProc(pid, "comm");
  while (!info.comm.empty() && info.comm.back() == '\n') info.comm.pop_back();
  std::string cmdline = readProc(pid, "cmdline");
  std::string argv0 = cmdline.substr(0, cmdline.find('\0'));
  if (auto slash = argv0.rfind('/'); slash != std::string::npos) argv0.erase(0, slash + 1);
  info.argv0 = argv0;
  return info;
}

bool nameMatches(const ProcInfo& info, const std::string& name) {
  return info.comm == name || info.argv0 == name;
}

// pid 1, Firebreak itself and its parent: killing any of them is never a drill.
bool untouchable(pid_t pid) { return pid == 1 || pid == ::getpid() || pid == ::getppid(); }

std::string pidList(const std::vector<pid_t>& pids) {
  std::string out;
  for (auto pid : pids) out += (out.empty() ? "" : ", ") + std::to_string(pid);
  return out;
}

// The processes it would signal, checked against the scope.
core::Result<std::vector<pid_t>> findTargets(const Params& p, const Scope& scope) {
  std::vector<pid_t> pids;
  if (!p.pid_file.empty()) {
    auto real = pathInScope(scope, p.pid_file, "pid file");
    if (!real) return fail(real.error());
    auto text = backup::readSmallFile(*real, 64);
    if (!text) return fail(text.error());
    std::string t = *text;
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.erase(0, 1);
    if (t.empty() || t.size() > 9 || t.find_first_not_of("0123456789") != std::string::npos)
      return fail(ErrorCode::kInvalidArgument,
                  "pid file " + p.pid_file + " holds '" + t + "', not a process id");
    pid_t pid = static_cast<pid_t>(std::stol(t));
    if (pid <= 0) return fail(ErrorCode::kInvalidArgument, "pid file " + p.pid_file + " holds 0");
    if (untouchable(pid))
      return fail(ErrorCode::kPermissionDenied,
                  "pid file " + p.pid_file + " names pid " + std::to_string(pid) +
                      " (init, Firebreak itself or its parent): refused");
    auto info = procInfo(pid);
    if (!info.alive)
      return fail(ErrorCode::kNotFound, "pid " + std::to_string(pid) + " from " + p.pid_file +
                                            " is not running");
    // The pid file is in scope; the process it names must be too (a stale pid file may point
    // at an unrelated process that reused the pid).
    if (!processInScope(scope, info.comm) && !processInScope(scope, info.argv0))
      return fail(ErrorCode::kPermissionDenied,
                  "pid " + std::to_string(pid) + " from " + p.pid_file + " is '" + info.comm +
                      "', outside the scope " + scope.text + ": refused");
    pids.push_back(pid);
    return pids;
  }
  if (!processInScope(scope, p.name))
    return fail(ErrorCode::kPermissionDenied,
                "process '" + p.name + "' is outside the scope " + scope.text + ": refused");
  DIR* dir = ::opendir("/proc");
  if (!dir) {
    int err = errno;
    return fail(backup::sysError(err, "opendir /proc"));
  }
  while (auto* e = ::readdir(dir)) {
    std::string_view n = e->d_name;
    if (n.empty() || n.find_first_not_of("0123456789") != std::string_view::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(std::string(n)));
    if (untouchable(pid)) continue;
    auto info = procInfo(pid);
    if (info.alive && nameMatches(info, p.name)) pids.push_back(pid);
  }
  ::closedir(dir);
  std::sort(pids.begin(), pids.end());
  if (pids.empty())
    return fail(ErrorCode::kNotFound, "no running process is named '" + p.name + "'");
  if (pids.size() > 1 && !p.all)
    return fail(ErrorCode::kFailedPrecondition,
                std::to_string(pids.size()) + " processes are named '" + p.name + "' (pids " +
                    pidList(pids) + "); set all: true to signal every one");
  return pids;
}

std::string target(const Params& p) {
  return p.pid_file.empty() ? "'" + p.name + "'" : "the process of " + p.pid_file;
}

class KillProcess final : public core::ActionProvider {
 public:
  explicit KillProcess(const core::ActionEnv& env) : env_(env) {
    spec_.name = kKillProcess;
    spec_.summary = "Chaos: signal a process (by pid file or exact name) inside the drill's scope";
    spec_.params = {
        scopeParam(),
        {"pid_file", ParamType::kString, false, nullptr,
         "absolute path of a pid file (under scope.paths; its process's name in scope.processes)",
         {}},
        {"name", ParamType::kString, false, nullptr,
         "exact process name (/proc/<pid>/comm or the basename of argv[0]), in scope.processes",
         {}},
        {"signal", ParamType::kString, false, "TERM",
         "KILL, TERM, INT, HUP, QUIT, USR1, USR2, STOP or CONT, with or without SIG", {}},
        {"all", ParamType::kBool, false, false,
         "signal every process of that name (otherwise more than one is an error)", {}},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.phase = core::Phase::kObserve;  // a fault injection, not a response phase
    spec_.outputs = {"pids", "signal"};
  }

  const core::ActionSpec& spec() const override { return spec_; }

  core::Status validate(const Json& params) const override {
    if (auto p = parseParams(params); !p) return fail(p.error());
    return {};
  }

  core::awaitable<ActionResult> plan(const ActionRequest& request) override {
    return backup::blockingStep(env_, kKillProcess, request,
                                [this](const ActionRequest& r) { return run(r, true); });
  }

  core::awaitable<ActionResult> execute(const ActionRequest& request) override {
    return backup::blockingStep(env_, kKillProcess, request,
                                [this](const ActionRequest& r) { return run(r, false); });
  }

 private:
  ActionResult run(const ActionRequest& req, bool dry_run) const {
    auto p = parseParams(req.params);
    if (!p) return backup::failure(kKillProcess, req, p.error());
    auto scope = parseScope(req.params);
    if (!scope) return backup::failure(kKillProcess, req, scope.error());
    const std::string sig = std::string("SIG") + p->signal.name;

    // A replay of this step: what it signalled the first time, and nothing more.
    std::string marker;
    if (!dry_run && !req.idempotency_key.empty()) {
      auto dir = stateDir(env_.data_dir);
      if (!dir) return backup::failure(kKillProcess, req, dir.error());
      marker = backup::joinPath(*dir, keyHash(req.idempotency_key) + ".kill");
      if (backup::pathExists(marker)) {
        auto text = backup::readSmallFile(marker, 1 << 16);
        if (!text) return backup::failure(kKillProcess, req, text.error());
        Json out = Json::parse(*text, nullptr, false);
        if (out.is_object())
          return ActionResult::success(out, std::string(kKillProcess) + ": already sent " +
                                                out.value("signal", sig) + " to pids " +
                                                out.value("pids", Json::array()).dump() +
                                                " for this step; nothing sent again" +
                                                backup::stepSuffix(req));
      }
    }

    // The scope check happens here, in plan and execute alike.
    auto pids = findTargets(*p, *scope);
    if (!pids) return backup::failure(kKillProcess, req, pids.error());
    Json pid_json = Json::array();
    for (auto pid : *pids) pid_json.push_back(pid);
    if (dry_run) {
      ActionResult r = ActionResult::success(
          {{"plan", {{"action", kKillProcess}, {"pids", pid_json}, {"signal", sig}}}},
          std::string(kKillProcess) + ": would send " + sig + " to " + target(*p) + " (pids " +
              pidList(*pids) + ")" + backup::stepSuffix(req));
      r.resources = static_cast<int64_t>(pids->size());
      return r;
    }
    // The marker goes first: a crash after the kill must not lead to a second one.
    Json out = {{"pids", pid_json}, {"signal", sig}};
    if (!marker.empty())
      if (auto s = backup::writeFileAtomic(marker, out.dump()); !s)
        return backup::failure(kKillProcess, req, s.error());
    Json sent = Json::array();
    std::vector<std::string> problems;
    for (auto pid : *pids) {
      if (::kill(pid, p->signal.number) == 0) {
        sent.push_back(pid);
      } else if (errno != ESRCH) {  // gone in between: nothing left to signal
        problems.push_back("kill(" + std::to_string(pid) + ", " + sig + "): " + errnoText(errno));
      }
    }
    if (sent.empty()) {
      if (!marker.empty()) (void)backup::removeFile(marker);
      std::string why = problems.empty() ? "every process exited before the signal" : problems[0];
      return backup::failure(kKillProcess, req,
                             core::Error(problems.empty() ? ErrorCode::kNotFound
                                                          : ErrorCode::kPermissionDenied,
                                         "nothing signalled for " + target(*p) + ": " + why));
    }
    out["pids"] = sent;
    if (!marker.empty()) (void)backup::writeFileAtomic(marker, out.dump());
    std::string msg = std::string(kKillProcess) + ": sent " + sig + " to " + target(*p) +
                      " (pids " + sent.dump() + ")";
    for (const auto& pr : problems) msg += "; " + pr;
    return ActionResult::success(out, msg + backup::stepSuffix(req));
  }

  core::ActionEnv env_;
  core::ActionSpec spec_;
};

}  // namespace

std::unique_ptr<core::ActionProvider> makeKillProcess(const core::ActionEnv& env) {
  return std::make_unique<KillProcess>(env);
}

}  // namespace firebreak::actions::chaos
