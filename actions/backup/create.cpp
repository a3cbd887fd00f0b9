// backup.create: a directory (tar + zstd) or a live SQLite database (online backup API + zstd)
// into dest_dir, with its manifest written last. Idempotent by the step's idempotency key.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include <fmt/format.h>

#include "actions/backup/archive.h"
#include "actions/backup/common.h"
#include "actions/backup/fs_util.h"
#include "actions/backup/manifest.h"
#include "actions/backup/sqlite_backup.h"
#include "actions/backup/zstd_stream.h"

namespace firebreak::actions::backup {

namespace {

struct CreateParams {
  std::string kind;
  std::string source;
  std::string dest_dir;
  std::optional<int64_t> keep;
  std::string label;

  static CreateParams from(const core::Json& p) {
    CreateParams out;
    out.kind = stringParam(p, "kind");
    out.source = normalizePath(stringParam(p, "source"));
    out.dest_dir = normalizePath(stringParam(p, "dest_dir"));
    out.keep = intParam(p, "keep");
    out.label = stringParam(p, "label");
    return out;
  }
};

// The name part of a backup's file: the label, or the source's base name, in file-safe letters.
std::string backupName(const CreateParams& p) {
  std::string raw = p.label.empty() ? baseName(p.source) : p.label;
  std::string out;
  for (char c : raw) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    out += ok ? c : '_';
  }
  // A leading dot would hide it among the temp files.
  while (!out.empty() && out[0] == '.') out.erase(0, 1);
  return out.empty() ? "backup" : out;
}

std::string backupFileName(const CreateParams& p, int64_t created_ms, const std::string& token) {
  return backupName(p) + "-" + fileTimestamp(created_ms) + "-" + token +
         (p.kind == kDirectoryKind ? ".tar.zst" : ".sqlite.zst");
}

core::Json outputFor(const BackupRef& ref, bool existing) {
  const Manifest& m = ref.manifest;
  core::Json out = {
      {"path", ref.path},
      {"sha256", m.sha256},
      {"bytes", m.bytes},
      {"manifest", ref.manifest_path},
      {"kind", m.kind},
      {"source", m.source},
      {"created_ms", m.created_ms},
      {"created", core::formatTime(m.created_ms)},
      {"content_bytes", m.content_bytes},
      {"existing", existing},
      {"pruned", core::Json::array()},
      {"warnings", m.warnings},
  };
  if (m.kind == kDirectoryKind) out["files"] = m.files.size();
  return out;
}

// The complete backups of this kind and source beyond the newest `keep` (counting `current`,
// which is never removed).
std::vector<BackupRef> pruneCandidates(const std::vector<BackupRef>& list,
                                       const std::string& current, int64_t keep) {
  std::vector<BackupRef> out;
  int64_t kept = current.empty() ? 0 : 1;
  for (const auto& ref : list) {
    if (ref.path == current) continue;
    if (kept < keep) {
      ++kept;
      continue;
    }
    out.push_back(ref);
  }
  return out;
}

// Files a crashed attempt with the same key left behind: ".<name>-<ts>-<token>.<ext>.tmp-*".
std::vector<std::string> staleTemps(const std::string& dest_dir, const std::string& token) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dest_dir.c_str());
  if (!d) return out;
  while (struct dirent* ent = ::readdir(d)) {
    std::string_view name = ent->d_name;
    if (!name.empty() && name[0] == '.' && name.find("-" + token + ".") != std::string_view::npos &&
        name.find(".tmp-") != std::string_view::npos)
      out.push_back(joinPath(dest_dir, std::string(name)));
  }
  ::closedir(d);
  return out;
}

