// `exec.run`: runs a command directly (no shell) with an allowlisted environment, a timeout
// that kills everything it started, and bounded output. The process work runs on the blocking
// pool (subprocess.h).
#include <string.h>
#include <sys/stat.h>

#include "actions/builtin/common.h"
#include "actions/builtin/providers.h"
#include "actions/builtin/subprocess.h"
#include "daemon/core/duration.h"

namespace firebreak::actions::builtin {
namespace {

using core::ActionRequest;
using core::ActionResult;
using core::ErrorCode;
using core::fail;
using core::Json;
using core::ParamType;

constexpr const char* kName = "exec.run";
constexpr int64_t kMaxOutputLimit = int64_t{64} << 20;

struct ExecParams {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;
  std::string cwd = "/";
  std::chrono::milliseconds timeout{60'000};
  int64_t max_output = 65536;
  std::optional<std::string> stdin_data;

  std::string childPath() const {
    for (const auto& [k, v] : env)
      if (k == "PATH") return v;
    return std::string(kDefaultPath);
  }
  std::vector<std::string> childEnv() const {
    std::vector<std::string> out;
    bool has_path = false;
    for (const auto& [k, v] : env) {
      out.push_back(k + "=" + v);
      has_path = has_path || k == "PATH";
    }
    if (!has_path) out.push_back("PATH=" + std::string(kDefaultPath));
    return out;
  }
};

bool hasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// Reads and checks the params. With `templates`, values still holding "{{" pass (validate() may
// run before rendering); execute() and plan() parse rendered params without it.
core::Result<ExecParams> parseParams(const Json& params, bool templates) {
  ExecParams p;
  auto bad = [](std::string why) { return fail(ErrorCode::kInvalidArgument, std::move(why)); };
  auto argv = params.find("argv");
  if (argv == params.end() || !argv->is_array() || argv->empty())
    return bad("'argv' must be a non-empty list: the command and its arguments");
  for (size_t i = 0; i < argv->size(); ++i) {
    const Json& a = (*argv)[i];
    if (!a.is_string()) return bad("argv[" + std::to_string(i) + "] must be a string");
    if (hasNul(a.get_ref<const std::string&>()))
      return bad("argv[" + std::to_string(i) + "] holds a NUL character");
    p.argv.push_back(a.get<std::string>());
  }
  const std::string& cmd = p.argv[0];
  if (cmd.empty()) return bad("argv[0] is empty");
  if (!(templates && isTemplate((*argv)[0])) && cmd.find('/') != std::string::npos &&
      cmd.front() != '/')
    return bad("argv[0] '" + cmd +
               "' must be an absolute path or a command name looked up on PATH");

  auto env = stringMapParam(params, "env");
  if (!env) return fail(env.error());
  for (const auto& [k, v] : *env) {
    if (k.empty() || k.find('=') != std::string::npos || hasNul(k))
      return bad("env name '" + k + "' is not a valid variable name");
    if (hasNul(v)) return bad("env " + k + " holds a NUL character");
  }
  p.env = std::move(*env);

  if (auto cwd = params.find("cwd"); cwd != params.end() && !cwd->is_null()) {
    if (!cwd->is_string()) return bad("'cwd' must be a string");
    p.cwd = cwd->get<std::string>();
    if (!(templates && isTemplate(*cwd)) && (p.cwd.empty() || p.cwd.front() != '/'))
      return bad("cwd '" + p.cwd + "' must be an absolute path");
  }

  if (auto t = params.find("timeout"); !(templates && t != params.end() && isTemplate(*t))) {
    auto timeout = durationParam(params, "timeout", p.timeout);
    if (!timeout) return fail(timeout.error());
    if (timeout->count() <= 0) return bad("'timeout' must be more than 0s");
    p.timeout = *timeout;
  }
  auto max = sizeParam(params, "max_output", p.max_output, kMaxOutputLimit);
  if (!max) return fail(max.error());
  p.max_output = *max;

  if (auto in = params.find("stdin"); in != params.end() && !in->is_null()) {
    if (!in->is_string()) return bad("'stdin' must be a string");
    p.stdin_data = in->get<std::string>();
  }
  return p;
}

core::Status checkCwd(const std::string& cwd) {
  struct stat st;
  if (::stat(cwd.c_str(), &st) != 0) {
    char buf[256];
    return fail(ErrorCode::kNotFound, "cwd " + cwd + ": " + strerror_r(errno, buf, sizeof buf));
  }
  if (!S_ISDIR(st.st_mode)) return fail(ErrorCode::kNotFound, "cwd " + cwd + " is not a directory");
  return {};
}

// The executable and working directory as execute() would find them, or why it could not.
core::Result<std::string> resolve(const ExecParams& p) {
  auto path = findExecutable(p.argv[0], p.childPath());
  if (!path) return path;
  if (auto s = checkCwd(p.cwd); !s) return fail(s.error());
  return path;
}

std::string commandLine(const std::string& path, const std::vector<std::string>& argv) {
  std::string out = shellQuote(path);
  for (size_t i = 1; i < argv.size(); ++i) out += " " + shellQuote(argv[i]);
  return out;
}

// On the blocking pool: the lookup, then the process.
core::Result<ProcessResult> spawnAndWait(const ExecParams& p, const core::CancelFlag* cancel) {
  auto path = resolve(p);
  if (!path) return fail(path.error());
  ProcessSpec ps;
  ps.path = *path;
  ps.argv = p.argv;
  ps.env = p.childEnv();
  ps.cwd = p.cwd;
  ps.stdin_data = p.stdin_data;
  ps.timeout = p.timeout;
  ps.max_output = static_cast<size_t>(p.max_output);
  ps.cancel = cancel;
  return runProcess(ps);
}

bool isPermanent(const core::Error& e) {
  return e.code() == ErrorCode::kNotFound || e.code() == ErrorCode::kPermissionDenied ||
         e.code() == ErrorCode::kInvalidArgument;
}

class ExecAction final : public core::ActionProvider {
 public:
  explicit ExecAction(const core::ActionEnv& env) : blocking_(env.blocking) {
    spec_.name = kName;
    spec_.summary = "Run a command (no shell) with an allowlisted environment and a timeout";
    spec_.params = {
        {"argv", ParamType::kStringList, true, nullptr,
         "the command and its arguments; argv[0] is an absolute path or a name on PATH", {}},
        {"env", ParamType::kStringMap, false, nullptr,
         "the child's whole environment (plus a default PATH unless set here)", {}},
        {"cwd", ParamType::kString, false, "/", "working directory (absolute)", {}},
        {"timeout", ParamType::kDuration, false, "60s",
         "then the command's process group is killed", {}},
        {"max_output", ParamType::kInt, false, 65536,
         "bytes kept of stdout and of stderr each; the rest is discarded", {}},
        {"stdin", ParamType::kString, false, nullptr, "written to the command's stdin", {}},
    };
    spec_.idempotent = false;
    spec_.step_may_declare_idempotent = true;
    spec_.phase = core::Phase::kRecover;
    spec_.outputs = {"exit_code", "stdout", "stderr", "truncated", "duration_ms"};
  }

