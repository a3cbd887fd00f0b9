// exec.run against real processes: exit codes, output bounds, the environment allowlist, process
// group kills on timeout and cancel, and a plan that runs nothing.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "actions/builtin/builtin.h"
#include "actions/builtin/subprocess.h"
#include "tests/fakes/test_env.h"

namespace firebreak::actions::builtin {
namespace {

namespace fbt = firebreak::testing;
using core::ActionResult;
using core::Json;
using Outcome = core::ActionResult::Outcome;

class ExecActionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.blocking = &pool_;
    env_.secrets = &secrets_;
    ASSERT_TRUE(registerActions(registry_, env_));
    exec_ = registry_.find("exec.run");
    ASSERT_NE(exec_, nullptr);
  }

  // Like the engine: schema check with defaults, validate, then plan or execute.
  ActionResult run(Json params, bool plan = false,
                   std::shared_ptr<core::CancelFlag> cancel = nullptr) {
    auto issues = core::checkParams(exec_->spec(), params, false, true);
    EXPECT_TRUE(issues.empty()) << issues.front().message;
    auto valid = exec_->validate(params);
    EXPECT_TRUE(valid) << valid.error().message();
    core::ActionRequest request;
    request.step_id = "restart";
    request.params = std::move(params);
    if (cancel) request.cancel = cancel;
    return fbt::runAwaitable(plan ? exec_->plan(request) : exec_->execute(request));
  }

  static Json sh(const std::string& script) { return Json::array({"/bin/sh", "-c", script}); }

  asio::thread_pool pool_{2};
  fbt::MapSecretResolver secrets_;
  core::ActionEnv env_;
  core::ProviderRegistry registry_;
  core::ActionProvider* exec_ = nullptr;
};

// Gone, or a zombie nobody reaped yet (it can no longer do anything).
bool processGone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  auto close = line.rfind(')');
  return close != std::string::npos && line.size() > close + 2 && line[close + 2] == 'Z';
}

using testing::eventually;

