// `chaos.block_port` and its undo `chaos.unblock_port`: one nftables drop rule per step in the
// table `inet firebreak_chaos`, found again by its comment "firebreak:<key>" (a retry adds no
// second rule; the undo deletes exactly that rule, and the table once nothing is left in it).
// nft runs as a child process with an argv, never through a shell.
#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include "actions/backup/common.h"
#include "actions/backup/fs_util.h"
#include "actions/builtin/subprocess.h"
#include "actions/chaos/common.h"

namespace firebreak::actions::chaos {
namespace {

using core::ActionRequest;
using core::ActionResult;
using core::ErrorCode;
using core::fail;
using core::Json;
using core::ParamType;

constexpr const char* kFamily = "inet";
constexpr const char* kTable = "firebreak_chaos";
constexpr std::string_view kCommentPrefix = "firebreak:";

struct Params {
  int64_t port = 0;
  std::string protocol = "tcp";
  std::string direction = "input";
  std::string nft = "/usr/sbin/nft";
};

core::Result<Params> parseParams(const Json& params) {
  Params p;
  auto port = intParam(params, "port", 0);
  if (!port) return fail(port.error());
  if (*port < 1 || *port > 65535)
    return fail(ErrorCode::kInvalidArgument, "'port' must be 1 to 65535, not " + std::to_string(*port));
  p.port = *port;
  if (auto v = backup::stringParam(params, "protocol"); !v.empty()) p.protocol = v;
  if (auto v = backup::stringParam(params, "direction"); !v.empty()) p.direction = v;
  if (auto v = backup::stringParam(params, "nft"); !v.empty()) p.nft = v;
  if (p.protocol != "tcp" && p.protocol != "udp")
    return fail(ErrorCode::kInvalidArgument, "'protocol' must be tcp or udp, not " + p.protocol);
  if (p.direction != "input" && p.direction != "output")
    return fail(ErrorCode::kInvalidArgument,
                "'direction' must be input or output, not " + p.direction);
  if (p.nft.empty() || p.nft.front() != '/')
    return fail(ErrorCode::kInvalidArgument, "'nft' must be an absolute path, not " + p.nft);
  return p;
}

// The comment that ties a rule to its step. The key is used as is when it is plain (run ids and
// step ids are), otherwise its hash: the comment is a quoted nft string, at most 128 bytes.
std::string commentFor(const std::string& key) {
  bool plain = !key.empty() && key.size() <= 100;
  for (char c : key)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '-' || c == '_' || c == '.'))
      plain = false;
  return std::string(kCommentPrefix) + (plain ? key : keyHash(key));
}

// Runs nft with `args`; its stdout, or an error with its exit code and last stderr line.
core::Result<std::string> nft(const Params& p, std::vector<std::string> args,
                              const core::CancelFlag* cancel) {
  builtin::ProcessSpec spec;
  spec.path = p.nft;
  spec.argv = {p.nft};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.env = {"PATH=" + std::string(builtin::kDefaultPath), "LC_ALL=C"};
  spec.timeout = std::chrono::seconds(30);
  spec.max_output = 4 << 20;
  spec.cancel = cancel;
  auto r = builtin::runProcess(spec);
  std::string cmd = p.nft;
  for (const auto& a : args) cmd += " " + a;
  if (!r) return fail(r.error().code(), cmd + ": " + r.error().message());
  if (r->end != builtin::ProcessResult::End::kExited || r->exit_code != 0) {
    std::string err = r->err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    // nft says what went wrong on its "Error: ..." line (then echoes the command, with carets).
    if (auto at = err.find("Error:"); at != std::string::npos) err = err.substr(at);
    err = err.substr(0, err.find('\n'));
    ErrorCode code = r->end == builtin::ProcessResult::End::kExited ? ErrorCode::kFailedPrecondition
                                                                   : ErrorCode::kTimeout;
    if (err.find("Operation not permitted") != std::string::npos) code = ErrorCode::kPermissionDenied;
    return fail(code, cmd + " failed (exit " + std::to_string(r->exit_code) + ")" +
                          (err.empty() ? "" : ": " + err));
  }
  return r->out;
}

