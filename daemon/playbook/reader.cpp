#include "daemon/playbook/reader.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <sstream>
#include <unordered_map>

#include "daemon/core/action.h"
#include "daemon/core/duration.h"

namespace firebreak::playbook {

using core::ErrorCode;
using core::Json;
using core::SourceLoc;

namespace {

constexpr std::string_view kCoreTag = "tag:yaml.org,2002:";

bool isNullWord(std::string_view s) {
  return s == "~" || s == "null" || s == "Null" || s == "NULL";
}
bool isTrueWord(std::string_view s) { return s == "true" || s == "True" || s == "TRUE"; }
bool isFalseWord(std::string_view s) { return s == "false" || s == "False" || s == "FALSE"; }

bool allDigits(std::string_view s, bool hex = false) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [hex](char c) {
    return (c >= '0' && c <= '9') || (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
  });
}

// YAML 1.2 core schema float: [-+]? ( . [0-9]+ | [0-9]+ ( . [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
bool looksFloat(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (!allDigits(s.substr(i))) return false;
    return true;
  }
  return i == s.size();
}

// A plain scalar by the YAML 1.2 core schema. Infinities and NaN stay strings: Json has none.
Json resolvePlain(const std::string& s) {
  if (isNullWord(s) || s.empty()) return nullptr;
  if (isTrueWord(s)) return true;
  if (isFalseWord(s)) return false;
  std::string_view v = s;
  std::string_view digits = v;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) digits.remove_prefix(1);
  if (allDigits(digits)) {
    std::string_view parse = v[0] == '+' ? v.substr(1) : v;
    int64_t i = 0;
    auto [p, ec] = std::from_chars(parse.data(), parse.data() + parse.size(), i);
    if (ec == std::errc() && p == parse.data() + parse.size()) return i;
    uint64_t u = 0;
    auto [pu, ecu] = std::from_chars(parse.data(), parse.data() + parse.size(), u);
    if (ecu == std::errc() && pu == parse.data() + parse.size()) return u;
    // Too large for an integer: a number all the same.
  }
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'o')) {
    bool hex = v[1] == 'x';
    std::string_view body = v.substr(2);
    int64_t i = 0;
    if (allDigits(body, hex) && (hex || body.find_first_of("89") == std::string_view::npos)) {
      auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), i, hex ? 16 : 8);
      if (ec == std::errc() && p == body.data() + body.size()) return i;
    }
    return s;
  }
  if (looksFloat(v)) {
    std::string_view parse = v[0] == '+' ? v.substr(1) : v;
    double d = 0;
    auto [p, ec] = std::from_chars(parse.data(), parse.data() + parse.size(), d);
    if (ec == std::errc() && p == parse.data() + parse.size() && std::isfinite(d)) return d;
  }
  return s;
}

// The first byte that is not valid UTF-8 or is a control character YAML does not allow.
struct BadByte {
  size_t offset;
  std::string what;
};
std::optional<BadByte> findBadByte(std::string_view text) {
  auto hex = [](unsigned char c) {
    static const char* kDigits = "0123456789abcdef";
    return std::string("0x") + kDigits[c >> 4] + kDigits[c & 15];
  };
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
        return BadByte{i, "control character " + hex(c) + " is not allowed in YAML"};
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) n = 1, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0) n = 2, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0) n = 3, cp = c & 0x07;
    else return BadByte{i, "invalid UTF-8 (byte " + hex(c) + ")"};
    if (i + n >= text.size())
      return BadByte{i, "invalid UTF-8 (truncated sequence)"};
    for (size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xc0) != 0x80) return BadByte{i, "invalid UTF-8 (byte " + hex(c) + ")"};
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return BadByte{i, "invalid UTF-8 (byte " + hex(c) + ")"};
    i += n + 1;
  }
  return std::nullopt;
}

