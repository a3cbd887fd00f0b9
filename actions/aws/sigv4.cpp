#include "actions/aws/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>

namespace firebreak::actions::aws {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
// sha256("")
constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Trimall: no space around, every run of white space (folded lines too) one space.
std::string trimAll(std::string_view value) {
  std::string out;
  bool pending_space = false;
  for (char c : value) {
    if (isSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

bool isUnreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX sequences decoded; anything else (a stray '%', '+') kept as it is.
std::string percentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hexValue(s[i + 1]), lo = hexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// RFC 3986 section 5.2.4, and empty segments dropped as AWS does ("//a//" -> "/a/").
std::string removeDotSegments(std::string_view path) {
  if (path.empty()) return "/";
  std::vector<std::string_view> kept;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(start, end - start);
    if (seg == "..") {
      if (!kept.empty()) kept.pop_back();
    } else if (!seg.empty() && seg != ".") {
      kept.push_back(seg);
    }
    start = end + 1;
  }
  std::string out = path.front() == '/' ? "/" : "";
  for (size_t i = 0; i < kept.size(); ++i) {
    if (i) out += '/';
    out += kept[i];
  }
  if (path.back() == '/' && !kept.empty()) out += '/';
  return out;
}

std::string digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // Allocation failure inside OpenSSL: nothing sensible to sign with.
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) std::abort();
  return std::string(reinterpret_cast<char*>(out), len);
}

bool neverSigned(const std::string& lname) {
  return lname == "authorization" || lname == "user-agent" || lname == "expect" ||
         lname == "transfer-encoding" || lname == "x-amzn-trace-id";
}

void removeHeader(Headers& headers, std::string_view lname) {
  std::erase_if(headers, [&](const auto& h) { return lower(h.first) == lname; });
}

}  // namespace

std::string toHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0xf];
  }
  return out;
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(std::max(n, 0)));
  return out;
}

std::string sha256Hex(std::string_view data) { return toHex(digest(EVP_sha256(), data)); }

std::string contentMd5(std::string_view data) { return base64(digest(EVP_md5(), data)); }

std::string hmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len))
    std::abort();
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string signingKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service) {
  std::string k = hmacSha256("AWS4" + std::string(secret), date);
  k = hmacSha256(k, region);
  k = hmacSha256(k, service);
  return hmacSha256(k, "aws4_request");
}

std::string amzDate(core::TimePoint time) {
  std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string uriEncode(std::string_view text, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (isUnreserved(c) || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kDigits[c >> 4];
      out += kDigits[c & 0xf];
    }
  }
  return out;
}

std::string canonicalQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view piece = query.substr(start, end - start);
    if (!piece.empty()) {
      size_t eq = piece.find('=');
      std::string_view name = piece.substr(0, eq);
      std::string_view value =
          eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
      pairs.emplace_back(uriEncode(percentDecode(name)), uriEncode(percentDecode(value)));
    }
    start = end + 1;
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& [name, value] : pairs) {
    if (!out.empty()) out += '&';
    out += name + "=" + value;
  }
  return out;
}

std::string canonicalPath(std::string_view path, bool normalize, bool double_encode) {
  std::string p = normalize ? removeDotSegments(path) : std::string(path);
  if (p.empty()) p = "/";
  return double_encode ? uriEncode(p, /*keep_slash=*/true) : p;
}

Signature signRequest(const SigningRequest& request, const Credentials& credentials,
                      const SigningOptions& options) {
  Signature sig;
  const std::string date_time = amzDate(options.time);
  const std::string date = date_time.substr(0, 8);
  const std::string payload_hash =
      request.payload_hash.empty() ? std::string(kEmptySha256) : request.payload_hash;

  // The headers this signature adds replace any the caller set.
  Headers headers = request.headers;
  removeHeader(headers, "authorization");
  removeHeader(headers, "x-amz-date");
  sig.headers.emplace_back("X-Amz-Date", date_time);
  if (options.content_sha256_header) {
    removeHeader(headers, "x-amz-content-sha256");
    sig.headers.emplace_back("X-Amz-Content-SHA256", payload_hash);
  }
  bool has_token = !credentials.session_token.empty();
  if (has_token) {
    removeHeader(headers, "x-amz-security-token");
    sig.headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }

  // Name -> values in request order, for every signed header.
  std::map<std::string, std::vector<std::string>> signed_values;
  auto add = [&](const std::string& name, const std::string& value) {
    std::string lname = lower(name);
    if (neverSigned(lname)) return;
    if (lname == "x-amz-security-token" && !options.sign_session_token) return;
    signed_values[lname].push_back(trimAll(value));
  };
  for (const auto& [name, value] : headers) add(name, value);
  for (const auto& [name, value] : sig.headers) add(name, value);

  std::string canonical_headers, signed_headers;
  for (const auto& [name, values] : signed_values) {
    canonical_headers += name + ":";
    for (size_t i = 0; i < values.size(); ++i) canonical_headers += (i ? "," : "") + values[i];
    canonical_headers += "\n";
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += name;
  }

  std::string method = request.method;
  for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  sig.canonical_request =
      method + "\n" +
      canonicalPath(request.path, options.normalize_path, options.double_encode_path) + "\n" +
      canonicalQuery(request.query) + "\n" + canonical_headers + "\n" + signed_headers + "\n" +
      payload_hash;

  const std::string scope = date + "/" + options.region + "/" + options.service + "/aws4_request";
  sig.string_to_sign = std::string(kAlgorithm) + "\n" + date_time + "\n" + scope + "\n" +
                       sha256Hex(sig.canonical_request);
  sig.signature = toHex(
      hmacSha256(signingKey(credentials.secret_access_key, date, options.region, options.service),
                 sig.string_to_sign));
  sig.authorization = std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                      scope + ", SignedHeaders=" + signed_headers + ", Signature=" + sig.signature;
  sig.headers.emplace_back("Authorization", sig.authorization);
  return sig;
}

}  // namespace firebreak::actions::aws
