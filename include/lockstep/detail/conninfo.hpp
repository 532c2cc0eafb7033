// Connection strings: parsed exactly as libpq parses them, checked before the
// first attempt (a malformed string can never succeed, so it is not retried),
// rebuilt as quoted key=value pairs with lockstep's own options added where
// the user set none, and every secret in them known so that no printed
// string can carry one.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
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

// How secrets are kept out of everything lockstep prints (docs/operations.md,
// "Secrets"). Two rules, applied to each string value before it is encoded:
//  1. Structure, whatever the secret's length: the password of a URL
//     (scheme://user:PASSWORD@host) and the value of any key ending in
//     "password" (password=, sslpassword=, PGPASSWORD=, ?password=) in
//     key=value strings, URL queries and free text.
//  2. The known secrets (the URL's, the environment's) as text: one of
//     kMinFreeTextSecret characters or more wherever it appears; a shorter
//     one only where it stands between delimiters (quotes, ':', '@', '/', '=',
//     '&', ',', '?', '#', brackets or the ends of the string), as libpq and
//     lockstep quote a value. A one-character password replaced everywhere
//     would turn every "t" of every message into "***" and still reveal
//     nothing that rule 1 does not already hide. A short one of punctuation
//     only ("/", "\"") only between quotes: it cannot be told from syntax.
//     A value that is exactly a secret is replaced whatever its length.
inline constexpr std::size_t kMinFreeTextSecret = 4;

namespace redaction {

struct Span {
  std::size_t begin;
  std::size_t end;
};

[[nodiscard]] inline bool is_word(char ch) noexcept {
  const auto c = static_cast<unsigned char>(ch);
  return std::isalnum(c) != 0 || c == '_';
}

[[nodiscard]] inline bool is_space(char ch) noexcept {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

[[nodiscard]] inline int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

[[nodiscard]] inline std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// A key whose value is a secret: password, sslpassword, PGPASSWORD,
// db_password..., in any case (libpq refuses "Password=", but its value
// must not be printed in the message that says so).
[[nodiscard]] inline bool is_secret_name(std::string_view key) noexcept {
  constexpr std::string_view tail = "password";
  if (key.size() < tail.size()) return false;
  const auto end = key.substr(key.size() - tail.size());
  for (std::size_t i = 0; i < tail.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(end[i])) != tail[i]) return false;
  }
  return std::all_of(key.begin(), key.end(), [](char c) { return is_word(c); });
}

// One URL in a text: "scheme://" up to the first whitespace or the end.
struct Uri {
  std::size_t start = 0;  // just after "://"
  std::size_t end = 0;
};

[[nodiscard]] inline std::vector<Uri> uris_in(std::string_view s) {
  std::vector<Uri> out;
  for (std::size_t pos = 0; (pos = s.find("://", pos)) != std::string_view::npos;) {
    Uri u{pos + 3, pos + 3};
    while (u.end < s.size() && !is_space(s[u.end])) ++u.end;
    out.push_back(u);
    pos = u.end;
  }
  return out;
}

// Where a URL's password may end. libpq ends the user info at the first '@'
// (unless a '/' comes first); RFC 3986 read leniently ends it at the last
// '@' before the host. A password with an unencoded '@', '/', '?' or '#'
// makes the two differ, so every '@' after the user's ':' is a possible
// end, and the redacted span runs to the last one. The ':' must come before
// the first '@' (after it, it is a host's port or an IPv6 address).
struct UserInfo {
  std::size_t colon = std::string_view::npos;  // npos: no password
  std::vector<std::size_t> ats;                // every '@' after the colon
};

[[nodiscard]] inline UserInfo user_info(std::string_view s, const Uri& u) {
  UserInfo out;
  const auto token = s.substr(u.start, u.end - u.start);
  const auto colon = token.find(':');
  const auto at = token.find('@');
  if (colon == std::string_view::npos || at == std::string_view::npos || colon > at) return out;
  out.colon = u.start + colon;
  for (auto a = at; a != std::string_view::npos; a = token.find('@', a + 1)) out.ats.push_back(u.start + a);
  return out;
}