class CreateProvider final : public core::ActionProvider {
 public:
  explicit CreateProvider(const core::ActionEnv& env) : env_(env) {
    spec_.name = kCreateAction;
    spec_.summary = "Back up a directory (tar + zstd) or a live SQLite database into dest_dir";
    spec_.params = {
        {"kind", core::ParamType::kString, true, nullptr,
         "directory (a tree, as tar + zstd) or sqlite (a live database, via the online backup API)",
         {kDirectoryKind, kSqliteKind}},
        {"source", core::ParamType::kString, true, nullptr,
         "absolute path of the directory or database file to back up", {}},
        {"dest_dir", core::ParamType::kString, true, nullptr,
         "absolute path of the directory that holds the backups (created if missing)", {}},
        {"keep", core::ParamType::kInt, false, nullptr,
         "keep the newest N backups of this source in dest_dir; older ones are deleted after a "
         "successful backup",
         {}},
        {"label", core::ParamType::kString, false, nullptr,
         "name part of the backup's file name (letters, digits, . _ -); default: the source's "
         "base name",
         {}},
    };
    spec_.idempotent = true;
    spec_.destructive = false;
    spec_.phase = core::Phase::kRecover;
    spec_.outputs = {"path",    "sha256",        "bytes",    "manifest", "kind",
                     "source",  "created_ms",    "created",  "content_bytes", "existing",
                     "pruned",  "warnings",      "files"};
  }

  const core::ActionSpec& spec() const override { return spec_; }

  core::Status validate(const core::Json& params) const override {
    if (auto s = checkKind(params, true); !s) return s;
    if (auto s = checkAbsolute(params, "source", true); !s) return s;
    if (auto s = checkAbsolute(params, "dest_dir", true); !s) return s;
    auto p = CreateParams::from(params);
    if (p.kind == kDirectoryKind && isWithin(p.dest_dir, p.source))
      return core::fail(invalidParam("parameter 'dest_dir' (" + p.dest_dir + ") lies inside '" +
                                     p.source + "': the backup would contain itself"));
    if (params.contains("keep") && !params["keep"].is_null() && (!p.keep || *p.keep < 1))
      return core::fail(invalidParam("parameter 'keep' must be an integer of at least 1"));
    if (!p.label.empty()) {
      bool ok = p.label.size() <= 64 && p.label[0] != '.';
      for (char c : p.label) {
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-');
      }
      if (!ok)
        return core::fail(invalidParam("parameter 'label' must be 1-64 of A-Z a-z 0-9 . _ - "
                                       "and not start with '.', got '" + p.label + "'"));
    }
    return {};
  }

  core::awaitable<core::ActionResult> plan(const core::ActionRequest& request) override {
    return blockingStep(env_, kCreateAction, request,
                        [this](const core::ActionRequest& r) { return planNow(r); });
  }

  core::awaitable<core::ActionResult> execute(const core::ActionRequest& request) override {
    return blockingStep(env_, kCreateAction, request,
                        [this](const core::ActionRequest& r) { return executeNow(r); });
  }

 private:
  core::ActionResult fail(const core::ActionRequest& req, const core::Error& e,
                          core::Json output = core::Json::object()) const {
    return failure(kCreateAction, req, e, std::move(output));
  }

  // An existing backup made with this key: it must be of the same thing.
  core::Result<std::optional<BackupRef>> existingBackup(const CreateParams& p,
                                                        const std::string& key) const {
    auto found = findBackupByKey(p.dest_dir, key);
    if (!found || !*found) return found;
    const Manifest& m = (*found)->manifest;
    if (m.kind != p.kind || normalizePath(m.source) != p.source)
      return core::fail(core::ErrorCode::kFailedPrecondition,
                        (*found)->path + ": made with this idempotency key but of " + m.kind +
                            " " + m.source + ", not " + p.kind + " " + p.source);
    return found;
  }

