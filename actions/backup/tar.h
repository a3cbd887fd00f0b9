// A POSIX tar (ustar with pax extended headers) writer and reader, streaming through callbacks.
// Only what a backup needs: regular files, directories and symlinks, with modes, owners and
// mtimes (nanoseconds via pax). Names or link targets over 100 bytes, sizes of 8 GiB and more,
// and owners or times out of octal range go into a pax 'x' header before the entry.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/core/result.h"

namespace firebreak::actions::backup {

enum class TarType { kFile, kDirectory, kSymlink };
const char* tarTypeName(TarType type);  // "file", "dir", "symlink"

struct TarEntry {
  std::string name;  // as stored, e.g. "a/b.txt", "a/" ("./" is the archive's root)
  TarType type = TarType::kFile;
  uint32_t mode = 0644;  // permission bits (07777)
  uint64_t uid = 0;
  uint64_t gid = 0;
  uint64_t size = 0;  // files only
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  std::string link_target;  // symlinks only
};

using ByteSink = std::function<core::Status(const char* data, size_t size)>;
// Up to `size` bytes; 0 at the end of the stream.
using ByteSource = std::function<core::Result<size_t>(char* data, size_t size)>;

inline constexpr size_t kTarBlock = 512;

class TarWriter {
 public:
  explicit TarWriter(ByteSink sink) : sink_(std::move(sink)) {}

  // Starts an entry. The name is written as given (a directory gets a trailing '/'); the
  // writer does not judge names, so tests can build hostile archives with it.
  core::Status begin(const TarEntry& entry);
  // A file's content, in any number of pieces adding up to its size.
  core::Status write(const char* data, size_t size);
  // Pads the entry to a block; fails if fewer bytes than the size were written.
  core::Status end();
  // The end-of-archive marker (two zero blocks).
  core::Status finish();

  uint64_t bytesWritten() const { return written_; }

 private:
  core::Status emit(const char* data, size_t size);

  ByteSink sink_;
  uint64_t written_ = 0;
  uint64_t entry_left_ = 0;
  uint64_t entry_size_ = 0;
  bool in_entry_ = false;
};

// Reads an archive written by TarWriter or by GNU/BSD tar (ustar, pax, GNU long names).
// Hard links, devices and FIFOs are errors: a backup never contains them.
class TarReader {
 public:
  // `where` names the archive in errors.
  TarReader(ByteSource source, std::string where)
      : source_(std::move(source)), where_(std::move(where)) {}

  // The next entry, or nullopt after the end-of-archive marker (which must be followed by
  // nothing but zeros). Skips whatever is unread of the previous entry's data.
  core::Result<std::optional<TarEntry>> next();
  // The current file's data, handed to `sink` in chunks.
  core::Status readData(const ByteSink& sink);

 private:
  core::Status readExact(char* data, size_t size, const char* what);
  core::Status skipData();
  core::Error corrupt(const std::string& message) const;

  ByteSource source_;
  std::string where_;
  uint64_t data_left_ = 0;
  uint64_t padding_ = 0;
  bool ended_ = false;
};

// An archive member's path made relative and clean: "./a//b/" -> "a/b", "./" -> "" (the root).
// Refuses absolute paths, ".." components and NUL bytes: extraction must stay under its root.
core::Result<std::string> safeMemberPath(std::string_view name);

}  // namespace firebreak::actions::backup
