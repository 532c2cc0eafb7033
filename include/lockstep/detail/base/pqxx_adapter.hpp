// The only file in lockstep that calls libpqxx.
//
// libpqxx changed between 6.4 (Debian bookworm), 7.x and 8.x (Conan, vcpkg):
// parameterised exec, result/row iterators, the exception hierarchy and
// connection close all moved. Keeping every call here, and copying results
// into plain vectors, lets the rest of the library compile against all three.
// Every libpqxx exception is caught here and turned into a lockstep::Error.
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <pqxx/pqxx>

#include "lockstep/detail/base/conninfo.hpp"
#include "lockstep/error.hpp"

namespace lockstep {

using Field = std::optional<std::string>;
using Row = std::vector<Field>;
using Rows = std::vector<Row>;

namespace detail {

// libpq formats server errors as
//   ERROR:  <primary>\nLINE 3: <text>\n        ^\nDETAIL:  ...\nHINT:  ...
// Pull the structured parts back out; libpqxx does not expose PQresultErrorField.
// `context` receives the quoted line (after "LINE n: ") and the caret's offset in it.
struct ErrorContext {
  std::string snippet;
  std::optional<std::size_t> caret;
};

[[nodiscard]] inline std::string_view next_line(std::string_view text, std::size_t end) {
  if (end >= text.size()) return {};
  const auto from = end + 1;
  const auto to = text.find('\n', from);
  return text.substr(from, to == std::string_view::npos ? std::string_view::npos : to - from);
}

// "<word> <n>: ..." followed by a line of spaces and one '^': the number n.
[[nodiscard]] inline std::optional<int> line_label(std::string_view ln, std::string_view below) {
  const auto caret = below.find('^');
  if (caret == std::string_view::npos || below.find_first_not_of(' ') != caret) return std::nullopt;
  const auto colon = ln.find(": ");
  const auto space = ln.rfind(' ', colon);
  if (colon == std::string_view::npos || space == std::string_view::npos || space + 1 >= colon) return std::nullopt;
  int n = 0;
  for (char c : ln.substr(space + 1, colon - space - 1)) {
    if (c < '0' || c > '9' || n > 100000000) return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

inline void parse_server_message(std::string_view text, Error& e, ErrorContext* context = nullptr) {
  std::size_t start = 0;
  std::string_view line_text;
  std::size_t prefix_len = 0;
  bool first = true;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view ln = text.substr(start, end - start);
    auto strip = [&](std::string_view prefix) -> std::optional<std::string_view> {
      if (ln.starts_with(prefix)) {
        auto rest = ln.substr(prefix.size());
        while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
        return rest;
      }
      return std::nullopt;
    };
    if (first) {
      // "<severity>:  <message>": the severity is in the server's language
      // (FEHLER, ERREUR, ...), the two spaces after its colon are not.
      if (const auto sep = ln.find(":  "); sep != std::string_view::npos && sep < 24) ln.remove_prefix(sep + 3);
      e.server_message = std::string{ln};
      first = false;
    } else if (auto d = strip("DETAIL:")) {
      e.detail = std::string{*d};
    } else if (auto h = strip("HINT:")) {
      e.hint = std::string{*h};
    } else if (auto n = line_label(ln, next_line(text, end)); n && line_text.empty()) {
      // "LINE 3: <text>" above a caret line; the label is libpq's, in the
      // client's language, so it is recognised by shape, not by word.
      e.line = *n;
      const auto colon = ln.find(": ");
      line_text = ln;
      prefix_len = colon + 2;
      if (context) context->snippet = std::string{ln.substr(std::min(prefix_len, ln.size()))};
    } else if (!line_text.empty() && ln.find('^') != std::string_view::npos && !e.column) {
      const auto caret = ln.find('^');
      if (caret >= prefix_len) {
        if (context) context->caret = caret - prefix_len;
        // Without the query text, the column is only certain when libpq did
        // not truncate the line (a leading "...").
        if (line_text.substr(prefix_len, 3) != "...") e.column = static_cast<int>(caret - prefix_len) + 1;
      }
    }
    if (end == text.size()) break;
    start = end + 1;
  }
  while (!e.server_message.empty() && (e.server_message.back() == '\n' || e.server_message.back() == ' ')) {
    e.server_message.pop_back();
  }
}

// With the query text, the column is exact even for long lines: libpq shows a
// window of the line ("...text..."), so find that window in the real line.
inline void resolve_column(Error& e, const ErrorContext& context, std::string_view sql) {
  if (!e.line || !context.caret || context.snippet.empty()) return;
  std::size_t pos = 0;
  for (int l = 1; l < *e.line; ++l) {
    pos = sql.find('\n', pos);
    if (pos == std::string_view::npos) return;
    ++pos;
  }
  auto eol = sql.find('\n', pos);
  std::string line{sql.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos)};
  for (auto& c : line) {
    if (c == '\t' || c == '\r') c = ' ';  // libpq shows tabs as spaces
  }
  std::string_view window = context.snippet;
  std::size_t caret = *context.caret;
  if (window.starts_with("...")) {
    window.remove_prefix(3);
    if (caret < 3) return;
    caret -= 3;
  }
  if (window.ends_with("...")) window.remove_suffix(3);
  const auto at = line.find(window);
  if (at == std::string::npos) return;
  e.column = static_cast<int>(at + caret) + 1;
}

// The libpqxx headers this was compiled with.
[[nodiscard]] inline const char* pqxx_version() noexcept { return PQXX_VERSION; }

inline Error from_server_error(const char* what, std::string sqlstate, std::string_view sql) {
  Error e;
  e.code = errc::database_error;
  e.sqlstate = std::move(sqlstate);
  ErrorContext context;
  parse_server_message(what, e, &context);
  if (!sql.empty()) resolve_column(e, context, sql);
  e.message = e.server_message;
  return e;
}

// libpqxx 6.4 throws insufficient_privilege without its SQLSTATE (checked
// against a real "permission denied"); its class still says which one it was.
inline Error from_sql_error(const pqxx::sql_error& ex, std::string_view sql = {}) {
  std::string sqlstate{ex.sqlstate()};  // a string before libpqxx 8, a string_view from 8 on
  if (sqlstate.empty() && dynamic_cast<const pqxx::insufficient_privilege*>(&ex) != nullptr) sqlstate = "42501";
  return from_server_error(ex.what(), std::move(sqlstate), sql);
}

#if PQXX_VERSION_MAJOR < 7
// Before libpqxx 7, class 40 (deadlock_detected, serialization_failure, ...)
// is not an sql_error and carries no SQLSTATE: its class is all there is.
inline Error from_rollback(const pqxx::transaction_rollback& ex, std::string_view sql) {
  const char* sqlstate = dynamic_cast<const pqxx::deadlock_detected*>(&ex) != nullptr       ? "40P01"
                         : dynamic_cast<const pqxx::serialization_failure*>(&ex) != nullptr ? "40001"
                         : dynamic_cast<const pqxx::statement_completion_unknown*>(&ex) != nullptr ? "40003"
                                                                                                    : "40000";
  return from_server_error(ex.what(), sqlstate, sql);
}
#endif

inline Error from_broken_connection(std::string_view what) {
  Error e;
  e.code = errc::connection_failed;
  // libpqxx carries no SQLSTATE for a failed connection, and the text may
  // be in the server's language: the caller asks libpq (libpq_adapter.hpp).
  std::string text{what};
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  e.server_message = text;
  e.message = text;
  return e;
}

// A stale cached plan (stale_plan.hpp): SQLSTATE 0A000 raised by the
// server's RevalidateCachedQuery ("cached plan must not change result
// type"). libpqxx exposes no PG_DIAG_SOURCE_FUNCTION: its sql_error carries
// what(), query() and sqlstate() only (6.4, 7.x and 8.x alike). libpq puts
// the source function into the message only in verbose mode, as a line
// "<LOCATION, translated>:  <function>, <file>:<line>"; when the
// application set pqxx's error verbosity to verbose, that function must be
// RevalidateCachedQuery, else the SQLSTATE alone decides. The label is in
// the client's language and the message in the server's, so neither is
// read: only the function's name, which no translation touches.
[[nodiscard]] inline std::optional<std::string> source_function_in(std::string_view what) {
  for (std::size_t start = 0; start < what.size();) {
    auto end = what.find('\n', start);
    if (end == std::string_view::npos) end = what.size();
    const auto ln = what.substr(start, end - start);
    start = end + 1;
    // "<label>:  <function>, <file>.c:<digits>" (only LOCATION has this shape).
    const auto sep = ln.find(":  ");
    const auto comma = ln.rfind(", ");
    if (sep == std::string_view::npos || comma == std::string_view::npos || comma < sep) continue;
    const auto where = ln.substr(comma + 2);
    const auto colon = where.rfind(':');
    if (colon == std::string_view::npos || colon + 1 >= where.size() || !where.substr(0, colon).ends_with(".c")) continue;
    if (where.substr(colon + 1).find_first_not_of("0123456789") != std::string_view::npos) continue;
    const auto function = ln.substr(sep + 3, comma - sep - 3);
    if (function.empty() || function.find(' ') != std::string_view::npos) continue;
    return std::string{function};
  }
  return std::nullopt;
}

[[nodiscard]] inline bool stale_plan(std::string_view sqlstate, std::string_view what) {
  if (sqlstate != "0A000") return false;
  const auto function = source_function_in(what);
  return !function || *function == "RevalidateCachedQuery";
}

// A failed prepared statement: its error, and whether it was a stale plan.
struct PreparedFailure {
  Error error;
  bool stale = false;
};

// Runs prepared statement `name` in `tx` once. Never throws.
template <class... Params>
[[nodiscard]] std::variant<pqxx::result, PreparedFailure> exec_prepared_in(pqxx::transaction_base& tx,
                                                                          const std::string& name,
                                                                          const Params&... params) noexcept {
  try {
#if PQXX_VERSION_MAJOR >= 8 || (PQXX_VERSION_MAJOR == 7 && PQXX_VERSION_MINOR >= 10)
    // exec(prepped, params) arrives, and exec_prepared is deprecated, in 7.10.
    return tx.exec(pqxx::prepped{name}, pqxx::params{params...});
#else
    return tx.exec_prepared(name, params...);
#endif
  } catch (const pqxx::sql_error& ex) {
    // A verbose message's first line is "<severity>:  <SQLSTATE>: <text>".
    auto e = from_sql_error(ex);
    if (e.server_message.starts_with(e.sqlstate + ": ")) e.server_message.erase(0, e.sqlstate.size() + 2);
    e.message = e.server_message;
    const bool stale = stale_plan(e.sqlstate, ex.what());
    return PreparedFailure{std::move(e), stale};
#if PQXX_VERSION_MAJOR < 7
  } catch (const pqxx::transaction_rollback& ex) {
    return PreparedFailure{from_rollback(ex, {}), false};
#endif
  } catch (const pqxx::broken_connection& ex) {
    return PreparedFailure{from_broken_connection(ex.what()), false};
  } catch (const std::exception& ex) {
    // A usage error (another transaction open on the connection, an unknown
    // statement name) or an allocation failure: nothing ran.
    Error e;
    e.code = errc::invalid_argument;
    e.message = ex.what();
    return PreparedFailure{std::move(e), false};
  } catch (...) {
    Error e;
    e.code = errc::internal_error;
    e.message = "an unknown exception from libpqxx";
    return PreparedFailure{std::move(e), false};
  }
}

// The same in autocommit: a statement of its own, which the server either
// ran and committed or, having failed, left without effect.
template <class... Params>
[[nodiscard]] std::variant<pqxx::result, PreparedFailure> exec_prepared_autocommit(pqxx::connection& conn,
                                                                                  const std::string& name,
                                                                                  const Params&... params) noexcept {
  try {
    pqxx::nontransaction tx{conn};
    return exec_prepared_in(tx, name, params...);
  } catch (const std::exception& ex) {
    // Opening the nontransaction: another transaction is open on `conn`.
    Error e;
    e.code = errc::invalid_argument;
    e.message = ex.what();
    return PreparedFailure{std::move(e), false};
  } catch (...) {
    Error e;
    e.code = errc::internal_error;
    e.message = "an unknown exception from libpqxx";
    return PreparedFailure{std::move(e), false};
  }
}

// Deallocates `name` and prepares `definition` under it again. Never throws.
[[nodiscard]] inline result<void> reprepare(pqxx::connection& conn, const std::string& name,
                                            const std::string& definition) noexcept {
  try {
    conn.unprepare(name);
    conn.prepare(name, definition);
    return outcome::success();
  } catch (const pqxx::sql_error& ex) {
    return from_sql_error(ex, definition);
  } catch (const pqxx::broken_connection& ex) {
    return from_broken_connection(ex.what());
  } catch (const std::exception& ex) {
    Error e;
    e.code = errc::database_error;
    e.message = ex.what();
    return e;
  } catch (...) {
    Error e;
    e.code = errc::internal_error;
    e.message = "an unknown exception from libpqxx";
    return e;
  }
}

}  // namespace detail

// A database session. Move-only; closes on destruction (the server then drops
// every session-level advisory lock it held).
class Connection {
 public:
  Connection() = default;
  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;
  ~Connection() { close(); }

