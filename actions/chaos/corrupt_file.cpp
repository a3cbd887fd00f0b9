// `chaos.corrupt_file` and its undo `chaos.restore_file`. The original is copied aside (with its
// SHA-256) before a byte is written, once per idempotency key: a retry finds the copy and does
// not take a second one of the already corrupted file. The corruption itself is deterministic
// (random bytes are seeded by the key), so a retry writes exactly the same bytes again.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>
#include <vector>

#include "actions/backup/common.h"
#include "actions/backup/fs_util.h"
#include "actions/chaos/common.h"

namespace firebreak::actions::chaos {
namespace {

using core::ActionRequest;
using core::ActionResult;
using core::ErrorCode;
using core::fail;
using core::Json;
using core::ParamType;

constexpr int64_t kDefaultLength = 4096;
constexpr int64_t kMaxLength = int64_t{64} << 20;  // the corruption is written from memory

struct Pattern {
  enum class Kind { kZero, kRandom, kByte } kind = Kind::kRandom;
  int byte = 0;
  std::string text() const {
    return kind == Kind::kZero ? "zero" : kind == Kind::kRandom ? "random" : std::to_string(byte);
  }
};

core::Result<Pattern> parsePattern(const Json& params) {
  Pattern p;
  auto it = params.find("pattern");
  if (it == params.end() || it->is_null()) return p;
  auto bad = [&] {
    return fail(ErrorCode::kInvalidArgument,
                "'pattern' is " + it->dump() + ", not zero, random or a byte 0-255");
  };
  if (it->is_number_integer()) {
    auto v = it->get<int64_t>();
    if (v < 0 || v > 255) return bad();
    p.kind = Pattern::Kind::kByte;
    p.byte = static_cast<int>(v);
    return p;
  }
  if (!it->is_string()) return bad();
  const auto& s = it->get_ref<const std::string&>();
  if (s == "zero") p.kind = Pattern::Kind::kZero;
  else if (s == "random") p.kind = Pattern::Kind::kRandom;
  else if (!s.empty() && s.size() <= 3 && s.find_first_not_of("0123456789") == std::string::npos &&
           std::stoi(s) <= 255) {
    p.kind = Pattern::Kind::kByte;
    p.byte = std::stoi(s);
  } else {
    return bad();
  }
  return p;
}

// Copies `from` to `to` (a new file), fsyncs it, and returns the SHA-256 of what was copied.
core::Result<std::string> copyFile(const std::string& from, const std::string& to,
                                   unsigned mode, const core::CancelFlag* cancel) {
  auto in = backup::openRead(from);
  if (!in) return fail(in.error());
  auto out = backup::createExclusive(to, mode);
  if (!out) return fail(out.error());
  backup::Sha256 sha;
  std::vector<char> buf(backup::kChunk);
  for (;;) {
    if (backup::isCancelled(cancel)) return fail(backup::cancelledError("copying " + from));
    auto n = backup::readSome(in->get(), buf.data(), buf.size(), from);
    if (!n) return fail(n.error());
    if (*n == 0) break;
    sha.update(buf.data(), *n);
    if (auto s = backup::writeAll(out->get(), buf.data(), *n, to); !s) return fail(s.error());
  }
  if (auto s = backup::fsyncFd(out->get(), to); !s) return fail(s.error());
  if (auto s = out->close(to); !s) return fail(s.error());
  return sha.hexDigest();
}

class CorruptFile final : public core::ActionProvider {
 public:
  explicit CorruptFile(const core::ActionEnv& env) : env_(env) {
    spec_.name = kCorruptFile;
    spec_.summary = "Chaos: overwrite part of a file (the original is kept aside; undo restores it)";
    spec_.params = {
        scopeParam(),
        {"target", ParamType::kString, true, nullptr,
         "absolute path of a regular file (its canonical path under scope.paths)", {}},
        {"offset", ParamType::kInt, false, 0, "first byte overwritten", {}},
        {"length", ParamType::kInt, false, kDefaultLength,
         "bytes overwritten, capped at the end of the file", {}},
        {"pattern", ParamType::kAny, false, "random", "zero, random, or a byte 0-255", {}},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.undo = kRestoreFile;
    spec_.phase = core::Phase::kObserve;  // a fault injection, not a response phase
    spec_.outputs = {"target", "backup", "sha256", "offset", "length"};
  }

  const core::ActionSpec& spec() const override { return spec_; }

  core::Status validate(const Json& params) const override {
    if (auto s = checkAbsolute(params, "target", true); !s) return s;
    auto pattern = params.find("pattern");
    if (pattern == params.end() || !pattern->is_string() ||
        pattern->get_ref<const std::string&>().find("{{") == std::string::npos)
      if (auto p = parsePattern(params); !p) return fail(p.error());
    return {};
  }

  core::awaitable<ActionResult> plan(const ActionRequest& request) override {
    return backup::blockingStep(env_, kCorruptFile, request,
                                [this](const ActionRequest& r) { return run(r, true); });
  }

  core::awaitable<ActionResult> execute(const ActionRequest& request) override {
    return backup::blockingStep(env_, kCorruptFile, request,
                                [this](const ActionRequest& r) { return run(r, false); });
  }

 private:
  ActionResult run(const ActionRequest& req, bool dry_run) const {
    if (auto s = validate(req.params); !s) return backup::failure(kCorruptFile, req, s.error());
    auto pattern = parsePattern(req.params);
    if (!pattern) return backup::failure(kCorruptFile, req, pattern.error());
    auto offset = intParam(req.params, "offset", 0);
    if (!offset) return backup::failure(kCorruptFile, req, offset.error());
    auto length = intParam(req.params, "length", kDefaultLength);
    if (!length) return backup::failure(kCorruptFile, req, length.error());
    if (*offset < 0 || *length <= 0 || *length > kMaxLength)
      return backup::failure(kCorruptFile, req,
                             core::Error(ErrorCode::kInvalidArgument,
                                         "'offset' must be >= 0 and 'length' 1 to 64 MiB"));
    auto scope = parseScope(req.params);
    if (!scope) return backup::failure(kCorruptFile, req, scope.error());
    const std::string target_param = backup::stringParam(req.params, "target");
    auto target = pathInScope(*scope, target_param, "target");
    if (!target) return backup::failure(kCorruptFile, req, target.error());
    struct stat st;
    if (::lstat(target->c_str(), &st) != 0) {
      int err = errno;
      return backup::failure(kCorruptFile, req, backup::sysError(err, "stat " + *target));
    }
    if (!S_ISREG(st.st_mode))
      return backup::failure(kCorruptFile, req,
                             core::Error(ErrorCode::kInvalidArgument,
                                         *target + " is not a regular file"));

    auto dir = dry_run ? core::Result<std::string>(backup::joinPath(env_.data_dir, "chaos"))
                       : stateDir(env_.data_dir);
    if (!dir) return backup::failure(kCorruptFile, req, dir.error());
    if (env_.data_dir.empty())
      return backup::failure(kCorruptFile, req,
                             core::Error(ErrorCode::kFailedPrecondition,
                                         "no data directory to keep the original of " + *target));
    std::string token = req.idempotency_key.empty() ? backup::randomHex8() + backup::randomHex8()
                                                    : keyHash(req.idempotency_key);
    const std::string copy = backup::joinPath(*dir, token + ".orig");
    const std::string sha_file = copy + ".sha256";
    const bool have_copy = backup::pathExists(copy);

    // The size of the original decides the range, on a retry too (the file may have grown).
    int64_t size = st.st_size;
    std::string sha;
    if (have_copy) {
      auto text = backup::readSmallFile(sha_file, 128);
      if (!text) return backup::failure(kCorruptFile, req, text.error());
      sha = text->substr(0, 64);
      struct stat cst;
      if (::stat(copy.c_str(), &cst) == 0) size = cst.st_size;
    }
    if (*offset >= size)
      return backup::failure(kCorruptFile, req,
                             core::Error(ErrorCode::kInvalidArgument,
                                         "'offset' " + std::to_string(*offset) + " is past the end of " +
                                             *target + " (" + std::to_string(size) + " bytes)"));
    const int64_t len = std::min(*length, size - *offset);
    if (dry_run) {
      ActionResult r = ActionResult::success(
          {{"plan",
            {{"action", kCorruptFile}, {"target", *target}, {"backup", copy},
             {"offset", *offset}, {"length", len}, {"pattern", pattern->text()},
             {"copied_already", have_copy}}}},
          std::string(kCorruptFile) + ": would copy " + *target + " to " + copy +
              ", then overwrite " + std::to_string(len) + " bytes at " + std::to_string(*offset) +
              " with " + pattern->text() + backup::stepSuffix(req));
      r.resources = 1;
      return r;
    }
    if (!have_copy) {
      // The copy is complete once it has its name (temp file, fsync, sha file, rename).
      const std::string tmp = backup::tempPathFor(copy);
      auto copied = copyFile(*target, tmp, 0600, req.cancel.get());
      core::Status s = copied ? core::Status{} : core::Status(fail(copied.error()));
      if (s) s = backup::writeFileAtomic(sha_file, *copied + "\n");
      if (s) s = backup::renamePath(tmp, copy);
      if (s) s = backup::fsyncDir(*dir);
      if (!s) {
        (void)backup::removeFile(tmp);
        return backup::failure(kCorruptFile, req, s.error());
      }
      sha = *copied;
    }
    std::vector<unsigned char> bytes(static_cast<size_t>(len), 0);
    if (pattern->kind == Pattern::Kind::kByte) {
      std::fill(bytes.begin(), bytes.end(), static_cast<unsigned char>(pattern->byte));
    } else if (pattern->kind == Pattern::Kind::kRandom) {
      std::seed_seq seed(token.begin(), token.end());
      std::mt19937_64 rng(seed);
      for (auto& b : bytes) b = static_cast<unsigned char>(rng());
    }
    int fd = ::open(target->c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      int err = errno;
      return backup::failure(kCorruptFile, req, backup::sysError(err, "open " + *target));
    }
    backup::Fd owned(fd);
    for (int64_t done = 0; done < len;) {
      ssize_t n = ::pwrite(fd, bytes.data() + done, static_cast<size_t>(len - done), *offset + done);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        return backup::failure(kCorruptFile, req, backup::sysError(err, "pwrite " + *target));
      }
      done += n;
    }
    core::Status s = backup::fsyncFd(fd, *target);
    if (s) s = owned.close(*target);
    if (!s) return backup::failure(kCorruptFile, req, s.error());
    Json out = {{"target", *target}, {"backup", copy}, {"sha256", sha},
                {"offset", *offset}, {"length", len}};
    return ActionResult::success(
        out, std::string(kCorruptFile) + ": overwrote " + std::to_string(len) + " bytes of " +
                 *target + " at " + std::to_string(*offset) + " with " + pattern->text() +
                 (have_copy ? " (the original was kept at " : " (original kept at ") + copy + ")" +
                 backup::stepSuffix(req));
  }

