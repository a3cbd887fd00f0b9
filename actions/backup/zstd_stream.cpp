#include "actions/backup/zstd_stream.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <zstd.h>

namespace firebreak::actions::backup {

namespace {

core::Error zstdError(const std::string& path, const std::string& what, size_t code) {
  return core::Error(core::ErrorCode::kFailedPrecondition,
                     path + ": zstd " + what + ": " + ZSTD_getErrorName(code));
}

}  // namespace

ZstdFileWriter::ZstdFileWriter(Fd fd, std::string path, ZSTD_CCtx* cctx)
    : fd_(std::move(fd)), path_(std::move(path)), cctx_(cctx), out_(ZSTD_CStreamOutSize()) {}

ZstdFileWriter::~ZstdFileWriter() { ZSTD_freeCCtx(cctx_); }

core::Result<std::unique_ptr<ZstdFileWriter>> ZstdFileWriter::create(const std::string& path,
                                                                     int level) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  if (!cctx) return core::fail(core::ErrorCode::kInternal, "zstd: cannot allocate a context");
  for (auto [param, value] : {std::pair{ZSTD_c_compressionLevel, level},
                              std::pair{ZSTD_c_checksumFlag, 1}}) {
    size_t rc = ZSTD_CCtx_setParameter(cctx, param, value);
    if (ZSTD_isError(rc)) {
      ZSTD_freeCCtx(cctx);
      return core::fail(zstdError(path, "setting parameters", rc));
    }
  }
  auto fd = createExclusive(path);
  if (!fd) {
    ZSTD_freeCCtx(cctx);
    return core::fail(fd.error());
  }
  return std::unique_ptr<ZstdFileWriter>(new ZstdFileWriter(std::move(*fd), path, cctx));
}

core::Status ZstdFileWriter::flushOut(size_t size) {
  if (size == 0) return {};
  sha_.update(out_.data(), size);
  compressed_bytes_ += size;
  return writeAll(fd_.get(), out_.data(), size, path_);
}

core::Status ZstdFileWriter::write(const char* data, size_t size) {
  raw_bytes_ += size;
  ZSTD_inBuffer in{data, size, 0};
  while (in.pos < in.size) {
    ZSTD_outBuffer out{out_.data(), out_.size(), 0};
    size_t rc = ZSTD_compressStream2(cctx_, &out, &in, ZSTD_e_continue);
    if (ZSTD_isError(rc)) return core::fail(zstdError(path_, "compression", rc));
    if (auto s = flushOut(out.pos); !s) return s;
  }
  return {};
}

core::Status ZstdFileWriter::finish() {
  ZSTD_inBuffer in{nullptr, 0, 0};
  size_t remaining = 1;
  while (remaining != 0) {
    ZSTD_outBuffer out{out_.data(), out_.size(), 0};
    remaining = ZSTD_compressStream2(cctx_, &out, &in, ZSTD_e_end);
    if (ZSTD_isError(remaining)) return core::fail(zstdError(path_, "compression", remaining));
    if (auto s = flushOut(out.pos); !s) return s;
  }
  if (auto s = fsyncFd(fd_.get(), path_); !s) return s;
  return fd_.close(path_);
}

ZstdFileReader::ZstdFileReader(Fd fd, std::string path, ZSTD_DCtx* dctx)
    : fd_(std::move(fd)), path_(std::move(path)), dctx_(dctx), in_(ZSTD_DStreamInSize()) {}

ZstdFileReader::~ZstdFileReader() { ZSTD_freeDCtx(dctx_); }

core::Result<std::unique_ptr<ZstdFileReader>> ZstdFileReader::open(const std::string& path) {
  auto fd = openRead(path);
  if (!fd) return core::fail(fd.error());
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  if (!dctx) return core::fail(core::ErrorCode::kInternal, "zstd: cannot allocate a context");
  return std::unique_ptr<ZstdFileReader>(new ZstdFileReader(std::move(*fd), path, dctx));
}

core::Result<size_t> ZstdFileReader::read(char* data, size_t size) {
  if (size == 0) return 0;
  while (true) {
    if (in_pos_ == in_size_ && !eof_) {
      auto n = readSome(fd_.get(), in_.data(), in_.size(), path_);
      if (!n) return core::fail(n.error());
      in_pos_ = 0;
      in_size_ = *n;
      eof_ = *n == 0;
    }
    ZSTD_inBuffer in{in_.data(), in_size_, in_pos_};
    ZSTD_outBuffer out{data, size, 0};
    size_t rc = ZSTD_decompressStream(dctx_, &out, &in);
    if (ZSTD_isError(rc)) return core::fail(zstdError(path_, "decompression", rc));
    bool progress = in.pos != in_pos_ || out.pos > 0;
    in_pos_ = in.pos;
    // 0 means a frame is complete and flushed; only trust it when the call did something,
    // since an idle call at a frame boundary answers with a size hint.
    if (progress) frame_done_ = rc == 0;
    if (out.pos > 0) return out.pos;
    if (eof_ && in_pos_ == in_size_) {
      if (!frame_done_)
        return core::fail(core::ErrorCode::kFailedPrecondition,
                          path_ + ": truncated zstd stream (the file ends inside a frame)");
      return 0;
    }
  }
}

core::Result<CompressedFile> compressFile(const std::string& input, const std::string& output,
                                          const core::CancelFlag* cancel) {
  auto in = openRead(input);
  if (!in) return core::fail(in.error());
  auto writer = ZstdFileWriter::create(output);
  if (!writer) return core::fail(writer.error());
  Sha256 content_sha;
  std::vector<char> buf(kChunk);
  while (true) {
    if (isCancelled(cancel)) return core::fail(cancelledError("compressing " + input));
    auto n = readSome(in->get(), buf.data(), buf.size(), input);
    if (!n) return core::fail(n.error());
    if (*n == 0) break;
    content_sha.update(buf.data(), *n);
    if (auto s = (*writer)->write(buf.data(), *n); !s) return core::fail(s.error());
  }
  if (auto s = (*writer)->finish(); !s) return core::fail(s.error());
  CompressedFile out;
  out.bytes = (*writer)->compressedBytes();
  out.sha256 = (*writer)->sha256Hex();
  out.content_bytes = (*writer)->rawBytes();
  out.content_sha256 = content_sha.hexDigest();
  return out;
}

core::Result<CompressedFile> decompressFile(const std::string& input, const std::string& output,
                                            unsigned mode, const core::CancelFlag* cancel) {
  auto reader = ZstdFileReader::open(input);
  if (!reader) return core::fail(reader.error());
  auto out = createExclusive(output, mode);
  if (!out) return core::fail(out.error());
  // Exactly `mode`, whatever the umask.
  if (::fchmod(out->get(), mode) != 0) return core::fail(sysError(errno, "chmod " + output));
  CompressedFile result;
  Sha256 content_sha;
  std::vector<char> buf(kChunk);
  while (true) {
    if (isCancelled(cancel)) return core::fail(cancelledError("decompressing " + input));
    auto n = (*reader)->read(buf.data(), buf.size());
    if (!n) return core::fail(n.error());
    if (*n == 0) break;
    content_sha.update(buf.data(), *n);
    result.content_bytes += *n;
    if (auto s = writeAll(out->get(), buf.data(), *n, output); !s) return core::fail(s.error());
  }
  if (auto s = fsyncFd(out->get(), output); !s) return core::fail(s.error());
  if (auto s = out->close(output); !s) return core::fail(s.error());
  result.content_sha256 = content_sha.hexDigest();
  return result;
}

}  // namespace firebreak::actions::backup