  // libpq's error may quote the connection string: returned scrubbed.
  [[nodiscard]] static result<Connection> open(const std::string& conninfo) {
    auto out = open_unscrubbed(conninfo);
    if (!out) {
      Error e = std::move(out).error();
      detail::Redactor{detail::secrets_in(conninfo)}.with(detail::environment_secrets()).scrub(e);
      return e;
    }
    return out;
  }

 private:
  [[nodiscard]] static result<Connection> open_unscrubbed(const std::string& conninfo) {
    try {
      Connection c;
      c.conn_ = std::make_unique<pqxx::connection>(conninfo);
#if PQXX_VERSION_MAJOR < 7
      // libpqxx 6 silently reconnects a broken connection on its next use:
      // a new session, without the lock, the settings or the transaction
      // the caller believes it has. A broken session must stay broken.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      c.conn_->inhibit_reactivation(true);
#pragma GCC diagnostic pop
#endif
      return c;
    } catch (const pqxx::broken_connection& ex) {
      return detail::from_broken_connection(ex.what());
    } catch (const pqxx::sql_error& ex) {
      auto e = detail::from_sql_error(ex);
      e.code = errc::connection_failed;
      return e;
    } catch (const std::exception& ex) {
      return detail::from_broken_connection(ex.what());
    }
  }

