#include "actions/backup/archive.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "actions/backup/fs_util.h"
#include "actions/backup/zstd_stream.h"

namespace firebreak::actions::backup {

namespace {

core::Error refused(const std::string& message) {
  return core::Error(core::ErrorCode::kFailedPrecondition, message);
}

std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = std::min(path.find('/', i), path.size());
    if (j > i) parts.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

std::string joinParts(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

// Follows `target` from the directory `dir` the way the kernel would, through the archive's
// own symlinks (a lexical check alone is fooled by "l/../.." when l is a link). False when it
// climbs above the root, is absolute, or loops.
bool resolveInside(std::vector<std::string>& dir, std::string_view target,
                   const std::map<std::string, std::string>& links, int& hops) {
  if (target.empty() || target[0] == '/') return false;
  for (const auto& part : splitPath(target)) {
    if (part == ".") continue;
    if (part == "..") {
      if (dir.empty()) return false;
      dir.pop_back();
      continue;
    }
    dir.push_back(part);
    auto it = links.find(joinParts(dir));
    if (it != links.end()) {
      if (++hops > 40) return false;
      dir.pop_back();
      if (!resolveInside(dir, it->second, links, hops)) return false;
    }
  }
  return true;
}

// The member rules shared by check and extraction: clean relative paths, no duplicates,
// nothing under a symlink member, symlinks resolving inside the root.
class MemberChecker {
 public:
  core::Result<std::string> add(const TarEntry& entry) {
    auto rel = safeMemberPath(entry.name);
    if (!rel) return rel;
    if (rel->empty() && entry.type != TarType::kDirectory)
      return core::fail(refused("archive root member '" + entry.name + "' is not a directory"));
    if (!paths_.insert(*rel).second)
      return core::fail(refused("duplicate archive member '" + entry.name + "'"));
    if (auto link = linkAbove(*rel); !link.empty())
      return core::fail(refused("unsafe archive member '" + entry.name +
                                "': lies under the symlink member '" + link + "'"));
    if (entry.type == TarType::kSymlink) links_[*rel] = entry.link_target;
    return rel;
  }

  // Problems only the whole archive reveals; empty when it is safe.
  std::vector<std::string> finish() const {
    std::vector<std::string> problems;
    for (const auto& path : paths_) {
      if (auto link = linkAbove(path); !link.empty())
        problems.push_back("unsafe archive member '" + path + "': lies under the symlink member '" +
                           link + "'");
    }
    for (const auto& [path, target] : links_) {
      auto dir = splitPath(path);
      dir.pop_back();
      int hops = 0;
      if (!resolveInside(dir, target, links_, hops))
        problems.push_back("unsafe archive member '" + path + "': symlink to '" + target +
                           "' resolves outside the archive root");
    }
    return problems;
  }

 private:
  // The symlink member that is a proper ancestor of `path`, or "".
  std::string linkAbove(const std::string& path) const {
    if (links_.empty()) return {};
    for (size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      std::string prefix = path.substr(0, slash);
      if (links_.count(prefix)) return prefix;
    }
    return {};
  }

  std::set<std::string> paths_;
  std::map<std::string, std::string> links_;
};

class ArchiveWriter {
 public:
  ArchiveWriter(ZstdFileWriter& zstd, const struct stat* exclude, const core::CancelFlag* cancel)
      : zstd_(zstd),
        tar_([this](const char* data, size_t size) { return zstd_.write(data, size); }),
        exclude_(exclude),
        cancel_(cancel),
        buf_(kChunk) {}

  core::Status run(const std::string& source, DirectoryArchive& out) {
    struct stat st;
    // The root may be a symlink to the real directory (/var/lib/app -> /data/app).
    if (::stat(source.c_str(), &st) != 0) return core::fail(sysError(errno, "stat " + source));
    if (!S_ISDIR(st.st_mode))
      return core::fail(core::ErrorCode::kInvalidArgument, source + " is not a directory");
    if (auto s = tar_.begin(entryFor(".", st, TarType::kDirectory)); !s) return s;
    if (auto s = tar_.end(); !s) return s;
    if (auto s = walkDir(source, "", out); !s) return s;
    if (auto s = tar_.finish(); !s) return s;
    for (auto& problem : checker_.finish())
      out.warnings.push_back(problem + "; a restore refuses this backup");
    return {};
  }

 private:
  static TarEntry entryFor(const std::string& name, const struct stat& st, TarType type) {
    TarEntry e;
    e.name = name;
    e.type = type;
    e.mode = st.st_mode & 07777;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.mtime_sec = st.st_mtim.tv_sec;
    e.mtime_nsec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
    return e;
  }

  core::Status walkDir(const std::string& dir, const std::string& rel, DirectoryArchive& out) {
    std::vector<std::string> names;
    {
      DIR* d = ::opendir(dir.c_str());
      if (!d) return core::fail(sysError(errno, "open directory " + dir));
      errno = 0;
      while (struct dirent* ent = ::readdir(d)) {
        std::string name = ent->d_name;
        if (name != "." && name != "..") names.push_back(std::move(name));
      }
      int err = errno;
      ::closedir(d);
      if (err != 0) return core::fail(sysError(err, "read directory " + dir));
    }
    // Sorted: the same tree gives the same archive.
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      if (isCancelled(cancel_)) return core::fail(cancelledError("archiving " + dir));
      std::string abs = joinPath(dir, name);
      std::string member = rel.empty() ? name : rel + "/" + name;
      struct stat st;
      if (::lstat(abs.c_str(), &st) != 0) {
        if (errno == ENOENT) {
          out.warnings.push_back("skipped '" + member + "': removed during the backup");
          continue;
        }
        return core::fail(sysError(errno, "stat " + abs));
      }
      core::Status s;
      if (S_ISDIR(st.st_mode)) {
        if (exclude_ && st.st_dev == exclude_->st_dev && st.st_ino == exclude_->st_ino) {
          out.warnings.push_back("skipped '" + member + "': it is the backup destination");
          continue;
        }
        s = addEntry(entryFor(member, st, TarType::kDirectory), out);
        if (s) s = walkDir(abs, member, out);
      } else if (S_ISREG(st.st_mode)) {
        s = addFile(abs, member, out);
      } else if (S_ISLNK(st.st_mode)) {
        s = addSymlink(abs, member, st, out);
      } else {
        out.warnings.push_back("skipped '" + member + "': not a file, directory or symlink");
      }
      if (!s) return s;
    }
    return {};
  }

  core::Status addEntry(const TarEntry& e, DirectoryArchive& out) {
    if (auto rel = checker_.add(e); !rel) return core::fail(rel.error());
    if (auto s = tar_.begin(e); !s) return s;
    if (auto s = tar_.end(); !s) return s;
    out.files.push_back({e.name, e.type, 0, {}, e.mode, e.link_target});
    return {};
  }

  core::Status addSymlink(const std::string& abs, const std::string& member,
                          const struct stat& st, DirectoryArchive& out) {
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    while (true) {
      ssize_t n = ::readlink(abs.c_str(), target.data(), target.size());
      if (n < 0) return core::fail(sysError(errno, "readlink " + abs));
      if (static_cast<size_t>(n) < target.size()) {
        target.resize(static_cast<size_t>(n));
        break;
      }
      target.resize(target.size() * 2);  // it changed since lstat
    }
    TarEntry e = entryFor(member, st, TarType::kSymlink);
    e.link_target = target;
    return addEntry(e, out);
  }

  core::Status addFile(const std::string& abs, const std::string& member, DirectoryArchive& out) {
    auto fd = openRead(abs);
    if (!fd) {
      if (fd.error().code() == core::ErrorCode::kNotFound) {
        out.warnings.push_back("skipped '" + member + "': removed during the backup");
        return {};
      }
      return core::fail(fd.error());
    }
    struct stat st;
    if (::fstat(fd->get(), &st) != 0) return core::fail(sysError(errno, "stat " + abs));
    if (!S_ISREG(st.st_mode)) {
      out.warnings.push_back("skipped '" + member + "': replaced during the backup");
      return {};
    }
    TarEntry e = entryFor(member, st, TarType::kFile);
    e.size = static_cast<uint64_t>(st.st_size);
    if (auto rel = checker_.add(e); !rel) return core::fail(rel.error());
    if (auto s = tar_.begin(e); !s) return s;
    Sha256 sha;
    uint64_t left = e.size;
    while (left > 0) {
      if (isCancelled(cancel_)) return core::fail(cancelledError("archiving " + abs));
      size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf_.size()));
      auto n = readSome(fd->get(), buf_.data(), want, abs);
      if (!n) return core::fail(n.error());
      // The header already promised the size: a shrinking file cannot be archived as it is.
      if (*n == 0)
        return core::fail(core::ErrorCode::kIo, abs + ": file shrank while being archived");
      sha.update(buf_.data(), *n);
      if (auto s = tar_.write(buf_.data(), *n); !s) return s;
      left -= *n;
    }
    if (auto s = tar_.end(); !s) return s;
    out.files.push_back({member, TarType::kFile, e.size, sha.hexDigest(), e.mode, {}});
    out.content_bytes += e.size;
    return {};
  }

