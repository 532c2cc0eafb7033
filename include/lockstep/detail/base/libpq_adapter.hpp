// The only file in lockstep that calls libpq directly (libpqxx does not
// expose these): parsing a connection string exactly as libpq will, and
// learning the SQLSTATE of a failed connection attempt, which libpqxx's
// broken_connection does not carry and which must not be guessed from
// message text that the server may send in any language.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <libpq-fe.h>

namespace lockstep::detail {

struct ConnOption {
  std::string key;
  std::string value;
};

// The options a connection string sets explicitly (no defaults, no
// environment), or libpq's own reason why it cannot be parsed.
struct ParsedConninfo {
  std::vector<ConnOption> options;
  std::string error;  // empty: parsed
};

[[nodiscard]] inline ParsedConninfo libpq_parse_conninfo(const std::string& conninfo) {
  ParsedConninfo out;
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    out.error = err != nullptr ? err : "out of memory while parsing the connection string";
    if (err != nullptr) PQfreemem(err);
    while (!out.error.empty() && (out.error.back() == '\n' || out.error.back() == ' ')) out.error.pop_back();
    return out;
  }
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) out.options.push_back(ConnOption{o->keyword, o->val});
  }
  PQconninfoFree(opts);
  return out;
}

// "FATAL:  28P01:  password authentication failed ..." in verbose mode: the
// SQLSTATE follows the (possibly translated) severity. Multi-host attempts
// concatenate one message per host; the last one that has a code wins.
[[nodiscard]] inline std::string sqlstate_in_verbose_message(std::string_view text) {
  std::string found;
  for (std::size_t pos = 0; (pos = text.find(":  ", pos)) != std::string_view::npos; pos += 3) {
    const auto code = text.substr(pos + 3, 6);
    if (code.size() < 6 || code[5] != ':') continue;
    bool ok = true;
    for (std::size_t i = 0; i < 5; ++i) {
      const char c = code[i];
      ok = ok && ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'));
    }
    if (ok) found = std::string{code.substr(0, 5)};
  }
  return found;
}

// Connects once with verbose error reporting, only to read the SQLSTATE the
// server gave for refusing us; bounded by `budget` (non-blocking connect).
// Empty when the failure never reached a server (refused, unreachable,
// timed out) or the attempt now succeeds.
[[nodiscard]] inline std::string connect_failure_sqlstate(const std::string& conninfo,
                                                          std::chrono::milliseconds budget) {
  PGconn* c = PQconnectStart(conninfo.c_str());
  if (c == nullptr) return {};
  PQsetErrorVerbosity(c, PQERRORS_VERBOSE);
  const auto until = std::chrono::steady_clock::now() + budget;
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (PQstatus(c) != CONNECTION_BAD && st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd fd{PQsocket(c), static_cast<short>(st == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
    if (fd.fd < 0 || ::poll(&fd, 1, static_cast<int>(left.count())) <= 0) break;
    st = PQconnectPoll(c);
  }
  std::string code;
  if (PQstatus(c) == CONNECTION_BAD) code = sqlstate_in_verbose_message(PQerrorMessage(c));
  PQfinish(c);
  return code;
}

// The libpq the process runs with, e.g. 150018 (15.18).
[[nodiscard]] inline int libpq_version() noexcept { return PQlibVersion(); }

}  // namespace lockstep::detail
