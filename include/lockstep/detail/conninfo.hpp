// Connection-string handling: redaction for anything printed, and adding
// lockstep's connection options without overriding what the user chose.
#pragma once

#include <string>
#include <string_view>

namespace lockstep::detail {

[[nodiscard]] inline bool is_uri(std::string_view conninfo) noexcept {
  return conninfo.starts_with("postgresql://") || conninfo.starts_with("postgres://");
}

// Replaces every password in a URI (user:secret@host, ?password=secret) or a
// key=value string (password=secret, password='se cret') with "***".
[[nodiscard]] inline std::string redact(std::string_view conninfo) {
  std::string s{conninfo};
  if (is_uri(s)) {
    const auto scheme_end = s.find("://") + 3;
    const auto authority_end = s.find_first_of("/?", scheme_end);
    const auto at = s.rfind('@', authority_end == std::string::npos ? s.size() : authority_end);
    if (at != std::string::npos && at > scheme_end) {
      const auto colon = s.find(':', scheme_end);
      if (colon != std::string::npos && colon < at) s.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // password=... in a URI query string or a key=value conninfo.
  for (std::size_t pos = 0; (pos = s.find("password", pos)) != std::string::npos;) {
    std::size_t i = pos + 8;
    while (i < s.size() && s[i] == ' ') ++i;
    const bool preceded_ok = pos == 0 || s[pos - 1] == ' ' || s[pos - 1] == '?' || s[pos - 1] == '&';
    if (!preceded_ok || i >= s.size() || s[i] != '=') {
      pos = i;
      continue;
    }
    ++i;
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t end = i;
    if (end < s.size() && s[end] == '\'') {
      ++end;
      while (end < s.size() && s[end] != '\'') end += (s[end] == '\\') ? 2 : 1;
      end = end < s.size() ? end + 1 : s.size();
    } else {
      while (end < s.size() && s[end] != ' ' && s[end] != '&') ++end;
    }
    s.replace(i, end - i, "***");
    pos = i + 3;
  }
  return s;
}

// Appends key=value unless the user already set that key.
[[nodiscard]] inline std::string with_option(std::string conninfo, std::string_view key, std::string_view value) {
  const std::string needle = std::string{key} + "=";
  const auto found = conninfo.find(needle);
  const bool present = found != std::string::npos &&
                       (found == 0 || conninfo[found - 1] == ' ' || conninfo[found - 1] == '?' ||
                        conninfo[found - 1] == '&');
  if (present) return conninfo;
  if (is_uri(conninfo)) {
    conninfo += conninfo.find('?') == std::string::npos ? '?' : '&';
  } else if (!conninfo.empty()) {
    conninfo += ' ';
  }
  conninfo += needle;
  conninfo += value;
  return conninfo;
}

}  // namespace lockstep::detail
