// Feeds arbitrary bytes to the drill compiler (its own keys, cron schedules and time zones,
// scopes, and the step lists it compiles through the playbook compiler, chaos actions
// included). Every input either compiles or yields errors that each name the fuzz file; any
// crash, hang, sanitizer report or error without a location is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "daemon/drill/loader.h"
#include "fuzz/registry.h"

using firebreak::fuzz::registry;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto compiled = firebreak::drill::compileDrill(text, "fuzz.yaml", registry());
  if (compiled) {
    if (*compiled == nullptr || (*compiled)->name.empty()) std::abort();
    return 0;
  }
  if (compiled.error().empty()) std::abort();  // a failure says why
  for (const auto& e : compiled.error()) {
    if (e.loc().file != "fuzz.yaml" || e.message().empty()) std::abort();
  }
  return 0;
}