// The values of secret parameters in a URL's query (?password=x&...),
// their keys percent-decoded as libpq decodes them (pass%77ord is password).
template <class Found>
void uri_query_secrets(std::string_view s, const Uri& u, std::size_t from, Found&& found) {
  const auto q = s.find('?', from);
  if (q == std::string_view::npos || q >= u.end) return;
  for (std::size_t i = q + 1; i < u.end;) {
    std::size_t amp = s.find('&', i);
    if (amp == std::string_view::npos || amp > u.end) amp = u.end;
    const auto eq = s.find('=', i);
    if (eq != std::string_view::npos && eq < amp && is_secret_name(percent_decode(s.substr(i, eq - i)))) {
      found(Span{eq + 1, amp});
    }
    i = amp + 1;
  }
}

// key = value in libpq's key=value syntax (a value in single quotes with
// backslash escapes, or unquoted up to whitespace), for every key
// ending in "password", outside URLs. Calls found() with the value's span,
// quotes included.
template <class Found>
void key_value_secrets(std::string_view s, const std::vector<Uri>& uris, Found&& found) {
  auto in_uri = [&](std::size_t pos) {
    return std::any_of(uris.begin(), uris.end(), [&](const Uri& u) { return pos >= u.start && pos < u.end; });
  };
  for (std::size_t eq = 0; (eq = s.find('=', eq)) != std::string_view::npos; ++eq) {
    std::size_t key_end = eq;
    while (key_end > 0 && (s[key_end - 1] == ' ' || s[key_end - 1] == '\t')) --key_end;
    std::size_t key_start = key_end;
    while (key_start > 0 && is_word(s[key_start - 1])) --key_start;
    if (key_start == key_end || in_uri(key_start) || !is_secret_name(s.substr(key_start, key_end - key_start))) continue;
    std::size_t b = eq + 1;
    while (b < s.size() && (s[b] == ' ' || s[b] == '\t')) ++b;
    std::size_t e = b;
    if (e < s.size() && s[e] == '\'') {
      ++e;
      while (e < s.size() && s[e] != '\'') e += (s[e] == '\\') ? 2 : 1;
      e = std::min(e + 1, s.size());
    } else {
      while (e < s.size() && !is_space(s[e])) e += (s[e] == '\\') ? 2 : 1;
      e = std::min(e, s.size());
    }
    if (e > b) found(Span{b, e});
    eq = std::max(eq, e == 0 ? 0 : e - 1);
  }
}

// Every span of `s` that holds a secret by its structure (rule 1).
[[nodiscard]] inline std::vector<Span> secret_spans(std::string_view s) {
  std::vector<Span> out;
  const auto uris = uris_in(s);
  for (const auto& u : uris) {
    const auto info = user_info(s, u);
    std::size_t after = u.start;
    if (!info.ats.empty()) {
      out.push_back(Span{info.colon + 1, info.ats.back()});
      after = info.ats.back() + 1;
    }
    uri_query_secrets(s, u, after, [&](Span sp) { out.push_back(sp); });
  }
  key_value_secrets(s, uris, [&](Span sp) { out.push_back(sp); });
  std::sort(out.begin(), out.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  return out;
}

// `s` with every span replaced by "***" (overlapping spans merged).
[[nodiscard]] inline std::string replace_spans(std::string_view s, const std::vector<Span>& spans) {
  std::string out;
  std::size_t at = 0;
  for (std::size_t i = 0; i < spans.size();) {
    std::size_t b = std::max(spans[i].begin, at), e = spans[i].end;
    for (++i; i < spans.size() && spans[i].begin <= e; ++i) e = std::max(e, spans[i].end);
    if (e <= b) continue;
    out.append(s.substr(at, b - at)).append("***");
    at = e;
  }
  return out.append(s.substr(std::min(at, s.size())));
}

// Delimiters a short secret must stand between to be replaced (rule 2).
[[nodiscard]] inline bool delimits(std::string_view s, std::size_t pos) noexcept {
  if (pos >= s.size()) return true;
  return std::string_view{"\"'`:@/=&,?#()[]{}<>;|"}.find(s[pos]) != std::string_view::npos;
}

}  // namespace redaction

