#include "daemon/drill/cron.h"

#include <date/date.h>
#include <date/tz.h>

#include <array>
#include <charconv>
#include <chrono>
#include <vector>

namespace firebreak::drill {

namespace {

using core::ErrorCode;
using std::chrono::minutes;

struct Field {
  const char* name;
  int min, max;
  std::array<const char*, 13> names;  // index = value; nullptr where none
};

constexpr Field kFields[] = {
    {"minute", 0, 59, {}},
    {"hour", 0, 23, {}},
    {"day of month", 1, 31, {}},
    {"month", 1, 12, {nullptr, "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
                      "oct", "nov", "dec"}},
    {"day of week", 0, 7, {"sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"}},
};

core::Error bad(size_t field, size_t offset, const std::string& what) {
  return core::Error(ErrorCode::kInvalidArgument,
                     "field " + std::to_string(field + 1) + " (" + kFields[field].name +
                         "): " + what + " (at character " + std::to_string(offset + 1) + ")");
}

// One value: a number, or a name of the field (case-insensitive).
std::optional<int> value(const Field& f, std::string_view text) {
  int v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc() && end == text.data() + text.size()) return v;
  if (text.size() != 3) return std::nullopt;
  for (int i = 0; i < static_cast<int>(f.names.size()); ++i) {
    const char* n = f.names[i];
    if (!n) continue;
    bool same = true;
    for (size_t c = 0; c < 3; ++c)
      same = same && (text[c] | 0x20) == n[c];
    if (same) return i;
  }
  return std::nullopt;
}

// Sets the values `text` names in `out` (bit = value); `star` says it was `*` (or `*/1`).
core::Status parseField(size_t index, std::string_view text, size_t offset,
                        std::vector<bool>& out, bool& star) {
  const Field& f = kFields[index];
  star = text == "*" || text == "*/1";
  size_t at = 0;
  while (at <= text.size()) {
    size_t comma = text.find(',', at);
    std::string_view item = text.substr(at, comma == std::string_view::npos ? text.npos : comma - at);
    const size_t item_offset = offset + at;
    if (item.empty()) return core::fail(bad(index, item_offset, "an empty list item"));
    int step = 1;
    if (auto slash = item.find('/'); slash != std::string_view::npos) {
      auto s = item.substr(slash + 1);
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), step);
      if (ec != std::errc() || end != s.data() + s.size() || step < 1 || step > f.max)
        return core::fail(bad(index, item_offset + slash + 1,
                              "step '" + std::string(s) + "' is not a number from 1 to " +
                                  std::to_string(f.max)));
      item = item.substr(0, slash);
    }
    int lo = f.min, hi = f.max;
    if (item != "*") {
      auto dash = item.find('-');
      auto first = value(f, item.substr(0, dash));
      if (!first)
        return core::fail(bad(index, item_offset,
                              "'" + std::string(item.substr(0, dash)) + "' is not a " + f.name));
      lo = hi = *first;
      if (dash != std::string_view::npos) {
        auto last = value(f, item.substr(dash + 1));
        if (!last)
          return core::fail(bad(index, item_offset + dash + 1,
                                "'" + std::string(item.substr(dash + 1)) + "' is not a " + f.name));
        hi = *last;
      } else if (step > 1) {
        hi = f.max;  // "5/15": from 5 to the end, as Vixie cron reads it
      }
      for (int v : {lo, hi})
        if (v < f.min || v > f.max)
          return core::fail(bad(index, item_offset,
                                std::to_string(v) + " is not within " + std::to_string(f.min) +
                                    "-" + std::to_string(f.max)));
      if (lo > hi)
        return core::fail(bad(index, item_offset,
                              "range " + std::to_string(lo) + "-" + std::to_string(hi) +
                                  " runs backwards"));
    }
    for (int v = lo; v <= hi; v += step) out[static_cast<size_t>(v)] = true;
    if (comma == std::string_view::npos) break;
    at = comma + 1;
  }
  return {};
}

std::string_view macro(std::string_view text) {
  if (text == "@yearly" || text == "@annually") return "0 0 1 1 *";
  if (text == "@monthly") return "0 0 1 * *";
  if (text == "@weekly") return "0 0 * * 0";
  if (text == "@daily" || text == "@midnight") return "0 0 * * *";
  if (text == "@hourly") return "0 * * * *";
  return {};
}

}  // namespace

