// backup.restore and its undo, backup.undo_restore.
//
// A restore checks the backup's sha256 first and, for a directory, every archive member against
// the extraction rules, and touches nothing when either fails. It then builds the new target
// beside the old one (a hidden staging path), moves the old target to
// <target>.firebreak-pre-restore-<ts> and the new one into place. A small journal beside the
// target, keyed by the idempotency key, records the step so a retry or a resume after a crash
// finishes the same restore (same backup, same `previous`) instead of starting another.
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

constexpr const char* kPreRestoreInfix = ".firebreak-pre-restore-";

struct Journal {
  std::string idempotency_key;
  std::string backup;
  std::string sha256;
  std::optional<std::string> previous;
  int64_t started_ms = 0;
  bool done = false;
  core::Json output;

  core::Json toJson() const {
    return {{"idempotency_key", idempotency_key},
            {"backup", backup},
            {"sha256", sha256},
            {"previous", previous ? core::Json(*previous) : core::Json(nullptr)},
            {"started_ms", started_ms},
            {"done", done},
            {"output", output}};
  }
};

// Missing: nullopt. Unreadable: an error, since guessing could move the wrong thing.
core::Result<std::optional<Journal>> readJournal(const std::string& path) {
  if (!pathExists(path)) return std::optional<Journal>{};
  auto text = readSmallFile(path, 1 << 20);
  if (!text) return core::fail(text.error());
  auto j = core::Json::parse(*text, nullptr, false);
  try {
    if (j.is_discarded()) throw std::invalid_argument("not valid JSON");
    Journal out;
    out.idempotency_key = j.at("idempotency_key").get<std::string>();
    out.backup = j.at("backup").get<std::string>();
    out.sha256 = j.at("sha256").get<std::string>();
    if (!j.at("previous").is_null()) out.previous = j.at("previous").get<std::string>();
    out.started_ms = j.at("started_ms").get<int64_t>();
    out.done = j.at("done").get<bool>();
    out.output = j.value("output", core::Json::object());
    return std::optional(std::move(out));
  } catch (const std::exception& e) {
    return core::fail(core::ErrorCode::kFailedPrecondition,
                      path + ": unreadable restore journal (" + e.what() +
                          "); remove it once the target is checked");
  }
}

// "<target>.firebreak-pre-restore-<ts>", with "-2", "-3"... should that exist already.
std::string previousPathFor(const std::string& target, int64_t now_ms) {
  std::string base = target + kPreRestoreInfix + fileTimestamp(now_ms);
  std::string path = base;
  for (int i = 2; pathExists(path); ++i) path = base + "-" + std::to_string(i);
  return path;
}

