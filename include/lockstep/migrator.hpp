// Migrator<Lock, Wait, Timeout, Source, Ledger>: the startup sequence.
//
//   connect -> fast path (one query) -> [try-lock -> lead | wait and poll] -> gate
//
// Every policy is a template parameter so the composition is fixed at compile
// time and a wrong policy is a compile error, not a runtime surprise.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/conninfo.hpp"
#include "lockstep/detail/emitter.hpp"
#include "lockstep/detail/plan.hpp"
#include "lockstep/detail/prepare.hpp"
#include "lockstep/detail/watchdog.hpp"
#include "lockstep/error.hpp"
#include "lockstep/ledger/table_ledger.hpp"
#include "lockstep/lock/lock_key.hpp"
#include "lockstep/lock/try_lock.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/report.hpp"
#include "lockstep/settings.hpp"
#include "lockstep/source/directory_source.hpp"
#include "lockstep/timeout/deadline.hpp"
#include "lockstep/wait/exponential_backoff.hpp"

namespace lockstep {

template <class Lock = TryLock, class Wait = ExponentialBackoff, class Timeout = Deadline<>,
          class Source = DirectorySource, class Ledger = TableLedger>
class Migrator {
  static_assert(LockPolicy<Lock>,
                "lockstep::Migrator: Lock does not model lockstep::LockPolicy: it needs "
                "try_acquire(Connection&, std::int64_t key, std::chrono::milliseconds budget) -> result<bool> and "
                "release(Connection&, std::int64_t key) -> result<void>");
  static_assert(WaitPolicy<Wait>,
                "lockstep::Migrator: Wait does not model lockstep::WaitPolicy: it needs "
                "next_delay(unsigned attempt) -> std::chrono::milliseconds");
  static_assert(TimeoutPolicy<Timeout>,
                "lockstep::Migrator: Timeout does not model lockstep::TimeoutPolicy: it needs budget(), "
                "now() -> std::chrono::steady_clock::time_point and sleep_for(std::chrono::milliseconds)");
  static_assert(SourcePolicy<Source>,
                "lockstep::Migrator: Source does not model lockstep::SourcePolicy: it needs "
                "load() -> result<std::vector<Migration>>");
  static_assert(LedgerPolicy<Ledger>,
                "lockstep::Migrator: Ledger does not model lockstep::LedgerPolicy: see lockstep/concepts.hpp");

 public:
  using lock_type = Lock;
  using wait_type = Wait;
  using timeout_type = Timeout;
  using source_type = Source;
  using ledger_type = Ledger;

  explicit Migrator(Settings settings = {}) : settings_{std::move(settings)} {}

  // Policies may follow the settings in any order; each goes to the parameter
  // of its type: Migrator<>{settings, DirectorySource{"db"}, Deadline<>{2min}}.
  template <class... Policies>
  explicit Migrator(Settings settings, Policies&&... policies) : settings_{std::move(settings)} {
    (assign(std::forward<Policies>(policies)), ...);
  }

  [[nodiscard]] Lock& lock() noexcept { return lock_; }
  [[nodiscard]] Wait& wait() noexcept { return wait_; }
  [[nodiscard]] Timeout& timeout() noexcept { return timeout_; }
  [[nodiscard]] Source& source() noexcept { return source_; }
  [[nodiscard]] Ledger& ledger() noexcept { return ledger_; }
  [[nodiscard]] const Settings& settings() const noexcept { return settings_; }

  // Brings the schema to the expected version (or waits for another replica
  // to), then applies the gate. Never throws; never runs past the deadline.
  [[nodiscard]] result<Report> run() {
    Run r = start();
    auto out = run_all(r);
    if (!out) emit_error(r, out.error());
    return out;
  }

  // Read-only: what is applied, what is pending, what drifted.
  [[nodiscard]] result<Status> status() {
    Run r = start();
    auto out = status_all(r);
    if (!out) emit_error(r, out.error());
    return out;
  }

 private:
  struct Run {
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point deadline;
    detail::Emitter events;
    std::string url;
    std::string deploy_version;
    std::string host;
    std::string lock_name;
    std::int64_t key = 0;
    std::vector<Migration> migrations;
    std::int64_t expected = 0;
    std::string phase = "starting";
    std::vector<AppliedStep> applied;
    unsigned wait_attempts = 0;
    std::unordered_map<std::int64_t, detail::PreparedMigration> prepared;
  };

