#include "daemon/core/protected.h"

namespace firebreak::core {

bool globMatch(std::string_view pattern, std::string_view text) {
  // Iterative, with one backtrack point: linear in practice, never exponential.
  size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

void ProtectedResources::replace(std::vector<std::string> patterns) {
  std::unique_lock lock(mu_);
  patterns_ = std::move(patterns);
}

std::optional<std::string> ProtectedResources::match(std::string_view resource) const {
  std::shared_lock lock(mu_);
  for (const auto& p : patterns_)
    if (globMatch(p, resource)) return p;
  return std::nullopt;
}

std::vector<std::string> ProtectedResources::patterns() const {
  std::shared_lock lock(mu_);
  return patterns_;
}

}  // namespace firebreak::core
