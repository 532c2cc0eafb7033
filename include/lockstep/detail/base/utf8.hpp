// Where a text stops being something PostgreSQL and the event stream can
// carry: a NUL byte (libpq sends C strings, so it silently cuts the text
// short) or a byte that is not UTF-8 (the server refuses it with 22021, and
// an event holding it is not JSON). One check for migration files and for
// every setting that reaches SQL or an event.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace lockstep::detail {

struct BadByte {
  std::size_t offset = 0;
  bool nul = false;  // else: not UTF-8
};

// The length of the UTF-8 sequence at `i` (1 to 4), or 0 where none starts.
[[nodiscard]] inline std::size_t utf8_sequence_at(std::string_view text, std::size_t i) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  const unsigned char c = s[i];
  const std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  bool ok = len != 0 && i + len <= n;
  for (std::size_t k = 1; ok && k < len; ++k) ok = (s[i + k] & 0xc0) == 0x80;
  if (ok && len == 2) ok = c >= 0xc2;                                                           // overlong
  if (ok && len == 3) ok = !(c == 0xe0 && s[i + 1] < 0xa0) && !(c == 0xed && s[i + 1] >= 0xa0);  // overlong, surrogates
  if (ok && len == 4) ok = c <= 0xf4 && !(c == 0xf0 && s[i + 1] < 0x90) && !(c == 0xf4 && s[i + 1] >= 0x90);
  return ok ? len : 0;
}

[[nodiscard]] inline std::optional<BadByte> first_bad_byte(std::string_view text) noexcept {
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '\0') return BadByte{i, true};
    const std::size_t len = utf8_sequence_at(text, i);
    if (len == 0) return BadByte{i, false};
    i += len;
  }
  return std::nullopt;
}

}  // namespace lockstep::detail