TEST_F(ExecActionTest, SucceedsAndCapturesStdout) {
  auto r = run({{"argv", Json::array({"echo", "hello", "world"})}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["exit_code"], 0);
  EXPECT_EQ(r.output["stdout"], "hello world\n");
  EXPECT_EQ(r.output["stderr"], "");
  EXPECT_EQ(r.output["truncated"], false);
  EXPECT_GE(r.output["duration_ms"].get<int64_t>(), 0);
  EXPECT_NE(r.message.find("exec.run: echo exited 0"), std::string::npos) << r.message;
}

TEST_F(ExecActionTest, NonZeroExitIsPermanentWithLastStderrLine) {
  auto r = run({{"argv", sh("echo out; echo first >&2; echo 'disk full' >&2; exit 3")}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_EQ(r.output["exit_code"], 3);
  EXPECT_EQ(r.output["stdout"], "out\n");
  EXPECT_EQ(r.output["stderr"], "first\ndisk full\n");
  EXPECT_EQ(r.message,
            "exec.run: /bin/sh exited with code 3: disk full (step restart, attempt 1)");
}

TEST_F(ExecActionTest, KilledBySignalIsPermanent) {
  auto r = run({{"argv", sh("kill -KILL $$")}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_EQ(r.output["exit_code"], 128 + SIGKILL);
  EXPECT_NE(r.message.find("killed by SIGKILL"), std::string::npos) << r.message;
}

TEST_F(ExecActionTest, OutputIsBoundedAndTheChildNeverBlocks) {
  // 1 MB on stdout, far more than a pipe holds: the child finishes only if we keep reading.
  auto r = run({{"argv", sh("head -c 1000000 /dev/zero | tr '\\0' a; echo done >&2")},
                {"max_output", 1000}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["stdout"], std::string(1000, 'a'));
  EXPECT_EQ(r.output["stderr"], "done\n");
  EXPECT_EQ(r.output["truncated"], true);
}

TEST_F(ExecActionTest, ChildSeesOnlyTheAllowlistedEnvironment) {
  ::setenv("FIREBREAK_TEST_LEAK", "must-not-leak", 1);
  auto r = run({{"argv", Json::array({"/usr/bin/env"})}, {"env", {{"FOO", "bar"}, {"LANG", "C"}}}});
  ASSERT_TRUE(r.ok()) << r.message;
  std::set<std::string> lines;
  std::istringstream in(r.output["stdout"].get<std::string>());
  for (std::string line; std::getline(in, line);) lines.insert(line);
  EXPECT_EQ(lines, (std::set<std::string>{
                       "FOO=bar", "LANG=C",
                       "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}));
}

TEST_F(ExecActionTest, EnvMaySetPathWhichAlsoFindsTheCommand) {
  auto r = run({{"argv", Json::array({"env"})}, {"env", {{"PATH", "/bin"}}}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["stdout"], "PATH=/bin\n");
}

TEST_F(ExecActionTest, StdinAndCwd) {
  fbt::TempDir dir;
  auto r = run({{"argv", Json::array({"/bin/cat"})}, {"stdin", "line one\nline two"}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["stdout"], "line one\nline two");
  r = run({{"argv", Json::array({"/bin/pwd"})}, {"cwd", dir.path().string()}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["stdout"], dir.path().string() + "\n");
}

TEST_F(ExecActionTest, StdinTheChildNeverReadsDoesNotHurt) {
  // The child exits without reading: writing more would raise SIGPIPE in the daemon.
  auto r = run({{"argv", Json::array({"/bin/true"})}, {"stdin", std::string(1 << 20, 'x')}});
  EXPECT_TRUE(r.ok()) << r.message;
}

TEST_F(ExecActionTest, NoInheritedFileDescriptors) {
  int fd = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(fd, 3);
  auto r = run({{"argv", sh("test -e /proc/$$/fd/" + std::to_string(fd) +
                            " && echo leaked || echo closed")}});
  ::close(fd);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["stdout"], "closed\n");
}

TEST_F(ExecActionTest, InvalidUtf8OutputStillSerialises) {
  auto r = run({{"argv", Json::array({"/usr/bin/printf", "\\377ok"})}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["stdout"], "\xEF\xBF\xBDok");
  EXPECT_NO_THROW(r.output.dump());
}

TEST_F(ExecActionTest, TimeoutKillsTheWholeProcessGroup) {
  fbt::TempDir dir;
  std::string pid_file = dir.file("grandchild.pid");
  auto start = std::chrono::steady_clock::now();
  auto r = run({{"argv", sh("sleep 30 & echo $! > " + pid_file + "; wait")},
                {"timeout", "500ms"}});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(r.outcome, Outcome::kRetryable);
  EXPECT_EQ(r.message,
            "exec.run: /bin/sh timed out after 500ms; its process group was killed "
            "(step restart, attempt 1)");
  auto pid = std::stoi(fbt::readFile(pid_file));
  ASSERT_GT(pid, 1);
  EXPECT_TRUE(eventually([&] { return processGone(pid); })) << "grandchild " << pid << " lives";
}

TEST_F(ExecActionTest, TimeoutEscalatesToSigkill) {
  // Ignoring SIGTERM (inherited by sleep across exec) leaves only SIGKILL after the grace.
  fbt::TempDir dir;
  std::string pid_file = dir.file("grandchild.pid");
  auto r = run({{"argv", sh("trap '' TERM; sleep 30 & echo $! > " + pid_file + "; wait")},
                {"timeout", "200ms"}});
  EXPECT_EQ(r.outcome, Outcome::kRetryable);
  EXPECT_NE(r.message.find("timed out after 200ms"), std::string::npos) << r.message;
  EXPECT_GE(r.output["duration_ms"].get<int64_t>(), 2000);
  auto pid = std::stoi(fbt::readFile(pid_file));
  EXPECT_TRUE(eventually([&] { return processGone(pid); })) << "grandchild " << pid << " lives";
}

TEST_F(ExecActionTest, CancelKillsTheCommand) {
  fbt::TempDir dir;
  std::string started = dir.file("started");
  auto cancel = std::make_shared<core::CancelFlag>();
  std::thread canceller([&] {
    eventually([&] { return std::filesystem::exists(started); });
    cancel->cancel();
  });
  auto start = std::chrono::steady_clock::now();
  auto r = run({{"argv", sh("touch " + started + "; sleep 30")}}, false, cancel);
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(r.outcome, Outcome::kRetryable);
  EXPECT_NE(r.message.find("/bin/sh cancelled after"), std::string::npos) << r.message;
}

TEST_F(ExecActionTest, CommandNotFoundIsPermanent) {
  auto r = run({{"argv", Json::array({"/no/such"})}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_EQ(r.message,
            "exec.run: /no/such: No such file or directory (step restart, attempt 1)");
  r = run({{"argv", Json::array({"no-such-command-firebreak"})}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_NE(r.message.find("no-such-command-firebreak: command not found on PATH"),
            std::string::npos)
      << r.message;
  fbt::TempDir dir;
  std::string data = dir.file("data");
  fbt::writeFile(data, "not a program\n");
  std::filesystem::permissions(data, std::filesystem::perms(0644));
  r = run({{"argv", Json::array({data})}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_EQ(r.message, "exec.run: " + data + ": Permission denied (step restart, attempt 1)");
  std::filesystem::permissions(data, std::filesystem::perms(0755));
  r = run({{"argv", Json::array({data})}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_EQ(r.message, "exec.run: " + data + ": Exec format error (step restart, attempt 1)");
}

TEST_F(ExecActionTest, MissingCwdIsPermanent) {
  auto r = run({{"argv", Json::array({"/bin/true"})}, {"cwd", "/no/such/dir"}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_NE(r.message.find("cwd /no/such/dir: No such file or directory"), std::string::npos)
      << r.message;
}

TEST_F(ExecActionTest, PlanRunsNothing) {
  fbt::TempDir dir;
  std::string file = dir.file("created");
  auto r = run({{"argv", Json::array({"touch", file})}}, true);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["plan"], "would run /usr/bin/touch " + file + " (cwd /, timeout 60s)");
  EXPECT_FALSE(std::filesystem::exists(file));

  r = run({{"argv", Json::array({"/usr/bin/systemctl-x", "restart"})}}, true);
  EXPECT_EQ(r.outcome, Outcome::kPermanent);  // the live run would fail the same way

  r = run({{"argv", Json::array({"/bin/echo", "a b"})},
           {"env", {{"LANG", "C"}}},
           {"timeout", "90s"},
           {"stdin", "xyz"}},
          true);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["plan"], "would run /bin/echo 'a b' (cwd /, timeout 90s, env LANG, "
                              "3 bytes on stdin)");
}

TEST_F(ExecActionTest, ValidateChecksSemantics) {
  auto invalid = [&](Json params) {
    auto s = exec_->validate(params);
    return s ? std::string() : s.error().message();
  };
  EXPECT_EQ(invalid({{"argv", Json::array()}}),
            "'argv' must be a non-empty list: the command and its arguments");
  EXPECT_EQ(invalid({{"argv", Json::array({"bin/sh"})}}),
            "argv[0] 'bin/sh' must be an absolute path or a command name looked up on PATH");
  EXPECT_EQ(invalid({{"argv", Json::array({""})}}), "argv[0] is empty");
  EXPECT_EQ(invalid({{"argv", Json::array({"ls"})}, {"cwd", "tmp"}}),
            "cwd 'tmp' must be an absolute path");
  EXPECT_EQ(invalid({{"argv", Json::array({"ls"})}, {"env", {{"A=B", "x"}}}}),
            "env name 'A=B' is not a valid variable name");
  EXPECT_EQ(invalid({{"argv", Json::array({"ls"})}, {"timeout", "0s"}}),
            "'timeout' must be more than 0s");
  EXPECT_EQ(invalid({{"argv", Json::array({"ls"})}, {"max_output", -1}}),
            "parameter 'max_output' must be 0..67108864, not -1");
  EXPECT_EQ(invalid({{"argv", Json::array({"ls", "-l"})}}), "");
}

TEST(SubprocessTest, FindExecutable) {
  EXPECT_EQ(findExecutable("sh", "/nonexistent:/bin").value(), "/bin/sh");
  EXPECT_EQ(findExecutable("sh", ":relative:/bin").value(), "/bin/sh");
  EXPECT_EQ(findExecutable("sh", "/nonexistent").error().code(), core::ErrorCode::kNotFound);
  EXPECT_EQ(findExecutable("/bin/sh", "").value(), "/bin/sh");
}

}  // namespace
}  // namespace firebreak::actions::builtin
