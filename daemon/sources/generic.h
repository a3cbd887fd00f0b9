// The `generic` source: any JSON webhook (collectd, Zabbix media types, apprise, Prometheus'
// own /api/v2/alerts, scripts) mapped to alerts by paths, with defaults that need no mapping
// for bodies shaped like Alertmanager's alerts.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "daemon/core/result.h"
#include "daemon/sources/parsed_request.h"

namespace firebreak::sources {

// Each field is a path into one alert object; "" means "not configured: use the default".
// Paths are dotted ("labels.severity", "sections.0.facts") or JSONPath-like ("$.labels.severity",
// "$['recovery time']", "$.sections[0].facts"); a numeric name indexes an array. "$" alone is
// the alert object itself. A configured path that is absent from an alert is an error; a
// default that is absent is skipped.
struct GenericMapping {
  std::string name;         // scalar. Default: name | alertname | title, else labels.alertname
  std::string labels;       // object of scalars (numbers, booleans: text; null: skipped).
                            // Default: labels
  std::string annotations;  // object; nested values as compact JSON. Default: annotations, else
                            // every top-level scalar member of the alert
  std::string status;       // scalar, mapped by resolved_values then the built-in table.
                            // Default: status | state; absent: firing, or resolved when the
                            // alert's end is not after ParseOptions::received_at_ms
  std::string fingerprint;  // scalar. Default: fingerprint | id, else the SHA-256 (hex) of the
                            // name and sorted labels (without the label the status came from)
  std::string starts_at;    // RFC 3339 string. Default: startsAt | starts_at, else 0 (unknown):
                            // the identity is then the fingerprint alone, so repeats are
                            // duplicates and a resolution is the same alert
  std::string severity;     // scalar. Default: severity, else labels.severity
  std::string alerts;       // array of alert objects, relative to the body. Default: the body
                            // when it is an array, else its `alerts` member when that is an
                            // array, else the body is one alert
  std::string ends_at;      // RFC 3339 string. Default: endsAt | ends_at
  // Status values (matched exactly, then ignoring ASCII case) -> "firing" | "resolved", before
  // the built-in table: firing, alerting, problem, open, triggered, critical -> firing;
  // resolved, ok, closed, recovered -> resolved (ignoring case).
  std::map<std::string, std::string> resolved_values;
};

// What parseGeneric checks first, for a config loader to report at load time: every path
// parses, every resolved_values entry maps to "firing" or "resolved". Errors read
// "mapping.labels: bad path 'a..b': empty name at offset 2".
core::Status checkGenericMapping(const GenericMapping& mapping);

// The alert name is also set as labels.alertname and the severity as labels.severity when the
// labels have none, so that trigger matchers work the same as for Alertmanager alerts.
// Errors are kInvalidArgument naming the field path ("[0].labels.severity: unknown status
// 'WARNING' ..."); kInternal only when memory runs out. Never throws.
core::Result<ParsedRequest> parseGeneric(std::string_view body, const GenericMapping& mapping,
                                         const std::string& source_name,
                                         const ParseOptions& options = {});

}  // namespace firebreak::sources
