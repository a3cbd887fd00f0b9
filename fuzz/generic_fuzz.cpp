// Feeds arbitrary bytes to the generic source: as a body under several fixed mappings (the
// defaults, collectd's, paths with indexes and quotes, an alerts path), and, split at the first
// newline, as a mapping path and a body. Any crash, sanitizer report, hang, exception or broken
// invariant below is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/alert.h"
#include "daemon/sources/generic.h"

namespace {

using firebreak::core::Alert;
using firebreak::core::ErrorCode;
using firebreak::core::Json;
using firebreak::sources::GenericMapping;
using firebreak::sources::ParseOptions;

const std::vector<GenericMapping>& mappings() {
  static const std::vector<GenericMapping> kMappings = [] {
    std::vector<GenericMapping> out(5);
    out[1].status = "labels.severity";
    out[1].resolved_values = {{"OKAY", "resolved"}, {"FAILURE", "firing"}, {"WARNING", "firing"}};
    out[2].name = "$.sections[0].text";
    out[2].status = "themeColor";
    out[2].severity = "sections.0.facts.2.value";
    out[2].fingerprint = "$.potentialAction[0].targets[0]['uri']";
    out[2].resolved_values = {{"E97659", "firing"}, {"009900", "resolved"}};
    out[3].alerts = "data.items";
    out[3].labels = "$";
    out[3].starts_at = "when";
    out[4].name = "message";
    out[4].fingerprint = "alias";
    out[4].annotations = "details";
    out[4].ends_at = "$['end']";
    return out;
  }();
  return kMappings;
}

void checkMessage(const std::string& message) {
  if (message.empty()) std::abort();
  (void)Json(message).dump();  // valid UTF-8
}

void checkAlert(const Alert& a) {
  if (a.status != "firing" && a.status != "resolved") std::abort();
  if (a.name.empty() || a.fingerprint.empty() || a.source != "g") std::abort();
  if (a.labels.count("alertname") != 1) std::abort();
  if (a.starts_at_ms != 0) {
    auto back = firebreak::core::parseRfc3339Ms(firebreak::core::formatRfc3339Ms(a.starts_at_ms));
    if (!back || *back != a.starts_at_ms) std::abort();
  }
  (void)a.toJson().dump();
}

void run(std::string_view body, const GenericMapping& mapping, const ParseOptions& options) {
  auto parsed = firebreak::sources::parseGeneric(body, mapping, "g", options);
  if (!parsed) {
    if (parsed.error().code() != ErrorCode::kInvalidArgument) std::abort();
    checkMessage(parsed.error().message());
    return;
  }
  for (const auto& alert : parsed->alerts) checkAlert(alert);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const ParseOptions options{
      .max_body_bytes = 1024 * 1024, .max_depth = 32, .received_at_ms = 1795399727123};
  for (const auto& mapping : mappings()) run(text, mapping, options);
  run(text, mappings()[0],
      ParseOptions{.max_body_bytes = 512, .max_depth = 4, .received_at_ms = 0});

  // "<path>\n<body>": the path drives one field after another.
  if (size_t nl = text.find('\n'); nl != std::string_view::npos && nl <= 256) {
    const std::string path(text.substr(0, nl));
    const std::string_view body = text.substr(nl + 1);
    for (int field = 0; field < 9; ++field) {
      GenericMapping m;
      std::string* targets[] = {&m.name,     &m.labels,      &m.annotations,
                                &m.status,   &m.fingerprint, &m.starts_at,
                                &m.severity, &m.alerts,      &m.ends_at};
      *targets[field] = path;
      auto checked = firebreak::sources::checkGenericMapping(m);
      if (!checked) {
        if (checked.error().code() != ErrorCode::kInvalidArgument) std::abort();
        checkMessage(checked.error().message());
      }
      auto parsed = firebreak::sources::parseGeneric(body, m, "g", options);
      // A mapping that checks badly fails every body with the same message.
      if (!checked && (parsed || parsed.error().message() != checked.error().message())) {
        std::abort();
      }
      if (checked) run(body, m, options);
    }
  }
  return 0;
}
