// The dynamic value of Firebreak: alert fields, step parameters, step outputs, expression values.
#pragma once

#include <nlohmann/json.hpp>

namespace firebreak::core {
using Json = nlohmann::json;
}  // namespace firebreak::core
