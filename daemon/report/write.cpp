// Report files under the data dir, each written atomically: a reader sees the old file or the
// new one, never half of one.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "daemon/report/report.h"

namespace firebreak::report {

namespace {

using core::ErrorCode;

core::Status writeAtomically(const std::filesystem::path& path, const std::string& content) {
  static std::atomic<uint64_t> seq{0};
  const std::string tmp = path.string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                          std::to_string(++seq);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0)
    return core::fail(ErrorCode::kIo, "cannot create " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return core::fail(ErrorCode::kIo, "cannot write " + tmp + ": " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return core::fail(ErrorCode::kIo, "cannot write " + tmp + ": " + std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return core::fail(ErrorCode::kIo,
                      "cannot rename " + tmp + " to " + path.string() + ": " + std::strerror(err));
  }
  return {};
}

// An id becomes a file name: anything but [A-Za-z0-9._-] is replaced, so no id leaves the dir.
std::string fileStem(const std::string& id) {
  std::string out;
  for (char c : id)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c
                                                                                            : '_';
  if (out.empty() || out[0] == '.') out = "_" + out;
  return out;
}

}  // namespace

core::Status writeReportFiles(const Report& report, const std::string& data_dir) {
  std::filesystem::path dir = std::filesystem::path(data_dir) / "reports";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return core::fail(ErrorCode::kIo, "cannot create " + dir.string() + ": " + ec.message());
  const std::string stem = fileStem(report.id);
  for (Format f : {Format::kJson, Format::kMarkdown, Format::kHtml}) {
    auto s = writeAtomically(dir / (stem + "." + extension(f)), render(report, f));
    if (!s) return core::fail(s.error().context("writing the report of " + report.id));
  }
  return {};
}

core::Status writeReports(const store::Store& store, const std::string& id,
                          const std::string& data_dir, int64_t now_ms) {
  auto report = buildReport(store, id, now_ms);
  if (!report) return core::fail(report.error().context("building the report of " + id));
  return writeReportFiles(*report, data_dir);
}

}  // namespace firebreak::report