class RestoreProvider final : public core::ActionProvider {
 public:
  explicit RestoreProvider(const core::ActionEnv& env) : env_(env) {
    spec_.name = kRestoreAction;
    spec_.summary = "Restore a directory or SQLite database from a verified backup, keeping the "
                    "previous target for undo";
    spec_.params = {
        {"kind", core::ParamType::kString, true, nullptr, "directory or sqlite",
         {kDirectoryKind, kSqliteKind}},
        {"backup", core::ParamType::kString, false, "latest",
         "absolute path of the backup file, or latest (the newest complete one in dest_dir)", {}},
        {"dest_dir", core::ParamType::kString, false, nullptr,
         "directory holding the backups (needed for latest)", {}},
        {"source", core::ParamType::kString, false, nullptr,
         "for latest: only backups of this source path", {}},
        {"target", core::ParamType::kString, true, nullptr,
         "absolute path to restore to; what is there moves to "
         "<target>.firebreak-pre-restore-<ts>",
         {}},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.undo = kUndoRestoreAction;
    spec_.phase = core::Phase::kRecover;
    spec_.outputs = {"path",       "target", "previous", "sha256",     "restored_bytes",
                     "rpo_ms",     "kind",   "created_ms", "existing"};
  }

  const core::ActionSpec& spec() const override { return spec_; }

  core::Status validate(const core::Json& params) const override {
    if (auto s = checkKind(params, true); !s) return s;
    if (auto s = checkBackupRef(params); !s) return s;
    if (auto s = checkAbsolute(params, "source", false); !s) return s;
    return checkAbsolute(params, "target", true);
  }

  core::awaitable<core::ActionResult> plan(const core::ActionRequest& request) override {
    return blockingStep(env_, kRestoreAction, request,
                        [this](const core::ActionRequest& r) { return planNow(r); });
  }

  core::awaitable<core::ActionResult> execute(const core::ActionRequest& request) override {
    return blockingStep(env_, kRestoreAction, request,
                        [this](const core::ActionRequest& r) { return executeNow(r); });
  }

 private:
  struct Paths {
    std::string kind;
    std::string target;
    std::string token;
    std::string journal;
    std::string staging;
  };

  static Paths pathsFor(const core::ActionRequest& req) {
    Paths p;
    p.kind = stringParam(req.params, "kind");
    p.target = normalizePath(stringParam(req.params, "target"));
    p.token = req.idempotency_key.empty() ? randomHex8() : keyHash8(req.idempotency_key);
    std::string hidden = "." + baseName(p.target) + ".firebreak-restore-" + p.token;
    p.journal = joinPath(parentDir(p.target), hidden + ".json");
    p.staging = joinPath(parentDir(p.target), hidden + ".tmp");
    return p;
  }

  core::Result<BackupRef> resolve(const core::ActionRequest& req) const {
    std::string source = stringParam(req.params, "source");
    return resolveBackup(stringParam(req.params, "backup"),
                         normalizePath(stringParam(req.params, "dest_dir")),
                         stringParam(req.params, "kind"),
                         source.empty() ? "" : normalizePath(source));
  }

  core::Result<std::optional<Journal>> journalFor(const core::ActionRequest& req,
                                                  const Paths& p) const {
    if (req.idempotency_key.empty()) return std::optional<Journal>{};
    auto journal = readJournal(p.journal);
    if (journal && *journal && (*journal)->idempotency_key != req.idempotency_key)
      return std::optional<Journal>{};  // another key with the same hash prefix
    return journal;
  }

  core::ActionResult planNow(const core::ActionRequest& req) const {
    if (auto s = validate(req.params); !s) return failure(kRestoreAction, req, s.error());
    Paths p = pathsFor(req);
    auto journal = journalFor(req, p);
    if (!journal) return failure(kRestoreAction, req, journal.error());
    if (*journal && (*journal)->done && pathExists(p.target)) {
      core::Json plan = {{"action", kRestoreAction}, {"target", p.target},
                         {"already_restored", true}, {"result", (*journal)->output},
                         {"steps", {"nothing: this step already restored " + p.target +
                                    "; return the recorded result"}}};
      return core::ActionResult::success({{"plan", plan}},
                                         std::string(kRestoreAction) + ": already restored " +
                                             p.target + stepSuffix(req));
    }
    auto ref = *journal ? resolveBackup((*journal)->backup, "", p.kind, "") : resolve(req);
    if (!ref) return failure(kRestoreAction, req, ref.error());
    const Manifest& m = ref->manifest;
    int64_t now = clockOf(env_).nowMs();
    bool target_exists = pathExists(p.target);
    core::Json previous = nullptr;
    if (*journal && (*journal)->previous) {
      previous = *(*journal)->previous;
    } else if (target_exists) {
      previous = previousPathFor(p.target, now);
    }
    std::vector<std::string> steps = {
        "compute the sha256 of " + ref->path + " and refuse it unless it is " + m.sha256};
    if (m.kind == kDirectoryKind)
      steps.push_back("read every member of it and refuse it, before writing anything, if one "
                      "has an absolute path, a '..' component or a symlink escaping the root");
    steps.push_back(
        m.kind == kDirectoryKind
            ? "extract it into " + p.staging + " (refusing absolute paths, '..' and escaping "
                                               "symlinks)"
            : "decompress it into " + p.staging + " and run PRAGMA integrity_check on it");
    if (target_exists) {
      steps.push_back("move " + p.target + " to " + previous.get<std::string>() +
                      (m.kind == kSqliteKind ? " (with its -wal and -journal; remove its -shm)"
                                             : ""));
    }
    steps.push_back("rename " + p.staging + " to " + p.target);
    core::Json plan = {{"action", kRestoreAction},
                       {"kind", m.kind},
                       {"path", ref->path},
                       {"manifest", ref->manifest_path},
                       {"sha256", m.sha256},
                       {"created_ms", m.created_ms},
                       {"rpo_ms", now - m.created_ms},
                       {"restored_bytes", m.content_bytes},
                       {"target", p.target},
                       {"target_exists", target_exists},
                       {"previous", previous},
                       {"steps", steps}};
    core::ActionResult result = core::ActionResult::success(
        {{"plan", plan}}, fmt::format("{}: would restore {} from {}{}", kRestoreAction, p.target,
                                      ref->path, stepSuffix(req)));
    result.resources = 1;
    return result;
  }

  // Builds the new target at p.staging; returns the bytes restored.
  core::Result<uint64_t> stage(const Paths& p, const BackupRef& ref,
                               const core::CancelFlag* cancel) const {
    std::error_code ec;
    std::filesystem::remove_all(p.staging, ec);  // a crashed attempt's
    if (ec) return core::fail(sysError(ec.value(), "remove " + p.staging));
    const Manifest& m = ref.manifest;
    if (m.kind == kDirectoryKind) {
      if (::mkdir(p.staging.c_str(), 0700) != 0)
        return core::fail(sysError(errno, "mkdir " + p.staging));
      auto stats = extractDirectoryArchive(ref.path, p.staging, cancel);
      if (!stats) return core::fail(stats.error());
      return stats->content_bytes;
    }
    // The database keeps the owner and mode of the file it replaces (the application must
    // still open it), or else those of the source it was backed up from.
    struct stat st;
    bool have_target = ::stat(p.target.c_str(), &st) == 0;
    unsigned mode = have_target ? st.st_mode & 07777 : (m.mode ? m.mode : 0600);
    auto db = decompressFile(ref.path, p.staging, mode, cancel);
    if (!db) return core::fail(db.error());
    if (!m.content_sha256.empty() && db->content_sha256 != m.content_sha256)
      return core::fail(core::ErrorCode::kFailedPrecondition,
                        ref.path + ": decompressed database sha256 " + db->content_sha256 +
                            " differs from the manifest's " + m.content_sha256);
    auto check = sqliteIntegrityCheck(p.staging);
    removeSqliteCompanions(p.staging);
    if (!check) return core::fail(check.error());
    if (::geteuid() == 0) {
      uid_t uid = have_target ? st.st_uid : static_cast<uid_t>(m.uid);
      gid_t gid = have_target ? st.st_gid : static_cast<gid_t>(m.gid);
      if (::chown(p.staging.c_str(), uid, gid) != 0)
        return core::fail(sysError(errno, "chown " + p.staging));
    }
    return db->content_bytes;
  }

  void removeStaging(const Paths& p) const {
    std::error_code ec;
    std::filesystem::remove_all(p.staging, ec);
    removeSqliteCompanions(p.staging);
  }

  core::ActionResult executeNow(const core::ActionRequest& req) const {
    if (auto s = validate(req.params); !s) return failure(kRestoreAction, req, s.error());
    const core::CancelFlag* cancel = req.cancel.get();
    Paths p = pathsFor(req);
    const bool sqlite = p.kind == kSqliteKind;

    auto journal_or = journalFor(req, p);
    if (!journal_or) return failure(kRestoreAction, req, journal_or.error());
    std::optional<Journal> journal = std::move(*journal_or);
    if (journal && journal->done && pathExists(p.target)) {
      core::Json out = journal->output;
      out["existing"] = true;
      return core::ActionResult::success(
          std::move(out), std::string(kRestoreAction) + ": " + p.target +
                              " already restored by this step from " + journal->backup +
                              stepSuffix(req));
    }

    // A resumed restore finishes with the backup it started with, whatever is latest now.
    auto ref = journal ? resolveBackup(journal->backup, "", p.kind, "") : resolve(req);
    if (!ref) return failure(kRestoreAction, req, ref.error());
    const Manifest& m = ref->manifest;
    core::Json out = {{"path", ref->path}, {"target", p.target}, {"kind", m.kind},
                      {"created_ms", m.created_ms}};
    // "<problem> (while <trail>...); refusing to restore, <target> untouched": the trail (the
    // archive being read, say) stays with the problem it explains.
    auto untouched = [&](const core::Error& e) {
      std::string message = e.message();
      for (const auto& what : e.trail()) message += " (while " + what + ")";
      return failure(kRestoreAction, req,
                     core::Error(e.code(), message + "; refusing to restore, " + p.target +
                                               " untouched"),
                     out);
    };

    // The checksum first: nothing is touched for a backup that is not what its manifest says.
    auto sha = sha256File(ref->path, cancel);
    if (!sha) return untouched(sha.error());
    out["sha256"] = *sha;
    if (*sha != m.sha256) {
      return untouched(core::Error(core::ErrorCode::kFailedPrecondition,
                                   fmt::format("{}: sha256 mismatch (manifest {}, file {})",
                                               ref->path, m.sha256, *sha)));
    }

    int64_t now = clockOf(env_).nowMs();
    std::optional<std::string> previous;
    if (journal) {
      previous = journal->previous;
    } else if (pathExists(p.target)) {
      previous = previousPathFor(p.target, now);
    }
    // Where a crashed attempt stopped: the old target moved aside, the new one in place.
    bool moved = previous && pathExists(*previous);
    bool placed = journal && (previous ? moved : true) && pathExists(p.target);

    // Then every member against the rules extraction applies, in a read-only pass: a hostile
    // archive is refused before a staging directory (or a journal) appears beside the target.
    if (!placed && !sqlite) {
      auto checked = checkDirectoryArchive(ref->path, nullptr, cancel);
      if (!checked)
        return moved ? failure(kRestoreAction, req, checked.error(), out)
                     : untouched(checked.error());
    }

    std::error_code ec;
    std::filesystem::create_directories(parentDir(p.target), ec);
    if (ec) return untouched(sysError(ec.value(), "create directory " + parentDir(p.target)));

    uint64_t restored_bytes = m.content_bytes;
    if (!placed) {
      auto staged = stage(p, *ref, cancel);
      if (!staged) {
        removeStaging(p);
        // A resumed attempt may already have moved the old target aside (see `previous`).
        return moved ? failure(kRestoreAction, req, staged.error(), out)
                     : untouched(staged.error());
      }
      restored_bytes = *staged;
      if (!journal) {
        journal = Journal{req.idempotency_key, ref->path, m.sha256, previous, now, false, {}};
        if (!req.idempotency_key.empty()) {
          if (auto s = writeFileAtomic(p.journal, journal->toJson().dump(2) + "\n"); !s) {
            removeStaging(p);
            return untouched(s.error());
          }
        }
      }
      core::Status s;
      if (previous && !moved) {
        if (!pathExists(p.target)) {
          s = core::fail(core::ErrorCode::kFailedPrecondition,
                         p.target + " disappeared before it could be moved to " + *previous);
        } else {
          s = moveWithCompanions(p.target, *previous, sqlite);
        }
      } else if (previous && sqlite) {
        s = moveSqliteCompanions(p.target, *previous);  // resumed after the main file moved
      } else if (sqlite) {
        removeSqliteCompanions(p.target);  // stale: no database to go with them
      }
      if (s) s = renamePath(p.staging, p.target);
      if (s) s = fsyncDir(parentDir(p.target));
      if (!s) {
        return failure(kRestoreAction, req,
                       std::move(s.error())
                           .context(fmt::format("restoring {} (journal {}; previous target {})",
                                                p.target, p.journal, previous.value_or("none"))),
                       out);
      }
    }

    out["previous"] = previous ? core::Json(*previous) : core::Json(nullptr);
    out["restored_bytes"] = restored_bytes;
    out["rpo_ms"] = now - m.created_ms;
    out["existing"] = false;
    std::string message = fmt::format(
        "{}: restored {} from {} (backup of {}, RPO {} ms); previous target {}{}", kRestoreAction,
        p.target, ref->path, core::formatTime(m.created_ms), now - m.created_ms,
        previous ? "kept at " + *previous : std::string("did not exist"), stepSuffix(req));
    if (!req.idempotency_key.empty()) {
      journal->done = true;
      journal->output = out;
      // The restore is done; a journal that cannot be updated only costs a replay its shortcut.
      if (auto s = writeFileAtomic(p.journal, journal->toJson().dump(2) + "\n"); !s)
        message += "; journal not updated: " + s.error().message();
    }
    if (req.log) req.log->info("{}", message);
    return core::ActionResult::success(std::move(out), message);
  }

  core::ActionEnv env_;
  core::ActionSpec spec_;
};

class UndoRestoreProvider final : public core::ActionProvider {
 public:
  explicit UndoRestoreProvider(const core::ActionEnv& env) : env_(env) {
    spec_.name = kUndoRestoreAction;
    spec_.summary = "Undo backup.restore: put the previous target back (the restored one is kept "
                    "aside)";
    spec_.params = {
        {"target", core::ParamType::kString, false, nullptr,
         "the restored target (default: the undone step's output.target)", {}},
        {"previous", core::ParamType::kString, false, nullptr,
         "where the restore kept the old target (default: the undone step's output.previous; "
         "empty when there was none)",
         {}},
    };
    spec_.idempotent = true;
    // It only renames: the restored data is kept aside, nothing is deleted.
    spec_.destructive = false;
    spec_.phase = core::Phase::kRecover;
    spec_.outputs = {"target", "previous", "replaced"};
  }