  core::ActionResult planNow(const core::ActionRequest& req) const {
    if (auto s = validate(req.params); !s) return fail(req, s.error());
    auto p = CreateParams::from(req.params);
    core::Json plan = {{"action", kCreateAction}, {"kind", p.kind}, {"source", p.source},
                       {"dest_dir", p.dest_dir}};
    auto existing = existingBackup(p, req.idempotency_key);
    if (!existing) return fail(req, existing.error());
    std::string current;
    if (*existing) {
      current = (*existing)->path;
      plan["existing"] = current;
      plan["path"] = current;
      plan["steps"] = {"return the backup " + current + " already made with this idempotency key"};
    } else {
      struct stat st;
      if (::stat(p.source.c_str(), &st) != 0)
        return fail(req, sysError(errno, "stat " + p.source), {{"plan", plan}});
      int64_t now = clockOf(env_).nowMs();
      std::string token =
          req.idempotency_key.empty() ? "<random>" : keyHash8(req.idempotency_key);
      std::string path = joinPath(p.dest_dir, backupFileName(p, now, token));
      plan["path"] = path;
      plan["manifest"] = manifestPathFor(path);
      plan["dest_dir_exists"] = isDirectory(p.dest_dir);
      plan["source_bytes"] = static_cast<uint64_t>(st.st_size);
      std::vector<std::string> steps;
      if (!isDirectory(p.dest_dir)) steps.push_back("create the directory " + p.dest_dir);
      if (p.kind == kDirectoryKind) {
        if (!S_ISDIR(st.st_mode))
          return fail(req, invalidParam(p.source + " is not a directory"), {{"plan", plan}});
        steps.push_back("archive the tree " + p.source + " as tar, compressed with zstd, into a "
                        "temp file in " + p.dest_dir);
      } else {
        if (!S_ISREG(st.st_mode))
          return fail(req, invalidParam(p.source + " is not a regular file"), {{"plan", plan}});
        steps.push_back("copy the live database " + p.source + " with the SQLite online backup "
                        "API into a temp file, then compress it with zstd");
      }
      steps.push_back("fsync the temp file and rename it to " + path);
      steps.push_back("write the manifest " + manifestPathFor(path) + " (sha256, sizes) last");
      plan["steps"] = steps;
    }
    core::Json prune = core::Json::array();
    if (p.keep) {
      auto list = listBackups(p.dest_dir, p.kind, p.source);
      if (!list) return fail(req, list.error(), {{"plan", plan}});
      // A new backup would take one of the `keep` places.
      int64_t keep_others = current.empty() ? *p.keep - 1 : *p.keep;
      for (const auto& ref : pruneCandidates(*list, current, keep_others))
        prune.push_back(ref.path);
      plan["keep"] = *p.keep;
    }
    plan["would_prune"] = prune;
    core::ActionResult result = core::ActionResult::success(
        {{"plan", plan}}, std::string(kCreateAction) + ": would back up " + p.source + " to " +
                              plan["path"].get<std::string>() + stepSuffix(req));
    result.resources = 1;
    return result;
  }