// Moves a trailing "(did you mean ...)" or "(write ...)" out of a message, to follow the context.
std::string splitHint(std::string& problem) {
  if (problem.empty() || problem.back() != ')') return {};
  for (std::string_view prefix : {" (did you mean ", " (write "}) {
    auto at = problem.rfind(prefix);
    if (at != std::string::npos && problem.find(')', at) == problem.size() - 1) {
      std::string hint = problem.substr(at + 2, problem.size() - at - 3);
      problem.erase(at);
      return hint;
    }
  }
  return {};
}

std::string joinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

const YamlReader::Entry* YamlReader::Fields::find(std::string_view name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

YamlReader::YamlReader(std::string_view text, std::string file)
    : text_(text), file_(std::move(file)) {}

namespace {

// yaml-cpp 0.7's LoadAll (which YamlReader::parse calls) never returns on a ',' after a flow
// document (`{a: 1},`): it appends empty documents until memory runs out (jbeder/yaml-cpp#1040,
// fixed upstream in #1319). Walk the documents with a parser that we stop first: more documents
// than the text has `---` and `...` markers for means the parser is stuck. Returns where.
class DocumentCounter final : public YAML::EventHandler {
 public:
  YAML::Mark start;
  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

std::optional<YAML::Mark> stuckParserAt(std::string_view text) {
  if (text.size() > kMaxFileBytes) return std::nullopt;  // parse() refuses it unread
  size_t markers = 0;
  for (std::string_view m : {"---", "..."})
    for (size_t at = text.find(m); at != std::string_view::npos; at = text.find(m, at + 3))
      ++markers;
  std::istringstream in{std::string(text)};
  DocumentCounter counter;
  try {
    YAML::Parser parser(in);
    for (size_t docs = 0; parser.HandleNextDocument(counter);)
      if (++docs > markers + 1) return counter.start;
  } catch (const std::exception&) {
    // A syntax error: parse() reports it with its position.
  }
  return std::nullopt;
}

}  // namespace

std::optional<YAML::Node> YamlReader::parse() {
  if (text_.size() > kMaxFileBytes) {
    error({file_, 1, 1}, "file is larger than 1 MiB (" + std::to_string(text_.size()) + " bytes)",
          {});
    return std::nullopt;
  }
  if (auto bad = findBadByte(text_)) {
    // Lines and columns as yaml-cpp counts them: bytes, 1-based.
    int line = 1, col = 1;
    for (size_t i = 0; i < bad->offset; ++i) {
      if (text_[i] == '\n') ++line, col = 1;
      else ++col;
    }
    error({file_, line, col}, bad->what, {});
    return std::nullopt;
  }
  if (auto stuck = stuckParserAt(text_)) {
    std::string_view text = text_;
    if (text.substr(0, 3) == "\xef\xbb\xbf") text.remove_prefix(3);  // marks count after it
    bool comma =
        stuck->pos >= 0 && static_cast<size_t>(stuck->pos) < text.size() && text[stuck->pos] == ',';
    error({file_, stuck->line + 1, stuck->column + 1},
          comma ? "YAML syntax error: ',' after the end of the document"
                : "YAML syntax error: the document does not end",
          {});
    return std::nullopt;
  }
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text_));
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own guard (its message is unhelpful); far beyond what we accept anyway.
    error({file_, std::max(e.mark.line, 0) + 1, std::max(e.mark.column, 0) + 1},
          "nested deeper than " + std::to_string(kMaxDepth) + " levels", {});
    return std::nullopt;
  } catch (const YAML::Exception& e) {
    SourceLoc where{file_, 1, 1};
    if (!e.mark.is_null()) where = {file_, e.mark.line + 1, e.mark.column + 1};
    error(where, "YAML syntax error: " + e.msg, {});
    return std::nullopt;
  } catch (const std::exception& e) {
    error({file_, 1, 1}, std::string("cannot read YAML: ") + e.what(), {});
    return std::nullopt;
  }
  // A stray "---" makes an empty document; only documents with content count.
  std::vector<YAML::Node> real;
  for (auto& d : docs)
    if (!d.IsNull()) real.push_back(d);
  if (real.empty()) {
    error({file_, 1, 1}, "empty file", {});
    return std::nullopt;
  }
  if (real.size() > 1) {
    error(loc(real[1]), "a second YAML document; a file holds exactly one", {});
    return std::nullopt;
  }
  // yaml-cpp counts positions after a UTF-8 byte order mark.
  if (text_.substr(0, 3) == "\xef\xbb\xbf") text_.remove_prefix(3);
  return real[0];
}

