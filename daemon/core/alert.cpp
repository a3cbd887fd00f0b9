#include "daemon/core/alert.h"

#include <cstdio>

namespace firebreak::core {

namespace {

constexpr int64_t kMsPerDay = 86'400'000;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t daysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct Civil {
  int64_t year;
  int month;
  int day;
};

// The inverse (civil_from_days).
Civil civilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (month <= 2), month, day};
}

bool isLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int daysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && isLeap(y) ? 29 : kDays[m - 1];
}

// The range parseRfc3339Ms accepts (after applying the offset), so that formatting and
// parsing round-trip: 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z.
const int64_t kMinMs = daysFromCivil(0, 1, 1) * kMsPerDay;
const int64_t kMaxMs = (daysFromCivil(9999, 12, 31) + 1) * kMsPerDay - 1;

std::string escapeSource(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (char c : source) {
    if (c == '%')
      out += "%25";
    else if (c == '/')
      out += "%2F";
    else
      out += c;
  }
  return out;
}

// Length of the valid UTF-8 sequence at s[i], or 0 when the byte there does not start one.
size_t utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return n;
}

}  // namespace

std::string Alert::identity() const {
  return escapeSource(source) + '/' + std::to_string(starts_at_ms) + '/' + fingerprint;
}

Json Alert::toJson() const {
  return Json{
      {"name", name},
      {"status", status},
      {"labels", labels},
      {"annotations", annotations},
      {"severity", severity},
      {"fingerprint", fingerprint},
      {"starts_at", starts_at_ms != 0 ? Json(formatRfc3339Ms(starts_at_ms)) : Json()},
      {"ends_at", ends_at_ms ? Json(formatRfc3339Ms(*ends_at_ms)) : Json()},
      {"generator_url", generator_url},
      {"source", source},
      {"source_type", source_type},
      {"group_key", group_key},
      {"drill", drill},
  };
}

Result<int64_t> parseRfc3339Ms(std::string_view text) {
  auto bad = [&](std::string_view why = {}) {
    std::string message = "not an RFC 3339 time: " + quoteForMessage(text);
    if (!why.empty()) message += " (" + std::string(why) + ")";
    return fail(ErrorCode::kInvalidArgument, std::move(message));
  };
  // digits(pos, count): the number written at text[pos, pos+count), or -1.
  auto digits = [&](size_t pos, size_t count) -> int64_t {
    if (pos + count > text.size()) return -1;
    int64_t n = 0;
    for (size_t i = pos; i < pos + count; ++i) {
      if (text[i] < '0' || text[i] > '9') return -1;
      n = n * 10 + (text[i] - '0');
    }
    return n;
  };
  auto at = [&](size_t pos, char c) { return pos < text.size() && text[pos] == c; };

  // YYYY-MM-DDTHH:MM:SS
  const int64_t year = digits(0, 4), month = digits(5, 2), day = digits(8, 2);
  const int64_t hour = digits(11, 2), minute = digits(14, 2), second = digits(17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 || !at(4, '-') ||
      !at(7, '-') || !(at(10, 'T') || at(10, 't')) || !at(13, ':') || !at(16, ':')) {
    return bad();
  }
  size_t pos = 19;
  int64_t fraction_ms = 0;
  if (at(pos, '.')) {
    ++pos;
    const size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (pos - start < 3) fraction_ms = fraction_ms * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == start) return bad();
    for (size_t n = pos - start; n < 3; ++n) fraction_ms *= 10;
  }
  int64_t offset_minutes = 0;
  if (at(pos, 'Z') || at(pos, 'z')) {
    ++pos;
  } else if (at(pos, '+') || at(pos, '-')) {
    const int64_t oh = digits(pos + 1, 2), om = digits(pos + 4, 2);
    if (oh < 0 || om < 0 || !at(pos + 3, ':')) return bad();
    if (oh > 23 || om > 59) return bad("offset out of range");
    offset_minutes = (oh * 60 + om) * (text[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != text.size()) return bad();

  if (month < 1 || month > 12) return bad("month out of range");
  if (day < 1 || day > daysInMonth(year, static_cast<int>(month))) return bad("day out of range");
  if (hour > 23) return bad("hour out of range");
  if (minute > 59) return bad("minute out of range");
  if (second > 59) return bad("second out of range");

  const int64_t ms = daysFromCivil(year, month, day) * kMsPerDay +
                     ((hour * 60 + minute - offset_minutes) * 60 + second) * 1000 + fraction_ms;
  if (ms < kMinMs || ms > kMaxMs) return bad("outside years 0000-9999 in UTC");
  return ms;
}

Result<std::optional<int64_t>> parseRfc3339OptionalMs(std::string_view text) {
  auto ms = parseRfc3339Ms(text);
  if (!ms) return fail(std::move(ms.error()));
  if (*ms == kZeroTimeMs) return std::optional<int64_t>();
  return std::optional<int64_t>(*ms);
}

std::string formatRfc3339Ms(int64_t ms) {
  int64_t days = ms / kMsPerDay;
  int64_t rem = ms % kMsPerDay;
  if (rem < 0) {
    rem += kMsPerDay;
    --days;
  }
  const Civil c = civilFromDays(days);
  const int64_t seconds = rem / 1000;
  const int64_t millis = rem % 1000;
  char buf[64];
  int n = std::snprintf(
      buf, sizeof buf, "%04lld-%02d-%02dT%02lld:%02lld:%02lld", static_cast<long long>(c.year),
      c.month, c.day, static_cast<long long>(seconds / 3600),
      static_cast<long long>(seconds / 60 % 60), static_cast<long long>(seconds % 60));
  std::string out(buf, static_cast<size_t>(n));
  if (millis != 0) {
    std::snprintf(buf, sizeof buf, ".%03lld", static_cast<long long>(millis));
    out += buf;
  }
  out += 'Z';
  return out;
}

std::string quoteForMessage(std::string_view value, size_t max_chars) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  size_t chars = 0;
  size_t i = 0;
  while (i < value.size()) {
    if (chars == max_chars) {
      out += "...";
      break;
    }
    const unsigned char c = static_cast<unsigned char>(value[i]);
    const size_t n = utf8Length(value, i);
    if (n == 1 && c >= 0x20 && c != 0x7F && c != '\'' && c != '\\') {
      out += static_cast<char>(c);
    } else if (n > 1) {
      out.append(value.substr(i, n));
    } else if (c == '\'' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
    i += n == 0 ? 1 : n;
    ++chars;
  }
  out += '\'';
  return out;
}

}  // namespace firebreak::core
