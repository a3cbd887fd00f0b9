#include "actions/backup/tar.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <vector>

#include <fmt/format.h>

namespace firebreak::actions::backup {

namespace {

// ustar header field offsets and widths.
constexpr size_t kName = 0, kNameLen = 100;
constexpr size_t kMode = 100, kUid = 108, kGid = 116, kIdLen = 8;
constexpr size_t kSize = 124, kMtime = 136, kNumLen = 12;
constexpr size_t kChksum = 148, kChksumLen = 8;
constexpr size_t kTypeflag = 156;
constexpr size_t kLinkname = 157;
constexpr size_t kMagic = 257, kVersion = 263;
constexpr size_t kDevmajor = 329, kDevminor = 337;
constexpr size_t kPrefix = 345, kPrefixLen = 155;

constexpr size_t kMaxPaxHeader = 1 << 20;
constexpr size_t kMaxLongName = 64 * 1024;

using Block = std::array<char, kTarBlock>;

uint64_t padding(uint64_t size) { return (kTarBlock - size % kTarBlock) % kTarBlock; }

// Whether `value` fits in `width - 1` octal digits (the last byte is a NUL).
bool fitsOctal(uint64_t value, size_t width) {
  size_t digits = width - 1;
  return digits >= 21 || value < (uint64_t{1} << (3 * digits));
}

void putOctal(Block& h, size_t offset, size_t width, uint64_t value) {
  std::string digits = fmt::format("{:0{}o}", value, width - 1);
  std::memcpy(h.data() + offset, digits.data(), width - 1);
  h[offset + width - 1] = '\0';
}

void putString(Block& h, size_t offset, size_t width, std::string_view value) {
  std::memcpy(h.data() + offset, value.data(), std::min(width, value.size()));
}

uint32_t headerChecksum(const Block& h) {
  uint32_t sum = 0;
  for (size_t i = 0; i < kTarBlock; ++i) {
    bool in_field = i >= kChksum && i < kChksum + kChksumLen;
    sum += in_field ? ' ' : static_cast<unsigned char>(h[i]);
  }
  return sum;
}

void putChecksum(Block& h) {
  std::string digits = fmt::format("{:06o}", headerChecksum(h));
  std::memcpy(h.data() + kChksum, digits.data(), 6);
  h[kChksum + 6] = '\0';
  h[kChksum + 7] = ' ';
}

// "len key=value\n" where len counts the whole record, its own digits included.
std::string paxRecord(std::string_view key, std::string_view value) {
  size_t base = key.size() + value.size() + 3;  // ' ', '=', '\n'
  size_t len = base + std::to_string(base).size();
  while (len != base + std::to_string(len).size()) len = base + std::to_string(len).size();
  return fmt::format("{} {}={}\n", len, key, value);
}

std::string formatPaxTime(int64_t sec, uint32_t nsec) {
  std::string out;
  if (sec < 0 && nsec > 0) {
    // -1.5 is sec = -2, nsec = 500000000.
    out = fmt::format("-{}.{:09}", -(sec + 1), 1'000'000'000 - nsec);
  } else if (nsec > 0) {
    out = fmt::format("{}.{:09}", sec, nsec);
  } else {
    return std::to_string(sec);
  }
  while (out.back() == '0') out.pop_back();
  return out;
}

bool parseDecimal(std::string_view text, uint64_t* out) {
  if (text.empty()) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    if (v > (std::numeric_limits<uint64_t>::max() - 9) / 10) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

bool parsePaxTime(std::string_view text, int64_t* sec, uint32_t* nsec) {
  bool negative = !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  auto dot = text.find('.');
  uint64_t whole = 0;
  if (!parseDecimal(text.substr(0, dot), &whole) ||
      whole > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() - 1))
    return false;
  uint32_t frac = 0;
  if (dot != std::string_view::npos) {
    std::string_view digits = text.substr(dot + 1);
    for (size_t i = 0; i < 9; ++i) {
      char c = i < digits.size() ? digits[i] : '0';
      if (c < '0' || c > '9') return false;
      frac = frac * 10 + static_cast<uint32_t>(c - '0');
    }
  }
  if (!negative) {
    *sec = static_cast<int64_t>(whole);
    *nsec = frac;
  } else if (frac == 0) {
    *sec = -static_cast<int64_t>(whole);
    *nsec = 0;
  } else {
    *sec = -static_cast<int64_t>(whole) - 1;
    *nsec = 1'000'000'000 - frac;
  }
  return true;
}

// Octal (space or NUL terminated) or GNU base-256 (high bit set); negative values refused.
bool parseNumber(const char* field, size_t width, uint64_t* out) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(field[i]); };
  if (byte(0) & 0x80) {
    if (byte(0) & 0x40) return false;
    uint64_t v = byte(0) & 0x3f;
    for (size_t i = 1; i < width; ++i) {
      if (v > (std::numeric_limits<uint64_t>::max() >> 8)) return false;
      v = (v << 8) | byte(i);
    }
    *out = v;
    return true;
  }
  size_t i = 0;
  while (i < width && field[i] == ' ') ++i;
  uint64_t v = 0;
  for (; i < width && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (v > (std::numeric_limits<uint64_t>::max() >> 3)) return false;
    v = (v << 3) | static_cast<uint64_t>(field[i] - '0');
  }
  for (; i < width; ++i)
    if (field[i] != ' ' && field[i] != '\0') return false;
  *out = v;
  return true;
}

std::string fieldString(const Block& h, size_t offset, size_t width) {
  const char* p = h.data() + offset;
  return std::string(p, strnlen(p, width));
}

bool allZero(const char* data, size_t size) {
  return std::all_of(data, data + size, [](char c) { return c == '\0'; });
}

}  // namespace