  ZstdFileWriter& zstd_;
  TarWriter tar_;
  const struct stat* exclude_;
  const core::CancelFlag* cancel_;
  std::vector<char> buf_;
  MemberChecker checker_;
};

// Reads every member of a .tar.zst, handing each to `visit` with its clean relative path.
template <typename Visit>
core::Result<ArchiveStats> readArchive(const std::string& archive, const core::CancelFlag* cancel,
                                       MemberChecker& checker, Visit visit) {
  auto zstd = ZstdFileReader::open(archive);
  if (!zstd) return core::fail(zstd.error());
  TarReader tar([&](char* data, size_t size) { return (*zstd)->read(data, size); }, archive);
  ArchiveStats stats;
  while (true) {
    if (isCancelled(cancel)) return core::fail(cancelledError("reading " + archive));
    auto entry = tar.next();
    if (!entry) return core::fail(entry.error());
    if (!*entry) break;
    auto rel = checker.add(**entry);
    if (!rel) return core::fail(std::move(rel.error()).context("reading " + archive));
    switch ((*entry)->type) {
      case TarType::kFile:
        ++stats.files;
        stats.content_bytes += (*entry)->size;
        break;
      case TarType::kDirectory:
        if (!rel->empty()) ++stats.dirs;
        break;
      case TarType::kSymlink:
        ++stats.symlinks;
        break;
    }
    if (auto s = visit(**entry, *rel, tar); !s) return core::fail(s.error());
  }
  if (auto problems = checker.finish(); !problems.empty())
    return core::fail(refused(problems.front()).context("reading " + archive));
  return stats;
}

