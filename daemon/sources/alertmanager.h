// The `alertmanager` source: Prometheus Alertmanager's webhook (version "4", Alertmanager
// 0.25 and later) to alerts.
#pragma once

#include <string>
#include <string_view>

#include "daemon/core/result.h"
#include "daemon/sources/parsed_request.h"

namespace firebreak::sources {

// Every alert of the group, firing and resolved, each with its own status (the top-level
// status says only whether any alert still fires). Alertmanager sends no delivery id: repeats
// and retries are byte-identical, so Alert::identity() (source, startsAt, fingerprint) and the
// status are what make them duplicates. labels.alertname -> name, labels.severity -> severity, an
// endsAt of 0001-01-01T00:00:00Z -> no end.
//
// Errors are kInvalidArgument with the JSON path of the field:
// "alerts[0].startsAt: not an RFC 3339 time: 'yesterday'" (kInternal only when memory runs
// out). Never throws.
core::Result<ParsedRequest> parseAlertmanager(std::string_view body, const std::string& source_name,
                                              const ParseOptions& options = {});

}  // namespace firebreak::sources
