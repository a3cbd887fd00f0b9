// Silences: Alertmanager-style label matchers with an expiry. An alert received while a
// silence matches it is stored as usual (dedup and incidents see it) but starts no run.
// Matchers read `name="value"` (equal), `!=` (not equal), `=~` and `!~` (RE2, full match:
// `=~"crit|high"` matches "crit" but not "critical"); a label the alert lacks reads as "".
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <re2/re2.h>

#include "daemon/core/json.h"
#include "daemon/core/result.h"
#include "daemon/store/records.h"

namespace firebreak::intake {

struct SilenceMatcher {
  enum class Op { kEq, kNe, kRe, kNre };
  std::string name;
  Op op = Op::kEq;
  std::string value;
  std::shared_ptr<const RE2> re;  // for kRe and kNre

  bool matches(const std::map<std::string, std::string>& labels) const;
  core::Json toJson() const;  // {"name", "op", "value"}
  std::string str() const;    // name="value", quoted as parseMatchers reads it back
};

const char* opName(SilenceMatcher::Op op);

// One matcher from its parts; errors name what is wrong ("invalid regular expression ...").
core::Result<SilenceMatcher> makeMatcher(std::string name, std::string_view op, std::string value);

// `alertname="DiskFull", env=~"prod|staging"`, optionally in braces; values may be quoted
// (with \" \\ \n escapes; another backslash is kept as is, for regexes) or bare words.
// Matchers are separated by commas or spaces.
core::Result<std::vector<SilenceMatcher>> parseMatchers(std::string_view text);

// From the stored (and API) form: [{"name", "op", "value"}]. `field` names the list in errors
// and a failing element's index is appended to it: "matchers[1].op".
struct MatcherError {
  std::string message;
  std::string field;
};
tl::expected<std::vector<SilenceMatcher>, MatcherError> matchersFromJson(const core::Json& list,
                                                                         const std::string& field);

struct Silence {
  std::string id;
  std::vector<SilenceMatcher> matchers;
  int64_t starts_at_ms = 0;
  int64_t ends_at_ms = 0;

  bool activeAt(int64_t now_ms) const { return starts_at_ms <= now_ms && now_ms < ends_at_ms; }
  // Every matcher matches the labels (with `alertname` taken from the alert's name when the
  // labels have none, so silences read the same for every source).
  bool matches(const std::map<std::string, std::string>& labels, const std::string& name) const;
};

core::Result<Silence> compileSilence(const store::SilenceRecord& record);

// The first silence active at now_ms that matches, if any.
const Silence* findSilence(const std::vector<Silence>& silences,
                           const std::map<std::string, std::string>& labels,
                           const std::string& name, int64_t now_ms);

}  // namespace firebreak::intake