  core::ActionResult executeNow(const core::ActionRequest& req) const {
    if (auto s = validate(req.params); !s) return fail(req, s.error());
    auto p = CreateParams::from(req.params);
    const core::CancelFlag* cancel = req.cancel.get();
    const std::string& key = req.idempotency_key;

    auto existing = existingBackup(p, key);
    if (!existing) return fail(req, existing.error());
    if (*existing) {
      core::Json out = outputFor(**existing, true);
      std::string message = std::string(kCreateAction) + ": " + (*existing)->path +
                            " already made with this idempotency key" + stepSuffix(req);
      prune(p, (*existing)->path, out, message);
      return core::ActionResult::success(std::move(out), message);
    }

    std::error_code ec;
    std::filesystem::create_directories(p.dest_dir, ec);
    if (ec) return fail(req, sysError(ec.value(), "create directory " + p.dest_dir));
    std::string token = key.empty() ? randomHex8() : keyHash8(key);
    if (!key.empty()) {
      for (const auto& stale : staleTemps(p.dest_dir, token)) ::unlink(stale.c_str());
    }

    Manifest m;
    m.kind = p.kind;
    m.source = p.source;
    m.label = p.label;
    m.idempotency_key = key;
    m.created_ms = clockOf(env_).nowMs();
    std::string path = joinPath(p.dest_dir, backupFileName(p, m.created_ms, token));
    m.backup = baseName(path);
    std::string tmp = tempPathFor(path);

    if (p.kind == kDirectoryKind) {
      auto archive = writeDirectoryArchive(p.source, tmp, p.dest_dir, cancel);
      if (!archive) {
        ::unlink(tmp.c_str());
        return fail(req, archive.error());
      }
      m.bytes = archive->bytes;
      m.sha256 = archive->sha256;
      m.content_bytes = archive->content_bytes;
      m.files = std::move(archive->files);
      m.warnings = std::move(archive->warnings);
    } else {
      struct stat st;
      if (::stat(p.source.c_str(), &st) != 0) return fail(req, sysError(errno, "stat " + p.source));
      m.mode = st.st_mode & 07777;
      m.uid = st.st_uid;
      m.gid = st.st_gid;
      std::string db = tmp + ".db";
      // The uncompressed copy always goes; tmp only when it is not the finished backup.
      auto removeCopy = [&] {
        ::unlink(db.c_str());
        removeSqliteCompanions(db);
      };
      if (auto s = sqliteOnlineBackup(p.source, db); !s) {
        removeCopy();
        ::unlink(tmp.c_str());
        return fail(req, s.error());
      }
      auto compressed = compressFile(db, tmp, cancel);
      removeCopy();
      if (!compressed) {
        ::unlink(tmp.c_str());
        return fail(req, compressed.error());
      }
      m.bytes = compressed->bytes;
      m.sha256 = compressed->sha256;
      m.content_bytes = compressed->content_bytes;
      m.content_sha256 = compressed->content_sha256;
    }
    // The rename makes the file whole under its final name; the manifest, written after it,
    // makes it a complete backup.
    if (auto s = renamePath(tmp, path); !s) {
      ::unlink(tmp.c_str());
      return fail(req, s.error());
    }
    if (auto s = fsyncDir(p.dest_dir); !s) return fail(req, s.error());
    if (auto s = writeManifest(path, m); !s) {
      ::unlink(path.c_str());
      return fail(req, s.error());
    }

    BackupRef ref{path, manifestPathFor(path), std::move(m)};
    core::Json out = outputFor(ref, false);
    std::string message = fmt::format("{}: backed up {} to {} ({} bytes, sha256 {}){}",
                                      kCreateAction, p.source, path, ref.manifest.bytes,
                                      ref.manifest.sha256, stepSuffix(req));
    if (!ref.manifest.warnings.empty())
      message += fmt::format("; {} warning(s), first: {}", ref.manifest.warnings.size(),
                             ref.manifest.warnings.front());
    prune(p, path, out, message);
    if (req.log) req.log->info("{}", message);
    return core::ActionResult::success(std::move(out), message);
  }

  // After a good backup; a failure to prune does not undo the backup, it is reported.
  void prune(const CreateParams& p, const std::string& current, core::Json& out,
             std::string& message) const {
    if (!p.keep) return;
    auto list = listBackups(p.dest_dir, p.kind, p.source);
    if (!list) {
      message += "; keep: " + list.error().message();
      out["prune_errors"] = {list.error().message()};
      return;
    }
    core::Json pruned = core::Json::array(), errors = core::Json::array();
    for (const auto& ref : pruneCandidates(*list, current, *p.keep)) {
      // Manifest first: a backup without one is already incomplete, never half-listed.
      auto s = removeFile(ref.manifest_path);
      if (s) s = removeFile(ref.path);
      if (s) {
        pruned.push_back(ref.path);
      } else {
        errors.push_back(s.error().message());
      }
    }
    if (!pruned.empty()) message += fmt::format("; pruned {} older backup(s)", pruned.size());
    if (!errors.empty()) message += "; keep: " + errors[0].get<std::string>();
    out["pruned"] = pruned;
    if (!errors.empty()) out["prune_errors"] = errors;
  }

  core::ActionEnv env_;
  core::ActionSpec spec_;
};

}  // namespace

std::unique_ptr<core::ActionProvider> makeCreateProvider(const core::ActionEnv& env) {
  return std::make_unique<CreateProvider>(env);
}

}  // namespace firebreak::actions::backup
