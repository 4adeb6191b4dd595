#include "core/error.hpp"

#include <cstdio>
#include <cstdlib>

namespace memcarlo {

FileError::FileError(const std::string& file, const std::string& what)
    : Error(fmt::format("{}: {}", file, what)) {}

FileError::FileError(const std::string& file, const std::string& object, const std::string& what)
    : Error(fmt::format("{}: {}: {}", file, object, what)) {}

void assertion_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "memcarlo: internal error: assertion '%s' failed at %s:%d\n", condition, file, line);
  std::abort();
}

std::string printable(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  const auto escape = [&](unsigned char c) { out += fmt::format("\\x{:02x}", c); };
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) escape(c); else out += static_cast<char>(c);
      ++i;
      continue;
    }
    // The length of a well-formed UTF-8 sequence starting with c (RFC 3629: no overlong forms,
    // no surrogates, nothing above U+10FFFF); 0 if c cannot start one.
    std::size_t length = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) length = 2;
    else if (c >= 0xe0 && c <= 0xef) { length = 3; if (c == 0xe0) lo = 0xa0; if (c == 0xed) hi = 0x9f; }
    else if (c >= 0xf0 && c <= 0xf4) { length = 4; if (c == 0xf0) lo = 0x90; if (c == 0xf4) hi = 0x8f; }
    bool valid = length > 0 && i + length <= n && p[i + 1] >= lo && p[i + 1] <= hi;
    for (std::size_t k = 2; valid && k < length; ++k) valid = p[i + k] >= 0x80 && p[i + k] <= 0xbf;
    if (!valid) {
      escape(c);
      ++i;
      continue;
    }
    out.append(text, i, length);
    i += length;
  }
  return out;
}

}  // namespace memcarlo
