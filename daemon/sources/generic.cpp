#include "daemon/sources/generic.h"

#include <openssl/evp.h>

#include <array>
#include <cstdlib>
#include <exception>
#include <initializer_list>
#include <optional>
#include <vector>

#include "daemon/sources/json_body.h"

namespace firebreak::sources {

namespace {

namespace dom = simdjson::dom;
using core::Result;
using detail::expected;
using detail::invalid;
using detail::scalarText;

// ---- paths ------------------------------------------------------------------------------

struct Step {
  std::string key;
  std::optional<size_t> index;  // set for [N] and for an all-digit name
};
using Path = std::vector<Step>;

Step nameStep(std::string name) {
  Step step{std::move(name), std::nullopt};
  if (!step.key.empty() && step.key.size() <= 9 &&
      step.key.find_first_not_of("0123456789") == std::string::npos) {
    step.index = std::stoul(step.key);
  }
  return step;
}

// The error message has no field prefix: the caller adds "mapping.<field>: ".
Result<Path> parsePath(std::string_view text) {
  auto bad = [&](std::string_view why, size_t at) {
    return invalid("bad path " + core::quoteForMessage(text) + ": " + std::string(why) +
                   " at character " + std::to_string(at + 1));
  };
  Path path;
  size_t i = 0;
  auto readName = [&]() -> std::optional<std::string> {
    const size_t start = i;
    while (i < text.size() && text[i] != '.' && text[i] != '[') ++i;
    if (i == start) return std::nullopt;
    return std::string(text.substr(start, i - start));
  };
  if (text.empty()) return bad("empty", 0);
  if (text[0] == '$') {
    i = 1;
  } else {
    auto name = readName();
    if (!name) return bad("empty name", 0);
    path.push_back(nameStep(std::move(*name)));
  }
  while (i < text.size()) {
    if (text[i] == '.') {
      ++i;
      auto name = readName();
      if (!name) return bad("empty name", i);
      path.push_back(nameStep(std::move(*name)));
    } else if (text[i] == '[') {
      ++i;
      if (i < text.size() && (text[i] == '\'' || text[i] == '"')) {
        const char quote = text[i++];
        std::string key;
        while (i < text.size() && text[i] != quote) {
          if (text[i] == '\\' && i + 1 < text.size()) ++i;
          key += text[i++];
        }
        if (i >= text.size()) return bad("unclosed quote", i);
        ++i;
        if (i >= text.size() || text[i] != ']') return bad("expected ']'", i);
        ++i;
        path.push_back(Step{std::move(key), std::nullopt});
      } else {
        const size_t start = i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
        if (i == start) return bad("expected an index or a quoted name after '['", i);
        if (i - start > 9) return bad("index too large", start);
        if (i >= text.size() || text[i] != ']') return bad("expected ']'", i);
        path.push_back(nameStep(std::string(text.substr(start, i - start))));
        ++i;
      }
    } else {
      return bad("expected '.' or '['", i);
    }
  }
  return path;
}

std::optional<dom::element> resolve(dom::element at, const Path& path) {
  for (const Step& step : path) {
    dom::element next;
    if (at.is_object()) {
      dom::object object;
      if (at.get(object) != simdjson::SUCCESS) return std::nullopt;
      if (object.at_key(step.key).get(next) != simdjson::SUCCESS) return std::nullopt;
    } else if (at.is_array() && step.index) {
      dom::array array;
      if (at.get(array) != simdjson::SUCCESS) return std::nullopt;
      if (array.at(*step.index).get(next) != simdjson::SUCCESS) return std::nullopt;
    } else {
      return std::nullopt;
    }
    at = next;
  }
  return at;
}

bool samePath(const Path& a, const Path& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].key != b[i].key) return false;
  }
  return true;
}

// "[0]" + "labels.x" -> "[0].labels.x"; "" + "labels" -> "labels"; "$.a" and "$['a']" drop
// the "$" (they are relative to the alert anyway).
std::string fieldPath(const std::string& base, std::string_view text) {
  if (!text.empty() && text[0] == '$')
    text.remove_prefix(text.size() > 1 && text[1] == '.' ? 2 : 1);
  if (text.empty()) return base.empty() ? "$" : base;
  if (base.empty()) return std::string(text);
  return base + (text[0] == '[' ? "" : ".") + std::string(text);
}

