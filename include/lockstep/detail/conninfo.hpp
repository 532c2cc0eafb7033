// Connection strings: parsed exactly as libpq parses them, checked before the
// first attempt (a malformed string can never succeed, so it is not retried),
// rebuilt as quoted key=value pairs with lockstep's own options added where
// the user set none, and every secret in them known so that no printed
// string can carry one.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lockstep/detail/libpq_adapter.hpp"
#include "lockstep/error.hpp"

namespace lockstep::detail {

// Keys whose values are secrets, in connection strings and in any text.
[[nodiscard]] inline bool is_secret_key(std::string_view key) noexcept {
  return key == "password" || key == "sslpassword";
}

namespace redaction {

[[nodiscard]] inline bool word_boundary(std::string_view s, std::size_t pos) noexcept {
  if (pos == 0) return true;
  const unsigned char c = static_cast<unsigned char>(s[pos - 1]);
  return !(std::isalnum(c) || c == '_');
}

// scheme://user:SECRET@host anywhere in `s`, well-formed or not.
inline void uri_userinfo(std::string& s) {
  for (std::size_t pos = 0; (pos = s.find("://", pos)) != std::string::npos;) {
    const std::size_t start = pos + 3;
    std::size_t end = start;
    while (end < s.size() && std::string_view{"/?#\"' \t\r\n"}.find(s[end]) == std::string_view::npos) ++end;
    const auto at = s.rfind('@', end == 0 ? 0 : end - 1);
    if (at != std::string::npos && at >= start) {
      const auto colon = s.find(':', start);
      if (colon != std::string::npos && colon < at && s.compare(colon + 1, at - colon - 1, "***") != 0) {
        s.replace(colon + 1, at - colon - 1, "***");
        end = colon + 4;
      }
    }
    pos = std::max(end, start);
  }
}

// [ssl]password = value, value quoted or not, after any separator (space,
// tab, newline, ?, &), in key=value strings, URI queries and free text.
// Calls found(begin, end) for each value's span, front to back.
template <class Found>
void find_key_values(std::string_view s, Found&& found) {
  for (std::size_t pos = 0; (pos = s.find("password", pos)) != std::string_view::npos;) {
    std::size_t key_start = pos;
    if (pos >= 3 && s.substr(pos - 3, 3) == "ssl") key_start = pos - 3;
    std::size_t i = pos + 8;
    pos = i;
    if (!word_boundary(s, key_start)) continue;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i >= s.size() || s[i] != '=') continue;
    ++i;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    std::size_t end = i;
    if (end < s.size() && s[end] == '\'') {
      ++end;
      while (end < s.size() && s[end] != '\'') end += (s[end] == '\\') ? 2 : 1;
      end = std::min(end + 1, s.size());
    } else {
      while (end < s.size() && std::string_view{" \t\r\n&\"\\"}.find(s[end]) == std::string_view::npos) ++end;
    }
    found(i, end);
    pos = end;
  }
}

inline void key_values(std::string& s) {
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  find_key_values(s, [&](std::size_t b, std::size_t e) { spans.emplace_back(b, e); });
  for (auto it = spans.rbegin(); it != spans.rend(); ++it) s.replace(it->first, it->second - it->first, "***");
}

}  // namespace redaction

// Pattern-based redaction for text whose secrets are not known in advance.
[[nodiscard]] inline std::string redact(std::string_view text) {
  std::string s{text};
  redaction::uri_userinfo(s);
  redaction::key_values(s);
  return s;
}