const char* tarTypeName(TarType type) {
  switch (type) {
    case TarType::kFile: return "file";
    case TarType::kDirectory: return "dir";
    case TarType::kSymlink: return "symlink";
  }
  return "file";
}

core::Status TarWriter::emit(const char* data, size_t size) {
  written_ += size;
  return sink_(data, size);
}

core::Status TarWriter::begin(const TarEntry& entry) {
  if (in_entry_) return core::fail(core::ErrorCode::kInternal, "tar: previous entry not ended");
  std::string name = entry.name;
  if (entry.type == TarType::kDirectory && (name.empty() || name.back() != '/')) name += '/';
  uint64_t size = entry.type == TarType::kFile ? entry.size : 0;

  std::string pax;
  if (name.size() > kNameLen) pax += paxRecord("path", name);
  if (entry.link_target.size() > kNameLen) pax += paxRecord("linkpath", entry.link_target);
  if (!fitsOctal(size, kNumLen)) pax += paxRecord("size", std::to_string(size));
  if (!fitsOctal(entry.uid, kIdLen)) pax += paxRecord("uid", std::to_string(entry.uid));
  if (!fitsOctal(entry.gid, kIdLen)) pax += paxRecord("gid", std::to_string(entry.gid));
  bool mtime_fits =
      entry.mtime_sec >= 0 && fitsOctal(static_cast<uint64_t>(entry.mtime_sec), kNumLen);
  if (!mtime_fits || entry.mtime_nsec != 0)
    pax += paxRecord("mtime", formatPaxTime(entry.mtime_sec, entry.mtime_nsec));

  auto header = [&](char typeflag, std::string_view hname, uint64_t hsize) {
    Block h{};
    putString(h, kName, kNameLen, hname);
    putOctal(h, kMode, kIdLen, entry.mode & 07777);
    putOctal(h, kUid, kIdLen, fitsOctal(entry.uid, kIdLen) ? entry.uid : 0);
    putOctal(h, kGid, kIdLen, fitsOctal(entry.gid, kIdLen) ? entry.gid : 0);
    putOctal(h, kSize, kNumLen, fitsOctal(hsize, kNumLen) ? hsize : 0);
    putOctal(h, kMtime, kNumLen, mtime_fits ? static_cast<uint64_t>(entry.mtime_sec) : 0);
    h[kTypeflag] = typeflag;
    if (typeflag == '2') putString(h, kLinkname, kNameLen, entry.link_target);
    std::memcpy(h.data() + kMagic, "ustar", 6);  // with its NUL
    std::memcpy(h.data() + kVersion, "00", 2);
    putOctal(h, kDevmajor, kIdLen, 0);
    putOctal(h, kDevminor, kIdLen, 0);
    putChecksum(h);
    return h;
  };

  if (!pax.empty()) {
    std::string base = name;
    while (!base.empty() && base.back() == '/') base.pop_back();
    base = base.substr(base.find_last_of('/') + 1);
    std::string pax_name = "PaxHeaders/" + base.substr(0, kNameLen - 11);
    Block h = header('x', pax_name, pax.size());
    if (auto s = emit(h.data(), h.size()); !s) return s;
    pax.append(padding(pax.size()), '\0');
    if (auto s = emit(pax.data(), pax.size()); !s) return s;
  }
  char typeflag = entry.type == TarType::kFile        ? '0'
                  : entry.type == TarType::kDirectory ? '5'
                                                      : '2';
  Block h = header(typeflag, name, size);
  if (auto s = emit(h.data(), h.size()); !s) return s;
  in_entry_ = true;
  entry_size_ = size;
  entry_left_ = size;
  return {};
}

core::Status TarWriter::write(const char* data, size_t size) {
  if (!in_entry_ || size > entry_left_)
    return core::fail(core::ErrorCode::kInternal, "tar: more data than the entry's size");
  entry_left_ -= size;
  return emit(data, size);
}

