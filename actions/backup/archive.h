// Directory backups: a tree archived as tar (tar.h) compressed with zstd (zstd_stream.h), checked
// member by member, and extracted with the path-traversal rules a restore needs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "actions/backup/tar.h"
#include "daemon/core/asio.h"
#include "daemon/core/result.h"

namespace firebreak::actions::backup {

// One member of a directory backup, as the manifest lists it.
struct ArchivedFile {
  std::string path;  // relative to the archived directory
  TarType type = TarType::kFile;
  uint64_t size = 0;
  std::string sha256;  // files only
  uint32_t mode = 0;
  std::string target;  // symlinks only
};

struct DirectoryArchive {
  uint64_t bytes = 0;          // of the .tar.zst file
  std::string sha256;          // of the .tar.zst file
  uint64_t content_bytes = 0;  // sum of the file sizes
  std::vector<ArchivedFile> files;  // every member but the root, in archive order
  std::vector<std::string> warnings;  // skipped entries, symlinks a restore would refuse
};

// Archives the tree at `source` into the new file `output` (fsync'd). A directory whose device
// and inode match `exclude_dir` (the backup destination, should it lie inside the tree) is
// left out. Sockets, FIFOs and devices are skipped with a warning.
core::Result<DirectoryArchive> writeDirectoryArchive(const std::string& source,
                                                     const std::string& output,
                                                     const std::string& exclude_dir,
                                                     const core::CancelFlag* cancel);

struct ArchiveStats {
  uint64_t files = 0;
  uint64_t dirs = 0;
  uint64_t symlinks = 0;
  uint64_t content_bytes = 0;
};

// Decompresses and reads the whole archive: zstd frame, tar structure, the member rules
// extraction applies and, when `expected` is given, every member against that list. A broken
// member rule is reported before any difference from `expected`. Writes nothing.
core::Result<ArchiveStats> checkDirectoryArchive(const std::string& archive,
                                                 const std::vector<ArchivedFile>* expected,
                                                 const core::CancelFlag* cancel);

// Extracts into `root`, an existing empty directory, with modes, mtimes (and owners when run
// as root). Members with absolute paths, ".." components, paths under a symlink member, and
// symlinks resolving outside `root` are refused; symlinks are created last and nothing is
// written through one. The caller removes `root` on failure.
core::Result<ArchiveStats> extractDirectoryArchive(const std::string& archive,
                                                   const std::string& root,
                                                   const core::CancelFlag* cancel);

}  // namespace firebreak::actions::backup