std::string where(const std::string& alert_path) {
  return alert_path.empty() ? "body" : alert_path;
}

// ---- the compiled mapping ---------------------------------------------------------------

struct Candidate {
  std::string text;
  Path path;
};

struct FieldSpec {
  std::vector<Candidate> candidates;  // in order of preference
  bool configured = false;
};

Result<FieldSpec> compileField(const char* field, const std::string& configured,
                               std::initializer_list<const char*> defaults) {
  FieldSpec spec;
  if (!configured.empty()) {
    auto path = parsePath(configured);
    if (!path) return invalid(std::string("mapping.") + field + ": " + path.error().message());
    spec.candidates.push_back({configured, std::move(*path)});
    spec.configured = true;
    return spec;
  }
  for (const char* text : defaults) spec.candidates.push_back({text, {nameStep(text)}});
  return spec;
}

struct Compiled {
  FieldSpec name, labels, annotations, status, fingerprint, starts_at, severity, ends_at,
      generator_url;
  std::optional<Candidate> alerts;
  const std::map<std::string, std::string>* resolved_values = nullptr;
};

Result<Compiled> compile(const GenericMapping& m) {
  Compiled c;
  struct Entry {
    FieldSpec* spec;
    const char* field;
    const std::string* configured;
    std::initializer_list<const char*> defaults;
  };
  static const std::string kNone;
  const Entry entries[] = {
      {&c.name, "name", &m.name, {"name", "alertname", "title"}},
      {&c.labels, "labels", &m.labels, {"labels"}},
      {&c.annotations, "annotations", &m.annotations, {"annotations"}},
      {&c.status, "status", &m.status, {"status", "state"}},
      {&c.fingerprint, "fingerprint", &m.fingerprint, {"fingerprint", "id"}},
      {&c.starts_at, "starts_at", &m.starts_at, {"startsAt", "starts_at"}},
      {&c.severity, "severity", &m.severity, {"severity"}},
      {&c.ends_at, "ends_at", &m.ends_at, {"endsAt", "ends_at"}},
      {&c.generator_url, "generator_url", &kNone, {"generatorURL", "generator_url"}},
  };
  for (const Entry& e : entries) {
    auto spec = compileField(e.field, *e.configured, e.defaults);
    if (!spec) return tl::unexpected(std::move(spec.error()));
    *e.spec = std::move(*spec);
  }
  if (!m.alerts.empty()) {
    auto path = parsePath(m.alerts);
    if (!path) return invalid("mapping.alerts: " + path.error().message());
    c.alerts = Candidate{m.alerts, std::move(*path)};
  }
  for (const auto& [value, status] : m.resolved_values) {
    if (value.empty()) return invalid("mapping.resolved_values: an empty status value");
    if (status != "firing" && status != "resolved") {
      return invalid("mapping.resolved_values[" + core::quoteForMessage(value) +
                     "]: expected 'firing' or 'resolved', got " + core::quoteForMessage(status));
    }
  }
  c.resolved_values = &m.resolved_values;
  return c;
}

// ---- reading fields ---------------------------------------------------------------------

struct Found {
  dom::element value;
  const Candidate* candidate;
  std::string path;  // for messages
};

bool isScalar(dom::element e) { return e.is_string() || e.is_number() || e.is_bool(); }

// The first candidate present in the alert. A configured path must be present; a default that
// is absent or fails `usable` is skipped.
Result<std::optional<Found>> find(dom::element alert, const FieldSpec& spec,
                                  const std::string& alert_path, bool (*usable)(dom::element)) {
  for (const Candidate& candidate : spec.candidates) {
    auto value = resolve(alert, candidate.path);
    if (!value) {
      if (spec.configured) {
        return invalid(where(alert_path) + ": missing " + core::quoteForMessage(candidate.text));
      }
      continue;
    }
    if (!spec.configured && !usable(*value)) continue;
    return std::optional<Found>(Found{*value, &candidate, fieldPath(alert_path, candidate.text)});
  }
  return std::optional<Found>();
}

