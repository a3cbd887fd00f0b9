// File-system helpers for the backup actions: owned descriptors, errno turned into errors that
// name the path, fsync of files and directories, atomic small-file writes, SHA-256 (OpenSSL EVP).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/core/asio.h"
#include "daemon/core/result.h"

struct evp_md_ctx_st;

namespace firebreak::actions::backup {

// An error from errno: ENOENT -> kNotFound, EACCES/EPERM/EROFS -> kPermissionDenied, the rest kIo.
core::Error sysError(int err, const std::string& what);
// The error every long loop returns once its CancelFlag is set.
core::Error cancelledError(const std::string& what);
inline bool isCancelled(const core::CancelFlag* cancel) { return cancel && cancel->cancelled(); }

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release();
  // Closes and reports the error close() returns (a late write error on NFS, say).
  core::Status close(const std::string& path);

 private:
  int fd_ = -1;
};

// Opens for reading without following a final symlink.
core::Result<Fd> openRead(const std::string& path);
// Creates a new file (fails if it exists) for writing.
core::Result<Fd> createExclusive(const std::string& path, unsigned mode = 0600);
core::Status writeAll(int fd, const char* data, size_t size, const std::string& path);
// Up to `size` bytes; 0 at the end of the file.
core::Result<size_t> readSome(int fd, char* data, size_t size, const std::string& path);
core::Status fsyncFd(int fd, const std::string& path);
// Makes a rename or unlink in `dir` durable.
core::Status fsyncDir(const std::string& dir);
core::Status renamePath(const std::string& from, const std::string& to);
// Removes a file; a missing file is fine.
core::Status removeFile(const std::string& path);
// Whether anything (a dangling symlink too) exists at `path`.
bool pathExists(const std::string& path);
bool isDirectory(const std::string& path);  // without following a symlink
core::Result<std::string> readSmallFile(const std::string& path, size_t limit);
// Writes a temp file beside `path`, fsyncs it, renames it over `path`, fsyncs the directory.
core::Status writeFileAtomic(const std::string& path, std::string_view content);

std::string parentDir(const std::string& path);
std::string baseName(const std::string& path);
std::string joinPath(const std::string& dir, const std::string& name);
// "/a/b/../c/" -> "/a/c": lexical only, no file-system access.
std::string normalizePath(const std::string& path);
// Whether `path` is `dir` or lies below it, lexically.
bool isWithin(const std::string& path, const std::string& dir);

// A hidden temp name beside `final_path`: "<dir>/.<name>.tmp-<random>".
std::string tempPathFor(const std::string& final_path);
// 8 random hex digits.
std::string randomHex8();
// A compact UTC time for file names: 20261123T015445.123Z
std::string fileTimestamp(int64_t ms);

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size);
  std::string hexDigest();  // once

 private:
  evp_md_ctx_st* ctx_;
};

std::string sha256Hex(std::string_view data);
core::Result<std::string> sha256File(const std::string& path, const core::CancelFlag* cancel);

// Chunk size for streaming file data.
inline constexpr size_t kChunk = 1 << 20;

}  // namespace firebreak::actions::backup
