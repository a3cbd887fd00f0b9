// The tar writer and reader on their own, and against GNU tar's archives.
#include "actions/backup/tar.h"

#include <sys/stat.h>

#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "actions/backup/archive.h"
#include "actions/backup/fs_util.h"
#include "actions/backup/zstd_stream.h"
#include "tests/fakes/test_env.h"

namespace firebreak::actions::backup {
namespace {

namespace fs = std::filesystem;

std::string writeArchive(const std::vector<std::pair<TarEntry, std::string>>& entries) {
  std::string out;
  TarWriter tar([&](const char* d, size_t n) -> core::Status {
    out.append(d, n);
    return {};
  });
  for (const auto& [e, data] : entries) {
    EXPECT_TRUE(tar.begin(e));
    EXPECT_TRUE(tar.write(data.data(), data.size()));
    EXPECT_TRUE(tar.end());
  }
  EXPECT_TRUE(tar.finish());
  EXPECT_EQ(out.size() % kTarBlock, 0u);
  EXPECT_EQ(tar.bytesWritten(), out.size());
  return out;
}

struct Read {
  TarEntry entry;
  std::string data;
};

core::Result<std::vector<Read>> readArchive(const std::string& bytes) {
  size_t pos = 0;
  TarReader reader(
      [&](char* d, size_t n) -> core::Result<size_t> {
        size_t k = std::min(n, bytes.size() - pos);
        std::memcpy(d, bytes.data() + pos, k);
        pos += k;
        return k;
      },
      "test.tar");
  std::vector<Read> out;
  while (true) {
    auto e = reader.next();
    if (!e) return core::fail(e.error());
    if (!*e) break;
    Read r{**e, {}};
    if (r.entry.type == TarType::kFile) {
      auto s = reader.readData([&](const char* d, size_t n) -> core::Status {
        r.data.append(d, n);
        return {};
      });
      if (!s) return core::fail(s.error());
    }
    out.push_back(std::move(r));
  }
  return out;
}

TEST(TarTest, RoundTripsNamesModesTimesAndPaxFields) {
  TarEntry dir;
  dir.name = "d";
  dir.type = TarType::kDirectory;
  dir.mode = 0750;
  dir.mtime_sec = 1'700'000'000;
  TarEntry file;
  file.name = "d/" + std::string(180, 'f') + "/x.txt";  // over 100 bytes: pax path
  file.mode = 04755;
  file.uid = 123456789;  // over 7 octal digits: pax uid
  file.gid = 42;
  file.size = 11;
  file.mtime_sec = 1'700'000'001;
  file.mtime_nsec = 120'000'000;
  TarEntry link;
  link.name = "l";
  link.type = TarType::kSymlink;
  link.mode = 0777;
  link.link_target = std::string(120, 't');
  link.mtime_sec = -2;  // before 1970: pax mtime
  link.mtime_nsec = 500'000'000;
  auto bytes = writeArchive({{dir, ""}, {file, "hello world"}, {link, ""}});

  auto read = readArchive(bytes);
  ASSERT_TRUE(read) << read.error().message();
  ASSERT_EQ(read->size(), 3u);
  EXPECT_EQ((*read)[0].entry.name, "d/");
  EXPECT_EQ((*read)[0].entry.type, TarType::kDirectory);
  EXPECT_EQ((*read)[0].entry.mode, 0750u);
  const TarEntry& f = (*read)[1].entry;
  EXPECT_EQ(f.name, file.name);
  EXPECT_EQ(f.mode, 04755u);
  EXPECT_EQ(f.uid, 123456789u);
  EXPECT_EQ(f.gid, 42u);
  EXPECT_EQ(f.size, 11u);
  EXPECT_EQ(f.mtime_sec, 1'700'000'001);
  EXPECT_EQ(f.mtime_nsec, 120'000'000u);
  EXPECT_EQ((*read)[1].data, "hello world");
  const TarEntry& l = (*read)[2].entry;
  EXPECT_EQ(l.type, TarType::kSymlink);
  EXPECT_EQ(l.link_target, link.link_target);
  EXPECT_EQ(l.mtime_sec, -2);
  EXPECT_EQ(l.mtime_nsec, 500'000'000u);
}

TEST(TarTest, ReaderRefusesDamage) {
  TarEntry file;
  file.name = "a.txt";
  file.size = 3;
  auto good = writeArchive({{file, "abc"}});

  auto damaged = good;
  damaged[10] ^= 1;  // inside the name: the header checksum no longer matches
  auto r = readArchive(damaged);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "test.tar: bad tar archive: header checksum mismatch");

  r = readArchive(good.substr(0, 1024));  // the end-of-archive marker cut off
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "test.tar: bad tar archive: the end-of-archive marker is missing");

