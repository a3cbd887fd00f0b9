// `chaos.fill_disk` and its undo `chaos.remove_fill`: one preallocated file per step, named
// after the step's idempotency key, so a retry finds its file and a removal can touch nothing
// but a file this action made.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

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

std::string sizeText(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[64];
  snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

core::Result<int64_t> freeBytes(const std::string& dir) {
  struct statvfs vfs;
  if (::statvfs(dir.c_str(), &vfs) != 0) {
    int err = errno;
    return fail(backup::sysError(err, "statvfs " + dir));
  }
  return static_cast<int64_t>(vfs.f_bavail) * static_cast<int64_t>(vfs.f_frsize);
}

// Allocates `size` bytes in `fd`: posix_fallocate, or zeros where the file system has no
// fallocate (EOPNOTSUPP: some network and FUSE file systems).
core::Status allocate(int fd, int64_t size, const std::string& path, const core::CancelFlag* cancel) {
  if (size == 0) return {};
  int rc = ::posix_fallocate(fd, 0, size);
  if (rc == 0) return {};
  if (rc != EOPNOTSUPP && rc != EINVAL) return fail(backup::sysError(rc, "posix_fallocate " + path));
  std::vector<char> zeros(backup::kChunk, 0);
  for (int64_t done = 0; done < size;) {
    if (backup::isCancelled(cancel)) return fail(backup::cancelledError("writing " + path));
    size_t n = static_cast<size_t>(std::min<int64_t>(size - done, static_cast<int64_t>(zeros.size())));
    if (auto s = backup::writeAll(fd, zeros.data(), n, path); !s) return s;
    done += static_cast<int64_t>(n);
  }
  return {};
}

class FillDisk final : public core::ActionProvider {
 public:
  explicit FillDisk(const core::ActionEnv& env) : env_(env) {
    spec_.name = kFillDisk;
    spec_.summary = "Chaos: fill a file system with one preallocated file (removed by its undo)";
    spec_.params = {
        scopeParam(),
        {"dir", ParamType::kString, true, nullptr,
         "absolute directory to fill (its canonical path under scope.paths)", {}},
        {"size", ParamType::kAny, true, nullptr,
         "bytes to allocate: an integer, or \"4096\", \"10MB\", \"512MiB\", \"1GiB\"", {}},
        {"leave_free", ParamType::kAny, false, 0,
         "refuse when less than this would stay free after filling (same units)", {}},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.undo = kRemoveFill;
    spec_.phase = core::Phase::kObserve;  // a fault injection, not a response phase
    spec_.outputs = {"path", "bytes"};
  }

  const core::ActionSpec& spec() const override { return spec_; }

  core::Status validate(const Json& params) const override {
    if (auto s = checkAbsolute(params, "dir", true); !s) return s;
    for (const char* name : {"size", "leave_free"}) {
      auto it = params.find(name);
      if (it == params.end() || it->is_null()) continue;
      if (it->is_string() && it->get_ref<const std::string&>().find("{{") != std::string::npos)
        continue;
      if (auto v = parseSize(*it, name); !v) return fail(v.error());
    }
    return {};
  }

  core::awaitable<ActionResult> plan(const ActionRequest& request) override {
    return backup::blockingStep(env_, kFillDisk, request,
                                [this](const ActionRequest& r) { return run(r, true); });
  }

  core::awaitable<ActionResult> execute(const ActionRequest& request) override {
    return backup::blockingStep(env_, kFillDisk, request,
                                [this](const ActionRequest& r) { return run(r, false); });
  }

 private:
  ActionResult run(const ActionRequest& req, bool dry_run) const {
    if (auto s = validate(req.params); !s) return backup::failure(kFillDisk, req, s.error());
    auto size = parseSize(req.params["size"], "size");
    if (!size) return backup::failure(kFillDisk, req, size.error());
    int64_t leave_free = 0;
    if (auto it = req.params.find("leave_free"); it != req.params.end() && !it->is_null()) {
      auto v = parseSize(*it, "leave_free");
      if (!v) return backup::failure(kFillDisk, req, v.error());
      leave_free = *v;
    }
    auto scope = parseScope(req.params);
    if (!scope) return backup::failure(kFillDisk, req, scope.error());
    const std::string dir_param = backup::stringParam(req.params, "dir");
    auto dir = pathInScope(*scope, dir_param, "dir");
    if (!dir) return backup::failure(kFillDisk, req, dir.error());
    if (!backup::isDirectory(*dir))
      return backup::failure(kFillDisk, req,
                             core::Error(ErrorCode::kInvalidArgument, dir_param + " is not a directory"));
    // Without a key (a one-off call) every call is its own fill.
    std::string token = req.idempotency_key.empty() ? backup::randomHex8() + backup::randomHex8()
                                                    : keyHash(req.idempotency_key);
    const std::string name = std::string(kFillPrefix) + token + ".dat";
    const std::string path = backup::joinPath(*dir, name);
    const std::string partial = path + ".partial";

    // The same key: its file is there already, and nothing changes.
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISREG(st.st_mode))
        return backup::failure(kFillDisk, req,
                               core::Error(ErrorCode::kFailedPrecondition,
                                           path + " exists and is not a regular file"));
      Json out = {{"path", path}, {"bytes", static_cast<int64_t>(st.st_size)}};
      if (dry_run) out = {{"plan", {{"action", kFillDisk}, {"path", path}, {"bytes", st.st_size}, {"exists", true}}}};
      return ActionResult::success(out, std::string(kFillDisk) + ": " + path + " (" +
                                            sizeText(st.st_size) +
                                            ") exists already for this step; nothing changed" +
                                            backup::stepSuffix(req));
    }
    auto avail = freeBytes(*dir);
    if (!avail) return backup::failure(kFillDisk, req, avail.error());
    if (*size > *avail || *avail - *size < leave_free)
      return backup::failure(
          kFillDisk, req,
          core::Error(ErrorCode::kFailedPrecondition,
                      "filling " + sizeText(*size) + " in " + *dir + " would leave " +
                          (*size > *avail ? "nothing" : sizeText(*avail - *size)) + " of " +
                          sizeText(*avail) + " free, less than leave_free " +
                          sizeText(leave_free) + ": refused"));
    if (dry_run) {
      ActionResult r = ActionResult::success(
          {{"plan", {{"action", kFillDisk}, {"path", path}, {"bytes", *size}, {"free", *avail}}}},
          std::string(kFillDisk) + ": would allocate " + sizeText(*size) + " in " + path + " (" +
              sizeText(*avail) + " free now)" + backup::stepSuffix(req));
      r.resources = 1;
      return r;
    }
    // Built under a temporary name and renamed: a file at `path` is always complete, so a
    // retry after a crash starts again from a leftover .partial instead of keeping it.
    if (auto s = backup::removeFile(partial); !s) return backup::failure(kFillDisk, req, s.error());
    auto fd = backup::createExclusive(partial, 0600);
    if (!fd) return backup::failure(kFillDisk, req, fd.error());
    core::Status s = allocate(fd->get(), *size, partial, req.cancel.get());
    if (s) s = backup::fsyncFd(fd->get(), partial);
    if (s) s = fd->close(partial);
    if (s) s = backup::renamePath(partial, path);
    if (s) s = backup::fsyncDir(*dir);
    if (!s) {
      (void)backup::removeFile(partial);
      return backup::failure(kFillDisk, req, s.error(), {{"path", path}});
    }
    return ActionResult::success({{"path", path}, {"bytes", *size}},
                                 std::string(kFillDisk) + ": allocated " + sizeText(*size) + " in " +
                                     path + backup::stepSuffix(req));
  }

  core::ActionEnv env_;
  core::ActionSpec spec_;
};