bool runningAsRoot() { return ::geteuid() == 0; }

// Private until the modes are fixed up at the end; an existing directory is fine.
core::Status makeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) == 0) return {};
  int err = errno;
  if (err == EEXIST && isDirectory(path)) return {};
  return core::fail(sysError(err, "mkdir " + path));
}

}  // namespace

core::Result<DirectoryArchive> writeDirectoryArchive(const std::string& source,
                                                     const std::string& output,
                                                     const std::string& exclude_dir,
                                                     const core::CancelFlag* cancel) {
  struct stat exclude_st;
  bool have_exclude = !exclude_dir.empty() && ::stat(exclude_dir.c_str(), &exclude_st) == 0;
  auto zstd = ZstdFileWriter::create(output);
  if (!zstd) return core::fail(zstd.error());
  DirectoryArchive out;
  ArchiveWriter writer(**zstd, have_exclude ? &exclude_st : nullptr, cancel);
  if (auto s = writer.run(source, out); !s) return core::fail(s.error());
  if (auto s = (*zstd)->finish(); !s) return core::fail(s.error());
  out.bytes = (*zstd)->compressedBytes();
  out.sha256 = (*zstd)->sha256Hex();
  return out;
}

core::Result<ArchiveStats> checkDirectoryArchive(const std::string& archive,
                                                 const std::vector<ArchivedFile>* expected,
                                                 const core::CancelFlag* cancel) {
  std::unordered_map<std::string, const ArchivedFile*> want;
  if (expected) {
    for (const auto& f : *expected) want[f.path] = &f;
  }
  // The first difference from the manifest, reported only once the whole archive has passed
  // the member rules: an unsafe member is the problem to name, not that the manifest lacks it.
  std::optional<core::Error> first_mismatch;
  auto mismatch = [&](const std::string& path, const std::string& what) -> core::Status {
    if (!first_mismatch)
      first_mismatch = refused(archive + ": member '" + path + "' does not match the manifest (" +
                               what + ")");
    return {};
  };
  MemberChecker checker;
  auto stats = readArchive(
      archive, cancel, checker,
      [&](const TarEntry& e, const std::string& rel, TarReader& tar) -> core::Status {
        Sha256 sha;
        if (e.type == TarType::kFile) {
          auto s = tar.readData([&](const char* data, size_t size) -> core::Status {
            if (isCancelled(cancel)) return core::fail(cancelledError("reading " + archive));
            sha.update(data, size);
            return {};
          });
          if (!s) return s;
        }
        if (!expected || rel.empty()) return {};
        auto it = want.find(rel);
        if (it == want.end()) return mismatch(rel, "not listed");
        const ArchivedFile& f = *it->second;
        want.erase(it);
        if (f.type != e.type)
          return mismatch(rel, fmt::format("{} in the archive, {} in the manifest",
                                           tarTypeName(e.type), tarTypeName(f.type)));
        if (e.type == TarType::kFile) {
          if (f.size != e.size) return mismatch(rel, fmt::format("size {} vs {}", e.size, f.size));
          if (std::string got = sha.hexDigest(); got != f.sha256)
            return mismatch(rel, "sha256 " + got + " vs " + f.sha256);
        }
        if (e.type == TarType::kSymlink && f.target != e.link_target)
          return mismatch(rel, "symlink target '" + e.link_target + "' vs '" + f.target + "'");
        return {};
      });
  if (!stats) return stats;
  if (first_mismatch) return core::fail(std::move(*first_mismatch));
  if (expected && !want.empty())
    return core::fail(refused(archive + ": " + std::to_string(want.size()) +
                              " member(s) listed in the manifest are missing, e.g. '" +
                              want.begin()->first + "'"));
  return stats;
}

