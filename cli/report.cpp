// firebreak report ID [--format md|html|json] [-o FILE]: the post-incident report of an
// incident or a drill run. Through the daemon when one is given (--server or
// FIREBREAK_SERVER), else built from the store under --data-dir (or with --local).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

#include "cli/remote.h"
#include "daemon/app/runtime.h"
#include "daemon/core/clock.h"
#include "daemon/report/report.h"

namespace firebreak::cli {

namespace {

std::optional<std::string> remoteReport(Globals& g, const std::string& id,
                                        const std::string& format) {
  const std::string path = "/api/v1/reports/" + urlEncode(id) + "?format=" + urlEncode(format);
  auto reply = callServer(g, "GET", path, std::nullopt, true);
  if (!reply) {
    printError(reply.error().message());
    g.exit_code =
        reply.error().code() == core::ErrorCode::kInvalidArgument ? kExitUsage : kExitFailed;
    return std::nullopt;
  }
  if (reply->status >= 200 && reply->status < 300) return std::move(reply->text);
  std::string message = reply->body.is_object() ? reply->body.value("error", std::string()) : "";
  printError(std::to_string(reply->status) + ": " + (message.empty() ? "refused" : message));
  g.exit_code = reply->status == 400 ? kExitUsage : kExitFailed;
  return std::nullopt;
}

std::optional<std::string> localReport(Globals& g, const std::string& id, report::Format format) {
  auto rt = openLocal(g, false, {}, false);
  if (!rt) {
    g.exit_code = kExitFailed;
    return std::nullopt;
  }
  core::SystemClock clock;
  auto built = report::buildReport(rt->store(), id, clock.nowMs());
  if (!built) {
    printError(built.error().str());
    g.exit_code = kExitFailed;
    return std::nullopt;
  }
  return report::render(*built, format);
}

}  // namespace

void addReport(CLI::App& app, Globals& g) {
  struct Args {
    std::string id, format = "md", output;
    bool local = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("report", "The report of an incident or a drill run");
  cmd->add_option("id", a->id, "Incident id or drill run id (drill-...)")->required();
  cmd->add_option("--format", a->format, "md, html or json")
      ->check(CLI::IsMember({"md", "html", "json"}))
      ->capture_default_str();
  cmd->add_option("-o,--output", a->output, "Write to this file instead of stdout");
  cmd->add_flag("--local", a->local, "Build it from --data-dir's store, not the daemon");
  cmd->callback([&g, a] {
    auto format = report::parseFormat(a->format);
    if (!format) {
      printError("--format must be md, html or json");
      g.exit_code = kExitUsage;
      return;
    }
    std::optional<std::string> text = useRemote(g, a->local) ? remoteReport(g, a->id, a->format)
                                                             : localReport(g, a->id, *format);
    if (!text) return;
    if (a->output.empty()) {
      std::cout << *text << std::flush;
      return;
    }
    const std::string tmp = a->output + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << *text;
      out.close();
      if (!out) {
        printError("cannot write " + tmp);
        g.exit_code = kExitFailed;
        return;
      }
    }
    if (std::rename(tmp.c_str(), a->output.c_str()) != 0) {
      printError("cannot write " + a->output + ": " + std::strerror(errno));
      std::remove(tmp.c_str());
      g.exit_code = kExitFailed;
    }
  });
}

}  // namespace firebreak::cli