class RemoveFill final : public core::ActionProvider {
 public:
  explicit RemoveFill(const core::ActionEnv& env) : env_(env) {
    spec_.name = kRemoveFill;
    spec_.summary = "Undo chaos.fill_disk: delete the fill file it created";
    spec_.params = {
        scopeParam(),
        {"path", ParamType::kString, false, nullptr,
         "the fill file (default: the undone step's output.path); only a firebreak-fill-* file",
         {}},
    };
    spec_.idempotent = true;
    spec_.destructive = false;  // deletes only what chaos.fill_disk made
    spec_.phase = core::Phase::kObserve;
    spec_.outputs = {"path", "removed"};
  }

  const core::ActionSpec& spec() const override { return spec_; }

  core::Status validate(const Json& params) const override {
    return checkAbsolute(params, "path", false);
  }

  core::awaitable<ActionResult> plan(const ActionRequest& request) override {
    return backup::blockingStep(env_, kRemoveFill, request,
                                [this](const ActionRequest& r) { return run(r, true); });
  }

  core::awaitable<ActionResult> execute(const ActionRequest& request) override {
    return backup::blockingStep(env_, kRemoveFill, request,
                                [this](const ActionRequest& r) { return run(r, false); });
  }

 private:
  ActionResult run(const ActionRequest& req, bool dry_run) const {
    if (auto s = validate(req.params); !s) return backup::failure(kRemoveFill, req, s.error());
    auto scope = parseScope(req.params);
    if (!scope) return backup::failure(kRemoveFill, req, scope.error());
    std::string path = backup::stringParam(req.params, "path");
    if (path.empty() && req.undo_state.is_object()) path = backup::stringParam(req.undo_state, "path");
    if (path.empty())  // the step was only planned, or failed before it made a file
      return ActionResult::success({{"path", nullptr}, {"removed", false}},
                                   std::string(kRemoveFill) + ": no fill file to remove" +
                                       backup::stepSuffix(req));
    path = backup::normalizePath(path);
    const std::string name = backup::baseName(path);
    if (name.rfind(kFillPrefix, 0) != 0 || name.size() < 5 ||
        name.compare(name.size() - 4, 4, ".dat") != 0)
      return backup::failure(kRemoveFill, req,
                             core::Error(ErrorCode::kPermissionDenied,
                                         path + " is not a " + std::string(kFillPrefix) +
                                             "*.dat file made by chaos.fill_disk: refused"));
    auto dir = pathInScope(*scope, backup::parentDir(path), "dir");
    if (!dir) return backup::failure(kRemoveFill, req, dir.error());
    const std::string real = backup::joinPath(*dir, name);
    struct stat st;
    bool exists = ::lstat(real.c_str(), &st) == 0;
    if (exists && !S_ISREG(st.st_mode))
      return backup::failure(kRemoveFill, req,
                             core::Error(ErrorCode::kFailedPrecondition,
                                         real + " is not a regular file: not removed"));
    if (dry_run)
      return ActionResult::success(
          {{"plan", {{"action", kRemoveFill}, {"path", real}, {"exists", exists}}}},
          std::string(kRemoveFill) + (exists ? ": would remove " : ": nothing to remove at ") +
              real + backup::stepSuffix(req));
    core::Status s = backup::removeFile(real);
    if (s) s = backup::removeFile(real + ".partial");
    if (s && exists) s = backup::fsyncDir(*dir);
    if (!s) return backup::failure(kRemoveFill, req, s.error());
    return ActionResult::success({{"path", real}, {"removed", exists}},
                                 std::string(kRemoveFill) +
                                     (exists ? ": removed " : ": already gone: ") + real +
                                     backup::stepSuffix(req));
  }

  core::ActionEnv env_;
  core::ActionSpec spec_;
};

}  // namespace

std::unique_ptr<core::ActionProvider> makeFillDisk(const core::ActionEnv& env) {
  return std::make_unique<FillDisk>(env);
}
std::unique_ptr<core::ActionProvider> makeRemoveFill(const core::ActionEnv& env) {
  return std::make_unique<RemoveFill>(env);
}

}  // namespace firebreak::actions::chaos