struct Text {
  std::string value;
  const Candidate* candidate;
  std::string path;
};

Result<std::optional<Text>> findScalar(dom::element alert, const FieldSpec& spec,
                                       const std::string& alert_path) {
  auto found = find(alert, spec, alert_path, isScalar);
  if (!found) return tl::unexpected(std::move(found.error()));
  if (!*found) return std::optional<Text>();
  auto text = scalarText((*found)->value);
  if (!text) {
    return invalid((*found)->path + ": " + expected("a string or a number", (*found)->value));
  }
  return std::optional<Text>(Text{std::move(*text), (*found)->candidate, (*found)->path});
}

struct Time {
  int64_t ms;  // kZeroTimeMs for the zero time: the caller judges it
  std::string path;
};

Result<std::optional<Time>> findTime(dom::element alert, const FieldSpec& spec,
                                     const std::string& alert_path) {
  auto found = find(alert, spec, alert_path, [](dom::element e) { return e.is_string(); });
  if (!found) return tl::unexpected(std::move(found.error()));
  if (!*found) return std::optional<Time>();
  std::string_view text;
  if ((*found)->value.get(text) != simdjson::SUCCESS) {
    return invalid((*found)->path + ": " + expected("an RFC 3339 time string", (*found)->value));
  }
  auto ms = core::parseRfc3339Ms(text);
  if (!ms) return invalid((*found)->path + ": " + ms.error().message());
  return std::optional<Time>(Time{*ms, (*found)->path});
}

using StringMap = std::map<std::string, std::string>;

// An object's members as text: scalars as text, null skipped, nested values as compact JSON
// (annotations) or an error (labels).
Result<StringMap> readObject(dom::element value, const std::string& path, bool nested_as_json) {
  StringMap out;
  dom::object object;
  if (value.get(object) != simdjson::SUCCESS)
    return invalid(path + ": " + expected("an object", value));
  for (auto field : object) {
    if (field.value.is_null()) continue;
    if (auto text = scalarText(field.value)) {
      out.emplace(field.key, std::move(*text));
    } else if (nested_as_json) {
      out.emplace(field.key, simdjson::to_string(field.value));
    } else {
      return invalid(fieldPath(path, field.key) + ": " +
                     expected("a string or a number", field.value));
    }
  }
  return out;
}

Result<std::optional<std::pair<StringMap, const Candidate*>>> findObject(
    dom::element alert, const FieldSpec& spec, const std::string& alert_path, bool nested_as_json) {
  using Out = std::optional<std::pair<StringMap, const Candidate*>>;
  auto found = find(alert, spec, alert_path, [](dom::element e) { return e.is_object(); });
  if (!found) return tl::unexpected(std::move(found.error()));
  if (!*found) return Out();
  auto map = readObject((*found)->value, (*found)->path, nested_as_json);
  if (!map) return tl::unexpected(std::move(map.error()));
  return Out(std::pair(std::move(*map), (*found)->candidate));
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

constexpr std::array<std::string_view, 6> kFiring = {"firing", "alerting",  "problem",
                                                     "open",   "triggered", "critical"};
constexpr std::array<std::string_view, 4> kResolved = {"resolved", "ok", "closed", "recovered"};

std::optional<std::string> mapStatus(const std::string& raw, const StringMap& configured) {
  if (auto it = configured.find(raw); it != configured.end()) return it->second;
  for (const auto& [value, status] : configured) {
    if (equalsIgnoreCase(value, raw)) return status;
  }
  for (auto v : kFiring) {
    if (equalsIgnoreCase(v, raw)) return "firing";
  }
  for (auto v : kResolved) {
    if (equalsIgnoreCase(v, raw)) return "resolved";
  }
  return std::nullopt;
}

// SHA-256 over the name and the sorted labels, each string length-prefixed (unambiguous).
std::string labelsFingerprint(const std::string& name, const StringMap& labels,
                              const std::string& excluded) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) std::abort();
  auto add = [&](std::string_view s) {
    unsigned char size[8];
    uint64_t n = s.size();
    for (int i = 0; i < 8; ++i) size[i] = static_cast<unsigned char>(n >> (8 * i));
    EVP_DigestUpdate(ctx, size, sizeof size);
    EVP_DigestUpdate(ctx, s.data(), s.size());
  };
  add(name);
  for (const auto& [key, value] : labels) {
    if (key == excluded) continue;
    add(key);
    add(value);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, md, &len) != 1) std::abort();
  EVP_MD_CTX_free(ctx);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xF];
  }
  return out;
}