struct Rule {
  std::string chain;
  int64_t handle = 0;
  std::string comment;
  Json expr;
};

// The rules of the table, or nullopt when the table does not exist.
core::Result<std::optional<std::vector<Rule>>> listRules(const Params& p,
                                                         const core::CancelFlag* cancel) {
  auto out = nft(p, {"-j", "-a", "list", "table", kFamily, kTable}, cancel);
  if (!out) {
    // "No such file or directory": no table yet, which is no error for anyone here.
    if (out.error().message().find("No such file or directory") != std::string::npos)
      return std::optional<std::vector<Rule>>();
    return fail(out.error());
  }
  Json doc = Json::parse(*out, nullptr, false);
  if (!doc.is_object() || !doc.contains("nftables") || !doc["nftables"].is_array())
    return fail(ErrorCode::kIo, p.nft + " -j list table printed no nftables JSON");
  std::vector<Rule> rules;
  for (const auto& item : doc["nftables"]) {
    if (!item.is_object() || !item.contains("rule")) continue;
    const auto& r = item["rule"];
    Rule rule;
    rule.chain = r.value("chain", "");
    rule.handle = r.value("handle", int64_t{0});
    rule.comment = r.value("comment", "");
    rule.expr = r.value("expr", Json::array());
    rules.push_back(std::move(rule));
  }
  return std::optional<std::vector<Rule>>(std::move(rules));
}

// Whether a rule drops `protocol dport port` (what block_port writes).
bool dropsPort(const Rule& r, const Params& p) {
  bool port = false, drop = false;
  for (const auto& e : r.expr) {
    if (!e.is_object()) continue;
    if (e.contains("drop")) drop = true;
    if (auto m = e.find("match"); m != e.end() && m->is_object()) {
      const Json left = m->value("left", Json::object());
      const Json payload = left.is_object() ? left.value("payload", Json::object()) : Json::object();
      if (payload.value("protocol", "") == p.protocol && payload.value("field", "") == "dport" &&
          m->value("right", Json()) == Json(p.port))
        port = true;
    }
  }
  return port && drop;
}

class BlockPort final : public core::ActionProvider {
 public:
  explicit BlockPort(const core::ActionEnv& env) : env_(env) {
    spec_.name = kBlockPort;
    spec_.summary = "Chaos: drop a port with an nftables rule (table inet firebreak_chaos)";
    spec_.params = common();
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.undo = kUnblockPort;
    spec_.phase = core::Phase::kObserve;  // a fault injection, not a response phase
    spec_.outputs = {"table", "chain", "handle", "comment"};
  }

  static std::vector<core::ParamSpec> common() {
    return {
        scopeParam(),
        {"port", ParamType::kInt, true, nullptr, "the port, 1-65535, in scope.ports", {}},
        {"protocol", ParamType::kString, false, "tcp", "tcp or udp", {"tcp", "udp"}},
        {"direction", ParamType::kString, false, "input",
         "input (packets to the port here) or output (packets this host sends to it)",
         {"input", "output"}},
        {"nft", ParamType::kString, false, "/usr/sbin/nft", "the nft binary", {}},
    };
  }

  const core::ActionSpec& spec() const override { return spec_; }

  core::Status validate(const Json& params) const override {
    if (auto port = params.find("port");
        port != params.end() && port->is_string() &&
        port->get_ref<const std::string&>().find("{{") != std::string::npos)
      return {};
    if (auto p = parseParams(params); !p) return fail(p.error());
    return {};
  }

  core::awaitable<ActionResult> plan(const ActionRequest& request) override {
    return backup::blockingStep(env_, kBlockPort, request,
                                [this](const ActionRequest& r) { return run(r, true); });
  }

  core::awaitable<ActionResult> execute(const ActionRequest& request) override {
    return backup::blockingStep(env_, kBlockPort, request,
                                [this](const ActionRequest& r) { return run(r, false); });
  }