SourceLoc YamlReader::loc(const YAML::Node& node) const {
  YAML::Mark m = node.Mark();
  if (m.is_null() || m.line < 0 || m.column < 0) return {file_, 1, 1};
  return {file_, m.line + 1, m.column + 1};
}

SourceLoc YamlReader::loc(const Entry& entry) const {
  return entry.value.IsNull() ? loc(entry.key) : loc(entry.value);
}

bool YamlReader::isPlain(const YAML::Node& scalar) const {
  YAML::Mark m = scalar.Mark();
  if (m.is_null() || m.pos < 0 || static_cast<size_t>(m.pos) >= text_.size()) return true;
  char c = text_[m.pos];
  return c != '"' && c != '\'' && c != '|' && c != '>';
}

SourceLoc YamlReader::locIn(const YAML::Node& scalar, size_t offset) const {
  SourceLoc base = loc(scalar);
  YAML::Mark m = scalar.Mark();
  if (!scalar.IsScalar() || m.is_null() || m.pos < 0 ||
      static_cast<size_t>(m.pos) >= text_.size())
    return base;
  const std::string& value = scalar.Scalar();
  if (offset > value.size()) return base;
  std::string_view before = std::string_view(value).substr(0, offset);
  auto verbatimAt = [&](size_t pos, std::string_view want) {
    return pos <= text_.size() && text_.substr(pos, want.size()) == want;
  };
  size_t pos = static_cast<size_t>(m.pos);
  char c = text_[pos];
  if (c == '|') {
    // Literal block: value line k is source line k after the header, less the indentation.
    size_t k = static_cast<size_t>(std::count(before.begin(), before.end(), '\n'));
    size_t last_newline = before.rfind('\n');
    size_t line_start = last_newline == std::string_view::npos ? 0 : last_newline + 1;
    std::string_view col_prefix = before.substr(line_start);
    size_t src = text_.find('\n', pos);
    if (src == std::string_view::npos) return base;
    ++src;
    // Indentation: that of the first line with content.
    size_t indent = std::string_view::npos;
    for (size_t p = src; p < text_.size();) {
      size_t end = text_.find('\n', p);
      if (end == std::string_view::npos) end = text_.size();
      size_t first = text_.find_first_not_of(' ', p);
      if (first < end) {
        indent = first - p;
        break;
      }
      p = end + 1;
    }
    if (indent == std::string_view::npos) return base;
    for (size_t i = 0; i < k; ++i) {
      src = text_.find('\n', src);
      if (src == std::string_view::npos) return base;
      ++src;
    }
    if (!verbatimAt(src + indent, col_prefix)) return base;
    return {file_, base.line + 1 + static_cast<int>(k),
            static_cast<int>(indent + col_prefix.size()) + 1};
  }
  if (c == '>' || before.find('\n') != std::string_view::npos) return base;
  size_t start = (c == '"' || c == '\'') ? pos + 1 : pos;
  if (!verbatimAt(start, before)) return base;  // escapes or folding before it
  return {file_, base.line, base.column + static_cast<int>(start - pos + offset)};
}

void YamlReader::error(SourceLoc where, std::string problem, std::string_view context,
                       std::string hint) {
  if (errors_.size() > kMaxErrors) return;
  if (errors_.size() == kMaxErrors) {
    errors_.emplace_back(ErrorCode::kInvalidArgument,
                         "too many errors; stopped after " + std::to_string(kMaxErrors),
                         SourceLoc{file_, 0, 0});
    return;
  }
  std::string moved = splitHint(problem);
  std::string msg = std::move(problem);
  if (!context.empty()) msg += " in " + std::string(context);
  if (!moved.empty()) msg += " (" + moved + ")";
  if (!hint.empty()) msg += " (" + hint + ")";
  errors_.emplace_back(ErrorCode::kInvalidArgument, std::move(msg), std::move(where));
}

