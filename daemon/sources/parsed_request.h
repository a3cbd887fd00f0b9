// What a source parser makes of one webhook request, and the limits every parser applies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/core/alert.h"

namespace firebreak::sources {

struct ParsedRequest {
  std::vector<core::Alert> alerts;  // in body order
  std::string group_key;            // the sender's group ("" when it has none)
  int64_t truncated_alerts = 0;     // alerts the sender left out (Alertmanager max_alerts)
  std::string receiver;             // Alertmanager: the receiver that sent it
  std::string external_url;         // Alertmanager: its external URL
};

// Checked before any parsing. The HTTP server has its own per-source body limit; these keep a
// parser safe on its own (tests, fuzzing, a future caller that forgets).
struct ParseOptions {
  size_t max_body_bytes = 1024 * 1024;  // a larger body is refused unparsed
  size_t max_depth = 32;  // objects and arrays inside one another; webhooks need fewer than 10
  // When the request arrived (clock.now(), ms since the epoch; 0: not known). The generic
  // source resolves an alert without a status whose end is not after it (as Alertmanager does).
  int64_t received_at_ms = 0;
};

}  // namespace firebreak::sources