  r = readArchive(good.substr(0, 600));  // inside the data
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "test.tar: bad tar archive: truncated in entry data");

  auto trailing = good + std::string(512, 'x');
  r = readArchive(trailing);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "test.tar: bad tar archive: data after the end-of-archive marker");
}

TEST(TarTest, SafeMemberPaths) {
  EXPECT_EQ(*safeMemberPath("./a//b/"), "a/b");
  EXPECT_EQ(*safeMemberPath("./"), "");
  EXPECT_EQ(*safeMemberPath("a/./b"), "a/b");
  EXPECT_FALSE(safeMemberPath("../x"));
  EXPECT_FALSE(safeMemberPath("a/../../x"));
  EXPECT_FALSE(safeMemberPath("a/.."));
  EXPECT_FALSE(safeMemberPath("/etc/passwd"));
  EXPECT_TRUE(safeMemberPath("a/..b/c..d"));  // dots inside names are fine
}

TEST(ArchiveTest, ReadsAndExtractsGnuTarPaxArchives) {
  if (!fs::exists("/usr/bin/tar") || !fs::exists("/usr/bin/zstd")) GTEST_SKIP() << "no GNU tar";
  testing::TempDir tmp;
  std::string src = tmp.file("src");
  fs::create_directories(src + "/sub/" + std::string(120, 's'));
  testing::writeFile(src + "/sub/" + std::string(120, 's') + "/f", "deep");
  testing::writeFile(src + "/top", "top");
  fs::create_symlink("top", src + "/ln");
  std::string archive = tmp.file("gnu.tar.zst");
  std::string cmd = "/usr/bin/tar --format=pax --zstd -cf '" + archive + "' -C '" + src + "' .";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  auto stats = checkDirectoryArchive(archive, nullptr, nullptr);
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->files, 2u);
  EXPECT_EQ(stats->symlinks, 1u);
  EXPECT_EQ(stats->content_bytes, 7u);

  std::string out = tmp.file("out");
  fs::create_directories(out);
  auto extracted = extractDirectoryArchive(archive, out, nullptr);
  ASSERT_TRUE(extracted) << extracted.error().message();
  EXPECT_EQ(testing::readFile(out + "/sub/" + std::string(120, 's') + "/f"), "deep");
  EXPECT_EQ(fs::read_symlink(out + "/ln"), "top");
}

TEST(ArchiveTest, TruncatedZstdIsAnError) {
  testing::TempDir tmp;
  std::string src = tmp.file("src");
  fs::create_directories(src);
  testing::writeFile(src + "/f", std::string(100000, 'a'));
  auto archive = writeDirectoryArchive(src, tmp.file("a.tar.zst"), "", nullptr);
  ASSERT_TRUE(archive) << archive.error().message();
  fs::resize_file(tmp.file("a.tar.zst"), archive->bytes - 10);
  auto stats = checkDirectoryArchive(tmp.file("a.tar.zst"), &archive->files, nullptr);
  ASSERT_FALSE(stats);
  EXPECT_NE(stats.error().message().find("zstd"), std::string::npos) << stats.error().message();
}

TEST(ArchiveTest, CancelledArchiveStops) {
  testing::TempDir tmp;
  std::string src = tmp.file("src");
  fs::create_directories(src);
  testing::writeFile(src + "/f", "x");
  core::CancelFlag cancel;
  cancel.cancel();
  auto archive = writeDirectoryArchive(src, tmp.file("a.tar.zst"), "", &cancel);
  ASSERT_FALSE(archive);
  EXPECT_EQ(archive.error().code(), core::ErrorCode::kTimeout);
}

}  // namespace
}  // namespace firebreak::actions::backup
