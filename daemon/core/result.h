// Result<T>, Error and SourceLoc: how every fallible function in Firebreak reports failure.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

namespace firebreak::core {

// A position in a file the user wrote. Line and column are 1-based; 0 means unknown.
struct SourceLoc {
  std::string file;
  int line = 0;
  int column = 0;

  bool known() const { return line > 0; }
  std::string str() const;  // "file:line:col", or just "file"
};

enum class ErrorCode {
  kInvalidArgument,  // the user's input is wrong (YAML, parameter, CLI argument)
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,  // the state does not allow it (paused, version too new, locked)
  kUnavailable,         // try again later
  kTimeout,
  kPermissionDenied,
  kIo,
  kInternal,
};

const char* errorCodeName(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message, SourceLoc loc = {})
      : code_(code), message_(std::move(message)), loc_(std::move(loc)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const SourceLoc& loc() const { return loc_; }
  const std::vector<std::string>& trail() const { return trail_; }

  // Adds what the caller was doing: "loading playbook 'x'". Printed outermost last.
  Error& context(std::string what) & {
    trail_.push_back(std::move(what));
    return *this;
  }
  Error&& context(std::string what) && {
    trail_.push_back(std::move(what));
    return std::move(*this);
  }

  // "file:line:col: error: message (while loading playbook 'x')"
  std::string str() const;

 private:
  ErrorCode code_;
  std::string message_;
  SourceLoc loc_;
  std::vector<std::string> trail_;
};

template <typename T>
using Result = tl::expected<T, Error>;
using Status = Result<void>;

inline tl::unexpected<Error> fail(ErrorCode code, std::string message, SourceLoc loc = {}) {
  return tl::unexpected<Error>(Error(code, std::move(message), std::move(loc)));
}
inline tl::unexpected<Error> fail(Error error) { return tl::unexpected<Error>(std::move(error)); }

// Every problem of one input at once (a playbook file reports all its errors, not the first).
using Diagnostics = std::vector<Error>;

}  // namespace firebreak::core