  const core::ActionSpec& spec() const override { return spec_; }

  core::Status validate(const core::Json& params) const override {
    if (auto s = checkAbsolute(params, "target", false); !s) return s;
    if (auto s = checkAbsolute(params, "previous", false); !s) return s;
    return checkPair(stringParam(params, "target"), stringParam(params, "previous"));
  }

  core::awaitable<core::ActionResult> plan(const core::ActionRequest& request) override {
    return blockingStep(env_, kUndoRestoreAction, request,
                        [this](const core::ActionRequest& r) { return run(r, true); });
  }

  core::awaitable<core::ActionResult> execute(const core::ActionRequest& request) override {
    return blockingStep(env_, kUndoRestoreAction, request,
                        [this](const core::ActionRequest& r) { return run(r, false); });
  }

 private:
  // Only what a restore made can be moved back: no renaming of arbitrary paths.
  static core::Status checkPair(const std::string& target, const std::string& previous) {
    if (target.empty() || previous.empty()) return {};
    std::string prefix = normalizePath(target) + kPreRestoreInfix;
    if (normalizePath(previous).rfind(prefix, 0) != 0)
      return core::fail(invalidParam("parameter 'previous' (" + previous + ") is not a '" +
                                     prefix + "<ts>' path kept by backup.restore"));
    return {};
  }