// ---- one alert --------------------------------------------------------------------------

Result<core::Alert> parseAlert(dom::element value, const std::string& alert_path, const Compiled& c,
                               const std::string& source_name, const ParseOptions& options) {
  if (!value.is_object()) {
    return invalid(where(alert_path) + ": " + expected("an object", value));
  }
  core::Alert alert;
  alert.source = source_name;
  alert.source_type = "generic";

  // The name first: it is what a wrong mapping most often misses.
  auto name = findScalar(value, c.name, alert_path);
  if (!name) return tl::unexpected(std::move(name.error()));

  const Candidate* labels_from = nullptr;
  auto labels = findObject(value, c.labels, alert_path, false);
  if (!labels) return tl::unexpected(std::move(labels.error()));
  if (*labels) {
    alert.labels = std::move((*labels)->first);
    labels_from = (*labels)->second;
  }

  auto annotations = findObject(value, c.annotations, alert_path, true);
  if (!annotations) return tl::unexpected(std::move(annotations.error()));
  if (*annotations) {
    alert.annotations = std::move((*annotations)->first);
  } else {
    // No annotations object: the alert's own top-level scalars, for templates to read.
    dom::object object;
    if (value.get(object) == simdjson::SUCCESS) {
      for (auto field : object) {
        if (auto text = scalarText(field.value)) alert.annotations.emplace(field.key, *text);
      }
    }
  }

  if (*name) {
    if ((*name)->value.empty()) return invalid((*name)->path + ": empty alert name");
    alert.name = std::move((*name)->value);
  } else if (auto it = alert.labels.find("alertname");
             it != alert.labels.end() && !it->second.empty()) {
    alert.name = it->second;
  } else {
    return invalid(where(alert_path) +
                   ": no alert name (looked for 'name', 'alertname', 'title' and "
                   "labels.alertname; set mapping.name)");
  }

  std::string status_label;  // the label the status was read from: not part of the identity
  auto status = findScalar(value, c.status, alert_path);
  if (!status) return tl::unexpected(std::move(status.error()));

  auto ends = findTime(value, c.ends_at, alert_path);
  if (!ends) return tl::unexpected(std::move(ends.error()));
  if (*ends && (*ends)->ms != core::kZeroTimeMs) alert.ends_at_ms = (*ends)->ms;

  if (*status) {
    auto mapped = mapStatus((*status)->value, *c.resolved_values);
    if (!mapped) {
      return invalid((*status)->path + ": unknown status " +
                     core::quoteForMessage((*status)->value) +
                     " (firing: firing, alerting, problem, open, triggered, critical; resolved: "
                     "resolved, ok, closed, recovered; map others in resolved_values)");
    }
    alert.status = std::move(*mapped);
    const Path& from = (*status)->candidate->path;
    if (labels_from && from.size() == labels_from->path.size() + 1 &&
        samePath(Path(from.begin(), from.end() - 1), labels_from->path)) {
      status_label = from.back().key;
    }
  } else if (alert.ends_at_ms && options.received_at_ms > 0 &&
             *alert.ends_at_ms <= options.received_at_ms) {
    alert.status = "resolved";  // what Alertmanager does with an alert that has ended
  } else {
    alert.status = "firing";
  }

  auto starts = findTime(value, c.starts_at, alert_path);
  if (!starts) return tl::unexpected(std::move(starts.error()));
  if (*starts) {
    if ((*starts)->ms == core::kZeroTimeMs) {
      return invalid((*starts)->path + ": the zero time 0001-01-01T00:00:00Z is not a start time");
    }
    alert.starts_at_ms = (*starts)->ms;
  }  // else 0: unknown (see GenericMapping::starts_at)

  auto severity = findScalar(value, c.severity, alert_path);
  if (!severity) return tl::unexpected(std::move(severity.error()));
  if (*severity) {
    alert.severity = std::move((*severity)->value);
  } else if (auto it = alert.labels.find("severity"); it != alert.labels.end()) {
    alert.severity = it->second;
  }

  auto generator = findScalar(value, c.generator_url, alert_path);
  if (!generator) return tl::unexpected(std::move(generator.error()));
  if (*generator) alert.generator_url = std::move((*generator)->value);

  auto fingerprint = findScalar(value, c.fingerprint, alert_path);
  if (!fingerprint) return tl::unexpected(std::move(fingerprint.error()));
  if (*fingerprint) {
    if ((*fingerprint)->value.empty()) return invalid((*fingerprint)->path + ": empty");
    alert.fingerprint = std::move((*fingerprint)->value);
  } else {
    alert.fingerprint = labelsFingerprint(alert.name, alert.labels, status_label);
  }

  alert.labels.emplace("alertname", alert.name);
  if (!alert.severity.empty()) alert.labels.emplace("severity", alert.severity);
  return alert;
}