  core::ActionEnv env_;
  core::ActionSpec spec_;
};

class RestoreFile final : public core::ActionProvider {
 public:
  explicit RestoreFile(const core::ActionEnv& env) : env_(env) {
    spec_.name = kRestoreFile;
    spec_.summary = "Undo chaos.corrupt_file: put the original back from its copy";
    spec_.params = {
        scopeParam(),
        {"target", ParamType::kString, false, nullptr,
         "the corrupted file (default: the undone step's output.target)", {}},
        {"backup", ParamType::kString, false, nullptr,
         "its copy under <data_dir>/chaos (default: the undone step's output.backup)", {}},
    };
    spec_.idempotent = true;
    spec_.destructive = false;  // it puts back what chaos.corrupt_file changed
    spec_.phase = core::Phase::kObserve;
    spec_.outputs = {"target", "sha256", "restored"};
  }

  const core::ActionSpec& spec() const override { return spec_; }

  core::Status validate(const Json& params) const override {
    if (auto s = checkAbsolute(params, "target", false); !s) return s;
    return checkAbsolute(params, "backup", false);
  }

  core::awaitable<ActionResult> plan(const ActionRequest& request) override {
    return backup::blockingStep(env_, kRestoreFile, request,
                                [this](const ActionRequest& r) { return run(r, true); });
  }