  // Parameters first, then the output of the restore being undone.
  static std::string pick(const core::ActionRequest& req, const char* name) {
    std::string value = stringParam(req.params, name);
    if (value.empty() && req.undo_state.is_object()) value = stringParam(req.undo_state, name);
    return value.empty() ? value : normalizePath(value);
  }

  core::ActionResult run(const core::ActionRequest& req, bool dry_run) const {
    if (auto s = validate(req.params); !s) return failure(kUndoRestoreAction, req, s.error());
    std::string target = pick(req, "target");
    std::string previous = pick(req, "previous");
    if (target.empty())
      return failure(kUndoRestoreAction, req,
                     invalidParam("no target: neither the parameter nor the undone step's output "
                                  "names one"));
    if (auto s = checkPair(target, previous); !s)
      return failure(kUndoRestoreAction, req, s.error());
    std::string token = req.idempotency_key.empty() ? randomHex8() : keyHash8(req.idempotency_key);
    std::string aside = target + ".firebreak-undone-" + token;
    bool target_exists = pathExists(target);
    bool previous_exists = !previous.empty() && pathExists(previous);
    bool aside_exists = pathExists(aside);
    // A database file brings its -wal/-journal along; a directory has none.
    bool sqlite = !isDirectory(previous_exists ? previous : target);
    core::Json out = {{"target", target},
                      {"previous", previous.empty() ? core::Json(nullptr) : core::Json(previous)},
                      {"replaced", nullptr}};

    std::vector<std::string> steps;
    bool done = false;
    if (!previous.empty() && !previous_exists) {
      if (!(target_exists && aside_exists))
        return failure(kUndoRestoreAction, req,
                       core::Error(core::ErrorCode::kNotFound,
                                   previous + " does not exist: nothing to put back at " + target));
      done = true;  // a replay: both moves happened
    } else if (previous.empty() && !target_exists) {
      done = true;  // nothing was there before the restore, and nothing is now
    }
    if (done) {
      if (aside_exists) out["replaced"] = aside;
      if (dry_run)
        return core::ActionResult::success({{"plan", {{"action", kUndoRestoreAction},
                                                      {"target", target},
                                                      {"steps", core::Json::array()}}}},
                                           std::string(kUndoRestoreAction) + ": nothing to do" +
                                               stepSuffix(req));
      if (!previous.empty() && sqlite) (void)moveSqliteCompanions(previous, target);
      return core::ActionResult::success(out, std::string(kUndoRestoreAction) + ": " + target +
                                                  " already undone" + stepSuffix(req));
    }
    if (target_exists && aside_exists)
      return failure(kUndoRestoreAction, req,
                     core::Error(core::ErrorCode::kAlreadyExists,
                                 aside + " already exists; move it away to undo the restore"));
    if (target_exists) steps.push_back("move " + target + " aside to " + aside);
    if (!previous.empty()) steps.push_back("move " + previous + " back to " + target);
    if (dry_run) {
      core::Json plan = {{"action", kUndoRestoreAction},
                         {"target", target},
                         {"previous", out["previous"]},
                         {"replaced", target_exists ? core::Json(aside) : core::Json(nullptr)},
                         {"steps", steps}};
      core::ActionResult result = core::ActionResult::success(
          {{"plan", plan}},
          std::string(kUndoRestoreAction) + ": would put back " +
              (previous.empty() ? "nothing (no previous target)" : previous) + stepSuffix(req));
      result.resources = 1;
      return result;
    }
    core::Status s;
    if (target_exists) {
      s = moveWithCompanions(target, aside, sqlite);
      if (s) out["replaced"] = aside;
    }
    if (s && !previous.empty()) s = moveWithCompanions(previous, target, sqlite);
    if (s) s = fsyncDir(parentDir(target));
    if (!s) return failure(kUndoRestoreAction, req, s.error(), out);
    std::string message = fmt::format(
        "{}: {}{}{}", kUndoRestoreAction,
        previous.empty() ? "no previous target to put back"
                         : "put " + previous + " back at " + target,
        target_exists ? "; the restored one is kept at " + aside : std::string(), stepSuffix(req));
    if (req.log) req.log->info("{}", message);
    return core::ActionResult::success(std::move(out), message);
  }

  core::ActionEnv env_;
  core::ActionSpec spec_;
};

}  // namespace

std::unique_ptr<core::ActionProvider> makeRestoreProvider(const core::ActionEnv& env) {
  return std::make_unique<RestoreProvider>(env);
}

std::unique_ptr<core::ActionProvider> makeUndoRestoreProvider(const core::ActionEnv& env) {
  return std::make_unique<UndoRestoreProvider>(env);
}

}  // namespace firebreak::actions::backup