Result<ParsedRequest> parse(std::string_view body, const GenericMapping& mapping,
                            const std::string& source_name, const ParseOptions& options) {
  auto compiled = compile(mapping);
  if (!compiled) return tl::unexpected(std::move(compiled.error()));
  detail::JsonDocument document;
  auto root = document.parse(body, options);
  if (!root) return tl::unexpected(std::move(root.error()));

  std::optional<dom::array> alerts;
  std::string prefix;
  if (compiled->alerts) {
    auto value = resolve(*root, compiled->alerts->path);
    if (!value) return invalid("body: missing " + core::quoteForMessage(compiled->alerts->text));
    prefix = fieldPath("", compiled->alerts->text);
    dom::array array;
    if (value->get(array) != simdjson::SUCCESS) {
      return invalid(prefix + ": " + expected("an array", *value));
    }
    if (prefix == "$") prefix.clear();
    alerts = array;
  } else if (root->is_array()) {
    dom::array array;
    if (root->get(array) == simdjson::SUCCESS) alerts = array;
  } else if (auto object = root->get_object(); !object.error()) {
    if (auto member = detail::member(object.value_unsafe(), "alerts");
        member && member->is_array()) {
      dom::array array;
      if (member->get(array) == simdjson::SUCCESS) alerts = array;
      prefix = "alerts";
    }
  } else {
    return invalid("body: " + expected("an object or an array", *root));
  }

  ParsedRequest out;
  if (!alerts) {
    auto alert = parseAlert(*root, "", *compiled, source_name, options);
    if (!alert) return tl::unexpected(std::move(alert.error()));
    out.alerts.push_back(std::move(*alert));
    return out;
  }
  out.alerts.reserve(alerts->size());
  size_t index = 0;
  for (dom::element value : *alerts) {
    auto alert = parseAlert(value, prefix + "[" + std::to_string(index) + "]", *compiled,
                            source_name, options);
    if (!alert) return tl::unexpected(std::move(alert.error()));
    out.alerts.push_back(std::move(*alert));
    ++index;
  }
  return out;
}

}  // namespace

core::Status checkGenericMapping(const GenericMapping& mapping) {
  try {
    auto compiled = compile(mapping);
    if (!compiled) return tl::unexpected(std::move(compiled.error()));
    return {};
  } catch (const std::exception& e) {
    return core::fail(core::ErrorCode::kInternal, std::string("checking a mapping: ") + e.what());
  }
}

Result<ParsedRequest> parseGeneric(std::string_view body, const GenericMapping& mapping,
                                   const std::string& source_name, const ParseOptions& options) {
  try {
    return parse(body, mapping, source_name, options);
  } catch (const std::exception& e) {
    return core::fail(core::ErrorCode::kInternal,
                      std::string("parsing a generic body: ") + e.what());
  } catch (...) {
    return core::fail(core::ErrorCode::kInternal, "parsing a generic body: unknown error");
  }
}

}  // namespace firebreak::sources