  core::awaitable<ActionResult> execute(const ActionRequest& request) override {
    return backup::blockingStep(env_, kRestoreFile, request,
                                [this](const ActionRequest& r) { return run(r, false); });
  }

 private:
  static std::string pick(const ActionRequest& req, const char* name) {
    std::string v = backup::stringParam(req.params, name);
    if (v.empty() && req.undo_state.is_object()) v = backup::stringParam(req.undo_state, name);
    return v;
  }

  ActionResult run(const ActionRequest& req, bool dry_run) const {
    if (auto s = validate(req.params); !s) return backup::failure(kRestoreFile, req, s.error());
    auto scope = parseScope(req.params);
    if (!scope) return backup::failure(kRestoreFile, req, scope.error());
    std::string target_param = pick(req, "target");
    std::string copy = pick(req, "backup");
    if (copy.empty())  // the step was only planned, or failed before it copied anything
      return ActionResult::success({{"target", target_param}, {"restored", false}},
                                   std::string(kRestoreFile) + ": no copy to restore from" +
                                       backup::stepSuffix(req));
    if (target_param.empty())
      return backup::failure(kRestoreFile, req,
                             core::Error(ErrorCode::kInvalidArgument, "no 'target' to restore"));
    // Only a copy this action keeps: nothing else is ever renamed over a file.
    copy = backup::normalizePath(copy);
    const std::string state = backup::joinPath(env_.data_dir, "chaos");
    if (env_.data_dir.empty() || backup::parentDir(copy) != backup::normalizePath(state) ||
        copy.size() < 6 || copy.compare(copy.size() - 5, 5, ".orig") != 0)
      return backup::failure(kRestoreFile, req,
                             core::Error(ErrorCode::kPermissionDenied,
                                         "'backup' " + copy + " is not a copy kept by " +
                                             std::string(kCorruptFile) + " under " + state));
    auto target = pathInScope(*scope, target_param, "target");
    if (!target) return backup::failure(kRestoreFile, req, target.error());
    std::string expected = req.undo_state.is_object() ? backup::stringParam(req.undo_state, "sha256") : "";
    if (auto text = backup::readSmallFile(copy + ".sha256", 128); text) expected = text->substr(0, 64);

    if (!backup::pathExists(copy)) {
      // A replay after the copy was removed: done when the target holds the original again.
      auto now = backup::sha256File(*target, req.cancel.get());
      if (now && !expected.empty() && *now == expected)
        return ActionResult::success({{"target", *target}, {"sha256", expected}, {"restored", false}},
                                     std::string(kRestoreFile) + ": " + *target +
                                         " holds the original already" + backup::stepSuffix(req));
      return backup::failure(kRestoreFile, req,
                             core::Error(ErrorCode::kNotFound,
                                         "the copy " + copy + " of " + *target + " is gone"));
    }
    if (expected.empty())
      return backup::failure(kRestoreFile, req,
                             core::Error(ErrorCode::kFailedPrecondition,
                                         "no SHA-256 recorded for " + copy + ": not restored"));
    if (dry_run)
      return ActionResult::success(
          {{"plan", {{"action", kRestoreFile}, {"target", *target}, {"backup", copy}, {"sha256", expected}}}},
          std::string(kRestoreFile) + ": would restore " + *target + " from " + copy +
              backup::stepSuffix(req));
    struct stat st;
    unsigned mode = 0600;
    if (::stat(target->c_str(), &st) == 0) mode = st.st_mode & 07777;
    const std::string tmp = backup::tempPathFor(*target);
    auto sha = copyFile(copy, tmp, mode, req.cancel.get());
    if (!sha) {
      (void)backup::removeFile(tmp);
      return backup::failure(kRestoreFile, req, sha.error());
    }
    if (*sha != expected) {
      (void)backup::removeFile(tmp);
      return backup::failure(kRestoreFile, req,
                             core::Error(ErrorCode::kFailedPrecondition,
                                         "the copy " + copy + " has SHA-256 " + *sha + ", not " +
                                             expected + " as recorded: " + *target +
                                             " left as it is"));
    }
    // Same owner as before, when we may (as root); the mode came with the create.
    if (::stat(target->c_str(), &st) == 0) (void)::chown(tmp.c_str(), st.st_uid, st.st_gid);
    core::Status s = backup::renamePath(tmp, *target);
    if (s) s = backup::fsyncDir(backup::parentDir(*target));
    if (!s) {
      (void)backup::removeFile(tmp);
      return backup::failure(kRestoreFile, req, s.error());
    }
    (void)backup::removeFile(copy);
    (void)backup::removeFile(copy + ".sha256");
    (void)backup::fsyncDir(state);
    return ActionResult::success({{"target", *target}, {"sha256", expected}, {"restored", true}},
                                 std::string(kRestoreFile) + ": restored " + *target + " from " +
                                     copy + " (SHA-256 " + expected.substr(0, 12) + "...)" +
                                     backup::stepSuffix(req));
  }

  core::ActionEnv env_;
  core::ActionSpec spec_;
};

}  // namespace

std::unique_ptr<core::ActionProvider> makeCorruptFile(const core::ActionEnv& env) {
  return std::make_unique<CorruptFile>(env);
}
std::unique_ptr<core::ActionProvider> makeRestoreFile(const core::ActionEnv& env) {
  return std::make_unique<RestoreFile>(env);
}

}  // namespace firebreak::actions::chaos