// Replaces the known secrets, and whatever looks like one, in any string
// lockstep prints: its own messages, libpq's (which may quote the whole
// connection string) and the server's.
class Redactor {
 public:
  Redactor() = default;
  explicit Redactor(std::vector<std::string> secrets) : secrets_{std::move(secrets)} {
    std::erase_if(secrets_, [](const std::string& x) { return x.empty(); });
    // Longest first, so a secret that contains another is replaced whole.
    std::sort(secrets_.begin(), secrets_.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  }

  [[nodiscard]] std::string operator()(std::string_view text) const {
    std::string s{text};
    for (const auto& secret : secrets_) {
      for (std::size_t pos = 0; (pos = s.find(secret, pos)) != std::string::npos; pos += 3) s.replace(pos, secret.size(), "***");
    }
    redaction::uri_userinfo(s);
    redaction::key_values(s);
    return s;
  }

  void scrub(Error& e) const {
    for (std::string* f : {&e.message, &e.server_message, &e.detail, &e.hint, &e.file}) *f = (*this)(*f);
  }

  [[nodiscard]] const std::vector<std::string>& secrets() const noexcept { return secrets_; }

 private:
  std::vector<std::string> secrets_;
};

[[nodiscard]] inline std::string percent_decode(std::string_view s) {
  std::string out;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Every secret a connection string holds, in every spelling that may be
// printed: as written (percent-encoded in a URI) and as libpq reads it.
// Works on strings that libpq cannot parse, too.
[[nodiscard]] inline std::vector<std::string> secrets_in(std::string_view conninfo) {
  std::vector<std::string> out;
  const std::string s{conninfo};
  if (const auto scheme = s.find("://"); scheme != std::string::npos) {
    const auto start = scheme + 3;
    const auto at = s.find('@', start);
    const auto slash = s.find_first_of("/?", start);
    if (at != std::string::npos && (slash == std::string::npos || at < slash || s.find('[', start) < at + 1)) {
      const auto colon = s.find(':', start);
      if (colon != std::string::npos && colon < at) {
        out.push_back(s.substr(colon + 1, at - colon - 1));
        out.push_back(percent_decode(out.back()));
      }
    }
  }
  // Values after [ssl]password= as written, whatever libpq makes of them.
  redaction::find_key_values(s, [&](std::size_t b, std::size_t e) {
    std::string raw = s.substr(b, e - b);
    if (raw.size() >= 2 && raw.front() == '\'' && raw.back() == '\'') raw = raw.substr(1, raw.size() - 2);
    if (raw == "***") return;
    out.push_back(percent_decode(raw));
    out.push_back(std::move(raw));
  });
  const auto parsed = libpq_parse_conninfo(s);
  for (const auto& o : parsed.options) {
    if (is_secret_key(o.key)) out.push_back(o.value);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

namespace conninfo_checks {

[[nodiscard]] inline bool is_integer(std::string_view v, long long lo, long long hi) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty() || v.size() > 12) return false;
  long long n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  return n >= lo && n <= hi;
}

[[nodiscard]] inline bool one_of(std::string_view v, std::initializer_list<std::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), v) != allowed.end();
}

// libpq checks these only when it connects, and reports them as a failed
// connection that a retry would repeat for the whole deadline.
[[nodiscard]] inline std::string problem(const ConnOption& o) {
  const std::string_view k = o.key, v = o.value;
  if (k == "port") {
    std::string_view rest = v;
    for (;;) {
      const auto comma = rest.find(',');
      const auto one = rest.substr(0, comma);
      if (!one.empty() && !is_integer(one, 1, 65535)) return "is not a port number (1-65535)";
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    return {};
  }
  if (k == "connect_timeout" || k == "keepalives_idle" || k == "keepalives_interval" || k == "keepalives_count" ||
      k == "tcp_user_timeout") {
    return is_integer(v, 0, 2147483647) ? std::string{} : "is not a non-negative whole number";
  }
  if (k == "keepalives") return is_integer(v, 0, 1) ? std::string{} : "must be 0 or 1";
  if (k == "sslmode") {
    return one_of(v, {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})
               ? std::string{}
               : "is not an sslmode (disable, allow, prefer, require, verify-ca, verify-full)";
  }
  if (k == "gssencmode") {
    return one_of(v, {"disable", "prefer", "require"}) ? std::string{} : "is not a gssencmode (disable, prefer, require)";
  }
  if (k == "channel_binding") {
    return one_of(v, {"disable", "prefer", "require"}) ? std::string{}
                                                       : "is not a channel_binding (disable, prefer, require)";
  }
  if (k == "target_session_attrs") {
    return one_of(v, {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"})
               ? std::string{}
               : "is not a target_session_attrs (any, read-write, read-only, primary, standby, prefer-standby)";
  }
  if (k == "load_balance_hosts") {
    return one_of(v, {"disable", "random"}) ? std::string{} : "is not a load_balance_hosts (disable, random)";
  }
  return {};
}

}  // namespace conninfo_checks

// A connection string as libpq reads it, ready to extend and rebuild.
class Conninfo {
 public:
  // Fails (invalid_argument) on anything libpq would refuse without ever
  // reaching a server; the message never holds a secret.
  [[nodiscard]] static result<Conninfo> parse(const std::string& text) {
    auto parsed = libpq_parse_conninfo(text);
    // Only an error message needs the secrets: the every-boot path skips it.
    auto redact = [&](std::string_view t) { return Redactor{secrets_in(text)}(t); };
    if (!parsed.error.empty()) {
      return make_error(errc::invalid_argument, "the database URL " + redact(text) + " cannot be parsed: " +
                                                    redact(parsed.error) +
                                                    "; fix its syntax (postgresql://user:password@host:port/db?"
                                                    "option=value, or key=value pairs)");
    }
    for (const auto& o : parsed.options) {
      if (auto why = conninfo_checks::problem(o); !why.empty()) {
        return make_error(errc::invalid_argument, "the database URL " + redact(text) + " sets " + o.key + "='" +
                                                      redact(o.value) + "', which " + why +
                                                      "; a connection with it can never succeed, so it is not "
                                                      "retried: fix the URL");
      }
    }
    Conninfo c;
    c.options_ = std::move(parsed.options);
    return c;
  }

  [[nodiscard]] const std::string* find(std::string_view key) const {
    for (const auto& o : options_) {
      if (o.key == key) return &o.value;
    }
    return nullptr;
  }

  // Adds key=value unless the user already set that key.
  Conninfo& set_default(std::string_view key, std::string value) {
    if (find(key) == nullptr) options_.push_back(ConnOption{std::string{key}, std::move(value)});
    return *this;
  }

  // key='value' pairs, each value quoted, so spaces, quotes and backslashes
  // in any of them (an application_name, a password) survive.
  [[nodiscard]] std::string str() const {
    std::string out;
    for (const auto& o : options_) {
      if (!out.empty()) out += ' ';
      out += o.key;
      out += "='";
      for (char ch : o.value) {
        if (ch == '\'' || ch == '\\') out += '\\';
        out += ch;
      }
      out += '\'';
    }
    return out;
  }

 private:
  std::vector<ConnOption> options_;
};

}  // namespace lockstep::detail
