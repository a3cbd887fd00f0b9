#include "actions/builtin/common.h"

#include <algorithm>
#include <cctype>

#include "daemon/core/duration.h"

namespace firebreak::actions::builtin {

using core::ErrorCode;
using core::fail;
using core::Json;

std::string describe(const core::ActionRequest& request, std::string_view action,
                     std::string_view what) {
  std::string out(action);
  out += ": ";
  out += what;
  out += " (step " + (request.step_id.empty() ? std::string("?") : request.step_id) +
         ", attempt " + std::to_string(request.attempt) + ")";
  return out;
}

bool isTemplate(const Json& value) {
  return value.is_string() &&
         value.get_ref<const std::string&>().find("{{") != std::string::npos;
}

std::string toValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t min = 0;
    if (c < 0x80) len = 1;
    else if ((c & 0xE0) == 0xC0) len = 2, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, min = 0x10000;
    bool ok = len > 0 && i + len <= s.size();
    uint32_t cp = len == 1 ? c : (c & (0x7F >> len));
    for (size_t k = 1; ok && k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid too.
    if (ok && len > 1 && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
      ok = false;
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::string lastLine(std::string_view text, size_t max) {
  auto isSpace = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && isSpace(text.back())) text.remove_suffix(1);
  auto nl = text.find_last_of('\n');
  if (nl != std::string_view::npos) text.remove_prefix(nl + 1);
  while (!text.empty() && isSpace(text.front())) text.remove_prefix(1);
  if (text.size() > max) return toValidUtf8(text.substr(0, max)) + "...";
  return toValidUtf8(text);
}

int64_t elapsedMs(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

std::string shellQuote(std::string_view word) {
  bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("@%+=:,./_-").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(word);
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

std::string stringParam(const Json& params, std::string_view name, std::string_view fallback) {
  auto it = params.find(name);
  if (it == params.end() || !it->is_string()) return std::string(fallback);
  return it->get<std::string>();
}

core::Result<std::chrono::milliseconds> durationParam(const Json& params, std::string_view name,
                                                      std::chrono::milliseconds fallback) {
  auto it = params.find(name);
  if (it == params.end() || it->is_null()) return fallback;
  if (!it->is_string())
    return fail(ErrorCode::kInvalidArgument,
                "parameter '" + std::string(name) + "' must be a duration such as 30s");
  auto d = core::parseDuration(it->get<std::string>());
  if (!d) return fail(ErrorCode::kInvalidArgument, "parameter '" + std::string(name) + "': " +
                                                       d.error().message());
  return *d;
}

std::string durationText(const Json& params, std::string_view name,
                         std::chrono::milliseconds value) {
  auto it = params.find(name);
  if (it != params.end() && it->is_string()) return it->get<std::string>();
  return core::formatDuration(value);
}

core::Result<int64_t> sizeParam(const Json& params, std::string_view name, int64_t fallback,
                                int64_t max) {
  auto it = params.find(name);
  if (it == params.end() || it->is_null()) return fallback;
  if (!it->is_number_integer())
    return fail(ErrorCode::kInvalidArgument,
                "parameter '" + std::string(name) + "' must be an integer (bytes)");
  auto v = it->get<int64_t>();
  if (v < 0 || v > max)
    return fail(ErrorCode::kInvalidArgument, "parameter '" + std::string(name) + "' must be 0.." +
                                                 std::to_string(max) + ", not " +
                                                 std::to_string(v));
  return v;
}

core::Result<std::vector<std::pair<std::string, std::string>>> stringMapParam(
    const Json& params, std::string_view name) {
  std::vector<std::pair<std::string, std::string>> out;
  auto it = params.find(name);
  if (it == params.end() || it->is_null()) return out;
  if (!it->is_object())
    return fail(ErrorCode::kInvalidArgument,
                "parameter '" + std::string(name) + "' must be a map of strings");
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string())
      return fail(ErrorCode::kInvalidArgument,
                  "parameter '" + std::string(name) + "' entry '" + k + "' must be a string");
    out.emplace_back(k, v.get<std::string>());
  }
  return out;
}

core::Result<std::optional<std::vector<int>>> statusListParam(const Json& params,
                                                              std::string_view name) {
  auto it = params.find(name);
  if (it == params.end() || it->is_null()) return std::optional<std::vector<int>>();
  std::vector<int> out;
  auto add = [&](const Json& v) -> core::Status {
    if (!v.is_number_integer() || v.get<int64_t>() < 100 || v.get<int64_t>() > 599)
      return fail(ErrorCode::kInvalidArgument, "parameter '" + std::string(name) +
                                                   "' must hold HTTP statuses (100..599), not " +
                                                   v.dump());
    out.push_back(v.get<int>());
    return {};
  };
  if (it->is_array()) {
    if (it->empty())
      return fail(ErrorCode::kInvalidArgument,
                  "parameter '" + std::string(name) + "' must not be an empty list");
    for (const auto& v : *it)
      if (auto s = add(v); !s) return fail(s.error());
  } else if (auto s = add(*it); !s) {
    return fail(s.error());
  }
  return std::optional<std::vector<int>>(std::move(out));
}

core::Status checkHttpUrl(std::string_view url, std::string_view what) {
  auto bad = [&](const std::string& why) {
    return fail(ErrorCode::kInvalidArgument, std::string(what) + " " + why);
  };
  std::string lower;
  for (char c : url.substr(0, 8))
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t rest;
  if (lower.rfind("http://", 0) == 0) rest = 7;
  else if (lower.rfind("https://", 0) == 0) rest = 8;
  else return bad("must be an http:// or https:// URL");
  for (char c : url)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F)
      return bad("must not contain spaces or control characters");
  auto host_end = url.find_first_of("/?#", rest);
  if (url.substr(rest, host_end == std::string_view::npos ? url.npos : host_end - rest).empty())
    return bad("has no host");
  return {};
}

std::string redactUrl(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return "<url>";
  auto host_end = url.find_first_of("/?#", scheme + 3);
  if (host_end == std::string_view::npos) return std::string(url);
  std::string out(url.substr(0, host_end));
  // Userinfo is a credential too.
  if (auto at = out.find('@', scheme + 3); at != std::string::npos)
    out.erase(scheme + 3, at - scheme - 2);
  return out + "/...";
}

core::Status checkHeader(std::string_view name, std::string_view value) {
  if (name.empty()) return fail(ErrorCode::kInvalidArgument, "a header name is empty");
  for (char c : name) {
    bool token = std::isalnum(static_cast<unsigned char>(c)) ||
                 std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!token)
      return fail(ErrorCode::kInvalidArgument,
                  "header name '" + toValidUtf8(name) + "' holds a character not allowed in it");
  }
  if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
    return fail(ErrorCode::kInvalidArgument,
                "header '" + std::string(name) + "' value must not contain CR, LF or NUL");
  return {};
}

std::string scrub(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) {
    if (s.empty()) continue;
    for (auto pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos))
      text.replace(pos, s.size(), "<secret>");
  }
  return text;
}

}  // namespace firebreak::actions::builtin