  template <class P>
  void assign(P&& p) {
    using T = std::remove_cvref_t<P>;
    static_assert(std::is_same_v<T, Lock> || std::is_same_v<T, Wait> || std::is_same_v<T, Timeout> ||
                      std::is_same_v<T, Source> || std::is_same_v<T, Ledger>,
                  "lockstep::Migrator: this argument's type is none of the Migrator's policy types");
    if constexpr (std::is_same_v<T, Lock>) lock_ = std::forward<P>(p);
    else if constexpr (std::is_same_v<T, Wait>) wait_ = std::forward<P>(p);
    else if constexpr (std::is_same_v<T, Timeout>) timeout_ = std::forward<P>(p);
    else if constexpr (std::is_same_v<T, Source>) source_ = std::forward<P>(p);
    else ledger_ = std::forward<P>(p);
  }

  [[nodiscard]] Run start() {
    const auto now = timeout_.now();
    const auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(timeout_.budget());
    std::string host = detail::resolve_host(settings_);
    Run r{now,
          now + budget,
          detail::Emitter{settings_.on_event ? settings_.on_event : stderr_sink(), host},
          detail::resolve_url(settings_),
          detail::resolve_deploy_version(settings_),
          host,
          {},
          0,
          {},
          0,
          "starting",
          {},
          0,
          {}};
    return r;
  }

