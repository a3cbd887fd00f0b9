// The chaos actions against real processes and files: kill a forked child (by pid file and by
// name, `all`), fill a directory and remove the fill, corrupt a file and restore it byte for
// byte, a second execute with the same key changing nothing, refusals outside the scope (a
// symlink escaping it too), plans without side effects, and block_port's nftables rule in a
// network namespace of its own (through the CLI: tests/integration/test_chaos.py).
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <cstdlib>
#include <fstream>

#include "actions/chaos/chaos.h"
#include "tests/fakes/test_env.h"

namespace firebreak::actions::chaos {
namespace {

namespace fbt = firebreak::testing;
namespace fs = std::filesystem;
using core::ActionResult;
using core::Json;
using Outcome = core::ActionResult::Outcome;

class ChaosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.blocking = &pool_;
    env_.data_dir = data_.path().string();
    ASSERT_TRUE(registerActions(registry_, env_));
  }

  void TearDown() override {
    for (pid_t pid : children_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }

  // Like the engine: schema check with defaults, validate, then plan or execute.
  ActionResult run(const std::string& action, Json params, bool plan = false,
                   const std::string& key = "run-1:main:inject", Json undo_state = nullptr) {
    auto* provider = registry_.find(action);
    EXPECT_NE(provider, nullptr) << action;
    auto issues = core::checkParams(provider->spec(), params, false, true);
    EXPECT_TRUE(issues.empty()) << issues.front().message;
    auto valid = provider->validate(params);
    EXPECT_TRUE(valid) << valid.error().message();
    core::ActionRequest request;
    request.step_id = "inject";
    request.idempotency_key = key;
    request.params = std::move(params);
    request.undo_state = std::move(undo_state);
    return fbt::runAwaitable(plan ? provider->plan(request) : provider->execute(request));
  }

  // A child that sleeps under `argv0` (so its argv[0] basename is that name).
  pid_t spawn(const std::string& argv0) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::execl("/bin/sleep", argv0.c_str(), "300", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    children_.push_back(pid);
    // Wait until the exec has happened: before it, the child is still a copy of this test.
    EXPECT_TRUE(fbt::eventually([&] {
      std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
      std::string cmd((std::istreambuf_iterator<char>(in)), {});
      return cmd.rfind(argv0, 0) == 0;
    }));
    return pid;
  }

  // A child whose comm is `comm` (prctl), its argv[0] that of this test binary.
  pid_t spawnComm(const std::string& comm) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_NAME, comm.c_str());
      for (;;) ::pause();
    }
    children_.push_back(pid);
    EXPECT_TRUE(fbt::eventually([&] {
      std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
      std::string c;
      std::getline(in, c);
      return c == comm;
    }));
    return pid;
  }

  // The signal that ended the child, 0 while it runs (reaps it once ended).
  int waitSignal(pid_t pid) {
    int status = 0;
    bool ended = fbt::eventually([&] { return ::waitpid(pid, &status, WNOHANG) == pid; });
    if (!ended) return 0;
    std::erase(children_, pid);
    return WIFSIGNALED(status) ? WTERMSIG(status) : -1;
  }

  bool running(pid_t pid) { return ::waitpid(pid, nullptr, WNOHANG) == 0; }

  std::string uniqueName(const std::string& base) {
    return base + std::to_string(::getpid() % 100000);
  }

  asio::thread_pool pool_{2};
  fbt::TempDir data_;
  fbt::TempDir work_;
  core::ActionEnv env_;
  core::ProviderRegistry registry_;
  std::vector<pid_t> children_;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// ---- kill_process ----

