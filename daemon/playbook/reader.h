// Reading YAML the way users deserve: every problem reported with file:line:col and where it
// sits in the document ("in step[2] 'revoke'"), unknown keys named with a suggestion, typed
// values checked, and hostile input (huge, deep, alias bombs, bad UTF-8) refused without a crash.
// The playbook compiler (loader.cpp) is built on it; other loaders of our YAML kinds can be too.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include "daemon/core/json.h"
#include "daemon/core/result.h"

namespace firebreak::playbook {

inline constexpr size_t kMaxFileBytes = 1 << 20;  // larger is no playbook; refuse before parsing
inline constexpr int kMaxDepth = 64;              // nesting of mappings and lists we walk
inline constexpr size_t kMaxNodes = 100'000;      // values visited, aliases expanded
inline constexpr size_t kMaxErrors = 200;         // per file; the rest would be noise

class YamlReader {
 public:
  // One key of a mapping with its value, both with their marks.
  struct Entry {
    std::string name;
    YAML::Node key;
    YAML::Node value;
  };

  // The keys of one mapping, in document order, checked against the allowed names.
  class Fields {
   public:
    const Entry* find(std::string_view name) const;
    const std::vector<Entry>& all() const { return entries_; }
    bool has(std::string_view name) const { return find(name) != nullptr; }

   private:
    friend class YamlReader;
    std::vector<Entry> entries_;
  };

  YamlReader(std::string_view text, std::string file);

  // Parses the text as one YAML document. On failure (size, encoding, syntax, no document)
  // records the error and returns nullopt.
  std::optional<YAML::Node> parse();

  // The node's position, 1-based; the document start when yaml-cpp has none for it.
  core::SourceLoc loc(const YAML::Node& node) const;
  // Where the value of an entry is, or its key when the value is empty (`key:` alone).
  core::SourceLoc loc(const Entry& entry) const;
  // The position of the character at `offset` in a scalar's value: exact where the source
  // holds the value verbatim up to there (plain, quoted and literal block scalars without
  // escapes or folding before it), the scalar's start otherwise.
  core::SourceLoc locIn(const YAML::Node& scalar, size_t offset) const;

  // Records "<problem> in <context> (<hint>)". A trailing "(did you mean ...)" in `problem`
  // is moved after the context, so every message reads the same way.
  void error(core::SourceLoc where, std::string problem, std::string_view context,
             std::string hint = {});

  bool failed() const { return !errors_.empty(); }
  core::Diagnostics takeErrors();
  const std::string& file() const { return file_; }
  std::string_view text() const { return text_; }

  // Counts visited values against kMaxNodes (an alias bomb expands exponentially); false
  // once over, after reporting it once.
  bool spend(const YAML::Node& node, std::string_view context);
  // False (after reporting) when `depth` is over kMaxDepth.
  bool checkDepth(int depth, const YAML::Node& node, std::string_view context);

  // Checks `node` is a mapping whose keys are unique scalars among `allowed`; reports others
  // ("unknown key 'dry_rnu' in step[2] 'revoke' (did you mean 'dry_run'?)").
  // `what` names the mapping for a type error: "'retry'" or "a step".
  Fields fields(const YAML::Node& node, const std::vector<std::string>& allowed,
                std::string_view context, std::string_view what);
  // False (after reporting "'retry' must be a mapping, not a list in <context>") unless the
  // entry's value is a mapping.
  bool mapping(const Entry& entry, std::string_view context);
  // Reports "missing required key" for each of `names` not in `fields` (at `node`).
  bool require(const Fields& fields, const YAML::Node& node,
               const std::vector<std::string>& names, std::string_view context);

  // Typed values. Each reports a wrong type or value ("'timeout' must be a duration like 30s,
  // not a list in step[2] 'revoke'") and returns nullopt.
  std::optional<std::string> string(const Entry& entry, std::string_view context);
  std::optional<bool> boolean(const Entry& entry, std::string_view context);
  std::optional<int64_t> integer(const Entry& entry, std::string_view context, int64_t min,
                                 int64_t max);
  std::optional<std::chrono::milliseconds> duration(const Entry& entry, std::string_view context);
  std::optional<std::string> oneOf(const Entry& entry, std::string_view context,
                                   const std::vector<std::string>& allowed);
  std::optional<std::vector<std::string>> stringList(const Entry& entry,
                                                     std::string_view context);
  std::optional<std::map<std::string, std::string>> stringMap(const Entry& entry,
                                                              std::string_view context);

  // A value as Json, by the YAML 1.2 core schema: plain true/false/null/numbers are typed,
  // quoted scalars stay strings (so "on" and "yes" are strings, never booleans). `on_string`
  // sees every string value with its node and the dotted path below the value ("argv.1").
  using StringVisitor =
      std::function<void(const std::string& value, const YAML::Node& node,
                         const std::string& path)>;
  std::optional<core::Json> json(const YAML::Node& node, std::string_view context, int depth,
                                 const StringVisitor& on_string = {}, const std::string& path = {});

  // "a list", "a mapping", "a number", ... for type errors.
  static std::string describe(const YAML::Node& node);
  // The scalar is a plain (unquoted) one.
  bool isPlain(const YAML::Node& scalar) const;

 private:
  // Reports a tag we do not know (`!foo`, or `!=x` where a matcher was meant) and returns false.
  bool checkTag(const YAML::Node& node, std::string_view context);
  std::optional<std::string> scalarOf(const Entry& entry, std::string_view context,
                                      std::string_view expected);

  std::string_view text_;
  std::string file_;
  core::Diagnostics errors_;
  size_t nodes_ = 0;
  bool too_many_nodes_ = false;
  bool too_deep_reported_ = false;
};

}  // namespace firebreak::playbook