core::Diagnostics YamlReader::takeErrors() {
  // Document order reads best; stable so one node's errors keep the order they were found.
  std::stable_sort(errors_.begin(), errors_.end(), [](const core::Error& a, const core::Error& b) {
    if (a.loc().line == 0 || b.loc().line == 0) return a.loc().line != 0 && b.loc().line == 0;
    if (a.loc().line != b.loc().line) return a.loc().line < b.loc().line;
    return a.loc().column < b.loc().column;
  });
  return std::move(errors_);
}

bool YamlReader::spend(const YAML::Node& node, std::string_view context) {
  if (++nodes_ <= kMaxNodes) return true;
  if (!too_many_nodes_) {
    too_many_nodes_ = true;
    error(loc(node), "too many values: more than " + std::to_string(kMaxNodes) +
                         " (with aliases expanded)", context);
  }
  return false;
}

bool YamlReader::checkDepth(int depth, const YAML::Node& node, std::string_view context) {
  if (depth <= kMaxDepth) return true;
  if (!too_deep_reported_) {
    too_deep_reported_ = true;
    error(loc(node), "nested deeper than " + std::to_string(kMaxDepth) + " levels", context);
  }
  return false;
}

bool YamlReader::checkTag(const YAML::Node& node, std::string_view context) {
  const std::string& tag = node.Tag();
  if (tag.empty() || tag == "?" || tag == "!" || tag.rfind(kCoreTag, 0) == 0) return true;
  std::string hint = "YAML reads a leading '!' as a tag; quote the value";
  if (tag.size() > 1 && (tag[1] == '=' || tag[1] == '~'))
    hint += ", like \"" + tag + node.Scalar() + "\"";
  error(loc(node), "unknown YAML tag '" + tag + "'", context, hint);
  return false;
}

std::string YamlReader::describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "empty";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Scalar: {
      if (node.Tag() != "?") return "a string";
      Json v = resolvePlain(node.Scalar());
      if (v.is_boolean()) return "a boolean";
      if (v.is_number()) return "a number";
      return "a string";
    }
    default: return "nothing";
  }
}

YamlReader::Fields YamlReader::fields(const YAML::Node& node,
                                      const std::vector<std::string>& allowed,
                                      std::string_view context, std::string_view what) {
  Fields out;
  if (!node.IsMap()) {
    error(loc(node), std::string(what) + " must be a mapping, not " + describe(node), context);
    return out;
  }
  if (!checkTag(node, context)) return out;
  std::unordered_map<std::string, int> seen;  // name -> line of first use
  for (auto it = node.begin(); it != node.end(); ++it) {
    YAML::Node key = it->first;
    if (!spend(key, context)) break;
    if (!key.IsScalar()) {
      error(loc(key), "a key must be a name, not " + describe(key), context);
      continue;
    }
    const std::string& name = key.Scalar();
    if (auto [first, inserted] = seen.emplace(name, loc(key).line); !inserted) {
      error(loc(key), "duplicate key '" + name + "' (first on line " +
                          std::to_string(first->second) + ")", context);
      continue;
    }
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string s = core::suggest(name, allowed);
      error(loc(key), "unknown key '" + name + "'", context,
            s.empty() ? "known keys: " + joinNames(allowed) : "did you mean '" + s + "'?");
      continue;
    }
    out.entries_.push_back({name, key, it->second});
  }
  return out;
}

bool YamlReader::mapping(const Entry& entry, std::string_view context) {
  if (entry.value.IsMap()) return true;
  error(loc(entry), "'" + entry.name + "' must be a mapping, not " + describe(entry.value),
        context);
  return false;
}

