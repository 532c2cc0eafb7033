// Sending one migration's SQL: a transactional file as one query (so the
// server's error positions are file positions), a no-transaction file
// statement by statement, and the server's errors placed inside the file.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/prepare.hpp"
#include "lockstep/detail/run/progress_monitor.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/index_checks.hpp"
#include "lockstep/detail/run/session_sql.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/settings.hpp"
#include "lockstep/sql/index_builds.hpp"
#include "lockstep/checks/rules/transaction_control.hpp"
#include "lockstep/checks/words.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep::detail {

// Places a server error inside the file: `sent_at` is where the text that
// was sent starts in the file (statement by statement, or the whole file).
[[nodiscard]] inline Error migration_error(Error e, const Migration& m, sql::Position sent_at) {
  if (e.line) {
    if (*e.line == 1 && e.column) e.column = *e.column + sent_at.column - 1;
    e.line = *e.line + sent_at.line - 1;
  }
  e.code = errc::migration_failed;
  e.version = m.version;
  e.migration_name = m.name;
  e.file = m.origin;
  return e;
}

// The session died under the migration: the server rolled back whatever
// was open, so this is not the migration's fault and nothing is recorded.
[[nodiscard]] inline Error connection_lost(const Migration& m, Error e) {
  e.code = errc::connection_failed;
  e.version = m.version;
  e.migration_name = m.name;
  e.file = m.origin;
  e.message = "the connection broke while applying migration " + std::to_string(m.version) + " (" + m.origin +
              "): " + e.server_message + "; the server rolled back its open transaction (a no-transaction "
              "migration keeps the statements that finished and re-runs from the top)";
  return e;
}

// What another attempt may pass, after a backoff, bounded by lock_retries:
// lock_timeout (55P03) and a deadlock the server broke by cancelling this
// side (40P01; the other session goes on, so the retry usually succeeds).
[[nodiscard]] inline bool retried_on(const std::string& sqlstate) noexcept {
  return sqlstate == "55P03" || sqlstate == "40P01";
}

template <class Wait, class Timeout>
class Executor {
 public:
  // `own_session`: the lock is held by this session (not a transaction-scoped
  // lock), so the session's bounds are the leader's to keep (session_sql.hpp).
  Executor(Context<Timeout>& ctx, const Settings& settings, Wait& wait, bool own_session)
      : ctx_{ctx},
        settings_{settings},
        wait_{wait},
        own_session_{own_session},
        monitor_{std::make_unique<ProgressMonitor<Timeout>>(ctx, settings)} {}

  // SET LOCAL (in a transaction) or SET of this migration's lock_timeout and
  // statement_timeout; the latter defaults to what is left of the deadline.
  [[nodiscard]] std::string timeouts_sql(const PreparedMigration& p, bool local) const {
    const auto statement = p.directives.statement_timeout ? *p.directives.statement_timeout
                           : settings_.statement_timeout ? *settings_.statement_timeout
                                                         : std::max(std::chrono::milliseconds{1}, ctx_.remaining());
    return timeout_sql(p.directives.lock_timeout.value_or(settings_.lock_timeout), statement, local);
  }

  // The whole file in the open transaction, sent as it is (or `text` in its
  // place: a background migration's queued job). Rolls back on failure.
  [[nodiscard]] result<void> body(Connection& conn, const Migration& m, std::string_view text = {}) const {
    auto ran = send_body(conn, m, {}, text);
    if (ran) return outcome::success();
    return body_failed(conn, m, std::move(ran).error());
  }

  // The file, the reset and `tail` in one round trip, nothing rolled back.
  // The reset follows the file on a line of its own, so the server's error
  // positions are still the file's.
  [[nodiscard]] result<void> send_body(Connection& conn, const Migration& m, const std::string& tail,
                                       std::string_view text = {}) const {
    auto watch = monitor_->watch(conn.backend_pid(), m, "the whole file (one transaction)", 1);
    // Built in each branch: GCC 12 at -O2 warns that an optional<int> made
    // by `?:` may be read uninitialized (it is not).
    const std::string reset = own_session_ ? reset_after_body_sql(settings_.stall_timeout, conn.server_version())
                                           : reset_after_body_sql(settings_.stall_timeout, std::nullopt);
    return conn.execute((text.empty() ? std::string{m.sql} : std::string{text}) + "\n;" + reset + tail);
  }

