// Secret references resolved from the process environment and files. The only place below
// main() that reads the environment.
#pragma once

#include <set>
#include <string>

#include "daemon/core/action.h"

namespace firebreak::app {

class ProcessSecretResolver final : public core::SecretResolver {
 public:
  core::Result<std::string> resolve(std::string_view reference) const override;
};

}  // namespace firebreak::app