core::Status TarWriter::end() {
  if (!in_entry_) return core::fail(core::ErrorCode::kInternal, "tar: no entry to end");
  if (entry_left_ != 0)
    return core::fail(core::ErrorCode::kInternal,
                      fmt::format("tar: entry ended {} bytes short", entry_left_));
  in_entry_ = false;
  static const Block kZero{};
  return emit(kZero.data(), padding(entry_size_));
}

core::Status TarWriter::finish() {
  if (in_entry_) return core::fail(core::ErrorCode::kInternal, "tar: last entry not ended");
  static const std::array<char, 2 * kTarBlock> kZero{};
  return emit(kZero.data(), kZero.size());
}

core::Error TarReader::corrupt(const std::string& message) const {
  return core::Error(core::ErrorCode::kFailedPrecondition,
                     where_ + ": bad tar archive: " + message);
}

core::Status TarReader::readExact(char* data, size_t size, const char* what) {
  while (size > 0) {
    auto n = source_(data, size);
    if (!n) return core::fail(n.error());
    if (*n == 0) return core::fail(corrupt(std::string("truncated in ") + what));
    data += *n;
    size -= *n;
  }
  return {};
}

core::Status TarReader::skipData() {
  std::vector<char> buf(std::min<uint64_t>(data_left_ + padding_, 256 * 1024));
  uint64_t left = data_left_ + padding_;
  data_left_ = padding_ = 0;
  while (left > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
    if (auto s = readExact(buf.data(), n, "entry data"); !s) return s;
    left -= n;
  }
  return {};
}

core::Status TarReader::readData(const ByteSink& sink) {
  std::vector<char> buf(std::min<uint64_t>(data_left_, 256 * 1024));
  while (data_left_ > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(data_left_, buf.size()));
    if (auto s = readExact(buf.data(), n, "entry data"); !s) return s;
    data_left_ -= n;
    if (auto s = sink(buf.data(), n); !s) return s;
  }
  return skipData();  // the padding
}

