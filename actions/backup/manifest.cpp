#include "actions/backup/manifest.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

#include "actions/backup/fs_util.h"
#include "daemon/core/clock.h"

namespace firebreak::actions::backup {

namespace {

// Manifests list every file of a tree; this only bounds a damaged one.
constexpr size_t kMaxManifestBytes = size_t{1} << 30;

std::string octalMode(uint32_t mode) { return fmt::format("{:04o}", mode & 07777); }

uint32_t parseMode(const std::string& text) {
  return static_cast<uint32_t>(std::stoul(text, nullptr, 8)) & 07777;
}

TarType parseType(const std::string& name) {
  if (name == "dir") return TarType::kDirectory;
  if (name == "symlink") return TarType::kSymlink;
  if (name == "file") return TarType::kFile;
  throw std::invalid_argument("unknown file type '" + name + "'");
}

}  // namespace

core::Json Manifest::toJson() const {
  core::Json j = {
      {"format", format},
      {"kind", kind},
      {"source", source},
      {"label", label},
      {"idempotency_key", idempotency_key},
      {"backup", backup},
      {"created_ms", created_ms},
      {"created", core::formatTime(created_ms)},
      {"bytes", bytes},
      {"sha256", sha256},
      {"content_bytes", content_bytes},
  };
  if (kind == "sqlite") {
    j["content_sha256"] = content_sha256;
    j["mode"] = octalMode(mode);
    j["uid"] = uid;
    j["gid"] = gid;
  } else {
    core::Json list = core::Json::array();
    for (const auto& f : files) {
      core::Json e = {{"path", f.path}, {"type", tarTypeName(f.type)}, {"mode", octalMode(f.mode)}};
      if (f.type == TarType::kFile) {
        e["size"] = f.size;
        e["sha256"] = f.sha256;
      } else if (f.type == TarType::kSymlink) {
        e["target"] = f.target;
      }
      list.push_back(std::move(e));
    }
    j["files"] = std::move(list);
  }
  if (!warnings.empty()) j["warnings"] = warnings;
  return j;
}

core::Result<Manifest> Manifest::fromJson(const core::Json& j, const std::string& where) {
  try {
    Manifest m;
    m.format = j.at("format").get<int>();
    if (m.format != kManifestFormat)
      return core::fail(core::ErrorCode::kFailedPrecondition,
                        where + ": manifest format " + std::to_string(m.format) +
                            " is not supported (this build reads " +
                            std::to_string(kManifestFormat) + ")");
    m.kind = j.at("kind").get<std::string>();
    m.source = j.at("source").get<std::string>();
    m.label = j.value("label", "");
    m.idempotency_key = j.value("idempotency_key", "");
    m.backup = j.at("backup").get<std::string>();
    m.created_ms = j.at("created_ms").get<int64_t>();
    m.bytes = j.at("bytes").get<uint64_t>();
    m.sha256 = j.at("sha256").get<std::string>();
    m.content_bytes = j.value("content_bytes", uint64_t{0});
    m.content_sha256 = j.value("content_sha256", "");
    if (j.contains("mode")) m.mode = parseMode(j.at("mode").get<std::string>());
    m.uid = j.value("uid", uint64_t{0});
    m.gid = j.value("gid", uint64_t{0});
    if (j.contains("files")) {
      for (const auto& e : j.at("files")) {
        ArchivedFile f;
        f.path = e.at("path").get<std::string>();
        f.type = parseType(e.at("type").get<std::string>());
        f.mode = parseMode(e.value("mode", "0"));
        f.size = e.value("size", uint64_t{0});
        f.sha256 = e.value("sha256", "");
        f.target = e.value("target", "");
        m.files.push_back(std::move(f));
      }
    }
    if (j.contains("warnings")) m.warnings = j.at("warnings").get<std::vector<std::string>>();
    if (m.kind != "directory" && m.kind != "sqlite")
      return core::fail(core::ErrorCode::kFailedPrecondition,
                        where + ": unknown backup kind '" + m.kind + "'");
    if (m.sha256.size() != 64)
      return core::fail(core::ErrorCode::kFailedPrecondition, where + ": malformed sha256");
    return m;
  } catch (const std::exception& e) {
    return core::fail(core::ErrorCode::kFailedPrecondition,
                      where + ": malformed manifest: " + e.what());
  }
}

std::string manifestPathFor(const std::string& backup_path) {
  return backup_path + std::string(kManifestSuffix);
}

core::Result<Manifest> readManifest(const std::string& manifest_path) {
  auto text = readSmallFile(manifest_path, kMaxManifestBytes);
  if (!text) return core::fail(text.error());
  auto json = core::Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded())
    return core::fail(core::ErrorCode::kFailedPrecondition, manifest_path + ": not valid JSON");
  return Manifest::fromJson(json, manifest_path);
}

core::Status writeManifest(const std::string& backup_path, const Manifest& manifest) {
  return writeFileAtomic(manifestPathFor(backup_path), manifest.toJson().dump(2) + "\n");
}

core::Result<std::vector<BackupRef>> listBackups(const std::string& dest_dir,
                                                 const std::string& kind,
                                                 const std::string& source,
                                                 std::string_view name_contains) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dest_dir.c_str());
  if (!d) {
    if (errno == ENOENT) return std::vector<BackupRef>{};
    return core::fail(sysError(errno, "open directory " + dest_dir));
  }
  errno = 0;
  while (struct dirent* ent = ::readdir(d)) {
    std::string_view name = ent->d_name;
    // Hidden names are our temp files.
    if (name.empty() || name[0] == '.' || name.size() <= kManifestSuffix.size() ||
        name.substr(name.size() - kManifestSuffix.size()) != kManifestSuffix)
      continue;
    if (!name_contains.empty() && name.find(name_contains) == std::string_view::npos) continue;
    names.emplace_back(name);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return core::fail(sysError(err, "read directory " + dest_dir));

  std::string want_source = source.empty() ? "" : normalizePath(source);
  std::vector<BackupRef> out;
  for (const auto& name : names) {
    BackupRef ref;
    ref.manifest_path = joinPath(dest_dir, name);
    ref.path = ref.manifest_path.substr(0, ref.manifest_path.size() - kManifestSuffix.size());
    auto m = readManifest(ref.manifest_path);
    // Unreadable manifests belong to no complete backup; verify names them when asked.
    if (!m || m->backup != baseName(ref.path)) continue;
    struct stat st;
    if (::lstat(ref.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (!kind.empty() && m->kind != kind) continue;
    if (!want_source.empty() && normalizePath(m->source) != want_source) continue;
    ref.manifest = std::move(*m);
    out.push_back(std::move(ref));
  }
  std::sort(out.begin(), out.end(), [](const BackupRef& a, const BackupRef& b) {
    if (a.manifest.created_ms != b.manifest.created_ms)
      return a.manifest.created_ms > b.manifest.created_ms;
    return a.path > b.path;
  });
  return out;
}

core::Result<std::optional<BackupRef>> findBackupByKey(const std::string& dest_dir,
                                                       const std::string& idempotency_key) {
  if (idempotency_key.empty()) return std::optional<BackupRef>{};
  auto list = listBackups(dest_dir, "", "", "-" + keyHash8(idempotency_key) + ".");
  if (!list) return core::fail(list.error());
  for (auto& ref : *list) {
    if (ref.manifest.idempotency_key == idempotency_key) return std::optional(std::move(ref));
  }
  return std::optional<BackupRef>{};
}

std::string keyHash8(const std::string& idempotency_key) {
  return sha256Hex(idempotency_key).substr(0, 8);
}

}  // namespace firebreak::actions::backup
