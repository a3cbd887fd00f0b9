// backup.verify: the backup file's sha256 against its manifest, then a full decompression with
// the tar structure and every member checked (directory) or PRAGMA integrity_check on a
// decompressed temp copy (sqlite).
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

class VerifyProvider final : public core::ActionProvider {
 public:
  explicit VerifyProvider(const core::ActionEnv& env) : env_(env) {
    spec_.name = kVerifyAction;
    spec_.summary = "Check a backup: sha256 against its manifest, full decompression, tar "
                    "structure or SQLite integrity_check";
    spec_.params = {
        {"backup", core::ParamType::kString, false, "latest",
         "absolute path of the backup file, or latest (the newest complete one in dest_dir)", {}},
        {"dest_dir", core::ParamType::kString, false, nullptr,
         "directory holding the backups (needed for latest)", {}},
        {"kind", core::ParamType::kString, false, nullptr,
         "directory or sqlite: for latest, only backups of this kind; for a path, the kind it "
         "must be",
         {kDirectoryKind, kSqliteKind}},
        {"source", core::ParamType::kString, false, nullptr,
         "for latest: only backups of this source path", {}},
    };
    spec_.idempotent = true;
    spec_.phase = core::Phase::kObserve;
    spec_.outputs = {"path", "ok", "sha256", "manifest", "kind", "source", "created_ms",
                     "content_bytes"};
  }

  const core::ActionSpec& spec() const override { return spec_; }

  core::Status validate(const core::Json& params) const override {
    if (auto s = checkBackupRef(params); !s) return s;
    if (auto s = checkKind(params, false); !s) return s;
    return checkAbsolute(params, "source", false);
  }

  core::awaitable<core::ActionResult> plan(const core::ActionRequest& request) override {
    return blockingStep(env_, kVerifyAction, request,
                        [this](const core::ActionRequest& r) { return planNow(r); });
  }

  core::awaitable<core::ActionResult> execute(const core::ActionRequest& request) override {
    return blockingStep(env_, kVerifyAction, request,
                        [this](const core::ActionRequest& r) { return executeNow(r); });
  }

 private:
  core::Result<BackupRef> resolve(const core::Json& params) const {
    std::string source = stringParam(params, "source");
    return resolveBackup(stringParam(params, "backup"),
                         normalizePath(stringParam(params, "dest_dir")),
                         stringParam(params, "kind"), source.empty() ? "" : normalizePath(source));
  }

  core::ActionResult planNow(const core::ActionRequest& req) const {
    if (auto s = validate(req.params); !s) return failure(kVerifyAction, req, s.error());
    auto ref = resolve(req.params);
    if (!ref) return failure(kVerifyAction, req, ref.error());
    const Manifest& m = ref->manifest;
    std::vector<std::string> steps = {
        "compute the sha256 of " + ref->path + " and compare it with " + m.sha256,
        m.kind == kDirectoryKind
            ? "decompress it and read the tar archive, checking each of the " +
                  std::to_string(m.files.size()) + " members against the manifest"
            : "decompress it to a temp file in " + scratchDir(env_) +
                  ", run PRAGMA integrity_check, delete the temp file"};
    core::Json plan = {{"action", kVerifyAction}, {"path", ref->path},
                       {"manifest", ref->manifest_path}, {"kind", m.kind},
                       {"source", m.source}, {"sha256", m.sha256},
                       {"created_ms", m.created_ms}, {"steps", steps}};
    core::ActionResult result = core::ActionResult::success(
        {{"plan", plan}},
        std::string(kVerifyAction) + ": would verify " + ref->path + stepSuffix(req));
    result.resources = 1;
    return result;
  }

  core::ActionResult executeNow(const core::ActionRequest& req) const {
    if (auto s = validate(req.params); !s) return failure(kVerifyAction, req, s.error());
    const core::CancelFlag* cancel = req.cancel.get();
    auto ref = resolve(req.params);
    if (!ref) return failure(kVerifyAction, req, ref.error());
    const Manifest& m = ref->manifest;
    core::Json out = {{"path", ref->path}, {"ok", false}, {"manifest", ref->manifest_path},
                      {"kind", m.kind}, {"source", m.source}, {"created_ms", m.created_ms},
                      {"content_bytes", m.content_bytes}};

    auto sha = sha256File(ref->path, cancel);
    if (!sha) return failure(kVerifyAction, req, sha.error(), out);
    out["sha256"] = *sha;
    if (*sha != m.sha256) {
      return failure(kVerifyAction, req,
                     core::Error(core::ErrorCode::kFailedPrecondition,
                                 fmt::format("{}: sha256 mismatch (manifest {}, file {})",
                                             ref->path, m.sha256, *sha)),
                     out);
    }

    if (m.kind == kDirectoryKind) {
      auto stats = checkDirectoryArchive(ref->path, &m.files, cancel);
      if (!stats) return failure(kVerifyAction, req, stats.error(), out);
      out["files"] = stats->files;
      out["dirs"] = stats->dirs;
      out["symlinks"] = stats->symlinks;
      if (stats->content_bytes != m.content_bytes) {
        return failure(kVerifyAction, req,
                       core::Error(core::ErrorCode::kFailedPrecondition,
                                   fmt::format("{}: {} bytes of file data, manifest says {}",
                                               ref->path, stats->content_bytes, m.content_bytes)),
                       out);
      }
    } else {
      std::string dir = scratchDir(env_);
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (ec) return failure(kVerifyAction, req, sysError(ec.value(), "create directory " + dir));
      std::string tmp = joinPath(dir, ".firebreak-verify-" + randomHex8() + ".db");
      auto status = [&]() -> core::Status {
        auto db = decompressFile(ref->path, tmp, 0600, cancel);
        if (!db) return core::fail(db.error());
        if (db->content_bytes != m.content_bytes ||
            (!m.content_sha256.empty() && db->content_sha256 != m.content_sha256))
          return core::fail(core::ErrorCode::kFailedPrecondition,
                            fmt::format("{}: decompressed database differs from the manifest "
                                        "({} bytes, sha256 {}; manifest {} bytes, sha256 {})",
                                        ref->path, db->content_bytes, db->content_sha256,
                                        m.content_bytes, m.content_sha256));
        return sqliteIntegrityCheck(tmp).map_error([&](core::Error e) {
          return std::move(e).context("checking the decompressed copy of " + ref->path);
        });
      }();
      ::unlink(tmp.c_str());
      removeSqliteCompanions(tmp);
      if (!status) return failure(kVerifyAction, req, status.error(), out);
      out["integrity_check"] = "ok";
    }
    out["ok"] = true;
    std::string message = fmt::format("{}: {} is good (sha256 {}, created {}){}", kVerifyAction,
                                      ref->path, m.sha256, core::formatTime(m.created_ms),
                                      stepSuffix(req));
    if (req.log) req.log->info("{}", message);
    return core::ActionResult::success(std::move(out), message);
  }

  core::ActionEnv env_;
  core::ActionSpec spec_;
};

}  // namespace

std::unique_ptr<core::ActionProvider> makeVerifyProvider(const core::ActionEnv& env) {
  return std::make_unique<VerifyProvider>(env);
}

}  // namespace firebreak::actions::backup