core::Result<CronSchedule> CronSchedule::parse(std::string_view expression,
                                               std::string_view time_zone) {
  CronSchedule s;
  s.expression_ = std::string(expression);
  s.zone_name_ = time_zone.empty() ? "UTC" : std::string(time_zone);
  if (s.zone_name_ != "UTC") {
    try {
      s.zone_ = date::locate_zone(s.zone_name_);
    } catch (const std::exception&) {
      return core::fail(ErrorCode::kInvalidArgument,
                        "unknown time zone '" + s.zone_name_ +
                            "' (an IANA name like Europe/Paris or America/New_York)");
    }
  }
  std::string_view text = expression;
  if (!text.empty() && text[0] == '@') {
    text = macro(expression);
    if (text.empty())
      return core::fail(ErrorCode::kInvalidArgument,
                        "unknown macro '" + std::string(expression) +
                            "' (@yearly, @annually, @monthly, @weekly, @daily, @midnight, "
                            "@hourly)");
  }
  std::vector<std::pair<std::string_view, size_t>> fields;  // text, offset
  for (size_t at = 0; at < text.size();) {
    while (at < text.size() && (text[at] == ' ' || text[at] == '\t')) ++at;
    size_t end = at;
    while (end < text.size() && text[end] != ' ' && text[end] != '\t') ++end;
    if (end > at) fields.emplace_back(text.substr(at, end - at), at);
    at = end;
  }
  if (fields.size() != 5)
    return core::fail(ErrorCode::kInvalidArgument,
                      "a schedule has 5 fields (minute hour day-of-month month day-of-week), "
                      "not " + std::to_string(fields.size()) + ", or a macro like @daily");
  std::vector<bool> bits[5] = {std::vector<bool>(60), std::vector<bool>(24),
                               std::vector<bool>(32), std::vector<bool>(13),
                               std::vector<bool>(8)};
  bool star[5] = {};
  for (size_t i = 0; i < 5; ++i)
    if (auto st = parseField(i, fields[i].first, fields[i].second, bits[i], star[i]); !st)
      return core::fail(st.error());
  for (size_t v = 0; v < 60; ++v) s.minutes_[v] = bits[0][v];
  for (size_t v = 0; v < 24; ++v) s.hours_[v] = bits[1][v];
  for (size_t v = 1; v < 32; ++v) s.days_[v] = bits[2][v];
  for (size_t v = 1; v < 13; ++v) s.months_[v] = bits[3][v];
  for (size_t v = 0; v < 7; ++v) s.weekdays_[v] = bits[4][v] || (v == 0 && bits[4][7]);
  s.any_day_ = star[2];
  s.any_weekday_ = star[4];
  return s;
}

std::optional<int64_t> CronSchedule::next(int64_t after_ms) const {
  using std::chrono::duration_cast;
  using std::chrono::floor;
  using std::chrono::hours;
  using std::chrono::milliseconds;
  using LocalMinute = date::local_time<minutes>;
  using SysMinute = date::sys_time<minutes>;
  const date::sys_time<milliseconds> after{milliseconds(after_ms)};
  // Work in local time: the day and minute fields are the zone's wall clock.
  auto to_local = [&](date::sys_time<milliseconds> t) -> LocalMinute {
    if (!zone_) return LocalMinute(floor<minutes>(t.time_since_epoch()));
    return floor<minutes>(zone_->to_local(t));
  };
  // The instant a local minute happens: the first of two (fall back); the jump (spring
  // forward) for one that does not exist.
  auto to_sys = [&](LocalMinute t) -> SysMinute {
    if (!zone_) return SysMinute(t.time_since_epoch());
    auto info = zone_->get_info(t);
    if (info.result == date::local_info::nonexistent) return floor<minutes>(info.second.begin);
    return SysMinute(t.time_since_epoch()) - floor<minutes>(info.first.offset);
  };
  const LocalMinute start = to_local(after);
  const date::local_days first_day = floor<date::days>(start);
  for (int d = 0; d < 3700; ++d) {
    const date::local_days day = first_day + date::days(d);
    const date::year_month_day ymd{day};
    const date::weekday wd{day};
    if (!months_[static_cast<unsigned>(ymd.month())]) continue;
    const bool dom = days_[static_cast<unsigned>(ymd.day())];
    const bool dow = weekdays_[wd.c_encoding()];
    // Both restricted: either matches (Vixie cron); one restricted: that one.
    const bool day_ok = any_day_ && any_weekday_ ? true
                        : any_day_               ? dow
                        : any_weekday_           ? dom
                                                 : dom || dow;
    if (!day_ok) continue;
    for (int h = 0; h < 24; ++h) {
      if (!hours_[static_cast<size_t>(h)]) continue;
      for (int m = 0; m < 60; ++m) {
        if (!minutes_[static_cast<size_t>(m)]) continue;
        const LocalMinute local = day + hours(h) + minutes(m);
        if (local < start) continue;
        const SysMinute when = to_sys(local);
        if (when > after) return duration_cast<milliseconds>(when.time_since_epoch()).count();
      }
    }
  }
  return std::nullopt;
}

std::optional<int64_t> missedRun(const CronSchedule& schedule, int64_t last_run_ms,
                                 int64_t now_ms, int64_t grace_ms) {
  // Only runs within the grace period matter: look from there, not from the last run.
  int64_t from = std::max(last_run_ms, now_ms - grace_ms - 1);
  std::optional<int64_t> latest;
  for (auto t = schedule.next(from); t && *t <= now_ms; t = schedule.next(*t)) latest = t;
  return latest;
}

}  // namespace firebreak::drill
