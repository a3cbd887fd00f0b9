// Durations as users write them: "500ms", "30s", "10m", "1h30m", "2d".
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "daemon/core/result.h"

namespace firebreak::core {

// Accepts one or more <number><unit> parts, units ms s m h d. Zero is allowed; negative is not.
Result<std::chrono::milliseconds> parseDuration(std::string_view text);

// The shortest form parseDuration reads back: 90000ms -> "1m30s".
std::string formatDuration(std::chrono::milliseconds d);

}  // namespace firebreak::core