core::Result<ArchiveStats> extractDirectoryArchive(const std::string& archive,
                                                   const std::string& root,
                                                   const core::CancelFlag* cancel) {
  struct Deferred {
    std::string rel;
    std::string path;
    TarEntry entry;
  };
  std::vector<Deferred> dirs, links;
  std::set<std::string> made;  // directories known to exist under root
  const bool as_root = runningAsRoot();

  // Parents are plain directories: nothing under root is a symlink until the very end.
  auto ensureParents = [&](const std::string& rel) -> core::Status {
    auto parts = splitPath(rel);
    parts.pop_back();
    std::string sub;
    for (const auto& p : parts) {
      sub = sub.empty() ? p : sub + "/" + p;
      if (made.count(sub)) continue;
      if (auto s = makeDir(joinPath(root, sub)); !s) return s;
      made.insert(sub);
    }
    return {};
  };
  auto setTimes = [](const std::string& path, const TarEntry& e) -> core::Status {
    struct timespec ts[2];
    ts[0].tv_sec = ts[1].tv_sec = e.mtime_sec;
    ts[0].tv_nsec = ts[1].tv_nsec = e.mtime_nsec;
    if (::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0)
      return core::fail(sysError(errno, "set times of " + path));
    return {};
  };
  auto setOwner = [&](const std::string& path, const TarEntry& e) -> core::Status {
    if (!as_root) return {};
    if (::fchownat(AT_FDCWD, path.c_str(), static_cast<uid_t>(e.uid), static_cast<gid_t>(e.gid),
                   AT_SYMLINK_NOFOLLOW) != 0)
      return core::fail(sysError(errno, "chown " + path));
    return {};
  };

  MemberChecker checker;
  auto stats = readArchive(
      archive, cancel, checker,
      [&](const TarEntry& e, const std::string& rel, TarReader& tar) -> core::Status {
        std::string full = joinPath(root, rel);
        if (e.type == TarType::kDirectory) {
          if (!rel.empty()) {
            if (auto s = ensureParents(rel); !s) return s;
            if (auto s = makeDir(full); !s) return s;
            made.insert(rel);
          }
          dirs.push_back({rel, full, e});
          return {};
        }
        if (e.type == TarType::kSymlink) {
          links.push_back({rel, full, e});
          return {};
        }
        if (auto s = ensureParents(rel); !s) return s;
        auto fd = createExclusive(full, 0600);
        if (!fd) return core::fail(fd.error());
        auto s = tar.readData([&](const char* data, size_t size) -> core::Status {
          if (isCancelled(cancel)) return core::fail(cancelledError("extracting " + archive));
          return writeAll(fd->get(), data, size, full);
        });
        if (!s) return s;
        if (::fchmod(fd->get(), e.mode) != 0) return core::fail(sysError(errno, "chmod " + full));
        if (as_root &&
            ::fchown(fd->get(), static_cast<uid_t>(e.uid), static_cast<gid_t>(e.gid)) != 0)
          return core::fail(sysError(errno, "chown " + full));
        struct timespec ts[2];
        ts[0].tv_sec = ts[1].tv_sec = e.mtime_sec;
        ts[0].tv_nsec = ts[1].tv_nsec = e.mtime_nsec;
        if (::futimens(fd->get(), ts) != 0)
          return core::fail(sysError(errno, "set times of " + full));
        return fd->close(full);
      });
  if (!stats) return stats;

  for (const auto& link : links) {
    if (auto s = ensureParents(link.rel); !s) return core::fail(s.error());
    if (::symlink(link.entry.link_target.c_str(), link.path.c_str()) != 0)
      return core::fail(sysError(errno, "symlink " + link.path));
    if (auto s = setOwner(link.path, link.entry); !s) return core::fail(s.error());
    if (auto s = setTimes(link.path, link.entry); !s) return core::fail(s.error());
  }
  // Deepest first: a directory's mode may forbid writing into it, and writing changes mtimes.
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    if (::chmod(it->path.c_str(), it->entry.mode) != 0)
      return core::fail(sysError(errno, "chmod " + it->path));
    if (auto s = setOwner(it->path, it->entry); !s) return core::fail(s.error());
    if (auto s = setTimes(it->path, it->entry); !s) return core::fail(s.error());
  }
  // One flush of the file system instead of an fsync per file.
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return core::fail(sysError(errno, "open " + root));
  Fd owned(fd);
  if (::syncfs(fd) != 0) return core::fail(sysError(errno, "syncfs " + root));
  return stats;
}

}  // namespace firebreak::actions::backup