  const core::ActionSpec& spec() const override { return spec_; }

  core::Status validate(const Json& params) const override {
    if (auto p = parseParams(params, true); !p) return fail(p.error());
    return {};
  }

  core::awaitable<ActionResult> plan(const ActionRequest& request) override {
    try {
      auto p = parseParams(request.params, false);
      if (!p) co_return ActionResult::permanent(describe(request, kName, p.error().message()));
      // Looking the command up is a few stat() calls: read-only, but still off the io thread.
      // (By reference: see run(). No co_await inside ?:, which GCC 12 miscompiles.)
      const ExecParams& params = *p;
      core::Result<std::string> path = std::string();
      if (blocking_)
        path = co_await core::offload(*blocking_, [&params] { return resolve(params); });
      else
        path = resolve(params);
      if (!path)
        co_return ActionResult::permanent(describe(request, kName, path.error().message()));
      std::string plan = "would run " + commandLine(*path, p->argv) + " (cwd " + p->cwd +
                         ", timeout " + durationText(request.params, "timeout", p->timeout);
      if (!p->env.empty()) {
        // Names only: values may be credentials rendered into the step.
        plan += ", env";
        for (size_t i = 0; i < p->env.size(); ++i) plan += (i ? ", " : " ") + p->env[i].first;
      }
      if (p->stdin_data) plan += ", " + std::to_string(p->stdin_data->size()) + " bytes on stdin";
      plan += ")";
      co_return ActionResult::success(Json{{"plan", plan}}, describe(request, kName, "planned"));
    } catch (const std::exception& e) {
      co_return ActionResult::permanent(describe(request, kName, e.what()));
    }
  }

