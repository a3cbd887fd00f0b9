#include "daemon/sources/alertmanager.h"

#include <exception>
#include <map>
#include <optional>

#include "daemon/sources/json_body.h"

namespace firebreak::sources {

namespace {

using core::Result;
namespace dom = simdjson::dom;
using detail::expected;
using detail::invalid;
using detail::joinPath;
using detail::member;
using detail::optionalString;
using detail::requiredString;

constexpr std::string_view kVersion = "4";

// An object of strings (labels, annotations); absent or null: empty.
Result<std::map<std::string, std::string>> stringMap(dom::object object, std::string_view key,
                                                     const std::string& path) {
  std::map<std::string, std::string> out;
  auto value = member(object, key);
  if (!value || value->is_null()) return out;
  const std::string here = joinPath(path, key);
  dom::object map;
  if (value->get(map) != simdjson::SUCCESS)
    return invalid(here + ": " + expected("an object", *value));
  for (auto field : map) {
    std::string_view s;
    if (field.value.get(s) != simdjson::SUCCESS) {
      return invalid(joinPath(here, field.key) + ": " + expected("a string", field.value));
    }
    out.emplace(field.key, s);  // a repeated key: the first one wins, as in the DOM
  }
  return out;
}

Result<core::Alert> parseAlert(dom::element value, const std::string& path,
                               const std::string& source_name, const std::string& group_key) {
  dom::object object;
  if (value.get(object) != simdjson::SUCCESS)
    return invalid(path + ": " + expected("an object", value));
  core::Alert alert;
  alert.source = source_name;
  alert.source_type = "alertmanager";
  alert.group_key = group_key;

  auto status = requiredString(object, "status", path);
  if (!status) return tl::unexpected(std::move(status.error()));
  if (*status != "firing" && *status != "resolved") {
    return invalid(path + ".status: expected 'firing' or 'resolved', got " +
                   core::quoteForMessage(*status));
  }
  alert.status = std::string(*status);

  auto labels = stringMap(object, "labels", path);
  if (!labels) return tl::unexpected(std::move(labels.error()));
  alert.labels = std::move(*labels);
  auto annotations = stringMap(object, "annotations", path);
  if (!annotations) return tl::unexpected(std::move(annotations.error()));
  alert.annotations = std::move(*annotations);
  if (auto it = alert.labels.find("alertname"); it != alert.labels.end()) alert.name = it->second;
  if (auto it = alert.labels.find("severity"); it != alert.labels.end())
    alert.severity = it->second;

  auto starts = requiredString(object, "startsAt", path);
  if (!starts) return tl::unexpected(std::move(starts.error()));
  auto starts_ms = core::parseRfc3339Ms(*starts);
  if (!starts_ms) return invalid(path + ".startsAt: " + starts_ms.error().message());
  if (*starts_ms == core::kZeroTimeMs) {
    return invalid(path + ".startsAt: the zero time 0001-01-01T00:00:00Z is not a start time");
  }
  alert.starts_at_ms = *starts_ms;

  auto ends = optionalString(object, "endsAt", path);
  if (!ends) return tl::unexpected(std::move(ends.error()));
  if (*ends) {
    auto ends_ms = core::parseRfc3339OptionalMs(**ends);
    if (!ends_ms) return invalid(path + ".endsAt: " + ends_ms.error().message());
    alert.ends_at_ms = *ends_ms;
  }

  auto generator = optionalString(object, "generatorURL", path);
  if (!generator) return tl::unexpected(std::move(generator.error()));
  if (*generator) alert.generator_url = std::string(**generator);

  auto fingerprint = requiredString(object, "fingerprint", path);
  if (!fingerprint) return tl::unexpected(std::move(fingerprint.error()));
  if (fingerprint->empty()) return invalid(path + ".fingerprint: empty");
  alert.fingerprint = std::string(*fingerprint);
  return alert;
}

Result<ParsedRequest> parse(std::string_view body, const std::string& source_name,
                            const ParseOptions& options) {
  detail::JsonDocument document;
  auto root = document.parse(body, options);
  if (!root) return tl::unexpected(std::move(root.error()));
  dom::object object;
  if (root->get(object) != simdjson::SUCCESS)
    return invalid("body: " + expected("an object", *root));

  auto version_value = member(object, "version");
  if (!version_value) {
    return invalid("body: missing 'version' (expected Alertmanager webhook version '4')");
  }
  std::string_view version;
  if (version_value->get(version) != simdjson::SUCCESS) {
    return invalid("version: " + expected("a string", *version_value) +
                   " (expected Alertmanager webhook version '4')");
  }
  if (version != kVersion) {
    return invalid("version: unsupported Alertmanager webhook version " +
                   core::quoteForMessage(version) + " (expected '4')");
  }

  ParsedRequest out;
  auto group_key = optionalString(object, "groupKey", "");
  if (!group_key) return tl::unexpected(std::move(group_key.error()));
  if (*group_key) out.group_key = std::string(**group_key);
  auto receiver = optionalString(object, "receiver", "");
  if (!receiver) return tl::unexpected(std::move(receiver.error()));
  if (*receiver) out.receiver = std::string(**receiver);
  auto external_url = optionalString(object, "externalURL", "");
  if (!external_url) return tl::unexpected(std::move(external_url.error()));
  if (*external_url) out.external_url = std::string(**external_url);

  if (auto truncated = member(object, "truncatedAlerts"); truncated && !truncated->is_null()) {
    int64_t n = -1;
    if (truncated->get(n) != simdjson::SUCCESS || n < 0) {
      std::string got = detail::scalarText(*truncated).value_or("");
      return invalid("truncatedAlerts: expected a non-negative integer, got " +
                     (truncated->is_number() ? got : std::string(detail::typeName(*truncated))));
    }
    out.truncated_alerts = n;
  }

  auto alerts_value = member(object, "alerts");
  if (!alerts_value) return invalid("body: missing 'alerts'");
  dom::array alerts;
  if (alerts_value->get(alerts) != simdjson::SUCCESS) {
    return invalid("alerts: " + expected("an array", *alerts_value));
  }
  out.alerts.reserve(alerts.size());
  size_t index = 0;
  for (dom::element value : alerts) {
    auto alert =
        parseAlert(value, "alerts[" + std::to_string(index) + "]", source_name, out.group_key);
    if (!alert) return tl::unexpected(std::move(alert.error()));
    out.alerts.push_back(std::move(*alert));
    ++index;
  }
  return out;
}

}  // namespace

Result<ParsedRequest> parseAlertmanager(std::string_view body, const std::string& source_name,
                                        const ParseOptions& options) {
  try {
    return parse(body, source_name, options);
  } catch (const std::exception& e) {
    return core::fail(core::ErrorCode::kInternal,
                      std::string("parsing an Alertmanager body: ") + e.what());
  } catch (...) {
    return core::fail(core::ErrorCode::kInternal, "parsing an Alertmanager body: unknown error");
  }
}

}  // namespace firebreak::sources
