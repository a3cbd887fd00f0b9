#include "daemon/intake/silence.h"

#include <cctype>

#include "daemon/core/alert.h"

namespace firebreak::intake {

namespace {

using core::ErrorCode;
using core::Json;

bool validName(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  if (std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

const char* opName(SilenceMatcher::Op op) {
  switch (op) {
    case SilenceMatcher::Op::kEq: return "=";
    case SilenceMatcher::Op::kNe: return "!=";
    case SilenceMatcher::Op::kRe: return "=~";
    case SilenceMatcher::Op::kNre: return "!~";
  }
  return "=";
}

bool SilenceMatcher::matches(const std::map<std::string, std::string>& labels) const {
  auto it = labels.find(name);
  const std::string empty;
  const std::string& v = it == labels.end() ? empty : it->second;
  switch (op) {
    case Op::kEq: return v == value;
    case Op::kNe: return v != value;
    case Op::kRe: return RE2::FullMatch(v, *re);
    case Op::kNre: return !RE2::FullMatch(v, *re);
  }
  return false;
}

Json SilenceMatcher::toJson() const {
  return Json{{"name", name}, {"op", opName(op)}, {"value", value}};
}

std::string SilenceMatcher::str() const {
  std::string out = name + opName(op) + "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

core::Result<SilenceMatcher> makeMatcher(std::string name, std::string_view op, std::string value) {
  SilenceMatcher m;
  if (!validName(name))
    return core::fail(ErrorCode::kInvalidArgument,
                      "invalid label name " + core::quoteForMessage(name) +
                          ": letters, digits and '_', not starting with a digit");
  m.name = std::move(name);
  if (op == "=") m.op = SilenceMatcher::Op::kEq;
  else if (op == "!=") m.op = SilenceMatcher::Op::kNe;
  else if (op == "=~") m.op = SilenceMatcher::Op::kRe;
  else if (op == "!~") m.op = SilenceMatcher::Op::kNre;
  else
    return core::fail(ErrorCode::kInvalidArgument,
                      "unknown matcher operator " + core::quoteForMessage(op) +
                          " (one of =, !=, =~, !~)");
  if (value.size() > 4096)
    return core::fail(ErrorCode::kInvalidArgument,
                      "the value of '" + m.name + "' is over 4096 bytes");
  m.value = std::move(value);
  if (m.op == SilenceMatcher::Op::kRe || m.op == SilenceMatcher::Op::kNre) {
    RE2::Options options;
    options.set_log_errors(false);
    auto re = std::make_shared<RE2>(m.value, options);
    if (!re->ok())
      return core::fail(ErrorCode::kInvalidArgument, "invalid regular expression " +
                                                         core::quoteForMessage(m.value) + " for '" +
                                                         m.name + "': " + re->error());
    m.re = std::move(re);
  }
  return m;
}

core::Result<std::vector<SilenceMatcher>> parseMatchers(std::string_view text) {
  auto fail = [&](size_t at, const std::string& why) {
    return core::fail(ErrorCode::kInvalidArgument,
                      "matchers, at character " + std::to_string(at + 1) + ": " + why);
  };
  size_t i = 0;
  auto skip = [&] {
    while (i < text.size() && (isSpace(text[i]) || text[i] == ',')) ++i;
  };
  while (i < text.size() && isSpace(text[i])) ++i;
  bool braces = i < text.size() && text[i] == '{';
  if (braces) ++i;
  std::vector<SilenceMatcher> out;
  for (;;) {
    skip();
    if (i >= text.size()) {
      if (braces) return fail(i, "missing '}'");
      break;
    }
    if (braces && text[i] == '}') {
      ++i;
      skip();
      if (i < text.size()) return fail(i, "text after '}'");
      break;
    }
    size_t start = i;
    while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_'))
      ++i;
    std::string name(text.substr(start, i - start));
    if (name.empty()) return fail(start, "expected a label name");
    std::string_view op;
    if (text.substr(i, 2) == "=~" || text.substr(i, 2) == "!~" || text.substr(i, 2) == "!=")
      op = text.substr(i, 2);
    else if (text.substr(i, 1) == "=")
      op = text.substr(i, 1);
    else
      return fail(i, "expected =, !=, =~ or !~ after '" + name + "'");
    i += op.size();
    std::string value;
    if (i < text.size() && text[i] == '"') {
      ++i;
      bool closed = false;
      while (i < text.size()) {
        char c = text[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        // \" \\ and \n are escapes; any other backslash is kept, so that `=~"db-\d+"`
        // reaches RE2 as written.
        if (c == '\\' && i < text.size()) {
          char e = text[i];
          if (e == '"' || e == '\\') {
            value += e;
            ++i;
            continue;
          }
          if (e == 'n') {
            value += '\n';
            ++i;
            continue;
          }
        }
        value += c;
      }
      if (!closed) return fail(i, "unterminated quoted value of '" + name + "'");
    } else {
      while (i < text.size() && !isSpace(text[i]) && text[i] != ',' && text[i] != '}')
        value += text[i++];
    }
    auto m = makeMatcher(name, op, value);
    if (!m) return fail(start, m.error().message());
    out.push_back(std::move(*m));
  }
  if (out.empty())
    return core::fail(ErrorCode::kInvalidArgument,
                      "no matchers: give at least one, such as alertname=\"DiskFull\"");
  return out;
}

tl::expected<std::vector<SilenceMatcher>, MatcherError> matchersFromJson(const Json& list,
                                                                         const std::string& field) {
  if (!list.is_array()) return tl::unexpected(MatcherError{"must be a list of matchers", field});
  if (list.empty())
    return tl::unexpected(MatcherError{"give at least one matcher", field});
  if (list.size() > 64) return tl::unexpected(MatcherError{"at most 64 matchers", field});
  std::vector<SilenceMatcher> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = field + "[" + std::to_string(i) + "]";
    const Json& m = list[i];
    if (!m.is_object())
      return tl::unexpected(MatcherError{"must be an object {name, op, value}", at});
    for (const auto& [k, _] : m.items())
      if (k != "name" && k != "op" && k != "value")
        return tl::unexpected(MatcherError{"unknown field '" + k + "'", at + "." + k});
    for (const char* k : {"name", "op", "value"}) {
      auto it = m.find(k);
      if (it == m.end()) return tl::unexpected(MatcherError{"is required", at + "." + k});
      if (!it->is_string()) return tl::unexpected(MatcherError{"must be a string", at + "." + k});
    }
    auto made = makeMatcher(m["name"].get<std::string>(), m["op"].get<std::string>(),
                            m["value"].get<std::string>());
    if (!made) {
      const std::string& msg = made.error().message();
      std::string which = msg.rfind("invalid label", 0) == 0   ? ".name"
                          : msg.rfind("unknown matcher", 0) == 0 ? ".op"
                                                                 : ".value";
      return tl::unexpected(MatcherError{msg, at + which});
    }
    out.push_back(std::move(*made));
  }
  return out;
}

bool Silence::matches(const std::map<std::string, std::string>& labels,
                      const std::string& name) const {
  if (matchers.empty()) return false;  // an empty silence would silence everything
  const std::map<std::string, std::string>* use = &labels;
  std::map<std::string, std::string> with_name;
  if (!labels.count("alertname") && !name.empty()) {
    with_name = labels;
    with_name["alertname"] = name;
    use = &with_name;
  }
  for (const auto& m : matchers)
    if (!m.matches(*use)) return false;
  return true;
}

core::Result<Silence> compileSilence(const store::SilenceRecord& record) {
  auto matchers = matchersFromJson(record.matchers, "matchers");
  if (!matchers)
    return core::fail(ErrorCode::kInvalidArgument, "silence " + record.id + ": " +
                                                       matchers.error().field + ": " +
                                                       matchers.error().message);
  return Silence{record.id, std::move(*matchers), record.starts_at_ms, record.ends_at_ms};
}

const Silence* findSilence(const std::vector<Silence>& silences,
                           const std::map<std::string, std::string>& labels,
                           const std::string& name, int64_t now_ms) {
  for (const auto& s : silences)
    if (s.activeAt(now_ms) && s.matches(labels, name)) return &s;
  return nullptr;
}

}  // namespace firebreak::intake