 private:
  ActionResult run(const ActionRequest& req, bool dry_run) const {
    auto p = parseParams(req.params);
    if (!p) return backup::failure(kBlockPort, req, p.error());
    auto scope = parseScope(req.params);
    if (!scope) return backup::failure(kBlockPort, req, scope.error());
    if (auto s = portInScope(*scope, p->port); !s) return backup::failure(kBlockPort, req, s.error());
    const std::string key = req.idempotency_key.empty()
                                ? backup::randomHex8() + backup::randomHex8()
                                : req.idempotency_key;
    const std::string comment = commentFor(key);
    const std::string what = p->protocol + " port " + std::to_string(p->port) + " (" +
                             p->direction + ")";
    const core::CancelFlag* cancel = req.cancel.get();
    auto rules = listRules(*p, cancel);
    if (!rules) return backup::failure(kBlockPort, req, rules.error());
    auto find = [&](const std::vector<Rule>& list) -> const Rule* {
      for (const auto& r : list)
        if (r.chain == p->direction && r.comment == comment) return &r;
      return nullptr;
    };
    auto output = [&](int64_t handle) {
      return Json{{"table", std::string(kFamily) + " " + kTable}, {"chain", p->direction},
                  {"handle", handle}, {"comment", comment}};
    };
    if (*rules)
      if (const Rule* r = find(**rules)) {
        Json out = output(r->handle);
        if (dry_run) out = {{"plan", out}};
        return ActionResult::success(out, std::string(kBlockPort) + ": " + what +
                                              " is dropped already by this step's rule (handle " +
                                              std::to_string(r->handle) + ")" +
                                              backup::stepSuffix(req));
      }
    if (dry_run) {
      ActionResult r = ActionResult::success(
          {{"plan", {{"action", kBlockPort}, {"table", std::string(kFamily) + " " + kTable},
                     {"chain", p->direction}, {"rule", p->protocol + " dport " + std::to_string(p->port) + " drop"},
                     {"comment", comment}}}},
          std::string(kBlockPort) + ": would drop " + what + " in table " + kFamily + " " +
              kTable + backup::stepSuffix(req));
      r.resources = 1;
      return r;
    }
    // `add` of an existing table or chain changes nothing, so these two are safe to repeat.
    std::vector<std::vector<std::string>> cmds = {
        {"add", "table", kFamily, kTable},
        {"add", "chain", kFamily, kTable, p->direction, "{", "type", "filter", "hook", p->direction,
         "priority", "0", ";", "policy", "accept", ";", "}"},
        {"add", "rule", kFamily, kTable, p->direction, p->protocol, "dport", std::to_string(p->port),
         "drop", "comment", "\"" + comment + "\""},
    };
    for (auto& c : cmds)
      if (auto r = nft(*p, c, cancel); !r) return backup::failure(kBlockPort, req, r.error());
    auto after = listRules(*p, cancel);
    if (!after) return backup::failure(kBlockPort, req, after.error());
    const Rule* added = *after ? find(**after) : nullptr;
    if (!added)
      return backup::failure(kBlockPort, req,
                             core::Error(ErrorCode::kIo, "the rule with comment " + comment +
                                                             " was added but is not listed"));
    return ActionResult::success(output(added->handle),
                                 std::string(kBlockPort) + ": dropping " + what + " (table " +
                                     kFamily + " " + kTable + ", chain " + p->direction +
                                     ", handle " + std::to_string(added->handle) + ")" +
                                     backup::stepSuffix(req));
  }

  core::ActionEnv env_;
  core::ActionSpec spec_;
};

class UnblockPort final : public core::ActionProvider {
 public:
  explicit UnblockPort(const core::ActionEnv& env) : env_(env) {
    spec_.name = kUnblockPort;
    spec_.summary = "Undo chaos.block_port: delete its nftables rule (and the table when empty)";
    spec_.params = BlockPort::common();
    spec_.params.push_back({"comment", ParamType::kString, false, nullptr,
                            "the rule's comment (default: the undone step's output.comment; "
                            "without either, every firebreak: rule dropping this port)",
                            {}});
    spec_.idempotent = true;
    spec_.destructive = false;  // it only removes what chaos.block_port added
    spec_.phase = core::Phase::kObserve;
    spec_.outputs = {"table", "chain", "deleted"};
  }

  const core::ActionSpec& spec() const override { return spec_; }

  core::Status validate(const Json& params) const override {
    if (auto port = params.find("port");
        port != params.end() && port->is_string() &&
        port->get_ref<const std::string&>().find("{{") != std::string::npos)
      return {};
    if (auto p = parseParams(params); !p) return fail(p.error());
    return {};
  }