  // The file failed: roll back, and say so.
  [[nodiscard]] Error body_failed(Connection& conn, const Migration& m, Error failure) const {
    (void)conn.execute("ROLLBACK");
    auto e = migration_error(std::move(failure), m, sql::Position{});
    e.message = "migration " + std::to_string(m.version) + " (" + m.origin + ") failed: " + e.server_message +
                "; it was rolled back and nothing of it was applied. Fix it (it never ran to completion, so "
                "editing it is safe) and deploy again";
    return e;
  }

  // No transaction: each statement alone, in order (CREATE INDEX CONCURRENTLY
  // and friends). A failure leaves the earlier statements committed;
  // `completed` says how many. A statement that hits lock_timeout is the one
  // retried: the ones before it stay done.
  [[nodiscard]] result<void> statements(Connection& conn, const Migration& m, const PreparedMigration& p,
                                        std::int64_t& completed) {
    // The leader's session bounds are set already: every reset re-arms them.
    LOCKSTEP_TRYV(conn.execute(timeouts_sql(p, false)));
    IndexChecks<Timeout> indexes{ctx_, m, sql::concurrent_index_builds(p.statements, m.sql)};
    if (auto cleared = indexes.before(conn); !cleared) {
      reset(conn, true);
      auto e = migration_error(std::move(cleared).error(), m, sql::Position{});
      e.line.reset();  // the server's position is in the DROP, not in the file
      e.column.reset();
      e.message = "before migration " + std::to_string(m.version) + " (" + m.origin + ") ran, dropping an "
                  "invalid index its earlier attempt left failed: " + e.server_message;
      return e;
    }
    for (std::size_t k = 0; k < p.statements.size(); ++k) {
      auto ran = statement(conn, m, p, k);
      if (ran) continue;
      completed = static_cast<std::int64_t>(k);
      auto e = std::move(ran).error();
      e.message = "migration " + std::to_string(m.version) + " (" + m.origin + ", no transaction) failed at "
                  "statement " + std::to_string(k + 1) + " of " + std::to_string(p.statements.size()) + ": " +
                  e.server_message + "; the " + std::to_string(k) +
                  " statement(s) before it stay committed and the migration is not recorded, so the next boot "
                  "re-runs it from its first statement (which is why it must be safe to re-run)";
      reset(conn, true);
      return e;
    }
    completed = static_cast<std::int64_t>(p.statements.size());
    if (auto left_open = transaction_left_open(conn, m, p, completed); !left_open) {
      reset(conn, true);
      return std::move(left_open).error();
    }
    if (auto built = indexes.after(conn); !built) {
      reset(conn, true);
      return std::move(built).error();
    }
    reset(conn, false);
    return outcome::success();
  }

