// Resources never touched (config `limits.protected`): glob patterns over resource names and
// ARNs ("arn:aws:iam::*:role/break-glass*"). One set, shared by the engine (it checks a step's
// resource parameters before any call) and the actions (they check the ARNs they resolve
// before they change anything); replaced whole on reload.
#pragma once

#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace firebreak::core {

// Whole-string glob: '*' matches any run of characters (':' and '/' too), '?' one character.
bool globMatch(std::string_view pattern, std::string_view text);

class ProtectedResources {
 public:
  ProtectedResources() = default;
  explicit ProtectedResources(std::vector<std::string> patterns) : patterns_(std::move(patterns)) {}

  void replace(std::vector<std::string> patterns);
  // The first pattern that `resource` matches, if any.
  std::optional<std::string> match(std::string_view resource) const;
  std::vector<std::string> patterns() const;

 private:
  mutable std::shared_mutex mu_;
  std::vector<std::string> patterns_;
};

}  // namespace firebreak::core
