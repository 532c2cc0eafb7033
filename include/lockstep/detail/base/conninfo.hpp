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

#include "lockstep/detail/base/libpq_adapter.hpp"
#include "lockstep/detail/base/redact.hpp"
#include "lockstep/error.hpp"

namespace lockstep::detail {

// Every secret a connection string holds, in every spelling that may be
// printed: as written (percent-encoded in a URL), as libpq reads it, and,
// when a URL's password has an unencoded '@' or '/', every reading of it
// (libpq then takes its pieces for a host, a port or a database name, and
// prints them as such). Works on strings that libpq cannot parse, too.
// `parsed`: libpq's reading of `conninfo`, when the caller has it already.
[[nodiscard]] inline std::vector<std::string> secrets_in(std::string_view conninfo, const ParsedConninfo& parsed) {
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
  for (const auto& o : parsed.options) {
    if (is_secret_key(o.key)) out.push_back(o.value);
  }
  std::erase_if(out, [](const std::string& x) { return x.empty() || x == "***"; });
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

[[nodiscard]] inline std::vector<std::string> secrets_in(std::string_view conninfo) {
  return secrets_in(conninfo, libpq_parse_conninfo(std::string{conninfo}));
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
  [[nodiscard]] static result<Conninfo> parse(const std::string& text) { return parse(text, libpq_parse_conninfo(text)); }

  // `parsed`: libpq's reading of `text`, when the caller has it already.
  [[nodiscard]] static result<Conninfo> parse(const std::string& text, ParsedConninfo parsed) {
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
