// The backup providers end to end on real files: directory round trips, idempotency, keep,
// dry-run plans, corrupted and hostile backups, undo.
#include "actions/backup/backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "actions/backup/fs_util.h"
#include "actions/backup/manifest.h"
#include "actions/backup/tar.h"
#include "actions/backup/zstd_stream.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/test_env.h"

namespace firebreak::actions::backup {
namespace {

namespace fs = std::filesystem;
using core::ActionResult;
using core::Json;

// What a restore must reproduce of one tree entry.
struct Node {
  char type = 'f';  // f, d, l
  unsigned mode = 0;
  uint64_t size = 0;
  std::string sha256;
  std::string target;
  int64_t mtime_ns = 0;

  bool operator==(const Node&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Node& n) {
  return os << n.type << " mode " << std::oct << n.mode << std::dec << " size " << n.size
            << " sha " << n.sha256.substr(0, 12) << " -> '" << n.target << "' mtime "
            << n.mtime_ns;
}

// Every entry under `root` (the root itself as ""), by relative path.
std::map<std::string, Node> snapshot(const std::string& root, bool with_mtimes = true) {
  std::map<std::string, Node> out;
  auto add = [&](const std::string& rel, const std::string& abs) {
    struct stat st;
    EXPECT_EQ(::lstat(abs.c_str(), &st), 0) << abs;
    Node n;
    n.mode = st.st_mode & 07777;
    if (with_mtimes) n.mtime_ns = st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec;
    if (S_ISDIR(st.st_mode)) {
      n.type = 'd';
    } else if (S_ISLNK(st.st_mode)) {
      n.type = 'l';
      n.mode = 0;
      n.target = fs::read_symlink(abs).string();
    } else {
      n.size = static_cast<uint64_t>(st.st_size);
      n.sha256 = *sha256File(abs, nullptr);
    }
    out[rel] = n;
  };
  add("", root);
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    // Lexically: fs::relative resolves symlinks, which would file "link" (-> a.txt) under
    // "a.txt" and drop every symlink from the snapshot.
    add(it->path().lexically_relative(root).string(), it->path().string());
  }
  return out;
}

void setMtime(const std::string& path, int64_t sec, long nsec) {
  struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << path;
}

std::string randomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

std::vector<std::string> listDir(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

class BackupTest : public ::testing::Test {
 protected:
  BackupTest() {
    env_.blocking = &pool_;
    env_.clock = &clock_;
    env_.data_dir = tmp_.file("data");
    EXPECT_TRUE(registerActions(registry_, env_));
    src_ = tmp_.file("src");
    dest_ = tmp_.file("backups");
  }
  ~BackupTest() override { pool_.join(); }

  // Runs an action the way the engine does: parameters checked, defaults filled, validated.
  ActionResult run(const std::string& action, Json params, const std::string& key = "key-1",
                   bool plan = false, Json undo_state = nullptr) {
    core::ActionProvider* provider = registry_.find(action);
    EXPECT_NE(provider, nullptr) << action;
    core::ActionRequest req;
    req.run_id = "run-1";
    req.step_id = "s";
    req.idempotency_key = key;
    req.params = std::move(params);
    req.undo_state = std::move(undo_state);
    auto issues = core::checkParams(provider->spec(), req.params, false, true);
    for (const auto& issue : issues) ADD_FAILURE() << issue.message;
    auto valid = provider->validate(req.params);
    EXPECT_TRUE(valid) << (valid ? "" : valid.error().message());
    return testing::runAwaitable(plan ? provider->plan(req) : provider->execute(req));
  }

  ActionResult createDir(const std::string& key = "key-1", Json extra = Json::object()) {
    Json params = {{"kind", "directory"}, {"source", src_}, {"dest_dir", dest_}};
    params.update(extra);
    return run("backup.create", params, key);
  }

  // A tree with what a restore must get right.
  void makeTree() {
    fs::create_directories(src_ + "/nested/deeper/deepest");
    fs::create_directories(src_ + "/private");
    fs::create_directories(src_ + "/bin");
    testing::writeFile(src_ + "/a.txt", "hello\n");
    testing::writeFile(src_ + "/empty", "");
    testing::writeFile(src_ + "/bin/run.sh", "#!/bin/sh\necho hi\n");
    testing::writeFile(src_ + "/nested/deeper/deepest/big.bin", randomBytes(3 << 20, 7));
    long_name_ = "nested/deeper/" + std::string(150, 'n') + ".txt";
    ASSERT_GT(long_name_.size(), 100u);
    testing::writeFile(src_ + "/" + long_name_, "long name\n");
    fs::create_symlink("a.txt", src_ + "/link");
    fs::create_symlink("nested/deeper", src_ + "/dirlink");
    fs::create_symlink(long_name_, src_ + "/longlink");  // a target over 100 bytes
    ::chmod((src_ + "/a.txt").c_str(), 0640);
    ::chmod((src_ + "/bin/run.sh").c_str(), 0755);
    ::chmod((src_ + "/empty").c_str(), 0600);
    ::chmod((src_ + "/private").c_str(), 0700);
    ::chmod((src_ + "/nested").c_str(), 0750);
    setMtime(src_ + "/a.txt", 1'700'000'000, 123'456'789);
    setMtime(src_ + "/empty", 1'600'000'000, 0);
    setMtime(src_ + "/link", 1'650'000'000, 5);
    setMtime(src_ + "/nested/deeper", 1'690'000'000, 42);
    setMtime(src_, 1'710'000'000, 999'999'999);
  }

  testing::TempDir tmp_;
  testing::FakeClock clock_;
  asio::thread_pool pool_{2};
  core::ActionEnv env_;
  core::ProviderRegistry registry_;
  std::string src_, dest_, long_name_;
};

TEST_F(BackupTest, RegistersFourActions) {
  EXPECT_EQ(registry_.names(), (std::vector<std::string>{"backup.create", "backup.restore",
                                                        "backup.undo_restore", "backup.verify"}));
  const auto& restore = registry_.find("backup.restore")->spec();
  EXPECT_TRUE(restore.destructive);
  EXPECT_TRUE(restore.idempotent);
  EXPECT_EQ(restore.undo, "backup.undo_restore");
  EXPECT_EQ(restore.phase, core::Phase::kRecover);
  const auto& create = registry_.find("backup.create")->spec();
  EXPECT_FALSE(create.destructive);
  EXPECT_TRUE(create.idempotent);
  EXPECT_EQ(create.phase, core::Phase::kRecover);
  EXPECT_EQ(registry_.find("backup.verify")->spec().phase, core::Phase::kObserve);
}

TEST_F(BackupTest, ValidateRefusesBadParameters) {
  auto* create = registry_.find("backup.create");
  auto bad = [&](Json params) {
    auto s = create->validate(params);
    return s ? std::string("ok") : s.error().message();
  };
  EXPECT_EQ(bad({{"kind", "directory"}, {"source", "rel/path"}, {"dest_dir", "/b"}}),
            "parameter 'source' must be an absolute path, got 'rel/path'");
  EXPECT_EQ(bad({{"kind", "directory"}, {"source", "/srv/app"}, {"dest_dir", "/srv/app/bk"}}),
            "parameter 'dest_dir' (/srv/app/bk) lies inside '/srv/app': the backup would contain "
            "itself");
  EXPECT_EQ(bad({{"kind", "sqlite"}, {"source", "/a.db"}, {"dest_dir", "/b"}, {"keep", 0}}),
            "parameter 'keep' must be an integer of at least 1");
  EXPECT_EQ(bad({{"kind", "tarball"}, {"source", "/a"}, {"dest_dir", "/b"}}),
            "parameter 'kind' must be 'directory' or 'sqlite', got 'tarball'");
  auto* restore = registry_.find("backup.restore");
  auto s = restore->validate({{"kind", "sqlite"}, {"backup", "latest"}, {"target", "/a.db"}});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(),
            "parameter 'dest_dir' is required (an absolute path) when 'backup' is 'latest': "
            "parameter 'dest_dir' is required");
  auto* undo = registry_.find("backup.undo_restore");
  s = undo->validate({{"target", "/srv/app"}, {"previous", "/etc"}});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(),
            "parameter 'previous' (/etc) is not a '/srv/app.firebreak-pre-restore-<ts>' path kept "
            "by backup.restore");
}

TEST_F(BackupTest, DirectoryRoundTripRestoresEverythingIdentically) {
  makeTree();
  auto before = snapshot(src_);

  auto created = createDir();
  ASSERT_TRUE(created.ok()) << created.message;
  std::string path = created.output["path"];
  EXPECT_TRUE(std::regex_match(fs::path(path).filename().string(),
                               std::regex(R"(src-\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{8}\.tar\.zst)")))
      << path;
  EXPECT_EQ(fs::path(path).parent_path().string(), dest_);
  EXPECT_EQ(created.output["manifest"], path + ".manifest.json");
  EXPECT_EQ(created.output["sha256"], *sha256File(path, nullptr));
  EXPECT_EQ(created.output["bytes"], fs::file_size(path));
  EXPECT_EQ(created.output["existing"], false);
  EXPECT_EQ(created.message.find("backup.create: backed up " + src_ + " to " + path), 0u)
      << created.message;
  EXPECT_NE(created.message.find("[step 's', attempt 1]"), std::string::npos);

  auto manifest = readManifest(path + ".manifest.json");
  ASSERT_TRUE(manifest) << manifest.error().message();
  EXPECT_EQ(manifest->kind, "directory");
  EXPECT_EQ(manifest->source, src_);
  EXPECT_EQ(manifest->idempotency_key, "key-1");
  EXPECT_EQ(manifest->created_ms, clock_.nowMs());
  EXPECT_EQ(manifest->sha256, created.output["sha256"]);
  bool found_big = false;
  for (const auto& f : manifest->files) {
    if (f.path == "nested/deeper/deepest/big.bin") {
      found_big = true;
      EXPECT_EQ(f.size, 3u << 20);
      EXPECT_EQ(f.sha256, *sha256File(src_ + "/nested/deeper/deepest/big.bin", nullptr));
    }
  }
  EXPECT_TRUE(found_big);
  EXPECT_EQ(manifest->files.size(), before.size() - 1);  // all but the root

  auto verified = run("backup.verify", {{"backup", path}});
  ASSERT_TRUE(verified.ok()) << verified.message;
  EXPECT_EQ(verified.output["ok"], true);
  EXPECT_EQ(verified.output["sha256"], created.output["sha256"]);

  clock_.advance(std::chrono::minutes(5));
  std::string target = tmp_.file("restored");
  auto restored = run("backup.restore", {{"kind", "directory"}, {"backup", "latest"},
                                         {"dest_dir", dest_}, {"target", target}});
  ASSERT_TRUE(restored.ok()) << restored.message;
  EXPECT_EQ(restored.output["path"], path);
  EXPECT_EQ(restored.output["target"], target);
  EXPECT_TRUE(restored.output["previous"].is_null());
  EXPECT_EQ(restored.output["rpo_ms"], 5 * 60 * 1000);
  EXPECT_EQ(restored.output["restored_bytes"], manifest->content_bytes);
  EXPECT_EQ(restored.output["sha256"], created.output["sha256"]);

  auto after = snapshot(target);
  EXPECT_EQ(after.size(), before.size());
  for (const auto& [rel, node] : before) EXPECT_EQ(after[rel], node) << "'" << rel << "'";
  // Nothing left beside the target but the journal of this step.
  for (const auto& name : listDir(tmp_.path().string()))
    EXPECT_TRUE(name == "src" || name == "backups" || name == "restored" ||
                name.find(".restored.firebreak-restore-") == 0)
        << name;
}

TEST_F(BackupTest, GnuTarReadsOurArchives) {
  if (!fs::exists("/usr/bin/tar") || !fs::exists("/usr/bin/zstd")) GTEST_SKIP() << "no GNU tar";
  makeTree();
  auto created = createDir();
  ASSERT_TRUE(created.ok()) << created.message;
  std::string out = tmp_.file("gnu");
  fs::create_directories(out);
  std::string cmd = "/usr/bin/tar --zstd -xpf '" + created.output["path"].get<std::string>() +
                    "' -C '" + out + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto before = snapshot(src_), after = snapshot(out);
  // GNU tar sets the root's mode but not its mtime from "./"; compare the rest exactly.
  before.erase("");
  after.erase("");
  EXPECT_EQ(after, before);
}

TEST_F(BackupTest, SameIdempotencyKeyReturnsTheSameBackup) {
  makeTree();
  auto first = createDir("key-a");
  ASSERT_TRUE(first.ok()) << first.message;
  clock_.advance(std::chrono::seconds(30));
  testing::writeFile(src_ + "/a.txt", "changed after the first attempt\n");
  auto again = createDir("key-a");
  ASSERT_TRUE(again.ok()) << again.message;
  EXPECT_EQ(again.output["path"], first.output["path"]);
  EXPECT_EQ(again.output["sha256"], first.output["sha256"]);
  EXPECT_EQ(again.output["existing"], true);
  EXPECT_NE(again.message.find("already made with this idempotency key"), std::string::npos);
  EXPECT_EQ(listDir(dest_).size(), 2u);  // one backup, one manifest

  auto other = createDir("key-b");
  ASSERT_TRUE(other.ok()) << other.message;
  EXPECT_NE(other.output["path"], first.output["path"]);
  EXPECT_EQ(other.output["existing"], false);
  EXPECT_EQ(listDir(dest_).size(), 4u);
}

TEST_F(BackupTest, KeepPrunesOlderBackupsOfTheSameSourceOnly) {
  makeTree();
  // Another source's backup in the same directory is not this source's to prune.
  std::string other = tmp_.file("other");
  fs::create_directories(other);
  testing::writeFile(other + "/x", "x");
  auto foreign = run("backup.create",
                     {{"kind", "directory"}, {"source", other}, {"dest_dir", dest_}}, "foreign");
  ASSERT_TRUE(foreign.ok()) << foreign.message;

  std::vector<std::string> paths;
  for (int i = 1; i <= 4; ++i) {
    clock_.advance(std::chrono::seconds(10));
    auto r = createDir("key-" + std::to_string(i), {{"keep", 2}});
    ASSERT_TRUE(r.ok()) << r.message;
    paths.push_back(r.output["path"]);
    if (i == 3) {
      EXPECT_EQ(r.output["pruned"], Json::array({paths[0]}));
    }
  }
  auto left = listBackups(dest_, "directory", src_);
  ASSERT_TRUE(left);
  ASSERT_EQ(left->size(), 2u);
  EXPECT_EQ((*left)[0].path, paths[3]);
  EXPECT_EQ((*left)[1].path, paths[2]);
  EXPECT_FALSE(fs::exists(paths[0]));
  EXPECT_FALSE(fs::exists(paths[0] + ".manifest.json"));
  EXPECT_FALSE(fs::exists(paths[1]));
  EXPECT_TRUE(fs::exists(foreign.output["path"].get<std::string>()));
}

TEST_F(BackupTest, LatestIgnoresBackupsWithoutManifest) {
  makeTree();
  auto created = createDir();
  ASSERT_TRUE(created.ok()) << created.message;
  // A newer backup whose manifest was never written (a crash between the two).
  clock_.advance(std::chrono::seconds(10));
  auto newer = createDir("key-2");
  ASSERT_TRUE(newer.ok()) << newer.message;
  fs::remove(newer.output["manifest"].get<std::string>());
  auto verified = run("backup.verify", {{"backup", "latest"}, {"dest_dir", dest_}});
  ASSERT_TRUE(verified.ok()) << verified.message;
  EXPECT_EQ(verified.output["path"], created.output["path"]);
  // Named explicitly, it is refused.
  auto incomplete = run("backup.verify", {{"backup", newer.output["path"]}});
  EXPECT_EQ(incomplete.outcome, ActionResult::Outcome::kPermanent);
  EXPECT_EQ(incomplete.message, "backup.verify: " + newer.output["path"].get<std::string>() +
                                    ": incomplete backup (no manifest " +
                                    newer.output["manifest"].get<std::string>() +
                                    ") [step 's', attempt 1]");
}

TEST_F(BackupTest, PlansHaveNoSideEffects) {
  makeTree();
  std::string target = tmp_.file("target");
  fs::create_directories(target);
  testing::writeFile(target + "/old", "old");
  auto state = [&] { return snapshot(tmp_.path().string()); };
  auto before = state();

  auto plan = run("backup.create", {{"kind", "directory"}, {"source", src_}, {"dest_dir", dest_}},
                  "key-1", true);
  ASSERT_TRUE(plan.ok()) << plan.message;
  const Json& p = plan.output["plan"];
  EXPECT_EQ(p["kind"], "directory");
  EXPECT_EQ(p["dest_dir_exists"], false);
  EXPECT_EQ(p["path"].get<std::string>().rfind(dest_ + "/src-", 0), 0u) << p.dump();
  EXPECT_GE(p["steps"].size(), 3u);
  EXPECT_EQ(plan.resources, 1);
  EXPECT_EQ(state(), before);
  EXPECT_FALSE(fs::exists(dest_));

  auto created = createDir();
  ASSERT_TRUE(created.ok()) << created.message;
  before = state();
  auto replan = run("backup.create", {{"kind", "directory"}, {"source", src_}, {"dest_dir", dest_}},
                    "key-1", true);
  ASSERT_TRUE(replan.ok());
  EXPECT_EQ(replan.output["plan"]["existing"], created.output["path"]);

  auto restore_plan = run("backup.restore", {{"kind", "directory"}, {"dest_dir", dest_},
                                             {"target", target}}, "key-r", true);
  ASSERT_TRUE(restore_plan.ok()) << restore_plan.message;
  const Json& rp = restore_plan.output["plan"];
  EXPECT_EQ(rp["path"], created.output["path"]);
  EXPECT_EQ(rp["target_exists"], true);
  EXPECT_EQ(rp["previous"].get<std::string>().rfind(target + ".firebreak-pre-restore-", 0), 0u);
  EXPECT_EQ(restore_plan.resources, 1);

  auto verify_plan = run("backup.verify", {{"backup", "latest"}, {"dest_dir", dest_}}, "k", true);
  ASSERT_TRUE(verify_plan.ok()) << verify_plan.message;
  auto undo_plan = run("backup.undo_restore",
                       {{"target", target}, {"previous", target + ".firebreak-pre-restore-x"}},
                       "k", true);
  EXPECT_FALSE(undo_plan.ok());  // nothing to put back
  EXPECT_EQ(state(), before);
}

TEST_F(BackupTest, CorruptedBackupIsRefusedByVerifyAndRestore) {
  makeTree();
  auto created = createDir();
  ASSERT_TRUE(created.ok()) << created.message;
  std::string path = created.output["path"];
  std::string expected = created.output["sha256"];
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(fs::file_size(path) / 2));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(fs::file_size(path) / 2));
    c = static_cast<char>(c ^ 0x01);
    f.write(&c, 1);
  }
  std::string actual = *sha256File(path, nullptr);
  ASSERT_NE(actual, expected);

  auto verified = run("backup.verify", {{"backup", path}});
  EXPECT_EQ(verified.outcome, ActionResult::Outcome::kPermanent);
  EXPECT_EQ(verified.message, "backup.verify: " + path + ": sha256 mismatch (manifest " +
                                  expected + ", file " + actual + ") [step 's', attempt 1]");
  EXPECT_EQ(verified.output["ok"], false);
  EXPECT_EQ(verified.output["sha256"], actual);

  std::string target = tmp_.file("target");
  fs::create_directories(target);
  testing::writeFile(target + "/live", "live data");
  auto before = snapshot(tmp_.path().string());
  auto restored = run("backup.restore", {{"kind", "directory"}, {"backup", path},
                                         {"target", target}});
  EXPECT_EQ(restored.outcome, ActionResult::Outcome::kPermanent);
  EXPECT_EQ(restored.message, "backup.restore: " + path + ": sha256 mismatch (manifest " +
                                  expected + ", file " + actual + "); refusing to restore, " +
                                  target + " untouched [step 's', attempt 1]");
  EXPECT_EQ(snapshot(tmp_.path().string()), before);  // not even a journal
}

// Writes `entries` as a .tar.zst with a matching manifest, so only the member checks stand
// between it and the target.
std::string writeHostileBackup(const std::string& dest, const std::vector<TarEntry>& entries) {
  std::filesystem::create_directories(dest);
  std::string path = dest + "/evil-20260101T000000.000Z-00000000.tar.zst";
  auto zstd = ZstdFileWriter::create(path);
  EXPECT_TRUE(zstd);
  TarWriter tar([&](const char* d, size_t n) { return (*zstd)->write(d, n); });
  for (const auto& e : entries) {
    EXPECT_TRUE(tar.begin(e));
    std::string data(e.size, 'x');
    EXPECT_TRUE(tar.write(data.data(), data.size()));
    EXPECT_TRUE(tar.end());
  }
  EXPECT_TRUE(tar.finish());
  EXPECT_TRUE((*zstd)->finish());
  Manifest m;
  m.kind = "directory";
  m.source = "/somewhere";
  m.backup = baseName(path);
  m.created_ms = 1;
  m.bytes = std::filesystem::file_size(path);
  m.sha256 = (*zstd)->sha256Hex();
  EXPECT_TRUE(writeManifest(path, m));
  return path;
}

TarEntry dirEntry(const std::string& name) {
  TarEntry e;
  e.name = name;
  e.type = TarType::kDirectory;
  e.mode = 0755;
  return e;
}
TarEntry fileEntry(const std::string& name) {
  TarEntry e;
  e.name = name;
  e.size = 4;
  return e;
}
TarEntry linkEntry(const std::string& name, const std::string& target) {
  TarEntry e;
  e.name = name;
  e.type = TarType::kSymlink;
  e.mode = 0777;
  e.link_target = target;
  return e;
}

struct HostileCase {
  std::string name;
  std::vector<TarEntry> entries;
  std::string problem;
};

TEST_F(BackupTest, HostileArchivesAreRefusedOnRestoreAndVerify) {
  std::vector<HostileCase> cases = {
      {"dotdot", {dirEntry("./"), fileEntry("ok.txt"), fileEntry("../evil")},
       "unsafe archive member '../evil': '..' component (path traversal)"},
      {"nested_dotdot", {dirEntry("./"), dirEntry("a/"), fileEntry("a/../../evil")},
       "unsafe archive member 'a/../../evil': '..' component (path traversal)"},
      {"absolute", {dirEntry("./"), fileEntry("/tmp/evil")},
       "unsafe archive member '/tmp/evil': absolute path"},
      {"escaping_symlink", {dirEntry("./"), linkEntry("l", "../../etc")},
       "unsafe archive member 'l': symlink to '../../etc' resolves outside the archive root"},
      {"absolute_symlink", {dirEntry("./"), linkEntry("l", "/etc/passwd")},
       "unsafe archive member 'l': symlink to '/etc/passwd' resolves outside the archive root"},
      {"write_through_symlink", {dirEntry("./"), linkEntry("l", "."), fileEntry("l/x")},
       "unsafe archive member 'l/x': lies under the symlink member 'l'"},
      // Lexically a/b/z -> y/../../.. stays inside, but y is a link to the root.
      {"chained_symlinks",
       {dirEntry("./"), dirEntry("a/"), dirEntry("a/b/"), linkEntry("a/b/y", "../.."),
        linkEntry("a/b/z", "y/../../..")},
       "unsafe archive member 'a/b/z': symlink to 'y/../../..' resolves outside the archive root"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string dest = tmp_.file("hostile-" + c.name);
    std::string path = writeHostileBackup(dest, c.entries);
    std::string target = tmp_.file("victim-" + c.name) + "/app";
    fs::create_directories(target);
    testing::writeFile(target + "/data", "precious");
    auto before = snapshot(tmp_.path().string());

    auto restored = run("backup.restore", {{"kind", "directory"}, {"backup", path},
                                           {"target", target}}, "key-" + c.name);
    EXPECT_EQ(restored.outcome, ActionResult::Outcome::kPermanent);
    EXPECT_EQ(restored.message, "backup.restore: " + c.problem + " (while reading " + path +
                                    "); refusing to restore, " + target +
                                    " untouched [step 's', attempt 1]");
    EXPECT_EQ(snapshot(tmp_.path().string()), before);  // staging removed, nothing outside
    EXPECT_FALSE(fs::exists(tmp_.file("evil")));
    EXPECT_FALSE(fs::exists("/tmp/evil"));

    auto verified = run("backup.verify", {{"backup", path}}, "v-" + c.name);
    EXPECT_EQ(verified.outcome, ActionResult::Outcome::kPermanent);
    EXPECT_NE(verified.message.find(c.problem), std::string::npos) << verified.message;
  }
}

TEST_F(BackupTest, RestoreKeepsThePreviousTargetAndUndoPutsItBack) {
  makeTree();
  auto created = createDir();
  ASSERT_TRUE(created.ok()) << created.message;
  std::string target = tmp_.file("live");
  fs::create_directories(target + "/sub");
  testing::writeFile(target + "/sub/state", "state before the restore");
  auto original = snapshot(target);

  clock_.advance(std::chrono::seconds(90));
  Json params = {{"kind", "directory"}, {"dest_dir", dest_}, {"target", target}};
  auto restored = run("backup.restore", params, "restore-1");
  ASSERT_TRUE(restored.ok()) << restored.message;
  std::string previous = restored.output["previous"];
  EXPECT_EQ(previous, target + ".firebreak-pre-restore-" + fileTimestamp(clock_.nowMs()));
  EXPECT_EQ(snapshot(previous), original);
  EXPECT_EQ(testing::readFile(target + "/a.txt"), "hello\n");
  EXPECT_EQ(restored.output["rpo_ms"], 90'000);

  // The same step again (a retry or a resume): the same state, the same previous.
  clock_.advance(std::chrono::seconds(1));
  auto again = run("backup.restore", params, "restore-1");
  ASSERT_TRUE(again.ok()) << again.message;
  EXPECT_EQ(again.output["previous"], previous);
  EXPECT_EQ(again.output["existing"], true);
  int kept = 0;
  for (const auto& name : listDir(tmp_.path().string()))
    kept += name.find("live.firebreak-pre-restore-") == 0;
  EXPECT_EQ(kept, 1);

  auto undone = run("backup.undo_restore", {{"target", target}, {"previous", previous}}, "undo-1");
  ASSERT_TRUE(undone.ok()) << undone.message;
  EXPECT_EQ(snapshot(target), original);
  EXPECT_FALSE(fs::exists(previous));
  std::string replaced = undone.output["replaced"];
  EXPECT_EQ(testing::readFile(replaced + "/a.txt"), "hello\n");  // kept aside, not deleted

  auto replay = run("backup.undo_restore", {{"target", target}, {"previous", previous}}, "undo-1");
  ASSERT_TRUE(replay.ok()) << replay.message;
  EXPECT_EQ(snapshot(target), original);
}

TEST_F(BackupTest, UndoReadsTheUndoneStepsOutput) {
  makeTree();
  ASSERT_TRUE(createDir().ok());
  std::string target = tmp_.file("live");
  fs::create_directories(target);
  testing::writeFile(target + "/v", "1");
  auto restored = run("backup.restore", {{"kind", "directory"}, {"dest_dir", dest_},
                                         {"target", target}}, "r");
  ASSERT_TRUE(restored.ok()) << restored.message;
  auto undone = run("backup.undo_restore", Json::object(), "u", false, restored.output);
  ASSERT_TRUE(undone.ok()) << undone.message;
  EXPECT_EQ(testing::readFile(target + "/v"), "1");
}

TEST_F(BackupTest, SqliteRoundTripKeepsTheWalOfThePreviousDatabase) {
  std::string db_path = tmp_.file("app.db");
  auto exec = [](sqlite3* db, const char* sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
  };
  auto count = [](const std::string& path) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  };
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3);");
  ::chmod(db_path.c_str(), 0640);

  auto created = run("backup.create", {{"kind", "sqlite"}, {"source", db_path}, {"dest_dir", dest_},
                                       {"label", "app"}});
  ASSERT_TRUE(created.ok()) << created.message;
  std::string path = created.output["path"];
  EXPECT_TRUE(std::regex_match(fs::path(path).filename().string(),
                               std::regex(R"(app-\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{8}\.sqlite\.zst)")))
      << path;
  auto verified = run("backup.verify", {{"backup", "latest"}, {"dest_dir", dest_},
                                        {"kind", "sqlite"}});
  ASSERT_TRUE(verified.ok()) << verified.message;
  EXPECT_EQ(verified.output["integrity_check"], "ok");

  // Two more rows, left in the -wal: the application is stopped before a restore (the
  // playbook does it) without a checkpoint, so committed data sits only in the -wal.
  exec(db, "PRAGMA wal_autocheckpoint=0; INSERT INTO t VALUES (4); INSERT INTO t VALUES (5);");
  ASSERT_EQ(sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr), SQLITE_OK);
  sqlite3_close_v2(db);
  ASSERT_TRUE(fs::exists(db_path + "-wal"));

  auto restored = run("backup.restore", {{"kind", "sqlite"}, {"backup", "latest"},
                                         {"dest_dir", dest_}, {"target", db_path}});
  ASSERT_TRUE(restored.ok()) << restored.message;
  // Checked before anything opens the restored database: even a read-only open of a WAL-mode
  // database creates an (empty) -wal and -shm, which it cannot remove on close.
  EXPECT_FALSE(fs::exists(db_path + "-wal"));
  EXPECT_FALSE(fs::exists(db_path + "-shm"));
  EXPECT_EQ(count(db_path), 3);
  struct stat st;
  ASSERT_EQ(::stat(db_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  std::string previous = restored.output["previous"];
  EXPECT_TRUE(fs::exists(previous + "-wal"));  // moved with its database
  EXPECT_EQ(count(previous), 5);

  auto undone = run("backup.undo_restore", {{"target", db_path}, {"previous", previous}}, "u");
  ASSERT_TRUE(undone.ok()) << undone.message;
  EXPECT_EQ(count(db_path), 5);
}

}  // namespace
}  // namespace firebreak::actions::backup
