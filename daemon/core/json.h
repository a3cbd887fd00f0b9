// The dynamic value of Firebreak: alert fields, step parameters, step outputs, expression values.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace firebreak::core {
using Json = nlohmann::json;

using StringMap = std::map<std::string, std::string>;

// The compact JSON text of a string map, the same as Json(m).dump() gives, without building
// the Json first: intake stores two of these per alert, and building them was a large part of
// its cost. Text that is not valid UTF-8 is written with U+FFFD in place of the bad bytes.
std::string dumpStringMap(const StringMap& m);

// An object's members as strings; a member that is not a string keeps its JSON text. Anything
// but an object gives an empty map.
StringMap toStringMap(const Json& object);

}  // namespace firebreak::core