bool YamlReader::require(const Fields& fields, const YAML::Node& node,
                         const std::vector<std::string>& names, std::string_view context) {
  bool ok = true;
  for (const auto& n : names) {
    if (!fields.has(n)) {
      error(loc(node), "missing required key '" + n + "'", context);
      ok = false;
    }
  }
  return ok;
}

std::optional<std::string> YamlReader::scalarOf(const Entry& entry, std::string_view context,
                                                std::string_view expected) {
  if (!entry.value.IsScalar()) {
    error(loc(entry), "'" + entry.name + "' must be " + std::string(expected) + ", not " +
                          describe(entry.value), context);
    return std::nullopt;
  }
  if (!checkTag(entry.value, context)) return std::nullopt;
  return entry.value.Scalar();
}

std::optional<std::string> YamlReader::string(const Entry& entry, std::string_view context) {
  return scalarOf(entry, context, "a string");
}

std::optional<bool> YamlReader::boolean(const Entry& entry, std::string_view context) {
  auto s = scalarOf(entry, context, "true or false");
  if (!s) return std::nullopt;
  if (isTrueWord(*s)) return true;
  if (isFalseWord(*s)) return false;
  // yes/no/on/off are YAML 1.1 booleans; read strictly, a typo never flips a safety switch.
  error(loc(entry), "'" + entry.name + "' must be true or false, not '" + *s + "'", context);
  return std::nullopt;
}

std::optional<int64_t> YamlReader::integer(const Entry& entry, std::string_view context,
                                           int64_t min, int64_t max) {
  auto s = scalarOf(entry, context, "a whole number");
  if (!s) return std::nullopt;
  Json v = resolvePlain(*s);
  if (!v.is_number_integer()) {
    error(loc(entry), "'" + entry.name + "' must be a whole number, not '" + *s + "'", context);
    return std::nullopt;
  }
  int64_t n = v.get<int64_t>();
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
    n = std::numeric_limits<int64_t>::max();
  if (n < min || n > max) {
    std::string range = max == std::numeric_limits<int64_t>::max()
                            ? "at least " + std::to_string(min)
                            : "between " + std::to_string(min) + " and " + std::to_string(max);
    error(loc(entry), "'" + entry.name + "' must be " + range + ", not " + *s, context);
    return std::nullopt;
  }
  return n;
}

std::optional<std::chrono::milliseconds> YamlReader::duration(const Entry& entry,
                                                              std::string_view context) {
  auto s = scalarOf(entry, context, "a duration like 30s");
  if (!s) return std::nullopt;
  auto d = core::parseDuration(*s);
  if (!d) {
    error(loc(entry), "'" + entry.name + "': " + d.error().message(), context);
    return std::nullopt;
  }
  return *d;
}

std::optional<std::string> YamlReader::oneOf(const Entry& entry, std::string_view context,
                                             const std::vector<std::string>& allowed) {
  std::string expected = "one of " + joinNames(allowed);
  auto s = scalarOf(entry, context, expected);
  if (!s) return std::nullopt;
  if (std::find(allowed.begin(), allowed.end(), *s) != allowed.end()) return s;
  std::string hint = core::suggest(*s, allowed);
  error(loc(entry), "'" + entry.name + "' must be " + expected + ", not '" + *s + "'", context,
        hint.empty() ? "" : "did you mean '" + hint + "'?");
  return std::nullopt;
}

