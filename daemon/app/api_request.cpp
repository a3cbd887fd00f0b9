#include "daemon/app/api_request.h"

#include <algorithm>
#include <charconv>

namespace firebreak::app {

using core::Json;

Json errorBody(const ApiError& error) {
  return Json{{"error", error.message},
              {"field", error.field.empty() ? Json(nullptr) : Json(error.field)}};
}

namespace {

// Depth of [ and { outside strings, checked before parsing so that a hostile body cannot
// make the parser (or the destructor of what it built) recurse deeply.
bool tooDeep(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace

ApiResult<Json> parseBody(std::string_view body, const std::vector<std::string>& allowed) {
  if (body.size() > kMaxApiBody)
    return apiError(413, "body over " + std::to_string(kMaxApiBody) + " bytes");
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return Json::object();
  if (tooDeep(body, kMaxApiDepth))
    return apiError(400, "body nested deeper than " + std::to_string(kMaxApiDepth) + " levels");
  Json parsed = Json::parse(body, nullptr, false);
  if (parsed.is_discarded()) return apiError(400, "body is not valid JSON");
  if (!parsed.is_object()) return apiError(400, "body must be a JSON object");
  for (const auto& [key, _] : parsed.items())
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      return apiError(400, "unknown field '" + key + "'", key);
  return parsed;
}

std::optional<std::string> percentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+' && plus_is_space) {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int v = 0;
      auto [p, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, v, 16);
      if (ec != std::errc() || p != text.data() + i + 3) return std::nullopt;
      out += static_cast<char>(v);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

ApiResult<std::map<std::string, std::string>> parseQuery(std::string_view query,
                                                         const std::vector<std::string>& allowed) {
  std::map<std::string, std::string> out;
  if (query.size() > 4096) return apiError(400, "query string over 4096 bytes");
  size_t pos = 0;
  while (pos < query.size()) {
    size_t amp = query.find('&', pos);
    std::string_view part = query.substr(pos, amp == std::string_view::npos ? amp : amp - pos);
    pos = amp == std::string_view::npos ? query.size() : amp + 1;
    if (part.empty()) continue;
    size_t eq = part.find('=');
    auto key = percentDecode(part.substr(0, eq), true);
    auto value = percentDecode(eq == std::string_view::npos ? "" : part.substr(eq + 1), true);
    if (!key || !value) return apiError(400, "bad percent-encoding in the query string");
    if (std::find(allowed.begin(), allowed.end(), *key) == allowed.end())
      return apiError(400, "unknown query parameter '" + *key + "'", *key);
    if (!out.emplace(*key, *value).second)
      return apiError(400, "query parameter '" + *key + "' given twice", *key);
  }
  return out;
}

ApiResult<std::string> stringField(const Json& body, const std::string& name, bool required,
                                   size_t max_bytes) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    if (required) return apiError(400, "'" + name + "' is required", name);
    return std::string();
  }
  if (!it->is_string()) return apiError(400, "'" + name + "' must be a string", name);
  std::string v = it->get<std::string>();
  if (required && v.empty()) return apiError(400, "'" + name + "' must not be empty", name);
  if (v.size() > max_bytes)
    return apiError(400, "'" + name + "' is over " + std::to_string(max_bytes) + " bytes", name);
  return v;
}

ApiResult<bool> boolField(const Json& body, const std::string& name, bool fallback) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return apiError(400, "'" + name + "' must be true or false", name);
  return it->get<bool>();
}

ApiResult<Json> objectField(const Json& body, const std::string& name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return Json::object();
  if (!it->is_object()) return apiError(400, "'" + name + "' must be an object", name);
  return *it;
}

ApiResult<int> intParam(const std::map<std::string, std::string>& query, const std::string& name,
                        int fallback, int max) {
  auto it = query.find(name);
  if (it == query.end()) return fallback;
  int v = 0;
  const std::string& s = it->second;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 1 || v > max)
    return apiError(400, "'" + name + "' must be a whole number from 1 to " + std::to_string(max),
                    name);
  return v;
}

}  // namespace firebreak::app
