// The manifest beside every backup, `<backup>.manifest.json`: what was backed up, when, and the
// checksums a verify or restore compares against. It is written last and atomically, so a
// backup without one is incomplete and never listed, verified as good, or restored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actions/backup/archive.h"
#include "daemon/core/json.h"
#include "daemon/core/result.h"

namespace firebreak::actions::backup {

inline constexpr std::string_view kManifestSuffix = ".manifest.json";
inline constexpr int kManifestFormat = 1;

struct Manifest {
  int format = kManifestFormat;
  std::string kind;    // "directory" or "sqlite"
  std::string source;  // the path that was backed up
  std::string label;
  std::string idempotency_key;
  std::string backup;  // the backup's file name (it sits beside the manifest)
  int64_t created_ms = 0;
  uint64_t bytes = 0;  // of the backup file
  std::string sha256;  // of the backup file
  uint64_t content_bytes = 0;  // uncompressed: the database, or the sum of the file sizes
  std::string content_sha256;  // sqlite: of the database file
  uint32_t mode = 0;  // sqlite: of the source database file
  uint64_t uid = 0;
  uint64_t gid = 0;
  std::vector<ArchivedFile> files;  // directory: every member but the root
  std::vector<std::string> warnings;

  core::Json toJson() const;
  static core::Result<Manifest> fromJson(const core::Json& json, const std::string& where);
};

std::string manifestPathFor(const std::string& backup_path);
core::Result<Manifest> readManifest(const std::string& manifest_path);
// Atomically: temp file, fsync, rename, fsync of the directory.
core::Status writeManifest(const std::string& backup_path, const Manifest& manifest);

struct BackupRef {
  std::string path;  // the backup file
  std::string manifest_path;
  Manifest manifest;
};

// Complete backups in `dest_dir`, newest first (created_ms, then path): a manifest that reads,
// names its file, and has that file beside it. Empty `kind` or `source` match any; a missing
// `dest_dir` holds none. `name_contains` narrows by file name before any manifest is read.
core::Result<std::vector<BackupRef>> listBackups(const std::string& dest_dir,
                                                 const std::string& kind,
                                                 const std::string& source,
                                                 std::string_view name_contains = {});

// The complete backup in `dest_dir` made with `idempotency_key`, if any.
core::Result<std::optional<BackupRef>> findBackupByKey(const std::string& dest_dir,
                                                       const std::string& idempotency_key);

// The first 8 hex digits of the key's SHA-256: ties file names to an idempotency key.
std::string keyHash8(const std::string& idempotency_key);

}  // namespace firebreak::actions::backup