core::Result<std::optional<TarEntry>> TarReader::next() {
  if (ended_) return std::nullopt;
  if (auto s = skipData(); !s) return core::fail(s.error());

  std::optional<std::string> long_path, long_link;
  std::optional<uint64_t> pax_size, pax_uid, pax_gid;
  std::optional<std::pair<int64_t, uint32_t>> pax_mtime;
  bool pending = false;  // metadata waiting for its entry

  while (true) {
    Block h;
    {
      auto n = source_(h.data(), h.size());
      if (!n) return core::fail(n.error());
      if (*n == 0) return core::fail(corrupt("the end-of-archive marker is missing"));
      if (*n < h.size()) {
        if (auto s = readExact(h.data() + *n, h.size() - *n, "a header"); !s)
          return core::fail(s.error());
      }
    }
    if (allZero(h.data(), h.size())) {
      if (pending) return core::fail(corrupt("extended header without an entry"));
      if (auto s = readExact(h.data(), h.size(), "the end-of-archive marker"); !s)
        return core::fail(s.error());
      if (!allZero(h.data(), h.size())) return core::fail(corrupt("lone zero block"));
      // Writers pad to a record size; anything else after the marker is damage.
      std::vector<char> rest(64 * 1024);
      while (true) {
        auto n = source_(rest.data(), rest.size());
        if (!n) return core::fail(n.error());
        if (*n == 0) break;
        if (!allZero(rest.data(), *n))
          return core::fail(corrupt("data after the end-of-archive marker"));
      }
      ended_ = true;
      return std::nullopt;
    }

    uint64_t stored_sum = 0;
    if (!parseNumber(h.data() + kChksum, kChksumLen, &stored_sum) ||
        stored_sum != headerChecksum(h))
      return core::fail(corrupt("header checksum mismatch"));
    if (std::memcmp(h.data() + kMagic, "ustar", 5) != 0)
      return core::fail(corrupt("not a ustar/pax header"));

    std::string header_name = fieldString(h, kName, kNameLen);
    uint64_t size = 0;
    if (!parseNumber(h.data() + kSize, kNumLen, &size))
      return core::fail(corrupt("bad size field for '" + header_name + "'"));
    char typeflag = h[kTypeflag];

    if (typeflag == 'x' || typeflag == 'g' || typeflag == 'L' || typeflag == 'K') {
      size_t limit = (typeflag == 'x' || typeflag == 'g') ? kMaxPaxHeader : kMaxLongName;
      if (size > limit) return core::fail(corrupt("oversized extended header"));
      std::string data(static_cast<size_t>(size), '\0');
      if (auto s = readExact(data.data(), data.size(), "an extended header"); !s)
        return core::fail(s.error());
      data_left_ = 0;
      padding_ = padding(size);
      if (auto s = skipData(); !s) return core::fail(s.error());
      if (typeflag == 'g') continue;  // global defaults: nothing a backup relies on
      pending = true;
      if (typeflag == 'L' || typeflag == 'K') {
        data.resize(strnlen(data.data(), data.size()));
        (typeflag == 'L' ? long_path : long_link) = data;
        continue;
      }
      std::string_view rest = data;
      while (!rest.empty()) {
        auto space = rest.find(' ');
        uint64_t len = 0;
        if (space == std::string_view::npos || !parseDecimal(rest.substr(0, space), &len) ||
            len <= space + 1 || len > rest.size() || rest[len - 1] != '\n')
          return core::fail(corrupt("malformed pax record"));
        std::string_view record = rest.substr(space + 1, len - space - 2);
        rest.remove_prefix(len);
        auto eq = record.find('=');
        if (eq == std::string_view::npos) return core::fail(corrupt("malformed pax record"));
        std::string_view key = record.substr(0, eq), value = record.substr(eq + 1);
        uint64_t number = 0;
        if (key == "path") {
          long_path = std::string(value);
        } else if (key == "linkpath") {
          long_link = std::string(value);
        } else if (key == "size" || key == "uid" || key == "gid") {
          if (!parseDecimal(value, &number))
            return core::fail(
                corrupt("bad pax " + std::string(key) + " '" + std::string(value) + "'"));
          (key == "size" ? pax_size : key == "uid" ? pax_uid : pax_gid) = number;
        } else if (key == "mtime") {
          int64_t sec = 0;
          uint32_t nsec = 0;
          if (!parsePaxTime(value, &sec, &nsec))
            return core::fail(corrupt("bad pax mtime '" + std::string(value) + "'"));
          pax_mtime = {sec, nsec};
        }
        // Other keys (atime, ctime, uname, xattrs...) carry nothing a restore uses.
      }
      continue;
    }

    TarEntry entry;
    switch (typeflag) {
      case '0':
      case '\0':
      case '7':
        entry.type = TarType::kFile;
        break;
      case '5':
        entry.type = TarType::kDirectory;
        break;
      case '2':
        entry.type = TarType::kSymlink;
        break;
      default:
        std::string type = typeflag == '1' ? "hard link" : std::string(1, typeflag);
        return core::fail(
            corrupt(fmt::format("unsupported entry type '{}' for '{}'", type, header_name)));
    }
    std::string prefix = fieldString(h, kPrefix, kPrefixLen);
    entry.name = long_path ? *long_path : prefix.empty() ? header_name : prefix + "/" + header_name;
    entry.link_target = long_link ? *long_link : fieldString(h, kLinkname, kNameLen);
    uint64_t mode = 0, uid = 0, gid = 0, mtime = 0;
    if (!parseNumber(h.data() + kMode, kIdLen, &mode) ||
        !parseNumber(h.data() + kUid, kIdLen, &uid) ||
        !parseNumber(h.data() + kGid, kIdLen, &gid) ||
        !parseNumber(h.data() + kMtime, kNumLen, &mtime) ||
        mtime > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return core::fail(corrupt("bad numeric field for '" + entry.name + "'"));
    entry.mode = static_cast<uint32_t>(mode & 07777);
    entry.uid = pax_uid.value_or(uid);
    entry.gid = pax_gid.value_or(gid);
    entry.size = pax_size.value_or(size);
    entry.mtime_sec = pax_mtime ? pax_mtime->first : static_cast<int64_t>(mtime);
    entry.mtime_nsec = pax_mtime ? pax_mtime->second : 0;
    // Only files have data, but a size on anything else is still there to skip.
    data_left_ = entry.size;
    padding_ = padding(entry.size);
    if (entry.type != TarType::kFile) {
      entry.size = 0;
      if (auto s = skipData(); !s) return core::fail(s.error());
    }
    return entry;
  }
}

core::Result<std::string> safeMemberPath(std::string_view name) {
  auto refuse = [&](const char* why) {
    return core::fail(core::ErrorCode::kFailedPrecondition,
                      "unsafe archive member '" + std::string(name) + "': " + why);
  };
  if (name.find('\0') != std::string_view::npos) return refuse("NUL byte in the name");
  if (!name.empty() && name[0] == '/') return refuse("absolute path");
  std::string out;
  size_t i = 0;
  while (i <= name.size()) {
    size_t j = std::min(name.find('/', i), name.size());
    std::string_view part = name.substr(i, j - i);
    if (part == "..") return refuse("'..' component (path traversal)");
    if (!part.empty() && part != ".") {
      if (!out.empty()) out += '/';
      out += part;
    }
    i = j + 1;
  }
  return out;
}

}  // namespace firebreak::actions::backup