TEST_F(ChaosTest, KillsByPidFileWithTheSignalGiven) {
  std::string name = uniqueName("fbck-pf");
  pid_t pid = spawn(name);
  std::string pid_file = work_.file("app.pid");
  fbt::writeFile(pid_file, std::to_string(pid) + "\n");
  Json scope = {{"paths", {work_.path().string()}}, {"processes", {name}}};

  auto plan = run("chaos.kill_process", {{"scope", scope}, {"pid_file", pid_file}, {"signal", "SIGUSR1"}}, true);
  ASSERT_TRUE(plan.ok()) << plan.message;
  EXPECT_EQ(plan.output["plan"]["pids"], Json::array({pid}));
  EXPECT_EQ(plan.output["plan"]["signal"], "SIGUSR1");
  EXPECT_TRUE(running(pid)) << "a plan signalled the process";

  auto r = run("chaos.kill_process", {{"scope", scope}, {"pid_file", pid_file}, {"signal", "usr1"}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["pids"], Json::array({pid}));
  EXPECT_EQ(r.output["signal"], "SIGUSR1");
  EXPECT_EQ(waitSignal(pid), SIGUSR1);
}

TEST_F(ChaosTest, KillsByNameMatchingArgv0OrComm) {
  std::string name = uniqueName("fbck-nm");
  pid_t pid = spawn(name);
  Json scope = {{"processes", {name}}};
  auto r = run("chaos.kill_process", {{"scope", scope}, {"name", name}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["pids"], Json::array({pid}));
  EXPECT_EQ(r.output["signal"], "SIGTERM");  // the default
  EXPECT_EQ(waitSignal(pid), SIGTERM);

  std::string comm = uniqueName("fbcm");
  pid_t pid2 = spawnComm(comm);
  auto r2 = run("chaos.kill_process", {{"scope", {{"processes", {comm}}}}, {"name", comm}, {"signal", "KILL"}},
                false, "run-2:main:inject");
  ASSERT_TRUE(r2.ok()) << r2.message;
  EXPECT_EQ(waitSignal(pid2), SIGKILL);
}

TEST_F(ChaosTest, MoreThanOneMatchNeedsAll) {
  std::string name = uniqueName("fbck-all");
  pid_t a = spawn(name);
  pid_t b = spawn(name);
  Json scope = {{"processes", {name}}};
  auto refused = run("chaos.kill_process", {{"scope", scope}, {"name", name}});
  EXPECT_EQ(refused.outcome, Outcome::kPermanent);
  EXPECT_TRUE(contains(refused.message, std::to_string(a))) << refused.message;
  EXPECT_TRUE(contains(refused.message, std::to_string(b))) << refused.message;
  EXPECT_TRUE(running(a) && running(b));

  auto r = run("chaos.kill_process", {{"scope", scope}, {"name", name}, {"all", true}});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["pids"].size(), 2u);
  EXPECT_EQ(waitSignal(a), SIGTERM);
  EXPECT_EQ(waitSignal(b), SIGTERM);
}

TEST_F(ChaosTest, KillOutsideScopeIsRefusedInPlanAndExecute) {
  std::string name = uniqueName("fbck-out");
  pid_t pid = spawn(name);
  for (bool plan : {true, false}) {
    auto r = run("chaos.kill_process", {{"scope", {{"processes", {"other"}}}}, {"name", name}}, plan);
    EXPECT_EQ(r.outcome, Outcome::kPermanent);
    EXPECT_TRUE(contains(r.message, name) && contains(r.message, "outside the scope")) << r.message;
  }
  // The pid file is in scope, its process is not.
  std::string pid_file = work_.file("x.pid");
  fbt::writeFile(pid_file, std::to_string(pid));
  auto r = run("chaos.kill_process",
               {{"scope", {{"paths", {work_.path().string()}}, {"processes", {"other"}}}},
                {"pid_file", pid_file}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_TRUE(contains(r.message, "outside the scope")) << r.message;
  // The process is in scope, its pid file is not.
  auto r2 = run("chaos.kill_process",
                {{"scope", {{"paths", {data_.path().string()}}, {"processes", {name}}}},
                 {"pid_file", pid_file}});
  EXPECT_EQ(r2.outcome, Outcome::kPermanent);
  EXPECT_TRUE(contains(r2.message, pid_file)) << r2.message;
  EXPECT_TRUE(running(pid));
}

TEST_F(ChaosTest, NeverSignalsItselfOrItsParent) {
  for (pid_t pid : {::getpid(), ::getppid(), pid_t{1}}) {
    std::string pid_file = work_.file("self.pid");
    fbt::writeFile(pid_file, std::to_string(pid));
    auto r = run("chaos.kill_process",
                 {{"scope", {{"paths", {work_.path().string()}}, {"processes", {"chaos_test"}}}},
                  {"pid_file", pid_file}, {"signal", "KILL"}});
    EXPECT_EQ(r.outcome, Outcome::kPermanent) << pid;
    EXPECT_TRUE(contains(r.message, "refused")) << r.message;
  }
}

TEST_F(ChaosTest, KillAgainWithTheSameKeySignalsNothing) {
  std::string name = uniqueName("fbck-idem");
  pid_t first = spawn(name);
  Json params = {{"scope", {{"processes", {name}}}}, {"name", name}};
  auto r = run("chaos.kill_process", params);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(waitSignal(first), SIGTERM);
  // The service came back under the same name: a replay of the step leaves it alone.
  pid_t second = spawn(name);
  auto again = run("chaos.kill_process", params);
  ASSERT_TRUE(again.ok()) << again.message;
  EXPECT_EQ(again.output["pids"], Json::array({first}));
  EXPECT_TRUE(running(second)) << again.message;
}

// ---- fill_disk ----

TEST_F(ChaosTest, FillsAndTheUndoRemovesExactlyItsFile) {
  Json params = {{"scope", {{"paths", {work_.path().string()}}}},
                 {"dir", work_.path().string()},
                 {"size", "1MiB"}};
  auto plan = run("chaos.fill_disk", params, true);
  ASSERT_TRUE(plan.ok()) << plan.message;
  EXPECT_TRUE(fs::is_empty(work_.path())) << "a plan created something";

  auto r = run("chaos.fill_disk", params);
  ASSERT_TRUE(r.ok()) << r.message;
  std::string path = r.output["path"];
  EXPECT_EQ(r.output["bytes"], 1 << 20);
  EXPECT_EQ(fs::path(path).parent_path(), fs::canonical(work_.path()));
  EXPECT_EQ(fs::path(path).filename().string().rfind("firebreak-fill-", 0), 0u) << path;
  EXPECT_EQ(fs::file_size(path), 1u << 20);

  // Same key: the same file, nothing new.
  auto again = run("chaos.fill_disk", params);
  ASSERT_TRUE(again.ok()) << again.message;
  EXPECT_EQ(again.output["path"], path);
  EXPECT_EQ(std::distance(fs::directory_iterator(work_.path()), fs::directory_iterator()), 1);

  std::string other = work_.file("keep.txt");
  fbt::writeFile(other, "data");
  Json undo = {{"scope", params["scope"]}};
  auto undo_plan = run("chaos.remove_fill", undo, true, "run-1:undo:inject", r.output);
  ASSERT_TRUE(undo_plan.ok()) << undo_plan.message;
  EXPECT_TRUE(fs::exists(path));
  auto removed = run("chaos.remove_fill", undo, false, "run-1:undo:inject", r.output);
  ASSERT_TRUE(removed.ok()) << removed.message;
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(fs::exists(other));
  auto twice = run("chaos.remove_fill", undo, false, "run-1:undo:inject", r.output);
  EXPECT_TRUE(twice.ok()) << twice.message;
}

TEST_F(ChaosTest, RemoveFillDeletesOnlyFillFiles) {
  std::string victim = work_.file("database.db");
  fbt::writeFile(victim, "precious");
  auto r = run("chaos.remove_fill", {{"scope", {{"paths", {work_.path().string()}}}}}, false,
               "k", Json{{"path", victim}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_TRUE(fs::exists(victim)) << r.message;
}

TEST_F(ChaosTest, FillRefusesWhenTooLittleWouldStayFreeOrOutsideScope) {
  Json scope = {{"paths", {work_.path().string()}}};
  auto r = run("chaos.fill_disk", {{"scope", scope}, {"dir", work_.path().string()}, {"size", 4096},
                                    {"leave_free", "1000TiB"}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_TRUE(contains(r.message, "leave_free")) << r.message;
  EXPECT_TRUE(fs::is_empty(work_.path()));

  // A symlink inside the scope pointing out of it.
  fs::create_directory(data_.path() / "outside");
  std::string link = work_.file("escape");
  fs::create_directory_symlink(data_.path() / "outside", link);
  for (bool plan : {true, false}) {
    auto esc = run("chaos.fill_disk", {{"scope", scope}, {"dir", link}, {"size", 4096}}, plan);
    EXPECT_EQ(esc.outcome, Outcome::kPermanent);
    EXPECT_TRUE(contains(esc.message, "outside the scope") && contains(esc.message, link))
        << esc.message;
  }
  EXPECT_TRUE(fs::is_empty(data_.path() / "outside"));
}

// ---- corrupt_file ----

TEST_F(ChaosTest, CorruptsAndTheUndoRestoresByteForByte) {
  std::string target = work_.file("data.bin");
  std::string original;
  for (int i = 0; i < 10000; ++i) original += static_cast<char>(i * 7 % 251);
  fbt::writeFile(target, original);
  Json params = {{"scope", {{"paths", {work_.path().string()}}}}, {"target", target},
                 {"offset", 100}, {"length", 50}, {"pattern", 255}};

  auto plan = run("chaos.corrupt_file", params, true);
  ASSERT_TRUE(plan.ok()) << plan.message;
  EXPECT_EQ(fbt::readFile(target), original);
  EXPECT_FALSE(fs::exists(data_.path() / "chaos")) << "a plan made a copy";

  auto r = run("chaos.corrupt_file", params);
  ASSERT_TRUE(r.ok()) << r.message;
  std::string corrupted = fbt::readFile(target);
  ASSERT_EQ(corrupted.size(), original.size());
  EXPECT_EQ(corrupted.substr(0, 100), original.substr(0, 100));
  EXPECT_EQ(corrupted.substr(100, 50), std::string(50, '\xff'));
  EXPECT_EQ(corrupted.substr(150), original.substr(150));
  EXPECT_EQ(r.output["offset"], 100);
  EXPECT_EQ(r.output["length"], 50);
  std::string copy = r.output["backup"];
  EXPECT_EQ(fbt::readFile(copy), original);

  // Same key: the copy of the original is not replaced by a copy of the corrupted file.
  auto again = run("chaos.corrupt_file", params);
  ASSERT_TRUE(again.ok()) << again.message;
  EXPECT_EQ(fbt::readFile(copy), original);
  EXPECT_EQ(again.output["sha256"], r.output["sha256"]);
  EXPECT_EQ(fbt::readFile(target), corrupted);

  Json undo = {{"scope", params["scope"]}};
  auto restored = run("chaos.restore_file", undo, false, "run-1:undo:inject", r.output);
  ASSERT_TRUE(restored.ok()) << restored.message;
  EXPECT_EQ(fbt::readFile(target), original);
  EXPECT_FALSE(fs::exists(copy));
  auto twice = run("chaos.restore_file", undo, false, "run-1:undo:inject", r.output);
  EXPECT_TRUE(twice.ok()) << twice.message;
  EXPECT_EQ(fbt::readFile(target), original);
}

TEST_F(ChaosTest, RandomCorruptionCapsTheLengthAndRepeatsTheSameBytes) {
  std::string target = work_.file("small.txt");
  std::string original(300, 'a');
  fbt::writeFile(target, original);
  Json params = {{"scope", {{"paths", {work_.path().string()}}}}, {"target", target}, {"offset", 200}};
  auto r = run("chaos.corrupt_file", params);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["length"], 100);  // 4096 by default, capped at the end of the file
  std::string first = fbt::readFile(target);
  EXPECT_NE(first, original);
  EXPECT_EQ(first.size(), 300u);
  auto again = run("chaos.corrupt_file", params);
  ASSERT_TRUE(again.ok()) << again.message;
  EXPECT_EQ(fbt::readFile(target), first);
}

TEST_F(ChaosTest, CorruptRefusesASymlinkEscapingTheScope) {
  std::string outside = data_.file("secret.txt");
  fbt::writeFile(outside, "do not touch");
  std::string link = work_.file("innocent.txt");
  fs::create_symlink(outside, link);
  Json params = {{"scope", {{"paths", {work_.path().string()}}}}, {"target", link}, {"pattern", "zero"}};
  for (bool plan : {true, false}) {
    auto r = run("chaos.corrupt_file", params, plan);
    EXPECT_EQ(r.outcome, Outcome::kPermanent);
    EXPECT_TRUE(contains(r.message, "outside the scope") && contains(r.message, outside)) << r.message;
  }
  EXPECT_EQ(fbt::readFile(outside), "do not touch");
  auto r = run("chaos.corrupt_file", {{"scope", {{"paths", {data_.file("nothing")}}}}, {"target", outside}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_EQ(fbt::readFile(outside), "do not touch");
}

TEST_F(ChaosTest, RestoreChecksTheCopysSha256) {
  std::string target = work_.file("t.bin");
  fbt::writeFile(target, std::string(1000, 'x'));
  Json params = {{"scope", {{"paths", {work_.path().string()}}}}, {"target", target}, {"pattern", "zero"}};
  auto r = run("chaos.corrupt_file", params);
  ASSERT_TRUE(r.ok()) << r.message;
  std::string corrupted = fbt::readFile(target);
  fbt::writeFile(r.output["backup"].get<std::string>(), "damaged copy");
  auto restored = run("chaos.restore_file", {{"scope", params["scope"]}}, false, "u", r.output);
  EXPECT_EQ(restored.outcome, Outcome::kPermanent);
  EXPECT_TRUE(contains(restored.message, "SHA-256")) << restored.message;
  EXPECT_EQ(fbt::readFile(target), corrupted);
}

// ---- block_port (the rule itself: tests/integration/test_chaos.py) ----

TEST_F(ChaosTest, BlockPortOutsideScopeIsRefusedBeforeNftRuns) {
  for (bool plan : {true, false}) {
    auto r = run("chaos.block_port",
                 {{"scope", {{"ports", {8080}}}}, {"port", 9090}, {"nft", "/nonexistent/nft"}}, plan);
    EXPECT_EQ(r.outcome, Outcome::kPermanent);
    EXPECT_TRUE(contains(r.message, "port 9090") && contains(r.message, "outside the scope"))
        << r.message;
  }
}

// Whether a TCP connect to 127.0.0.1:port completes within a second.
bool connects(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // bounds connect() on Linux
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// The rule itself, in a network namespace of its own: this binary runs itself again under
// `unshare -Urn` with FIREBREAK_CHAOS_NETNS naming a file the inner run writes when done.
// (tests/integration/test_chaos.py does the same through the firebreak CLI.)
TEST_F(ChaosTest, BlockPortDropsUntilUnblockedInANetworkNamespace) {
  const char* nft = "/usr/sbin/nft";
  const char* inner = std::getenv("FIREBREAK_CHAOS_NETNS");
  if (!inner) {
    if (::access(nft, X_OK) != 0) GTEST_SKIP() << "no " << nft << " (Debian package nftables)";
    if (std::system("unshare -Urn true 2>/dev/null") != 0)
      GTEST_SKIP() << "cannot create a user and network namespace (unshare -Urn)";
    std::string done = work_.file("netns-done");
    std::string cmd = "FIREBREAK_CHAOS_NETNS=" + done + " unshare -Urn " +
                      fs::read_symlink("/proc/self/exe").string() +
                      " --gtest_filter=ChaosTest.BlockPortDropsUntilUnblockedInANetworkNamespace";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    EXPECT_TRUE(fs::exists(done)) << "the test did not run inside the namespace";
    return;
  }
  ASSERT_EQ(std::system("ip link set lo up"), 0);
  const int port = 18432;
  int srv = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(srv, 64), 0);  // the kernel completes handshakes without accept()
  ASSERT_TRUE(connects(port));

  Json params = {{"scope", {{"ports", {port}}}}, {"port", port}, {"nft", nft}};
  auto plan = run("chaos.block_port", params, true);
  ASSERT_TRUE(plan.ok()) << plan.message;
  EXPECT_TRUE(connects(port)) << "a plan blocked the port";
  auto r = run("chaos.block_port", params);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.output["table"], "inet firebreak_chaos");
  EXPECT_EQ(r.output["chain"], "input");
  EXPECT_GT(r.output["handle"].get<int64_t>(), 0);
  EXPECT_FALSE(connects(port));
  auto again = run("chaos.block_port", params);
  ASSERT_TRUE(again.ok()) << again.message;
  EXPECT_EQ(again.output["handle"], r.output["handle"]) << "a second rule for the same key";

  auto undone = run("chaos.unblock_port", params, false, "run-1:undo:inject", r.output);
  ASSERT_TRUE(undone.ok()) << undone.message;
  EXPECT_EQ(undone.output["deleted"], Json::array({r.output["handle"]}));
  EXPECT_EQ(undone.output["table_deleted"], true);
  EXPECT_TRUE(connects(port));
  EXPECT_NE(std::system("nft list table inet firebreak_chaos 2>/dev/null"), 0)
      << "the emptied table was left behind";
  ::close(srv);
  fbt::writeFile(inner, "ok");
}

TEST_F(ChaosTest, EveryChaosActionNeedsAScope) {
  for (const auto* p : registry_.all()) {
    const auto* scope = p->spec().param("scope");
    ASSERT_NE(scope, nullptr) << p->spec().name;
    EXPECT_TRUE(scope->required) << p->spec().name;
  }
  for (const char* name : {"chaos.kill_process", "chaos.fill_disk", "chaos.corrupt_file", "chaos.block_port"}) {
    EXPECT_TRUE(registry_.find(name)->spec().destructive) << name;
  }
  EXPECT_EQ(registry_.find("chaos.fill_disk")->spec().undo, "chaos.remove_fill");
  EXPECT_EQ(registry_.find("chaos.corrupt_file")->spec().undo, "chaos.restore_file");
  EXPECT_EQ(registry_.find("chaos.block_port")->spec().undo, "chaos.unblock_port");
}

}  // namespace
}  // namespace firebreak::actions::chaos
