// A scripted action provider for engine tests: answers from a script, records every call.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "daemon/core/action.h"

namespace firebreak::testing {

class FakeProvider final : public core::ActionProvider {
 public:
  explicit FakeProvider(core::ActionSpec spec) : spec_(std::move(spec)) {}

  const core::ActionSpec& spec() const override { return spec_; }
  core::awaitable<core::ActionResult> plan(const core::ActionRequest& request) override;
  core::awaitable<core::ActionResult> execute(const core::ActionRequest& request) override;

  // Answers of execute(), in order; when empty: success with output {echo: params}.
  std::deque<core::ActionResult> script;
  std::chrono::milliseconds delay{0};       // how long execute() takes
  std::optional<int64_t> plan_resources;    // what plan() says about resources
  std::vector<core::ActionRequest> executed;
  std::vector<core::ActionRequest> planned;

 private:
  core::ActionSpec spec_;
};

// A spec with the given name and one optional string parameter `value` (and `n`, an int).
core::ActionSpec fakeSpec(const std::string& name, bool idempotent = true, bool destructive = false,
                          const std::string& undo = "");

}  // namespace firebreak::testing
