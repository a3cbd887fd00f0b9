// firebreak silence add MATCHERS --for 2h --reason ... | list | expire ID: through the daemon,
// which applies a silence from the next alert it receives.
#include <iostream>

#include <fmt/format.h>

#include "cli/remote.h"
#include "daemon/core/duration.h"
#include "daemon/intake/silence.h"

namespace firebreak::cli {

namespace {

using core::Json;

std::string matchersText(const Json& matchers) {
  std::string out;
  for (const auto& m : matchers) {
    auto made = intake::makeMatcher(m.value("name", ""), m.value("op", "="), m.value("value", ""));
    out += (out.empty() ? "" : ",") +
           (made ? made->str() : m.value("name", "") + m.value("op", "") + m.value("value", ""));
  }
  return "{" + out + "}";
}

}  // namespace

void addSilence(CLI::App& app, Globals& g) {
  auto* cmd = app.add_subcommand("silence", "Stop matching alerts from starting runs for a while");
  cmd->require_subcommand(1);
  struct Args {
    std::vector<std::string> matchers;
    std::string duration, reason, id;
    bool expired = false;
  };
  auto a = std::make_shared<Args>();

  auto* add = cmd->add_subcommand(
      "add", "Silence alerts matching every matcher: alertname=\"DiskFull\" env=~\"prod|staging\"");
  add->add_option("matchers", a->matchers,
                  "Matchers: name=\"v\", name!=\"v\", name=~\"re\", name!~\"re\" (full match)")
      ->required();
  add->add_option("--for", a->duration, "How long, e.g. 30m, 2h, 1d")->required();
  add->add_option("--reason", a->reason, "Why, for the people who see it")->required();
  add->callback([&g, a] {
    std::string text;
    for (const auto& m : a->matchers) text += (text.empty() ? "" : ",") + m;
    auto matchers = intake::parseMatchers(text);
    if (!matchers) {
      printError(matchers.error().message());
      g.exit_code = kExitUsage;
      return;
    }
    if (auto d = core::parseDuration(a->duration); !d || d->count() <= 0) {
      printError("--for '" + a->duration + "': a duration such as 30m, 2h or 1d");
      g.exit_code = kExitUsage;
      return;
    }
    if (serverOf(g).empty()) {
      g.exit_code = needsServer("silence add");
      return;
    }
    Json list = Json::array();
    for (const auto& m : *matchers) list.push_back(m.toJson());
    auto s = callOk(g, "POST", "/api/v1/silences",
                    Json{{"matchers", list}, {"duration", a->duration}, {"reason", a->reason}});
    if (!s) return;
    if (g.json) std::cout << s->dump(2) << "\n";
    else
      std::cout << "silence " << s->value("id", "") << " " << matchersText((*s)["matchers"])
                << " until " << s->value("ends_at", "") << "\n";
  });

  auto* list = cmd->add_subcommand("list", "Active silences (--expired: all of them)");
  list->add_flag("--expired", a->expired, "Include silences that have ended");
  list->callback([&g, a] {
    if (serverOf(g).empty()) {
      g.exit_code = needsServer("silence list");
      return;
    }
    auto s =
        callOk(g, "GET", std::string("/api/v1/silences") + (a->expired ? "?expired=true" : ""));
    if (!s) return;
    const Json& silences = (*s)["silences"];
    if (g.json) {
      std::cout << silences.dump(2) << "\n";
      return;
    }
    std::cout << fmt::format("{:<22} {:<24} {:<12} {:<7} {}\n", "SILENCE", "ENDS", "BY", "ACTIVE",
                             "MATCHERS / REASON");
    for (const auto& x : silences)
      std::cout << fmt::format("{:<22} {:<24} {:<12} {:<7} {}  {}\n", x.value("id", ""),
                               x.value("ends_at", ""), x.value("created_by", ""),
                               x.value("active", false) ? "yes" : "no",
                               matchersText(x["matchers"]), x.value("reason", ""));
  });

  auto* expire = cmd->add_subcommand("expire", "End a silence now");
  expire->add_option("id", a->id, "Silence id")->required();
  expire->callback([&g, a] {
    if (serverOf(g).empty()) {
      g.exit_code = needsServer("silence expire");
      return;
    }
    auto s = callOk(g, "POST", "/api/v1/silences/" + urlEncode(a->id) + "/expire", Json::object());
    if (!s) return;
    if (g.json) std::cout << s->dump(2) << "\n";
    else std::cout << "silence " << a->id << " expired\n";
  });
}

}  // namespace firebreak::cli