  core::awaitable<ActionResult> plan(const ActionRequest& request) override {
    return backup::blockingStep(env_, kUnblockPort, request,
                                [this](const ActionRequest& r) { return run(r, true); });
  }

  core::awaitable<ActionResult> execute(const ActionRequest& request) override {
    return backup::blockingStep(env_, kUnblockPort, request,
                                [this](const ActionRequest& r) { return run(r, false); });
  }

 private:
  ActionResult run(const ActionRequest& req, bool dry_run) const {
    auto p = parseParams(req.params);
    if (!p) return backup::failure(kUnblockPort, req, p.error());
    auto scope = parseScope(req.params);
    if (!scope) return backup::failure(kUnblockPort, req, scope.error());
    if (auto s = portInScope(*scope, p->port); !s) return backup::failure(kUnblockPort, req, s.error());
    std::string comment = backup::stringParam(req.params, "comment");
    if (comment.empty() && req.undo_state.is_object())
      comment = backup::stringParam(req.undo_state, "comment");
    if (!comment.empty() && comment.rfind(kCommentPrefix, 0) != 0)
      return backup::failure(kUnblockPort, req,
                             core::Error(ErrorCode::kPermissionDenied,
                                         "comment '" + comment + "' is not a firebreak: rule's"));
    // An undo of a step that was only planned has nothing to delete.
    if (comment.empty() && req.undo_state.is_object() && req.undo_state.contains("plan"))
      return ActionResult::success({{"deleted", Json::array()}},
                                   std::string(kUnblockPort) + ": the step was only planned" +
                                       backup::stepSuffix(req));
    const core::CancelFlag* cancel = req.cancel.get();
    auto rules = listRules(*p, cancel);
    if (!rules) return backup::failure(kUnblockPort, req, rules.error());
    Json deleted = Json::array();
    std::vector<int64_t> handles;
    size_t others = 0;
    if (*rules) {
      for (const auto& r : **rules) {
        bool mine = r.chain == p->direction &&
                    (comment.empty() ? r.comment.rfind(kCommentPrefix, 0) == 0 && dropsPort(r, *p)
                                     : r.comment == comment);
        if (mine) handles.push_back(r.handle);
        else ++others;
      }
    }
    for (auto h : handles) deleted.push_back(h);
    const std::string table = std::string(kFamily) + " " + kTable;
    Json out = {{"table", table}, {"chain", p->direction}, {"deleted", deleted}};
    if (dry_run)
      return ActionResult::success({{"plan", out}},
                                   std::string(kUnblockPort) + ": would delete " +
                                       std::to_string(handles.size()) + " rule(s) in " + table +
                                       (others == 0 && *rules ? " and the table" : "") +
                                       backup::stepSuffix(req));
    for (auto h : handles)
      if (auto r = nft(*p, {"delete", "rule", kFamily, kTable, p->direction, "handle", std::to_string(h)}, cancel); !r)
        return backup::failure(kUnblockPort, req, r.error());
    bool table_deleted = false;
    if (*rules && others == 0) {
      if (auto r = nft(*p, {"delete", "table", kFamily, kTable}, cancel); !r)
        return backup::failure(kUnblockPort, req, r.error());
      table_deleted = true;
    }
    out["table_deleted"] = table_deleted;
    return ActionResult::success(out, std::string(kUnblockPort) + ": deleted " +
                                          std::to_string(handles.size()) + " rule(s) dropping " +
                                          p->protocol + " port " + std::to_string(p->port) +
                                          (table_deleted ? "; table " + table + " deleted" : "") +
                                          backup::stepSuffix(req));
  }

  core::ActionEnv env_;
  core::ActionSpec spec_;
};

}  // namespace

std::unique_ptr<core::ActionProvider> makeBlockPort(const core::ActionEnv& env) {
  return std::make_unique<BlockPort>(env);
}
std::unique_ptr<core::ActionProvider> makeUnblockPort(const core::ActionEnv& env) {
  return std::make_unique<UnblockPort>(env);
}

}  // namespace firebreak::actions::chaos