  core::awaitable<ActionResult> execute(const ActionRequest& request) override {
    try {
      co_return co_await run(request);
    } catch (const std::exception& e) {
      co_return ActionResult::permanent(describe(request, kName, e.what()));
    }
  }

 private:
  core::awaitable<ActionResult> run(const ActionRequest& request) {
    auto p = parseParams(request.params, false);
    if (!p) co_return ActionResult::permanent(describe(request, kName, p.error().message()));
    if (!blocking_)
      co_return ActionResult::permanent(describe(request, kName, "no blocking thread pool"));

    // The closure captures references to this frame only (it stays alive while suspended):
    // GCC 12 frees closures with non-trivial captures passed to offload() twice.
    const ExecParams& params = *p;
    const core::CancelFlag* cancel = request.cancel.get();
    auto r = co_await core::offload(*blocking_,
                                    [&params, cancel] { return spawnAndWait(params, cancel); });
    if (!r) {
      std::string what = r.error().message();
      co_return isPermanent(r.error()) ? ActionResult::permanent(describe(request, kName, what))
                                       : ActionResult::retryable(describe(request, kName, what));
    }

    Json output{
        {"exit_code", r->exit_code},
        {"stdout", toValidUtf8(r->out)},
        {"stderr", toValidUtf8(r->err)},
        {"truncated", r->out_truncated || r->err_truncated},
        {"duration_ms", r->duration.count()},
    };
    const std::string& cmd = p->argv[0];
    switch (r->end) {
      case ProcessResult::End::kTimedOut:
        co_return ActionResult::retryable(
            describe(request, kName,
                     cmd + " timed out after " +
                         durationText(request.params, "timeout", p->timeout) +
                         "; its process group was killed"),
            std::move(output));
      case ProcessResult::End::kCancelled:
        co_return ActionResult::retryable(
            describe(request, kName,
                     cmd + " cancelled after " + std::to_string(r->duration.count()) +
                         "ms; its process group was killed"),
            std::move(output));
      case ProcessResult::End::kSignaled: {
        const char* sig = sigabbrev_np(r->signal);
        co_return ActionResult::permanent(
            describe(request, kName,
                     cmd + " was killed by SIG" + (sig ? sig : std::to_string(r->signal))),
            std::move(output));
      }
      case ProcessResult::End::kExited:
        break;
    }
    if (r->exit_code != 0) {
      std::string what = cmd + " exited with code " + std::to_string(r->exit_code);
      if (r->exit_code < 0) what = cmd + " exited with an unknown status";
      if (auto line = lastLine(r->err); !line.empty()) what += ": " + line;
      co_return ActionResult::permanent(describe(request, kName, what), std::move(output));
    }
    co_return ActionResult::success(
        std::move(output),
        describe(request, kName,
                 cmd + " exited 0 in " + std::to_string(r->duration.count()) + "ms"));
  }

  asio::thread_pool* blocking_;
  core::ActionSpec spec_;
};

}  // namespace

std::unique_ptr<core::ActionProvider> makeExecAction(const core::ActionEnv& env) {
  return std::make_unique<ExecAction>(env);
}

}  // namespace firebreak::actions::builtin
