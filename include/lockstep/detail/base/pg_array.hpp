// PostgreSQL's text output of a one-dimensional text[] ({a,"b c",NULL}),
// read on the client: comparing on the server would cost the every-boot
// query an operator lookup (~0.7 ms on a fresh backend).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lockstep::detail {

// nullopt for anything that is not such an array (a NULL element included:
// the ledger never writes one), so the caller falls back to the ledger.
[[nodiscard]] inline std::optional<std::vector<std::string>> parse_text_array(std::string_view s) {
  if (s.size() < 2 || s.front() != '{' || s.back() != '}') return std::nullopt;
  std::vector<std::string> out;
  if (s.size() == 2) return out;
  std::size_t i = 1;
  const std::size_t end = s.size() - 1;
  for (;;) {
    std::string item;
    if (i < end && s[i] == '"') {
      for (++i;; ++i) {
        if (i >= end) return std::nullopt;
        if (s[i] == '"') break;
        if (s[i] == '\\' && ++i >= end) return std::nullopt;
        item += s[i];
      }
      ++i;
    } else {
      const std::size_t start = i;
      while (i < end && s[i] != ',') {
        if (s[i] == '"' || s[i] == '\\' || s[i] == '{' || s[i] == '}') return std::nullopt;
        ++i;
      }
      item.assign(s.substr(start, i - start));
      // Unquoted NULL, in any case, is a NULL element; a string "null" is quoted.
      if (item.empty() || (item.size() == 4 && (item[0] | 0x20) == 'n' && (item[1] | 0x20) == 'u' &&
                           (item[2] | 0x20) == 'l' && (item[3] | 0x20) == 'l')) {
        return std::nullopt;
      }
    }
    out.push_back(std::move(item));
    if (i == end) return out;
    if (s[i] != ',') return std::nullopt;
    ++i;
  }
}

}  // namespace lockstep::detail