std::optional<std::vector<std::string>> YamlReader::stringList(const Entry& entry,
                                                               std::string_view context) {
  if (!entry.value.IsSequence()) {
    error(loc(entry), "'" + entry.name + "' must be a list of strings, not " +
                          describe(entry.value), context);
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  size_t i = 0;
  for (const auto& item : entry.value) {
    if (!spend(item, context)) return std::nullopt;
    if (!item.IsScalar()) {
      error(loc(item), "'" + entry.name + "' item " + std::to_string(i) +
                           " must be a string, not " + describe(item), context);
      ok = false;
    } else if (!checkTag(item, context)) {
      ok = false;
    } else {
      out.push_back(item.Scalar());
    }
    ++i;
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::map<std::string, std::string>> YamlReader::stringMap(
    const Entry& entry, std::string_view context) {
  if (!entry.value.IsMap()) {
    error(loc(entry), "'" + entry.name + "' must be a mapping of strings, not " +
                          describe(entry.value), context);
    return std::nullopt;
  }
  std::map<std::string, std::string> out;
  bool ok = true;
  for (auto it = entry.value.begin(); it != entry.value.end(); ++it) {
    if (!spend(it->first, context)) return std::nullopt;
    if (!it->first.IsScalar()) {
      error(loc(it->first), "a key must be a name, not " + describe(it->first), context);
      ok = false;
      continue;
    }
    const std::string& k = it->first.Scalar();
    if (!it->second.IsScalar() || !checkTag(it->second, context)) {
      if (!it->second.IsScalar())
        error(it->second.IsNull() ? loc(it->first) : loc(it->second),
              "'" + entry.name + "." + k + "' must be a string, not " + describe(it->second),
              context);
      ok = false;
      continue;
    }
    if (!out.emplace(k, it->second.Scalar()).second) {
      error(loc(it->first), "duplicate key '" + k + "'", context);
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<Json> YamlReader::json(const YAML::Node& node, std::string_view context, int depth,
                                     const StringVisitor& on_string, const std::string& path) {
  if (!checkDepth(depth, node, context) || !spend(node, context)) return std::nullopt;
  if (!checkTag(node, context)) return std::nullopt;
  auto child = [&](const std::string& name) { return path.empty() ? name : path + "." + name; };
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return Json(nullptr);
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      const std::string& tag = node.Tag();
      Json v;
      if (tag == "!" || tag == std::string(kCoreTag) + "str") {
        v = s;
      } else {
        v = resolvePlain(s);
        // An explicit core tag must agree with what the text is.
        if (tag.rfind(kCoreTag, 0) == 0) {
          std::string want = tag.substr(kCoreTag.size());
          bool fits = (want == "int" && v.is_number_integer()) ||
                      (want == "float" && v.is_number()) || (want == "bool" && v.is_boolean()) ||
                      (want == "null" && v.is_null());
          if (!fits) {
            error(loc(node), "'" + s + "' is not a valid !!" + want, context);
            return std::nullopt;
          }
          if (want == "float") v = v.get<double>();
        }
      }
      if (v.is_string()) {
        if (s.find('\0') != std::string::npos) {
          error(loc(node), "a string cannot hold a NUL character", context);
          return std::nullopt;
        }
        if (on_string) on_string(s, node, path);
      }
      return v;
    }
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      bool ok = true;
      size_t i = 0;
      for (const auto& item : node) {
        auto v = json(item, context, depth + 1, on_string, child(std::to_string(i++)));
        if (!v) {
          ok = false;
          if (too_many_nodes_ || too_deep_reported_) return std::nullopt;
          continue;
        }
        out.push_back(std::move(*v));
      }
      if (!ok) return std::nullopt;
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      bool ok = true;
      for (auto it = node.begin(); it != node.end(); ++it) {
        if (!it->first.IsScalar()) {
          error(loc(it->first), "a key must be a name, not " + describe(it->first), context);
          ok = false;
          continue;
        }
        if (!checkTag(it->first, context)) {
          ok = false;
          continue;
        }
        const std::string& k = it->first.Scalar();
        if (out.contains(k)) {
          error(loc(it->first), "duplicate key '" + k + "'", context);
          ok = false;
          continue;
        }
        auto v = json(it->second, context, depth + 1, on_string, child(k));
        if (!v) {
          ok = false;
          if (too_many_nodes_ || too_deep_reported_) return std::nullopt;
          continue;
        }
        out[k] = std::move(*v);
      }
      if (!ok) return std::nullopt;
      return out;
    }
    default:
      error(loc(node), "unreadable value", context);
      return std::nullopt;
  }
}

}  // namespace firebreak::playbook
