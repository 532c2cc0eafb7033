// Redaction: how secrets are kept out of everything lockstep prints. Kept
// apart from connection-string parsing (conninfo.hpp), which only tells this
// file which secrets a connection string holds.

#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

}  // namespace lockstep::detail
