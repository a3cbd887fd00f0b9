// Records as JSON, the one shape the management API answers with and `firebreak --json`
// prints, whether the CLI read the store itself or asked a daemon. Times are RFC 3339, ""
// when not yet.
#pragma once

#include <cstdint>

#include "daemon/core/json.h"
#include "daemon/store/records.h"

namespace firebreak::store {

core::Json toJson(const RunRecord& run);
core::Json toJson(const StepRecord& step);
core::Json toJson(const ApprovalRecord& approval);
core::Json toJson(const TimelineEvent& event);
core::Json toJson(const IncidentRecord& incident);
core::Json toJson(const AlertRecord& alert);
core::Json toJson(const DrillRunRecord& drill_run);
// `active` is whether it applies at `now_ms`.
core::Json toJson(const SilenceRecord& silence, int64_t now_ms);

}  // namespace firebreak::store