 public:
  // Runs `sql` with the simple query protocol: it may hold several statements,
  // which the server runs in order (inside the caller's BEGIN if there is one).
  [[nodiscard]] result<Rows> query(std::string_view sql) {
    return guarded(sql, [&](pqxx::nontransaction& tx) { return tx.exec(std::string{sql}); });
  }

  // One statement with $1..$n parameters, sent as text; one round trip.
  template <class... Params>
  [[nodiscard]] result<Rows> query(std::string_view sql, const Params&... params) {
    return guarded(sql, [&](pqxx::nontransaction& tx) {
#if PQXX_VERSION_MAJOR >= 8 || (PQXX_VERSION_MAJOR == 7 && PQXX_VERSION_MINOR >= 10)
      // exec(query, params) arrives, and exec_params is deprecated, in 7.10.
      return tx.exec(std::string{sql}, pqxx::params{params...});
#else
      return tx.exec_params(std::string{sql}, params...);
#endif
    });
  }

  [[nodiscard]] result<void> execute(std::string_view sql) {
    LOCKSTEP_TRYV(query(sql));
    return outcome::success();
  }

  // Safe to call from another thread: shuts the socket down so a query blocked
  // on a silent network returns at once. The connection is unusable afterwards.
  void sever() noexcept {
    if (!conn_) return;
    const int fd = conn_->sock();
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }

  // Drains the notifications libpq has read (during earlier queries, or just
  // now from the socket) and returns how many there were.
  [[nodiscard]] result<int> take_notifications() {
    if (!conn_) return make_error(errc::connection_failed, "the connection is closed");
    try {
      return conn_->get_notifs();
    } catch (const pqxx::broken_connection& ex) {
      broken_ = true;
      return detail::from_broken_connection(ex.what());
    } catch (const std::exception& ex) {
      return detail::from_broken_connection(ex.what());
    }
  }

  // Waits up to `timeout` for the server to send something (a NOTIFY on a
  // channel this session LISTENs to) and drains it. true: woken early.
  [[nodiscard]] result<bool> await_notification(std::chrono::milliseconds timeout) {
    LOCKSTEP_TRY(queued, take_notifications());
    if (queued > 0) return true;
    pollfd fd{conn_->sock(), POLLIN, 0};
    // poll() takes an int of ms: a longer wait is clamped, never wrapped to "for ever".
    const int ready = ::poll(&fd, 1, static_cast<int>(std::clamp<std::int64_t>(timeout.count(), 0, 2147483647)));
    if (ready <= 0) return false;  // timed out (or a signal): the caller polls anyway
    LOCKSTEP_TRY(arrived, take_notifications());
    (void)arrived;  // readable without a notification: a notice, or a broken link the next query reports
    return true;
  }