[[nodiscard]] inline std::string percent_decode(std::string_view s) { return redaction::percent_decode(s); }

// Structural redaction (rule 1) for text whose secrets are not known in advance.
[[nodiscard]] inline std::string redact(std::string_view text) {
  return redaction::replace_spans(text, redaction::secret_spans(text));
}

// The one redaction mechanism: every string lockstep prints passes through
// it as a value (an event's fields before JSON encoding, an error's fields
// at the boundary), never as an encoded line, so no replacement can break
// the JSON around it.
class Redactor {
 public:
  Redactor() = default;
  explicit Redactor(std::vector<std::string> secrets) : secrets_{std::move(secrets)} {
    std::erase_if(secrets_, [](const std::string& x) { return x.empty() || x == "***"; });
    // Longest first, so a secret that contains another is replaced whole.
    std::sort(secrets_.begin(), secrets_.end(),
              [](const auto& a, const auto& b) { return a.size() != b.size() ? a.size() > b.size() : a < b; });
    secrets_.erase(std::unique(secrets_.begin(), secrets_.end()), secrets_.end());
  }

  [[nodiscard]] std::string operator()(std::string_view text) const {
    std::string s = redact(text);
    for (const auto& secret : secrets_) {
      if (s == secret) return "***";  // a value that is the secret, whatever it is
      const bool anywhere = secret.size() >= kMinFreeTextSecret;
      // Punctuation alone ("/", ":", "\"") cannot be told from the syntax
      // around it: only between quotes, as a printed value.
      const bool punctuation = std::none_of(secret.begin(), secret.end(), [](char c) { return redaction::is_word(c); });
      auto bound = [&](std::size_t pos) {
        if (pos >= s.size()) return !punctuation;
        return punctuation ? (s[pos] == '"' || s[pos] == '\'') : redaction::delimits(s, pos);
      };
      std::string out;
      std::size_t at = 0;
      for (std::size_t pos = 0; (pos = s.find(secret, pos)) != std::string::npos;) {
        // A short one's delimiters are its own: """ is one quoted '"'.
        const bool delimited = (pos == 0 ? !punctuation : (pos != at && bound(pos - 1))) && bound(pos + secret.size());
        if (!anywhere && !delimited) {
          ++pos;
          continue;
        }
        out.append(s, at, pos - at).append("***");
        pos += secret.size();
        at = pos;
      }
      if (at != 0) s = out.append(s, at, std::string::npos);
    }
    return s;
  }

  void scrub(Error& e) const {
    for (std::string* f : {&e.message, &e.server_message, &e.detail, &e.hint, &e.file, &e.migration_name}) {
      *f = (*this)(*f);
    }
  }

  // Adds secrets known from elsewhere (PGPASSWORD, other arguments).
  [[nodiscard]] Redactor with(std::vector<std::string> more) const {
    more.insert(more.end(), secrets_.begin(), secrets_.end());
    return Redactor{std::move(more)};
  }

  [[nodiscard]] const std::vector<std::string>& secrets() const noexcept { return secrets_; }

 private:
  std::vector<std::string> secrets_;
};