  [[nodiscard]] std::int64_t elapsed_ms(const Run& r) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(timeout_.now() - r.started).count();
  }
  [[nodiscard]] std::chrono::milliseconds remaining(const Run& r) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(r.deadline - timeout_.now());
  }

  template <class Fill>
  void emit(const Run& r, std::string_view name, Fill&& fill) const {
    r.events.emit(name, elapsed_ms(r), std::forward<Fill>(fill));
  }

  void emit_error(const Run& r, const Error& e) const {
    emit(r, "error", [&](detail::JsonObject& o) {
      o.add("class", to_string(e.code)).add("message", detail::redact(e.message));
      if (!e.sqlstate.empty()) o.add("sqlstate", e.sqlstate);
      if (e.version) o.add("version", *e.version);
      if (!e.file.empty()) o.add("file", e.file);
      if (e.line) o.add("line", *e.line);
      if (e.column) o.add("column", *e.column);
      if (!e.detail.empty()) o.add("detail", e.detail);
      if (!e.hint.empty()) o.add("hint", e.hint);
    });
  }

  [[nodiscard]] Error deadline_error(const Run& r) const {
    const auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(timeout_.budget());
    auto e = make_error(errc::deadline_exceeded,
                        "deadline of " + std::to_string(budget.count()) + " ms exceeded while " + r.phase +
                            "; the in-flight query was cancelled and the connection closed, so the server "
                            "released the migration lock and committed nothing unfinished. Raise the timeout, "
                            "or find what blocks the migration (pg_stat_activity, pg_locks)");
    return e;
  }

  [[nodiscard]] result<void> prepare(Run& r) {
    if (timeout_.budget() <= std::chrono::milliseconds{0}) {
      return make_error(errc::invalid_argument, "the timeout must be positive");
    }
    if (r.url.empty()) {
      return make_error(errc::invalid_argument,
                        "no database URL: set DATABASE_URL_MIGRATION (a direct connection to the primary, not "
                        "through a transaction-pooling proxy) or DATABASE_URL, or Settings::database_url");
    }
    r.phase = "loading migrations";
    LOCKSTEP_TRY(migrations, source_.load());
    r.migrations = std::move(migrations);
    r.expected = settings_.expected_version.value_or(detail::newest_version(r.migrations));
    emit(r, "boot", [&](detail::JsonObject& o) {
      o.add("expected_version", r.expected)
          .add("deploy_version", r.deploy_version)
          .add("migrations", static_cast<std::int64_t>(r.migrations.size()))
          .add("budget_ms", static_cast<std::int64_t>(
                                std::chrono::duration_cast<std::chrono::milliseconds>(timeout_.budget()).count()));
    });
    return outcome::success();
  }

  [[nodiscard]] std::string conninfo_for(const Run& r) const {
    const auto rem_s = std::max<std::int64_t>(
        2, std::min<std::int64_t>(settings_.connect_timeout.count(), (remaining(r).count() + 999) / 1000));
    std::string c = r.url;
    c = detail::with_option(std::move(c), "connect_timeout", std::to_string(rem_s));
    c = detail::with_option(std::move(c), "application_name", settings_.application_name);
    // A leader whose node vanished must not keep the lock for hours: detect a
    // dead peer in ~30 s instead of Linux's 2 h default.
    c = detail::with_option(std::move(c), "keepalives", "1");
    c = detail::with_option(std::move(c), "keepalives_idle", "10");
    c = detail::with_option(std::move(c), "keepalives_interval", "5");
    c = detail::with_option(std::move(c), "keepalives_count", "3");
    return c;
  }

  [[nodiscard]] result<Connection> connect(Run& r) {
    r.phase = "connecting to " + detail::redact(r.url);
    for (unsigned attempt = 0;; ++attempt) {
      if (remaining(r) <= std::chrono::milliseconds{0}) return deadline_error(r);
      auto conn = Connection::open(conninfo_for(r));
      if (conn) return conn;
      auto e = std::move(conn).error();
      e.message = "cannot connect to " + detail::redact(r.url) + ": " + detail::redact(e.message);
      const bool permanent = e.sqlstate == "28P01" || e.sqlstate == "28000" || e.sqlstate == "3D000";
      if (permanent) {
        e.message += "; check the user, password and database name in the migration URL";
        return e;
      }
      const auto delay = std::min(std::chrono::duration_cast<std::chrono::milliseconds>(wait_.next_delay(attempt)),
                                  remaining(r));
      if (delay <= std::chrono::milliseconds{0} && remaining(r) <= std::chrono::milliseconds{0}) return e;
      emit(r, "connect_retry", [&](detail::JsonObject& o) {
        o.add("attempt", static_cast<std::int64_t>(attempt))
            .add("message", e.message)
            .add("next_delay_ms", static_cast<std::int64_t>(delay.count()));
      });
      timeout_.sleep_for(delay);
      if (remaining(r) <= std::chrono::milliseconds{0}) {
        e.code = errc::connection_failed;
        e.message += " (gave up at the deadline)";
        return e;
      }
    }
  }

  [[nodiscard]] result<Report> run_all(Run& r) {
    LOCKSTEP_TRYV(prepare(r));
    LOCKSTEP_TRY(conn, connect(r));
    detail::Watchdog watchdog{conn, remaining(r)};
    auto out = migrate(r, conn);
    watchdog.disarm();
    if (!out && watchdog.fired()) {
      conn.close();
      return deadline_error(r);
    }
    return out;
  }

  // Reads the ledger and checks it against the source. The common case costs
  // the one fast-path query; only a digest mismatch reads the whole ledger.
  [[nodiscard]] result<std::vector<std::int64_t>> check(Connection& conn, const Run& r, const LedgerState& state) {
    if (detail::matches_prefix(state, r.migrations)) return std::vector<std::int64_t>{};
    LOCKSTEP_TRY(applied, ledger_.read_applied(conn));
    LOCKSTEP_TRY(p, detail::plan(r.migrations, applied, r.expected));
    return std::move(p.unknown_versions);
  }

  [[nodiscard]] result<Report> migrate(Run& r, Connection& conn) {
    r.phase = "reading the ledger";
    LOCKSTEP_TRY(first, ledger_.read_state(conn, r.deploy_version));
    LedgerState state = first;
    LOCKSTEP_TRY(unknown, check(conn, r, state));
    if (state.version >= r.expected) return finish(r, conn, state, Role::current, unknown);
    LOCKSTEP_TRYV(preflight(r, conn, state.version));

    r.lock_name = settings_.lock_name.empty() ? default_lock_name(conn.database_name(), ledger_.identity())
                                              : settings_.lock_name;
    r.key = lock_key(r.lock_name);
    for (unsigned attempt = 0;; ++attempt) {
      r.phase = "waiting for the schema to reach version " + std::to_string(r.expected) + " (at " +
                std::to_string(state.version) + ")";
      if (remaining(r) <= std::chrono::milliseconds{0}) return deadline_error(r);
      auto acquired = lock_.try_acquire(conn, r.key, remaining(r));
      if (!acquired) return lock_error(std::move(acquired).error());
      if (acquired.value()) return lead(r, conn);
      if (attempt == 0) {
        emit(r, "lock_busy", [&](detail::JsonObject& o) { o.add("lock", r.lock_name).add("key", r.key); });
      }
      const auto delay = std::max(std::chrono::milliseconds{0},
                                  std::min(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               wait_.next_delay(attempt)),
                                           remaining(r)));
      emit(r, "waiting", [&](detail::JsonObject& o) {
        o.add("attempt", static_cast<std::int64_t>(attempt))
            .add("schema_version", state.version)
            .add("expected_version", r.expected)
            .add("next_delay_ms", static_cast<std::int64_t>(delay.count()));
      });
      timeout_.sleep_for(delay);
      r.wait_attempts = attempt + 1;
      if (remaining(r) <= std::chrono::milliseconds{0}) return deadline_error(r);
      LOCKSTEP_TRY(polled, ledger_.read_state(conn, r.deploy_version));
      state = polled;
      LOCKSTEP_TRY(seen_unknown, check(conn, r, state));
      if (state.version >= r.expected) return finish(r, conn, state, Role::follower, seen_unknown);
    }
  }

  [[nodiscard]] static Error lock_error(Error e) {
    if (e.code == errc::database_error) {
      e.code = errc::lock_failed;
      e.message = "taking the migration lock failed: " + e.server_message;
    }
    return e;
  }

  // Releases the lock on every exit path. If the connection is already gone the
  // release fails, which is fine: the server dropped the lock with the session.
  class LockGuard {
   public:
    LockGuard(Migrator& m, Run& r, Connection& conn) : m_{m}, r_{r}, conn_{conn}, since_{m.timeout_.now()} {}
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;
    ~LockGuard() { release(); }
    void release() noexcept {
      if (released_) return;
      released_ = true;
      bool ok = false;
      try {
        ok = static_cast<bool>(m_.lock_.release(conn_, r_.key));
      } catch (...) {
      }
      const auto held = std::chrono::duration_cast<std::chrono::milliseconds>(m_.timeout_.now() - since_).count();
      try {
        m_.emit(r_, "lock_released", [&](detail::JsonObject& o) {
          o.add("lock", r_.lock_name).add("held_ms", static_cast<std::int64_t>(held)).add("clean", ok);
        });
      } catch (...) {
      }
    }

   private:
    Migrator& m_;
    Run& r_;
    Connection& conn_;
    std::chrono::steady_clock::time_point since_;
    bool released_ = false;
  };

  [[nodiscard]] result<Report> lead(Run& r, Connection& conn) {
    emit(r, "lock_acquired", [&](detail::JsonObject& o) { o.add("lock", r.lock_name).add("key", r.key); });
    LockGuard guard{*this, r, conn};
    if (conn.server_version() >= 140000) {
      // A backend busy in a long statement notices its vanished client within
      // a second instead of finishing the statement first; the lock goes with it.
      (void)conn.execute("SET client_connection_check_interval = 1000");
    }
    r.phase = "preparing the ledger";
    LOCKSTEP_TRYV(ledger_.ensure(conn));
    LOCKSTEP_TRY(applied, ledger_.read_applied(conn));
    LOCKSTEP_TRY(p, detail::plan(r.migrations, applied, r.expected));
    for (const Migration* m : p.pending) LOCKSTEP_TRYV(apply(r, conn, *m));
    r.phase = "reading the ledger";
    LOCKSTEP_TRY(state, ledger_.read_state(conn, r.deploy_version));
    guard.release();
    return finish(r, conn, state, p.pending.empty() ? Role::follower : Role::leader, p.unknown_versions);
  }

  // Split, read directives and lint every migration this run may apply,
  // before any of them runs: a bad file stops the deploy untouched.
  [[nodiscard]] result<void> preflight(Run& r, const Connection& conn, std::int64_t applied_version) {
    r.phase = "checking migrations";
    for (const auto& m : r.migrations) {
      if (m.version <= applied_version || m.version > r.expected) continue;
      LOCKSTEP_TRY(p, detail::prepare_migration(m, conn.server_version()));
      for (const auto& w : p.warnings) {
        emit(r, "lint", [&](detail::JsonObject& o) {
          o.add("severity", "warning").add("rule", w.rule).add("version", m.version).add("file", m.origin);
          o.add("line", w.position.line).add("column", w.position.column).add("message", w.message);
        });
      }
      r.prepared.insert_or_assign(m.version, std::move(p));
    }
    return outcome::success();
  }

  [[nodiscard]] result<const detail::PreparedMigration*> prepared_for(Run& r, const Connection& conn,
                                                                       const Migration& m) {
    auto it = r.prepared.find(m.version);
    if (it == r.prepared.end()) {
      LOCKSTEP_TRY(p, detail::prepare_migration(m, conn.server_version()));
      it = r.prepared.insert_or_assign(m.version, std::move(p)).first;
    }
    return &it->second;
  }

  // Places a server error inside the file: `sent_at` is where the text that
  // was sent starts in the file (statement by statement, or the whole file).
  [[nodiscard]] static Error migration_error(Error e, const Migration& m, sql::Position sent_at) {
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

  [[nodiscard]] static std::string timeout_settings(const sql::Directives& d, const char* scope) {
    std::string out;
    if (d.lock_timeout) out += std::string{"; SET "} + scope + "lock_timeout = " + std::to_string(d.lock_timeout->count());
    if (d.statement_timeout)
      out += std::string{"; SET "} + scope + "statement_timeout = " + std::to_string(d.statement_timeout->count());
    return out;
  }

  [[nodiscard]] result<void> apply(Run& r, Connection& conn, const Migration& m) {
    r.phase = "applying migration " + std::to_string(m.version) + " (" + m.origin + ")";
    LOCKSTEP_TRY(prepared, prepared_for(r, conn, m));
    const detail::PreparedMigration& p = *prepared;
    emit(r, "migration_started", [&](detail::JsonObject& o) {
      o.add("version", m.version).add("name", m.name).add("file", m.origin);
      o.add("transaction", !p.directives.no_transaction)
          .add("statements", static_cast<std::int64_t>(p.statements.size()));
    });
    const auto t0 = timeout_.now();
    auto ran = p.directives.no_transaction ? run_statements(conn, m, p) : run_transaction(conn, m, p);
    if (!ran) {
      auto e = std::move(ran).error();
      emit(r, "migration_failed", [&](detail::JsonObject& o) {
        o.add("version", m.version).add("name", m.name).add("file", m.origin).add("sqlstate", e.sqlstate);
        if (e.line) o.add("line", *e.line);
        o.add("message", e.server_message.empty() ? e.message : e.server_message);
      });
      return e;
    }
    const auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(timeout_.now() - t0);
    const AppliedMigration row{m.version, m.name, m.checksum, {}, duration.count(), r.deploy_version, r.host};
    auto recorded = ledger_.record_applied(conn, row);
    if (!recorded) {
      if (!p.directives.no_transaction) (void)conn.execute("ROLLBACK");
      auto e = std::move(recorded).error();
      e.file = m.origin;
      return e;
    }
    if (!p.directives.no_transaction) {
      auto committed = conn.execute("COMMIT");
      if (!committed) {
        auto e = std::move(committed).error();
        e.code = errc::migration_failed;
        e.version = m.version;
        e.file = m.origin;
        e.message = "committing migration " + std::to_string(m.version) + " (" + m.origin +
                    ") failed: " + e.message + "; the ledger tells whether it committed (lockstep status)";
        return e;
      }
    }
    emit(r, "migration_applied", [&](detail::JsonObject& o) {
      o.add("version", m.version)
          .add("name", m.name)
          .add("file", m.origin)
          .add("statements", static_cast<std::int64_t>(p.statements.size()))
          .add("duration_ms", static_cast<std::int64_t>(duration.count()));
    });
    r.applied.push_back(AppliedStep{m.version, m.name, duration});
    return outcome::success();
  }

  // The whole file in one transaction, sent as it is, so the server's error
  // positions are file positions. The ledger row joins the same transaction.
  [[nodiscard]] result<void> run_transaction(Connection& conn, const Migration& m, const detail::PreparedMigration& p) {
    LOCKSTEP_TRYV(conn.execute("BEGIN" + timeout_settings(p.directives, "LOCAL ")));
    auto ran = conn.execute(m.sql);
    if (ran) return outcome::success();
    (void)conn.execute("ROLLBACK");
    auto e = migration_error(std::move(ran).error(), m, sql::Position{});
    e.message = "migration " + std::to_string(m.version) + " (" + m.origin + ") failed: " + e.server_message +
                "; it was rolled back and nothing of it was applied. Fix it (it never ran to completion, so "
                "editing it is safe) and deploy again";
    return e;
  }

  // No transaction: each statement alone, in order (CREATE INDEX CONCURRENTLY
  // and friends). A failure leaves the earlier statements committed.
  [[nodiscard]] result<void> run_statements(Connection& conn, const Migration& m, const detail::PreparedMigration& p) {
    const std::string settings = timeout_settings(p.directives, "");
    if (!settings.empty()) LOCKSTEP_TRYV(conn.execute(settings.substr(2)));
    for (std::size_t k = 0; k < p.statements.size(); ++k) {
      const auto& st = p.statements[k];
      auto ran = conn.execute(st.text(m.sql));
      if (!ran) {
        auto e = migration_error(std::move(ran).error(), m, st.position);
        e.message = "migration " + std::to_string(m.version) + " (" + m.origin + ", no transaction) failed at "
                    "statement " + std::to_string(k + 1) + " of " + std::to_string(p.statements.size()) + ": " +
                    e.server_message + "; the " + std::to_string(k) +
                    " statement(s) before it stay committed and the migration is not recorded, so the next boot "
                    "re-runs it from its first statement (which is why it must be safe to re-run)";
        if (!settings.empty()) (void)conn.execute("RESET lock_timeout; RESET statement_timeout");
        return e;
      }
    }
    if (!settings.empty()) LOCKSTEP_TRYV(conn.execute("RESET lock_timeout; RESET statement_timeout"));
    return outcome::success();
  }

  [[nodiscard]] result<Report> finish(Run& r, Connection& conn, const LedgerState& state, Role role,
                                      std::vector<std::int64_t> unknown) {
    LOCKSTEP_TRYV(detail::gate(state.version, r.expected, detail::newest_version(r.migrations)));
    if (state.exists && !state.deploy_recorded) {
      auto recorded = ledger_.record_deploy(conn, DeployRecord{r.deploy_version, state.version, {}, r.host});
      if (!recorded) {
        // Not worth refusing to start over: the schema is right, only the
        // bookkeeping failed (e.g. a read-only user). Say so and go on.
        emit(r, "warning", [&](detail::JsonObject& o) {
          o.add("message", "could not record the deploy version: " + recorded.error().message);
        });
      }
    }
    Report rep;
    rep.role = role;
    rep.schema_version = state.version;
    rep.expected_version = r.expected;
    rep.schema_ahead = state.version > r.expected;
    rep.unknown_versions = std::move(unknown);
    rep.applied = r.applied;
    rep.wait_attempts = r.wait_attempts;
    rep.duration = std::chrono::milliseconds{elapsed_ms(r)};
    emit(r, "ready", [&](detail::JsonObject& o) {
      o.add("role", to_string(role))
          .add("schema_version", state.version)
          .add("expected_version", r.expected)
          .add("schema_ahead", rep.schema_ahead)
          .add("applied", static_cast<std::int64_t>(rep.applied.size()))
          .add("wait_attempts", static_cast<std::int64_t>(rep.wait_attempts))
          .add("duration_ms", static_cast<std::int64_t>(rep.duration.count()));
    });
    return rep;
  }

  [[nodiscard]] result<Status> status_all(Run& r) {
    LOCKSTEP_TRYV(prepare(r));
    LOCKSTEP_TRY(conn, connect(r));
    detail::Watchdog watchdog{conn, remaining(r)};
    r.phase = "reading the ledger";
    auto out = [&]() -> result<Status> {
      LOCKSTEP_TRY(state, ledger_.read_state(conn, r.deploy_version));
      LOCKSTEP_TRY(applied, ledger_.read_applied(conn));
      LOCKSTEP_TRY(deploys, ledger_.read_deploys(conn));
      Status s;
      s.ledger_exists = state.exists;
      s.schema_version = state.version;
      s.expected_version = r.expected;
      s.deploys = std::move(deploys);
      for (const auto& a : applied) {
        const auto it = std::find_if(r.migrations.begin(), r.migrations.end(),
                                     [&](const Migration& m) { return m.version == a.version; });
        if (it == r.migrations.end()) {
          s.unknown_versions.push_back(a.version);
        } else if (it->checksum != a.checksum) {
          s.drifted.push_back(a.version);
        }
      }
      for (const auto& m : r.migrations) {
        const bool done = std::any_of(applied.begin(), applied.end(),
                                      [&](const AppliedMigration& a) { return a.version == m.version; });
        if (!done) s.pending.push_back(PendingMigration{m.version, m.name, m.origin});
      }
      s.applied = std::move(applied);
      return s;
    }();
    watchdog.disarm();
    if (!out && watchdog.fired()) return deadline_error(r);
    return out;
  }

  Settings settings_;
  Lock lock_{};
  Wait wait_{};
  Timeout timeout_{};
  Source source_{};
  Ledger ledger_{};
};

}  // namespace lockstep