 private:
  // A no-transaction file may run its own transactions (BEGIN ... COMMIT,
  // a batched backfill), but must close each one: a transaction it leaves
  // open would take the reset and the ledger row into it, and both vanish
  // with the session, while the migration was reported applied. Asked of
  // the server, not read from the file (a DO block or a function cannot
  // open one, but the server is the one that knows): in an implicit
  // transaction the statement's and the transaction's start are the same
  // instant; a BEGIN sent in an earlier query makes them differ, and an
  // aborted transaction refuses the query (25P02). On failure `completed`
  // is how many statements before the unclosed BEGIN stay committed.
  [[nodiscard]] result<void> transaction_left_open(Connection& conn, const Migration& m, const PreparedMigration& p,
                                                   std::int64_t& completed) const {
    auto rows = conn.query("SELECT statement_timestamp() <> transaction_timestamp()");
    if (rows && !rows.value().empty() && rows.value()[0][0].value_or("f") == "f") return outcome::success();
    if (!rows && (!conn.is_open() || rows.error().sqlstate != "25P02")) {
      return migration_error(std::move(rows).error(), m, sql::Position{});
    }
    // The last BEGIN / START TRANSACTION that no COMMIT, END, ROLLBACK or
    // ABORT closed. (PREPARE TRANSACTION closes none: its work is not
    // committed; the lint refuses it before anything runs.)
    // An index, not an optional: GCC 12 at -O3 warns that an optional<size_t>
    // read after this loop "may be used uninitialized" (-Wmaybe-uninitialized).
    constexpr std::size_t no_begin = static_cast<std::size_t>(-1);
    std::size_t begin = no_begin;
    for (std::size_t k = 0; k < p.statements.size(); ++k) {
      const auto t = checks::leading_words(sql::lex(p.statements[k].text(m.sql), 2));
      if (t.empty()) continue;
      if (t[0] == "BEGIN" || (t[0] == "START" && t.size() > 1 && t[1] == "TRANSACTION")) {
        begin = k;
      } else if (checks::rules::transaction_control::controls(t)) {
        begin = no_begin;
      }
    }
    const bool aborted = !rows;
    Error e = aborted ? std::move(rows).error() : Error{};
    e.code = errc::migration_failed;
    // The server's 25P02 when aborted; when open, the SQLSTATE PostgreSQL
    // itself uses for "a transaction is still active" (active_sql_transaction).
    if (!aborted) e.sqlstate = "25001";
    e.line.reset();
    e.column.reset();
    e.version = m.version;
    e.migration_name = m.name;
    e.file = m.origin;
    std::string where = m.origin;
    const bool opened = begin != no_begin;
    if (opened) {
      const auto& at = p.statements[begin].position;
      e.line = at.line;
      e.column = at.column;
      where += ":" + std::to_string(at.line);
      completed = static_cast<std::int64_t>(begin);
    }
    e.server_message = std::string{"the file left a transaction "} + (aborted ? "aborted" : "open");
    e.message = "migration " + std::to_string(m.version) + " (" + m.origin + ", no transaction) failed: " +
                (opened ? "the transaction its BEGIN at " + where + " opens"
                       : std::string{"a transaction it opened"}) +
                " is never committed (the session was left " + (aborted ? "in an aborted transaction" : "inside it") +
                " after its last statement); it was rolled back, so nothing after that BEGIN was applied and the "
                "migration is not recorded. In a no-transaction file every BEGIN must be closed by COMMIT (or "
                "ROLLBACK) in the same file; fix it and deploy again (the statements before the BEGIN stay "
                "committed and run again, so they must be safe to re-run)";
    return e;
  }

  // Statement `k`, retried after lock_timeout (55P03) with backoff.
  [[nodiscard]] result<void> statement(Connection& conn, const Migration& m, const PreparedMigration& p,
                                       std::size_t k) {
    const auto& st = p.statements[k];
    for (unsigned retries = 0;;) {
      auto ran = [&] {
        auto watch = monitor_->watch(conn.backend_pid(), m,
                                     std::to_string(k + 1) + " of " + std::to_string(p.statements.size()),
                                     st.position.line);
        return conn.execute(st.text(m.sql));
      }();
      if (ran) return outcome::success();
      auto e = migration_error(std::move(ran).error(), m, st.position);
      if (!retried_on(e.sqlstate) || retries >= settings_.lock_retries || ctx_.expired()) return e;
      ++retries;
      const auto delay = ctx_.backoff(wait_, retries);
      ctx_.emit(events::MigrationRetry{.version = m.version, .name_ = m.name, .attempt = static_cast<std::int64_t>(retries),
                                       .statement = static_cast<std::int64_t>(k + 1), .sqlstate = e.sqlstate,
                                       .next_delay_ms = static_cast<std::int64_t>(delay.count())});
      ctx_.sleep_for(delay);
    }
  }

  void reset(Connection& conn, bool failed) const {
    (void)conn.execute(reset_session_sql(failed, conn.server_version(), settings_.stall_timeout));
  }

  Context<Timeout>& ctx_;
  const Settings& settings_;
  Wait& wait_;
  bool own_session_;
  std::unique_ptr<ProgressMonitor<Timeout>> monitor_;
};

}  // namespace lockstep::detail
