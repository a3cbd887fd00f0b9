#include "actions/backup/fs_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <random>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <openssl/evp.h>

namespace firebreak::actions::backup {

core::Error sysError(int err, const std::string& what) {
  core::ErrorCode code = core::ErrorCode::kIo;
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      code = core::ErrorCode::kNotFound;
      break;
    case EACCES:
    case EPERM:
    case EROFS:
      code = core::ErrorCode::kPermissionDenied;
      break;
    case EEXIST:
      code = core::ErrorCode::kAlreadyExists;
      break;
    default:
      break;
  }
  return core::Error(code, what + ": " + std::error_code(err, std::generic_category()).message());
}

core::Error cancelledError(const std::string& what) {
  return core::Error(core::ErrorCode::kTimeout, what + ": cancelled");
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

int Fd::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

core::Status Fd::close(const std::string& path) {
  int fd = release();
  if (fd >= 0 && ::close(fd) != 0 && errno != EINTR)
    return core::fail(sysError(errno, "close " + path));
  return {};
}

core::Result<Fd> openRead(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return core::fail(sysError(errno, "open " + path));
  return Fd(fd);
}

core::Result<Fd> createExclusive(const std::string& path, unsigned mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return core::fail(sysError(errno, "create " + path));
  return Fd(fd);
}

core::Status writeAll(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return core::fail(sysError(errno, "write " + path));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

core::Result<size_t> readSome(int fd, char* data, size_t size, const std::string& path) {
  while (true) {
    ssize_t n = ::read(fd, data, size);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return core::fail(sysError(errno, "read " + path));
  }
}

core::Status fsyncFd(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return core::fail(sysError(errno, "fsync " + path));
  return {};
}

core::Status fsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return core::fail(sysError(errno, "open directory " + dir));
  Fd owned(fd);
  if (::fsync(fd) != 0) return core::fail(sysError(errno, "fsync directory " + dir));
  return {};
}

core::Status renamePath(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    return core::fail(sysError(errno, "rename " + from + " to " + to));
  return {};
}

core::Status removeFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return core::fail(sysError(errno, "remove " + path));
  return {};
}

bool pathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

bool isDirectory(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

core::Result<std::string> readSmallFile(const std::string& path, size_t limit) {
  auto fd = openRead(path);
  if (!fd) return core::fail(fd.error());
  std::string out;
  std::vector<char> buf(64 * 1024);
  while (true) {
    auto n = readSome(fd->get(), buf.data(), buf.size(), path);
    if (!n) return core::fail(n.error());
    if (*n == 0) break;
    out.append(buf.data(), *n);
    if (out.size() > limit)
      return core::fail(core::ErrorCode::kFailedPrecondition,
                        path + ": larger than " + std::to_string(limit) + " bytes");
  }
  return out;
}

core::Status writeFileAtomic(const std::string& path, std::string_view content) {
  std::string tmp = tempPathFor(path);
  auto fd = createExclusive(tmp, 0644);
  if (!fd) return core::fail(fd.error());
  auto s = writeAll(fd->get(), content.data(), content.size(), tmp);
  if (s) s = fsyncFd(fd->get(), tmp);
  if (s) s = fd->close(tmp);
  if (s) s = renamePath(tmp, path);
  if (!s) {
    ::unlink(tmp.c_str());
    return s;
  }
  return fsyncDir(parentDir(path));
}

std::string parentDir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string baseName(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string joinPath(const std::string& dir, const std::string& name) {
  if (name.empty()) return dir;
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::string normalizePath(const std::string& path) {
  bool absolute = !path.empty() && path[0] == '/';
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string part = path.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty() && parts.back() != "..") {
        parts.pop_back();
      } else if (!absolute) {
        parts.push_back(part);
      }
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out = absolute ? "/" : "";
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k > 0) out += '/';
    out += parts[k];
  }
  return out.empty() ? "." : out;
}

bool isWithin(const std::string& path, const std::string& dir) {
  std::string p = normalizePath(path), d = normalizePath(dir);
  if (d == "/") return !p.empty() && p[0] == '/';
  return p == d || (p.size() > d.size() && p.compare(0, d.size(), d) == 0 && p[d.size()] == '/');
}

std::string randomHex8() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:08x}", static_cast<uint32_t>(rng()));
}

std::string tempPathFor(const std::string& final_path) {
  return joinPath(parentDir(final_path), "." + baseName(final_path) + ".tmp-" + randomHex8());
}

std::string fileTimestamp(int64_t ms) {
  int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  int millis = static_cast<int>(ms - secs * 1000);
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  // Allocation failure of a few bytes is not something to recover from.
  if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) std::abort();
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::update(const void* data, size_t size) {
  if (size > 0 && EVP_DigestUpdate(ctx_, data, size) != 1) std::abort();
}

std::string Sha256::hexDigest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_, md, &len) != 1) std::abort();
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  return out;
}

std::string sha256Hex(std::string_view data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.hexDigest();
}

core::Result<std::string> sha256File(const std::string& path, const core::CancelFlag* cancel) {
  auto fd = openRead(path);
  if (!fd) return core::fail(fd.error());
  Sha256 h;
  std::vector<char> buf(kChunk);
  while (true) {
    if (isCancelled(cancel)) return core::fail(cancelledError("hashing " + path));
    auto n = readSome(fd->get(), buf.data(), buf.size(), path);
    if (!n) return core::fail(n.error());
    if (*n == 0) break;
    h.update(buf.data(), *n);
  }
  return h.hexDigest();
}

}  // namespace firebreak::actions::backup
