#include "daemon/store/records.h"

namespace firebreak::store {

const char* runStatusName(RunStatus status) {
  switch (status) {
    case RunStatus::kQueued: return "queued";
    case RunStatus::kRunning: return "running";
    case RunStatus::kWaitingApproval: return "waiting-approval";
    case RunStatus::kSucceeded: return "succeeded";
    case RunStatus::kFailed: return "failed";
    case RunStatus::kAborted: return "aborted";
    case RunStatus::kDenied: return "denied";
    case RunStatus::kNeedsAttention: return "needs-attention";
  }
  return "unknown";
}

std::optional<RunStatus> parseRunStatus(std::string_view name) {
  for (auto s : {RunStatus::kQueued, RunStatus::kRunning, RunStatus::kWaitingApproval,
                 RunStatus::kSucceeded, RunStatus::kFailed, RunStatus::kAborted, RunStatus::kDenied,
                 RunStatus::kNeedsAttention})
    if (name == runStatusName(s)) return s;
  return std::nullopt;
}

bool isFinal(RunStatus status) {
  return status == RunStatus::kSucceeded || status == RunStatus::kFailed ||
         status == RunStatus::kAborted || status == RunStatus::kDenied;
}

bool isFinalDrillStatus(std::string_view status) { return status != "running"; }

}  // namespace firebreak::store
