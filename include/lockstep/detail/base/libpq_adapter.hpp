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

// One command on a PgBouncer admin console (pooler_reconnect.hpp), which
// libpqxx cannot reach: its connection refuses a server that reports a
// version below 9.0, and the console reports PgBouncer's own (1.x). The
// simple query protocol, the only one the console accepts. Connecting and
// the command are polled against `budget` (non-blocking); only the name
// lookup inside PQconnectStart blocks, so the caller runs this on a thread
// of its own. Empty: the command completed.
[[nodiscard]] inline std::string libpq_admin_command(const std::string& conninfo, const std::string& command,
                                                     std::chrono::milliseconds budget) {
  const auto until = std::chrono::steady_clock::now() + budget;
  auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
  };
  auto message = [](PGconn* c, const char* fallback) {
    std::string m = c != nullptr && PQerrorMessage(c) != nullptr && *PQerrorMessage(c) != '\0' ? PQerrorMessage(c)
                                                                                                 : fallback;
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    return m;
  };
  PGconn* c = PQconnectStart(conninfo.c_str());
  if (c == nullptr) return "out of memory";
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (PQstatus(c) != CONNECTION_BAD && st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
    if (left() <= 0) break;
    pollfd fd{PQsocket(c), static_cast<short>(st == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
    if (fd.fd < 0 || ::poll(&fd, 1, static_cast<int>(left())) <= 0) break;
    st = PQconnectPoll(c);
  }
  if (PQstatus(c) != CONNECTION_OK || st != PGRES_POLLING_OK) {
    std::string why = PQstatus(c) == CONNECTION_BAD ? message(c, "the connection failed") : "connecting timed out";
    PQfinish(c);
    return why;
  }
  std::string out;
  if (PQsetnonblocking(c, 1) != 0 || PQsendQuery(c, command.c_str()) == 0) {
    out = message(c, "the command could not be sent");
    PQfinish(c);
    return out;
  }
  for (int flushed = PQflush(c); flushed != 0; flushed = PQflush(c)) {
    pollfd fd{PQsocket(c), POLLOUT, 0};
    if (flushed < 0 || left() <= 0 || ::poll(&fd, 1, static_cast<int>(left())) <= 0) {
      out = flushed < 0 ? message(c, "the command could not be sent") : "sending the command timed out";
      PQfinish(c);
      return out;
    }
  }
  bool answered = false;
  for (;;) {
    while (PQisBusy(c) != 0) {
      pollfd fd{PQsocket(c), POLLIN, 0};
      if (left() <= 0 || ::poll(&fd, 1, static_cast<int>(left())) <= 0) {
        PQfinish(c);
        return "waiting for the answer timed out";
      }
      if (PQconsumeInput(c) == 0) {
        out = message(c, "the connection broke");
        PQfinish(c);
        return out;
      }
    }
    PGresult* r = PQgetResult(c);
    if (r == nullptr) break;
    const auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && out.empty()) {
      out = PQresultErrorMessage(r) != nullptr && *PQresultErrorMessage(r) != '\0' ? PQresultErrorMessage(r)
                                                                                     : "the command failed";
      while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    }
    answered = true;
    PQclear(r);
  }
  PQfinish(c);
  if (!answered && out.empty()) out = "no answer";
  return out;
}

// The libpq the process runs with, e.g. 150018 (15.18).
[[nodiscard]] inline int libpq_version() noexcept { return PQlibVersion(); }

}  // namespace lockstep::detail
