#include "daemon/core/json.h"

#include <algorithm>

namespace firebreak::core {

namespace {

bool plainAscii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// As nlohmann's serializer writes ASCII: the two-character escapes, \u00xx for the other
// control characters, everything else as is.
void appendQuoted(std::string& out, const std::string& s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out += kHex[u >> 4];
          out += kHex[u & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

}  // namespace

std::string dumpStringMap(const StringMap& m) {
  bool ascii = std::all_of(m.begin(), m.end(),
                           [](const auto& kv) { return plainAscii(kv.first) && plainAscii(kv.second); });
  if (!ascii) return Json(m).dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string out;
  size_t size = 2;
  for (const auto& [k, v] : m) size += k.size() + v.size() + 6;
  out.reserve(size);
  out += '{';
  for (const auto& [k, v] : m) {
    if (out.size() > 1) out += ',';
    appendQuoted(out, k);
    out += ':';
    appendQuoted(out, v);
  }
  out += '}';
  return out;
}

StringMap toStringMap(const Json& object) {
  StringMap out;
  if (!object.is_object()) return out;
  for (const auto& [k, v] : object.items())
    out.emplace(k, v.is_string() ? v.get<std::string>() : v.dump());
  return out;
}

}  // namespace firebreak::core
