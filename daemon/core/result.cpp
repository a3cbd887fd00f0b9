#include "daemon/core/result.h"

namespace firebreak::core {

std::string SourceLoc::str() const {
  if (!known()) return file;
  std::string out = file;
  out += ':' + std::to_string(line);
  if (column > 0) out += ':' + std::to_string(column);
  return out;
}

const char* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kAlreadyExists: return "already exists";
    case ErrorCode::kFailedPrecondition: return "failed precondition";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kPermissionDenied: return "permission denied";
    case ErrorCode::kIo: return "i/o error";
    case ErrorCode::kInternal: return "internal error";
  }
  return "error";
}

std::string Error::str() const {
  std::string out;
  if (!loc_.file.empty()) out = loc_.str() + ": ";
  out += "error: " + message_;
  for (const auto& what : trail_) out += " (while " + what + ")";
  return out;
}

}  // namespace firebreak::core
