// Feeds arbitrary bytes to the daemon config reader (YAML reader, every section's checks, the
// auth rule, secret references, sizes, listen addresses, JSON paths). Every input either
// yields a Config or errors that each name the fuzz file; any crash, hang, sanitizer report,
// failure without an error, or error without the file name is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "daemon/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cfg = firebreak::config::parseConfig(text, "fuzz.yaml");
  if (cfg) {
    // What a Config promises: a parsed listener, sources named as they are served.
    if (cfg->file != "fuzz.yaml" || cfg->data_dir.empty()) std::abort();
    if (!firebreak::config::parseListen(cfg->listen.str())) std::abort();
    for (const auto& [name, source] : cfg->sources) {
      if (name != source.name || source.max_body == 0) std::abort();
      if (source.auth.scheme == firebreak::config::Auth::Scheme::kNone && !cfg->listenIsLoopback())
        std::abort();  // unauthenticated sources are for loopback listeners only
    }
    (void)cfg->warnings();
    return 0;
  }
  if (cfg.error().empty()) std::abort();  // a failure says why
  for (const auto& e : cfg.error()) {
    if (e.loc().file != "fuzz.yaml" || e.message().empty()) std::abort();
  }
  return 0;
}