// Every secret a connection string holds, in every spelling that may be
// printed: as written (percent-encoded in a URL), as libpq reads it, and,
// when a URL's password has an unencoded '@' or '/', every reading of it
// (libpq then takes its pieces for a host, a port or a database name, and
// prints them as such). Works on strings that libpq cannot parse, too.
[[nodiscard]] inline std::vector<std::string> secrets_in(std::string_view conninfo) {
  std::vector<std::string> out;
  auto add = [&](std::string_view raw) {
    if (raw.empty() || raw == "***") return;
    out.emplace_back(raw);
    out.push_back(percent_decode(raw));
  };
  const std::string s{conninfo};
  const auto uris = redaction::uris_in(s);
  for (const auto& u : uris) {
    const auto info = redaction::user_info(s, u);
    for (const auto at : info.ats) add(std::string_view{s}.substr(info.colon + 1, at - info.colon - 1));
    if (!info.ats.empty()) {
      const auto whole = std::string_view{s}.substr(info.colon + 1, info.ats.back() - info.colon - 1);
      if (whole.find_first_of("@/") != std::string_view::npos) {
        for (std::size_t b = 0; b <= whole.size();) {
          auto e = whole.find_first_of("@/:?#", b);
          if (e == std::string_view::npos) e = whole.size();
          add(whole.substr(b, e - b));
          b = e + 1;
        }
      }
    }
    redaction::uri_query_secrets(s, u, info.ats.empty() ? u.start : info.ats.back() + 1,
                                 [&](redaction::Span sp) { add(std::string_view{s}.substr(sp.begin, sp.end - sp.begin)); });
  }
  // key=value: as written, and unquoted and unescaped as libpq reads it.
  redaction::key_value_secrets(s, uris, [&](redaction::Span sp) {
    std::string raw = s.substr(sp.begin, sp.end - sp.begin);
    const bool quoted = raw.size() >= 2 && raw.front() == '\'';
    std::string value;
    std::size_t i = quoted ? 1 : 0;
    for (; i < raw.size(); ++i) {
      if (quoted && raw[i] == '\'') break;
      if (raw[i] == '\\' && i + 1 < raw.size()) ++i;
      value += raw[i];
    }
    out.push_back(quoted ? raw.substr(1, i - 1) : raw);  // escapes as written
    out.push_back(std::move(value));
  });
  const auto parsed = libpq_parse_conninfo(s);
  for (const auto& o : parsed.options) {
    if (is_secret_key(o.key)) out.push_back(o.value);
  }
  std::erase_if(out, [](const std::string& x) { return x.empty() || x == "***"; });
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Secrets libpq reads from the environment rather than the URL.
[[nodiscard]] inline std::vector<std::string> environment_secrets() {
  std::vector<std::string> out;
  if (const char* pw = std::getenv("PGPASSWORD"); pw != nullptr && *pw != '\0') out.emplace_back(pw);
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
  if (k == "host") {
    // libpq takes what follows an unencoded '@' in a password for the host.
    for (std::string_view rest = v;;) {
      const auto comma = rest.find(',');
      const auto one = rest.substr(0, comma);
      if (!one.empty() && one.front() != '/' && one.find('@') != std::string_view::npos) {
        return "holds an '@' that no host name or address has";
      }
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

// A URL whose password holds an unencoded '@' or '/' reads differently to
// libpq (which ends it at the first '@', or at a '/' before it) and to a
// human; whatever libpq then refuses, the cause is the encoding.
[[nodiscard]] inline std::string encoding_hint(std::string_view text) {
  for (const auto& u : redaction::uris_in(text)) {
    const auto info = redaction::user_info(text, u);
    if (info.ats.empty()) continue;
    const auto whole = text.substr(info.colon + 1, info.ats.back() - info.colon - 1);
    if (info.ats.size() > 1 || whole.find('/') != std::string_view::npos) {
      return "; if the password holds '@', '/', ':', '?', '#' or '%', percent-encode them in the URL (%40, %2F, "
             "%3A, %3F, %23, %25), or give the password in PGPASSWORD or in key=value form (quoted, with ' and \\ "
             "escaped by a backslash)";
    }
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
                                                    "option=value, or key=value pairs)" +
                                                    conninfo_checks::encoding_hint(text));
    }
    for (const auto& o : parsed.options) {
      if (auto why = conninfo_checks::problem(o); !why.empty()) {
        return make_error(errc::invalid_argument, "the database URL " + redact(text) + " sets " + o.key + "='" +
                                                      redact(o.value) + "', which " + why +
                                                      "; a connection with it can never succeed, so it is not "
                                                      "retried: fix the URL" +
                                                      conninfo_checks::encoding_hint(text));
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
