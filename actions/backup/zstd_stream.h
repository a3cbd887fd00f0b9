// Streaming zstd (libzstd's ZSTD_compressStream2 / ZSTD_decompressStream) to and from files,
// so neither a directory archive nor a database is ever held in memory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "actions/backup/fs_util.h"
#include "daemon/core/result.h"

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

namespace firebreak::actions::backup {

// Compresses what is written into a new file; hashes the compressed bytes as they go out, so
// the manifest's checksum needs no second read. The frame carries zstd's own content checksum.
class ZstdFileWriter {
 public:
  ~ZstdFileWriter();
  ZstdFileWriter(const ZstdFileWriter&) = delete;
  ZstdFileWriter& operator=(const ZstdFileWriter&) = delete;

  // Creates `path` (it must not exist).
  static core::Result<std::unique_ptr<ZstdFileWriter>> create(const std::string& path,
                                                              int level = 3);
  core::Status write(const char* data, size_t size);
  // Ends the frame, fsyncs and closes the file.
  core::Status finish();

  uint64_t rawBytes() const { return raw_bytes_; }
  uint64_t compressedBytes() const { return compressed_bytes_; }
  std::string sha256Hex() { return sha_.hexDigest(); }  // after finish()

 private:
  ZstdFileWriter(Fd fd, std::string path, ZSTD_CCtx_s* cctx);
  core::Status flushOut(size_t size);

  Fd fd_;
  std::string path_;
  ZSTD_CCtx_s* cctx_;
  std::vector<char> out_;
  Sha256 sha_;
  uint64_t raw_bytes_ = 0;
  uint64_t compressed_bytes_ = 0;
};

// Decompresses a file as it is read. Corruption and truncation are errors (kFailedPrecondition)
// naming the file.
class ZstdFileReader {
 public:
  ~ZstdFileReader();
  ZstdFileReader(const ZstdFileReader&) = delete;
  ZstdFileReader& operator=(const ZstdFileReader&) = delete;

  static core::Result<std::unique_ptr<ZstdFileReader>> open(const std::string& path);
  // Up to `size` decompressed bytes; 0 at the end.
  core::Result<size_t> read(char* data, size_t size);

 private:
  ZstdFileReader(Fd fd, std::string path, ZSTD_DCtx_s* dctx);

  Fd fd_;
  std::string path_;
  ZSTD_DCtx_s* dctx_;
  std::vector<char> in_;
  size_t in_pos_ = 0;
  size_t in_size_ = 0;
  bool eof_ = false;
  bool frame_done_ = false;
};

struct CompressedFile {
  uint64_t bytes = 0;  // of the compressed file
  std::string sha256;  // of the compressed file
  uint64_t content_bytes = 0;
  std::string content_sha256;
};

// Compresses `input` into the new file `output` (fsync'd).
core::Result<CompressedFile> compressFile(const std::string& input, const std::string& output,
                                          const core::CancelFlag* cancel);
// Decompresses `input` into the new file `output` created with `mode` (fsync'd).
core::Result<CompressedFile> decompressFile(const std::string& input, const std::string& output,
                                            unsigned mode, const core::CancelFlag* cancel);

}  // namespace firebreak::actions::backup