  void close() noexcept {
    if (!conn_) return;
    try {
#if PQXX_VERSION_MAJOR >= 7
      conn_->close();
#else
      conn_->disconnect();
#endif
    } catch (...) {
    }
    conn_.reset();
  }

  // false once any call found the session broken, whatever libpq says.
  [[nodiscard]] bool is_open() const noexcept { return conn_ != nullptr && !broken_ && conn_->is_open(); }
  [[nodiscard]] std::string database_name() const { return conn_ ? std::string{conn_->dbname()} : std::string{}; }
  [[nodiscard]] int server_version() const noexcept { return conn_ ? conn_->server_version() : 0; }
  [[nodiscard]] int backend_pid() const noexcept { return conn_ ? conn_->backendpid() : 0; }

 private:
  template <class Exec>
  [[nodiscard]] result<Rows> guarded(std::string_view sql, Exec&& exec) {
    if (!conn_) return make_error(errc::connection_failed, "the connection is closed");
    try {
      pqxx::nontransaction tx{*conn_};
      const pqxx::result r = exec(tx);
      Rows rows;
      rows.reserve(static_cast<std::size_t>(r.size()));
      for (auto i = r.begin(); i != r.end(); ++i) {
        Row row;
        const auto& tuple = *i;
        row.reserve(static_cast<std::size_t>(tuple.size()));
        for (const auto& field : tuple) {
          if (field.is_null()) {
            row.emplace_back(std::nullopt);
          } else {
            row.emplace_back(field.template as<std::string>());
          }
        }
        rows.push_back(std::move(row));
      }
      return rows;
    } catch (const pqxx::too_many_connections& ex) {
      // 53300 raised by a statement (a RAISE, a dblink connection) on a live
      // session: libpqxx files it under broken_connection, but this session
      // is fine, and taking it for lost would restart the run for it.
      auto e = detail::from_broken_connection(ex.what());
      if (conn_->is_open()) {
        e.code = errc::database_error;
        e.sqlstate = "53300";
      } else {
        broken_ = true;
      }
      return e;
    } catch (const pqxx::broken_connection& ex) {
      broken_ = true;
      return detail::from_broken_connection(ex.what());
    } catch (const pqxx::sql_error& ex) {
      auto e = detail::from_sql_error(ex, sql);
      // After a cancel or a severed socket libpq may report either; callers
      // decide from their own state (deadline) what it means.
      if (!is_open()) e.code = errc::connection_failed;
      return e;
#if PQXX_VERSION_MAJOR < 7
    } catch (const pqxx::transaction_rollback& ex) {
      auto e = detail::from_rollback(ex, sql);
      if (!is_open()) e.code = errc::connection_failed;
      return e;
#endif
    } catch (const std::exception& ex) {
      auto e = detail::from_broken_connection(ex.what());
      if (is_open()) e.code = errc::database_error;
      return e;
    }
  }

  std::unique_ptr<pqxx::connection> conn_;
  bool broken_ = false;
};

}  // namespace lockstep
