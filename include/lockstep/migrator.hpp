// Migrator<Lock, Wait, Timeout, Source, Ledger>: the startup sequence.
//
//   connect -> fast path (one query) -> preflight -> [lock -> lead | wait and poll] -> gate
//
// Every policy is a template parameter so the composition is fixed at compile
// time and a wrong policy is a compile error, not a runtime surprise.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/connect_attempt.hpp"
#include "lockstep/detail/conninfo.hpp"
#include "lockstep/detail/emitter.hpp"
#include "lockstep/detail/plan.hpp"
#include "lockstep/detail/prepare.hpp"
#include "lockstep/detail/session_sql.hpp"
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
#include "lockstep/wait/notify_backoff.hpp"

namespace lockstep {

namespace detail {
// A lock policy whose lock lives inside each migration's transaction.
template <class L>
constexpr bool transaction_scoped = requires { requires L::transaction_scoped; };

// A wait policy that wakes on the leader's NOTIFY (see NotifyBackoff).
template <class W>
constexpr bool listens = requires { requires W::listens; };

// A lock policy that can prove, inside a transaction, that it still holds the lock.
template <class L>
constexpr bool has_held_check = requires(std::int64_t key) {
  { L::held_check_sql(key) } -> std::convertible_to<std::string>;
};
}  // namespace detail

template <class Lock = TryLock, class Wait = NotifyBackoff, class Timeout = Deadline<>,
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
  [[nodiscard]] result<Report> run() noexcept {
    return boundary<Report>([&](Run& r) { return run_reconnecting(r); });
  }

  // Read-only: what is applied, pending, drifted or failed.
  [[nodiscard]] result<Status> status() noexcept {
    return boundary<Status>(
        [&](Run& r) { return with_connection(r, [&](Connection& conn) { return status_of(r, conn); }); });
  }

  // Marks the failed attempts of `version` as handled by a human, so a
  // PartialPolicy::refuse run will apply it again. Returns how many it cleared.
  [[nodiscard]] result<std::int64_t> resolve(std::int64_t version) noexcept {
    return boundary<std::int64_t>([&](Run& r) {
      return with_connection(r, [&](Connection& conn) -> result<std::int64_t> {
        LOCKSTEP_TRY(count, ledger_.resolve_failures(conn, version));
        emit(r, "resolved", [&](detail::JsonObject& o) { o.add("version", version).add("failures", count); });
        return count;
      });
    });
  }

 private:
  struct Run {
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point deadline;
    detail::Emitter events;
    std::string url;
    std::string deploy_version;
    std::string host;
    BootMode mode = BootMode::migrate;
    std::string lock_name;
    std::int64_t key = 0;
    std::vector<Migration> migrations;
    std::int64_t expected = 0;
    std::int64_t final_version = 0;  // the newest migration this run may apply
    bool listening = false;          // LISTENing for the leader's NOTIFY
    bool woken = false;              // a notification arrived: poll again at once
    std::string phase = "starting";
    std::vector<AppliedStep> applied;
    unsigned wait_attempts = 0;
    std::unordered_map<std::int64_t, detail::PreparedMigration> prepared;
    detail::Redactor redact;    // every secret of the URL, for anything printed
    detail::Conninfo conninfo;  // the URL as libpq reads it (check_settings)
  };

  // Nothing escapes run(), status() or resolve(): an exception from a policy
  // or the standard library (no memory, no thread) becomes internal_error,
  // and no returned or emitted text carries a secret of the URL.
  template <class T, class Body>
  [[nodiscard]] result<T> boundary(Body&& body) noexcept {
    try {
      Run r = start();
      auto out = [&]() -> result<T> {
        try {
          return body(r);
        } catch (const std::exception& ex) {
          return make_error(errc::internal_error, std::string{"unexpected exception while "} + r.phase + ": " +
                                                      ex.what() + "; nothing more was run (report this)");
        } catch (...) {
          return make_error(errc::internal_error,
                            "unexpected exception while " + r.phase + "; nothing more was run (report this)");
        }
      }();
      if (out) return out;
      Error e = std::move(out).error();
      r.redact.scrub(e);
      try {
        emit_error(r, e);
      } catch (...) {
        // The sink threw: the error is still returned.
      }
      return e;
    } catch (...) {
      try {
        return make_error(errc::internal_error, "out of memory before the run started");
      } catch (...) {
        std::terminate();  // not even an error can be built
      }
    }
  }

  // What one attempt at a migration came to.
  enum class Outcome { applied, lock_busy };

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
    Run r;
    r.started = timeout_.now();
    r.deadline = r.started + std::chrono::duration_cast<std::chrono::milliseconds>(timeout_.budget());
    r.host = detail::resolve_host(settings_);
    r.url = detail::resolve_url(settings_);
    r.redact = detail::Redactor{detail::secrets_in(r.url)};
    r.events = detail::Emitter{settings_.on_event ? settings_.on_event : stderr_sink(), r.host, r.redact};
    r.deploy_version = detail::resolve_deploy_version(settings_);
    return r;
  }

  [[nodiscard]] std::int64_t elapsed_ms(const Run& r) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(timeout_.now() - r.started).count();
  }
  [[nodiscard]] std::chrono::milliseconds remaining(const Run& r) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(r.deadline - timeout_.now());
  }
  [[nodiscard]] bool expired(const Run& r) const { return remaining(r) <= std::chrono::milliseconds{0}; }

  template <class Fill>
  void emit(const Run& r, std::string_view name, Fill&& fill) const {
    r.events.emit(name, elapsed_ms(r), std::forward<Fill>(fill));
  }

  void emit_error(const Run& r, const Error& e) const {
    emit(r, "error", [&](detail::JsonObject& o) {
      o.add("class", to_string(e.code)).add("message", e.message);
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
    return make_error(errc::deadline_exceeded,
                      "deadline of " + std::to_string(budget.count()) + " ms exceeded while " + r.phase +
                          "; the connection was shut and the server asked to end the session, so it "
                          "released the migration lock and committed nothing unfinished. Raise the timeout, "
                          "or find what blocks the migration (pg_stat_activity, pg_locks)");
  }

  // ---- setup ----------------------------------------------------------------

  [[nodiscard]] result<void> check_settings(Run& r) {
    if (timeout_.budget() <= std::chrono::milliseconds{0}) {
      return make_error(errc::invalid_argument, "the timeout must be positive");
    }
    LOCKSTEP_TRY(mode, detail::resolve_mode(settings_));
    r.mode = mode;
    if (r.url.empty()) {
      return make_error(errc::invalid_argument,
                        "no database URL: set DATABASE_URL_MIGRATION (a direct connection to the primary, not "
                        "through a transaction-pooling proxy) or DATABASE_URL, or Settings::database_url");
    }
    LOCKSTEP_TRY(conninfo, detail::Conninfo::parse(r.url));
    r.conninfo = std::move(conninfo);
    return outcome::success();
  }

  [[nodiscard]] result<void> prepare(Run& r) {
    LOCKSTEP_TRYV(check_settings(r));
    r.phase = "loading migrations";
    LOCKSTEP_TRY(migrations, source_.load());
    return loaded(r, std::move(migrations));
  }

  [[nodiscard]] result<void> loaded(Run& r, std::vector<Migration> migrations) {
    r.migrations = std::move(migrations);
    r.expected = settings_.expected_version.value_or(detail::newest_version(r.migrations));
    for (const auto& m : r.migrations) {
      if (m.version <= r.expected) r.final_version = std::max(r.final_version, m.version);
    }
    emit(r, "boot", [&](detail::JsonObject& o) {
      o.add("mode", to_string(r.mode))
          .add("expected_version", r.expected)
          .add("deploy_version", r.deploy_version)
          .add("migrations", static_cast<std::int64_t>(r.migrations.size()))
          .add("budget_ms", static_cast<std::int64_t>(
                                std::chrono::duration_cast<std::chrono::milliseconds>(timeout_.budget()).count()));
    });
    return outcome::success();
  }

  // The user's options win; lockstep adds the rest. connect_timeout is per
  // host; the attempt as a whole is bounded by the deadline (ConnectAttempt).
  [[nodiscard]] std::string conninfo_for(const Run& r, std::chrono::seconds connect_timeout) const {
    const auto rem_s = std::max<std::int64_t>(
        2, std::min<std::int64_t>(connect_timeout.count(), (remaining(r).count() + 999) / 1000));
    detail::Conninfo c = r.conninfo;
    c.set_default("connect_timeout", std::to_string(rem_s));
    c.set_default("application_name", settings_.application_name);
    // The client side of dead-peer detection (the server side is set once
    // this process leads): keepalives and an unacknowledged-data timeout.
    c.set_default("keepalives", "1");
    c.set_default("keepalives_idle", "5");
    c.set_default("keepalives_interval", "2");
    c.set_default("keepalives_count", "3");
    c.set_default("tcp_user_timeout", "10000");
    return c.str();
  }
  [[nodiscard]] std::string conninfo_for(const Run& r) const { return conninfo_for(r, settings_.connect_timeout); }

  // SQLSTATEs of connection refusals that no retry can cure; anything else
  // (unreachable, starting up, too many clients) is retried until the deadline.
  [[nodiscard]] static bool permanent_refusal(std::string_view sqlstate) noexcept {
    return sqlstate == "28P01" || sqlstate == "28000" || sqlstate == "3D000" || sqlstate == "42501";
  }

  // One attempt, bounded by what is left of the deadline (DNS included).
  [[nodiscard]] result<Connection> open_bounded(Run& r, std::optional<detail::ConnectAttempt> started = {}) {
    if (!started) {
      LOCKSTEP_TRY(attempt, detail::ConnectAttempt::start(conninfo_for(r)));
      started.emplace(std::move(attempt));
    }
    auto done = started->wait(remaining(r));
    if (!done) return deadline_error(r);
    return std::move(*done);
  }

  [[nodiscard]] result<Connection> connect(Run& r, std::optional<detail::ConnectAttempt> first = {}) {
    r.phase = "connecting to " + r.redact(r.url);
    for (unsigned attempt = 0;; ++attempt) {
      if (expired(r)) return deadline_error(r);
      auto conn = open_bounded(r, attempt == 0 ? std::move(first) : std::nullopt);
      if (conn) return conn;
      auto e = std::move(conn).error();
      if (e.code != errc::connection_failed) return e;  // the deadline, or no thread
      if (e.sqlstate.empty()) {
        // libpqxx reports no SQLSTATE for a refused connection, and the
        // server's words may be in any language: ask libpq, briefly.
        e.sqlstate = detail::connect_failure_sqlstate(
            conninfo_for(r, std::chrono::seconds{2}), std::min(remaining(r), std::chrono::milliseconds{2000}));
      }
      e.message = "cannot connect to " + r.redact(r.url) + ": " + r.redact(e.message);
      if (permanent_refusal(e.sqlstate)) {
        e.message += "; the server refused this user, password or database, which no retry can change: check "
                     "them in the migration URL (and the role's CONNECT privilege and pg_hba.conf)";
        return e;
      }
      const auto delay = std::min(std::chrono::duration_cast<std::chrono::milliseconds>(wait_.next_delay(attempt)),
                                  remaining(r));
      emit(r, "connect_retry", [&](detail::JsonObject& o) {
        o.add("attempt", static_cast<std::int64_t>(attempt))
            .add("message", e.message)
            .add("next_delay_ms", static_cast<std::int64_t>(delay.count()));
        if (!e.sqlstate.empty()) o.add("sqlstate", e.sqlstate);
      });
      timeout_.sleep_for(delay);
      if (expired(r)) {
        e.message += " (gave up at the deadline)";
        return e;
      }
    }
  }

  // Runs `body` under the deadline watchdog; its failure after the watchdog
  // fired is the deadline, whatever the severed connection reported.
  template <class Body>
  [[nodiscard]] auto watched(Run& r, Connection& conn, Body&& body) -> decltype(body(conn)) {
    detail::Watchdog watchdog{conn, remaining(r), conninfo_for(r, std::chrono::seconds{2})};
    if (!watchdog.started()) {
      return make_error(errc::internal_error,
                        "cannot start the deadline watchdog thread: the process is at its thread or pid limit "
                        "(ulimit -u, the container's pids.max); nothing was run");
    }
    auto out = body(conn);
    watchdog.disarm();
    if (!out && watchdog.fired()) {
      conn.close();
      return deadline_error(r);
    }
    return out;
  }

  // prepare, connect, and run `body` under the deadline watchdog.
  template <class Body>
  [[nodiscard]] auto with_connection(Run& r, Body&& body) -> decltype(body(std::declval<Connection&>())) {
    LOCKSTEP_TRYV(prepare(r));
    LOCKSTEP_TRY(conn, connect(r));
    return watched(r, conn, std::forward<Body>(body));
  }

  // ---- the run ----------------------------------------------------------------

  // A connection that breaks mid-run (server restart or failover, a
  // terminated backend, a cut link) ends that session and with it any lock
  // and open transaction, so starting over from the ledger is always safe: a
  // committed migration is in the ledger, an uncommitted one left nothing
  // behind, a no-transaction one re-runs from the top (it must be idempotent).
  // The replica reconnects and starts over, as leader or follower, until the
  // deadline, instead of failing a rollout because the database blinked.
  [[nodiscard]] result<Report> run_reconnecting(Run& r) {
    LOCKSTEP_TRYV(check_settings(r));
    // Reading and hashing the files overlaps the first connection attempt:
    // on the every-boot path that hides the source's whole cost. A bad file
    // is reported before any connection retry.
    LOCKSTEP_TRY(connecting, detail::ConnectAttempt::start(conninfo_for(r)));
    r.phase = "loading migrations";
    LOCKSTEP_TRY(migrations, source_.load());
    LOCKSTEP_TRYV(loaded(r, std::move(migrations)));
    std::optional<detail::ConnectAttempt> first{std::move(connecting)};
    for (unsigned attempt = 0;; ++attempt) {
      LOCKSTEP_TRY(conn, connect(r, std::move(first)));
      first.reset();
      auto out = watched(r, conn, [&](Connection& c) { return migrate(r, c); });
      if (out) return out;
      auto e = std::move(out).error();
      if (e.code != errc::connection_failed || conn.is_open() || expired(r)) return e;
      conn.close();
      const auto delay = std::min(std::chrono::duration_cast<std::chrono::milliseconds>(wait_.next_delay(attempt)),
                                  remaining(r));
      emit(r, "reconnecting", [&](detail::JsonObject& o) {
        o.add("attempt", static_cast<std::int64_t>(attempt))
            .add("while", r.phase)
            .add("message", e.message)
            .add("next_delay_ms", static_cast<std::int64_t>(delay.count()));
      });
      timeout_.sleep_for(delay);
      if (expired(r)) return deadline_error(r);
    }
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
    if (state.version >= r.expected) return finish(r, conn, state, Role::current, std::move(unknown));
    if (r.mode == BootMode::dry_run) return dry_run(r, conn, state);
    if (r.mode == BootMode::migrate) LOCKSTEP_TRYV(preflight(r, conn, state.version));

    if (settings_.lock_name.empty()) {
      // The server's name for the database, not the client's: a PgBouncer
      // alias and a direct URL must derive the same key.
      LOCKSTEP_TRY(db, conn.query("SELECT current_database()"));
      r.lock_name = default_lock_name(db.empty() ? conn.database_name() : db[0][0].value_or(""), ledger_.identity());
    } else {
      r.lock_name = settings_.lock_name;
    }
    r.key = lock_key(r.lock_name);
    for (unsigned attempt = 0;; ++attempt) {
      r.phase = "waiting for the schema to reach version " + std::to_string(r.expected) + " (at " +
                std::to_string(state.version) + ")";
      if (expired(r)) return deadline_error(r);
      if (r.mode == BootMode::migrate) {
        if constexpr (detail::transaction_scoped<Lock>) {
          LOCKSTEP_TRY(done, lead_per_transaction(r, conn));
          if (done) return std::move(*done);
        } else {
          auto acquired = lock_.try_acquire(conn, r.key, remaining(r));
          if (!acquired) return lock_error(std::move(acquired).error());
          if (acquired.value()) return lead(r, conn);
        }
        if (attempt == 0) {
          emit(r, "lock_busy", [&](detail::JsonObject& o) { o.add("lock", r.lock_name).add("key", r.key); });
        }
      }
      if constexpr (detail::listens<Wait>) {
        if (attempt == 0) LOCKSTEP_TRYV(start_listening(r, conn));
      }
      LOCKSTEP_TRY(polled, wait_and_poll(r, conn, state, attempt));
      state = polled;
      LOCKSTEP_TRY(seen_unknown, check(conn, r, state));
      if (state.version >= r.expected) return finish(r, conn, state, Role::follower, std::move(seen_unknown));
    }
  }

  [[nodiscard]] result<LedgerState> wait_and_poll(Run& r, Connection& conn, const LedgerState& state,
                                                  unsigned attempt) {
    const auto delay = r.woken ? std::chrono::milliseconds{0}
                               : std::max(std::chrono::milliseconds{0},
                                          std::min(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                       wait_.next_delay(attempt)),
                                                   remaining(r)));
    emit(r, "waiting", [&](detail::JsonObject& o) {
      o.add("attempt", static_cast<std::int64_t>(attempt))
          .add("schema_version", state.version)
          .add("expected_version", r.expected)
          .add("next_delay_ms", static_cast<std::int64_t>(delay.count()))
          .add("listening", r.listening)
          .add("lock", r.lock_name);
    });
    r.woken = false;
    if (r.listening) {
      LOCKSTEP_TRY(woke, conn.await_notification(delay));
      (void)woke;  // early or on time, the ledger decides
    } else {
      timeout_.sleep_for(delay);
    }
    r.wait_attempts = attempt + 1;
    if (expired(r)) return deadline_error(r);
    LOCKSTEP_TRY(polled, ledger_.read_state(conn, r.deploy_version));
    if (r.listening) {
      // A NOTIFY that arrived while that query ran may announce a commit it
      // did not see: poll again at once rather than sleep through it.
      LOCKSTEP_TRY(during, conn.take_notifications());
      r.woken = during > 0;
    }
    return polled;
  }

  // LISTEN once, before the first wait. A commit may land between the lock
  // attempt and the LISTEN, so the first poll after it does not wait.
  [[nodiscard]] result<void> start_listening(Run& r, Connection& conn) {
    LOCKSTEP_TRY(rows, conn.query(detail::listen_sql(r.key, conn.backend_pid())));
    r.listening = !rows.empty() && rows[0][0].value_or("f") == "t";
    r.woken = r.listening;
    return outcome::success();
  }

  [[nodiscard]] static Error lock_error(Error e) {
    if (e.code == errc::database_error) {
      e.code = errc::lock_failed;
      e.message = "taking the migration lock failed: " + e.server_message;
    }
    return e;
  }

  // Split, read directives and lint every migration this run may apply,
  // before any of them runs: a bad file stops the deploy untouched.
  [[nodiscard]] result<void> preflight(Run& r, const Connection& conn, std::int64_t applied_version) {
    r.phase = "checking migrations";
    for (const auto& m : r.migrations) {
      if (m.version <= applied_version || m.version > r.expected) continue;
      LOCKSTEP_TRY(p, detail::prepare_migration(m, conn.server_version()));
      if constexpr (detail::transaction_scoped<Lock>) {
        if (p.directives.no_transaction) {
          return detail::at_migration(
              make_error(errc::invalid_argument,
                         "it is marked no-transaction, and a transaction-scoped lock cannot protect it (the lock "
                         "ends with each transaction); apply it over a direct connection (DATABASE_URL_MIGRATION) "
                         "with TryLock (--lock try)"),
              m);
        }
      }
      emit_lint(r, m, p);
      r.prepared.insert_or_assign(m.version, std::move(p));
    }
    return outcome::success();
  }

  void emit_lint(const Run& r, const Migration& m, const detail::PreparedMigration& p) const {
    for (const auto& w : p.warnings) {
      emit(r, "lint", [&](detail::JsonObject& o) {
        o.add("severity", "warning").add("rule", w.rule).add("version", m.version).add("file", m.origin);
        o.add("line", w.position.line).add("column", w.position.column).add("message", w.message);
      });
    }
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

  // ---- leading with a session lock ---------------------------------------------

  // Releases the lock on every exit path. If the connection is already gone the
  // release fails, which is fine: the server dropped the lock with the session.
  class LockGuard {
   public:
    LockGuard(Migrator& m, Run& r, Connection& conn) : m_{m}, r_{r}, conn_{conn}, since_{m.timeout_.now()} {}
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;
    ~LockGuard() { release(); }
    // The leader's last transaction is committed: nothing to roll back.
    void mark_committed() noexcept { committed_ = true; }

    void release() noexcept {
      if (released_) return;
      released_ = true;
      bool ok = false;
      try {
        // On an error path the session may sit in an aborted transaction
        // (a failed BEGIN batch, a file's own BEGIN), where the unlock and
        // the NOTIFY would fail too and the waiters would sleep on.
        if (!committed_ && conn_.is_open()) (void)conn_.execute("ROLLBACK");
        ok = static_cast<bool>(m_.lock_.release(conn_, r_.key));
        // Wakes waiting replicas at once, so one takes over if this leader failed.
        if (ok) (void)conn_.execute(detail::notify_sql(r_.key, "released"));
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
    bool committed_ = false;
  };

  [[nodiscard]] result<Report> lead(Run& r, Connection& conn) {
    emit(r, "lock_acquired", [&](detail::JsonObject& o) { o.add("lock", r.lock_name).add("key", r.key); });
    LockGuard guard{*this, r, conn};
    r.phase = "preparing the leader's session";
    LOCKSTEP_TRYV(conn.execute(detail::leader_session_sql(conn.server_version(), settings_.stall_timeout)));
    r.phase = "preparing the ledger";
    LOCKSTEP_TRYV(ledger_.ensure(conn));
    LOCKSTEP_TRY(applied, ledger_.read_applied(conn));
    LOCKSTEP_TRY(p, detail::plan(r.migrations, applied, r.expected));
    std::vector<FailureRecord> failures;
    if (!p.pending.empty() && failures_matter()) {
      LOCKSTEP_TRY(unresolved, ledger_.read_failures(conn));
      failures = std::move(unresolved);
    }
    for (const Migration* m : p.pending) {
      LOCKSTEP_TRYV(refuse_recorded_failure(r, *m, failures));
      LOCKSTEP_TRY(outcome, apply(r, conn, *m, false));
      (void)outcome;  // a session lock is held throughout: never busy here
    }
    r.phase = "reading the ledger";
    LOCKSTEP_TRY(state, ledger_.read_state(conn, r.deploy_version));
    guard.mark_committed();
    guard.release();
    return finish(r, conn, state, p.pending.empty() ? Role::follower : Role::leader, p.unknown_versions);
  }

  // Whether a recorded failure can stop a pending migration (else the leader
  // need not read them).
  [[nodiscard]] bool failures_matter() const noexcept {
    return settings_.on_failure == FailurePolicy::stop_deploy || settings_.on_partial == PartialPolicy::refuse;
  }

  // One failure cannot wedge a rollout: a migration the server rejected in
  // this deploy is not run again by its other replicas (each would hold the
  // same locks for as long, then fail the same way). A changed file, a new
  // deploy version or `lockstep resolve` allows a new attempt; failures that
  // may pass on another try (FailureRecord::retryable) never stop it.
  [[nodiscard]] result<void> refuse_recorded_failure(const Run& r, const Migration& m,
                                                     const std::vector<FailureRecord>& failures) const {
    if (settings_.on_partial == PartialPolicy::refuse) LOCKSTEP_TRYV(refuse_unresolved_partial(m, failures));
    if (settings_.on_failure != FailurePolicy::stop_deploy) return outcome::success();
    for (auto f = failures.rbegin(); f != failures.rend(); ++f) {
      if (f->version != m.version || f->checksum != m.checksum || f->deploy_version != r.deploy_version ||
          f->retryable()) {
        continue;
      }
      auto e = detail::at_migration(
          make_error(errc::migration_failed,
                     "it already failed in this deploy (" + r.deploy_version + ") on " + f->host + " at " +
                         f->failed_at + ": " + (f->position.empty() ? m.origin : f->position) + ": [" +
                         f->sqlstate + "] " + f->message +
                         ". The server rejected it, so it would fail the same way here: lockstep does not run "
                         "it again in the same deploy. Fix the file and deploy again (a changed file is a new "
                         "attempt), or fix the cause outside it (a privilege, an extension, the data), then run "
                         "`lockstep resolve " + std::to_string(m.version) + "` (docs/operations.md)"),
          m);
      e.sqlstate = f->sqlstate;
      e.server_message = f->message;
      detail::read_position(f->position, e);
      return e;
    }
    return outcome::success();
  }

  [[nodiscard]] static result<void> refuse_unresolved_partial(const Migration& m,
                                                              const std::vector<FailureRecord>& failures) {
    for (const auto& f : failures) {
      if (f.version == m.version && f.partial) {
        return detail::at_migration(
            make_error(errc::migration_failed,
                       "it stopped part-way at " + f.failed_at + " (" + std::to_string(f.statements_completed) +
                           " of " + std::to_string(f.statements_total) +
                           " statements committed) and the partial policy is refuse: check the schema by hand, "
                           "then run `lockstep resolve " + std::to_string(m.version) + "` and deploy again"),
            m);
      }
    }
    return outcome::success();
  }

  // ---- leading with a transaction-scoped lock ----------------------------------

  // One migration per transaction, each taking the lock and re-reading the
  // ledger under it. Returns the report when nothing is left, or nullopt when
  // another process holds the lock (the caller waits and polls).
  [[nodiscard]] result<std::optional<Report>> lead_per_transaction(Run& r, Connection& conn) {
    bool ensured = false;
    for (;;) {
      if (expired(r)) return deadline_error(r);
      LOCKSTEP_TRY(locked, begin_transaction_locked(r, conn, !ensured));
      if (!locked) return std::optional<Report>{};
      ensured = true;
      const LedgerState state = *locked;
      const Migration* next = nullptr;
      for (const auto& m : r.migrations) {
        if (m.version > state.version && m.version <= r.expected) {
          next = &m;
          break;
        }
      }
      if (next == nullptr) {
        LOCKSTEP_TRYV(conn.execute("COMMIT"));
        LOCKSTEP_TRY(unknown, check(conn, r, state));
        LOCKSTEP_TRY(report, finish(r, conn, state, r.applied.empty() ? Role::follower : Role::leader,
                                    std::move(unknown)));
        return std::optional<Report>{std::move(report)};
      }
      auto failures =
          failures_matter() ? ledger_.read_failures(conn) : result<std::vector<FailureRecord>>{std::vector<FailureRecord>{}};
      if (!failures) {
        (void)conn.execute("ROLLBACK");
        return std::move(failures).error();
      }
      if (auto refused = refuse_recorded_failure(r, *next, failures.value()); !refused) {
        (void)conn.execute("ROLLBACK");
        return std::move(refused).error();
      }
      LOCKSTEP_TRY(outcome, apply(r, conn, *next, true));
      if (outcome == Outcome::lock_busy) return std::optional<Report>{};
    }
  }

  // BEGIN, take the transaction-scoped lock, (create the ledger,) and read
  // the ledger under the lock. nullopt: another process holds the lock; the
  // transaction is rolled back then, and on any error.
  [[nodiscard]] result<std::optional<LedgerState>> begin_transaction_locked(Run& r, Connection& conn,
                                                                           bool ensure_ledger) {
    r.phase = "taking the transaction lock";
    LOCKSTEP_TRYV(conn.execute(detail::begin_bounded_sql(settings_.stall_timeout)));
    auto locked = [&]() -> result<std::optional<LedgerState>> {
      auto acquired = lock_.try_acquire(conn, r.key, remaining(r));
      if (!acquired) return lock_error(std::move(acquired).error());
      if (!acquired.value()) return std::optional<LedgerState>{};
      if (ensure_ledger) LOCKSTEP_TRYV(ledger_.ensure(conn));
      LOCKSTEP_TRY(state, ledger_.read_state(conn, r.deploy_version));
      return std::optional<LedgerState>{state};
    }();
    if (!locked || !locked.value()) (void)conn.execute("ROLLBACK");
    return locked;
  }

  // ---- applying one migration ---------------------------------------------------

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

  [[nodiscard]] std::chrono::milliseconds lock_timeout_for(const detail::PreparedMigration& p) const {
    return p.directives.lock_timeout.value_or(settings_.lock_timeout);
  }
  [[nodiscard]] std::chrono::milliseconds statement_timeout_for(const Run& r,
                                                                const detail::PreparedMigration& p) const {
    if (p.directives.statement_timeout) return *p.directives.statement_timeout;
    if (settings_.statement_timeout) return *settings_.statement_timeout;
    return std::max(std::chrono::milliseconds{1}, remaining(r));
  }

  // Runs `m`, retrying after lock_timeout (55P03) with backoff. With a
  // transaction-scoped lock, the caller has already opened the transaction
  // and taken the lock; a retry must take it again, and may find it busy.
  [[nodiscard]] result<Outcome> apply(Run& r, Connection& conn, const Migration& m, bool in_transaction) {
    r.phase = "applying migration " + std::to_string(m.version) + " (" + m.origin + ")";
    LOCKSTEP_TRY(prepared, prepared_for(r, conn, m));
    const detail::PreparedMigration& p = *prepared;
    emit(r, "migration_started", [&](detail::JsonObject& o) {
      o.add("version", m.version).add("name", m.name).add("file", m.origin);
      o.add("transaction", !p.directives.no_transaction)
          .add("statements", static_cast<std::int64_t>(p.statements.size()));
    });
    const auto t0 = timeout_.now();
    unsigned retries = 0;
    for (;;) {
      if (!in_transaction && !p.directives.no_transaction) {
        LOCKSTEP_TRY(opened, begin_session_locked(r, conn, m, p));
        (void)opened;
      } else if (in_transaction) {
        LOCKSTEP_TRYV(conn.execute(detail::timeout_sql(lock_timeout_for(p), statement_timeout_for(r, p), true)));
      }
      std::int64_t completed = 0;
      auto ran = p.directives.no_transaction ? run_statements(r, conn, m, p, completed) : run_body(conn, m);
      if (ran) {
        const auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(timeout_.now() - t0);
        LOCKSTEP_TRYV(record_and_commit(r, conn, m, p, duration));
        emit(r, "migration_applied", [&](detail::JsonObject& o) {
          o.add("version", m.version)
              .add("name", m.name)
              .add("file", m.origin)
              .add("statements", static_cast<std::int64_t>(p.statements.size()))
              .add("retries", static_cast<std::int64_t>(retries))
              .add("duration_ms", static_cast<std::int64_t>(duration.count()));
        });
        r.applied.push_back(AppliedStep{m.version, m.name, duration});
        return Outcome::applied;
      }
      auto e = std::move(ran).error();
      if (!conn.is_open()) return connection_lost(m, std::move(e));
      const bool lock_timeout = e.sqlstate == "55P03";
      if (lock_timeout && retries < settings_.lock_retries && !expired(r)) {
        ++retries;
        const auto delay = std::min(std::chrono::duration_cast<std::chrono::milliseconds>(wait_.next_delay(retries)),
                                    remaining(r));
        emit(r, "migration_retry", [&](detail::JsonObject& o) {
          o.add("version", m.version).add("name", m.name).add("attempt", static_cast<std::int64_t>(retries));
          o.add("sqlstate", e.sqlstate).add("message", e.server_message);
          o.add("next_delay_ms", static_cast<std::int64_t>(delay.count()));
        });
        timeout_.sleep_for(delay);
        if (in_transaction) {
          // The rollback released the transaction lock: take it again.
          LOCKSTEP_TRY(again, begin_transaction_locked(r, conn, false));
          if (!again) return Outcome::lock_busy;
          if (again->version >= m.version) {  // someone else applied it meanwhile
            LOCKSTEP_TRYV(conn.execute("COMMIT"));
            return Outcome::applied;
          }
        }
        continue;
      }
      // The deadline, lock_timeout and statement_timeout (which defaults to
      // what is left of the deadline) can expire together; then the deadline
      // is the reason, whichever error the server sent first.
      if ((lock_timeout || e.sqlstate == "57014") && expired(r)) {
        record_failure(r, conn, m, p, e, completed, "deadline");
        return deadline_error(r);
      }
      if (lock_timeout) {
        e.message += "; gave up after " + std::to_string(retries) +
                     " retries: another session holds a conflicting lock (look in pg_locks / pg_stat_activity)";
      }
      record_failure(r, conn, m, p, e, completed, lock_timeout ? "lock_timeout" : "error");
      emit(r, "migration_failed", [&](detail::JsonObject& o) {
        o.add("version", m.version).add("name", m.name).add("file", m.origin).add("sqlstate", e.sqlstate);
        if (e.line) o.add("line", *e.line);
        o.add("retries", static_cast<std::int64_t>(retries));
        o.add("message", e.server_message.empty() ? e.message : e.server_message);
      });
      return e;
    }
  }

  // The session died under the migration: the server rolled back whatever
  // was open, so this is not the migration's fault and nothing is recorded.
  [[nodiscard]] static Error connection_lost(const Migration& m, Error e) {
    e.code = errc::connection_failed;
    e.version = m.version;
    e.migration_name = m.name;
    e.file = m.origin;
    e.message = "the connection broke while applying migration " + std::to_string(m.version) + " (" + m.origin +
                "): " + e.server_message + "; the server rolled back its open transaction (a no-transaction "
                "migration keeps the statements that finished and re-runs from the top)";
    return e;
  }

  // BEGIN with this migration's timeouts and, for session locks, the proof
  // that this session still holds the lock, in one round trip.
  [[nodiscard]] result<bool> begin_session_locked(Run& r, Connection& conn, const Migration& m,
                                                  const detail::PreparedMigration& p) {
    // The previous migration's reset took back the session settings too.
    std::string sql = detail::leader_session_sql(conn.server_version(), settings_.stall_timeout) + "; BEGIN; " +
                      detail::timeout_sql(lock_timeout_for(p), statement_timeout_for(r, p), true);
    if constexpr (detail::has_held_check<Lock>) {
      sql += "; " + Lock::held_check_sql(r.key);
      LOCKSTEP_TRY(rows, conn.query(sql));
      if (rows.empty() || !rows[0][0] || *rows[0][0] != "t") {
        (void)conn.execute("ROLLBACK");
        return detail::at_migration(
            make_error(errc::lock_lost,
                       "before it ran, this session no longer held the migration lock, so another process may be "
                       "migrating; nothing of it ran. This happens behind a transaction-pooling proxy (PgBouncer "
                       "pool_mode=transaction): point DATABASE_URL_MIGRATION at PostgreSQL directly, or use "
                       "lockstep::TransactionLock"),
            m);
      }
      return true;
    } else {
      LOCKSTEP_TRYV(conn.execute(sql));
      return true;
    }
  }

  // The whole file in the open transaction, sent as it is, so the server's
  // error positions are file positions. Rolls back on failure.
  [[nodiscard]] result<void> run_body(Connection& conn, const Migration& m) {
    // The reset follows the file on a line of its own, so the server's error
    // positions are still the file's.
    auto ran = conn.execute(m.sql + "\n;" + detail::reset_after_body_sql(settings_.stall_timeout));
    if (ran) return outcome::success();
    (void)conn.execute("ROLLBACK");
    auto e = migration_error(std::move(ran).error(), m, sql::Position{});
    e.message = "migration " + std::to_string(m.version) + " (" + m.origin + ") failed: " + e.server_message +
                "; it was rolled back and nothing of it was applied. Fix it (it never ran to completion, so "
                "editing it is safe) and deploy again";
    return e;
  }

  // No transaction: each statement alone, in order (CREATE INDEX CONCURRENTLY
  // and friends). A failure leaves the earlier statements committed;
  // `completed` says how many. A statement that hits lock_timeout is the one
  // retried: the ones before it stay done.
  [[nodiscard]] result<void> run_statements(Run& r, Connection& conn, const Migration& m,
                                            const detail::PreparedMigration& p, std::int64_t& completed) {
    // The previous migration's reset took back the leader's session settings
    // (dead-peer detection, stall bounds) too: set them again first.
    LOCKSTEP_TRYV(conn.execute(detail::leader_session_sql(conn.server_version(), settings_.stall_timeout) + "; " +
                               detail::timeout_sql(lock_timeout_for(p), statement_timeout_for(r, p), false)));
    auto reset = [&](bool failed) {
      (void)conn.execute(detail::reset_session_sql(failed, conn.server_version(), settings_.stall_timeout));
    };
    for (std::size_t k = 0; k < p.statements.size(); ++k) {
      const auto& st = p.statements[k];
      unsigned retries = 0;
      for (;;) {
        auto ran = conn.execute(st.text(m.sql));
        if (ran) break;
        auto e = migration_error(std::move(ran).error(), m, st.position);
        if (e.sqlstate == "55P03" && retries < settings_.lock_retries && !expired(r)) {
          ++retries;
          const auto delay = std::min(
              std::chrono::duration_cast<std::chrono::milliseconds>(wait_.next_delay(retries)), remaining(r));
          emit(r, "migration_retry", [&](detail::JsonObject& o) {
            o.add("version", m.version).add("name", m.name).add("attempt", static_cast<std::int64_t>(retries));
            o.add("statement", static_cast<std::int64_t>(k + 1)).add("sqlstate", e.sqlstate);
            o.add("next_delay_ms", static_cast<std::int64_t>(delay.count()));
          });
          timeout_.sleep_for(delay);
          continue;
        }
        completed = static_cast<std::int64_t>(k);
        e.message = "migration " + std::to_string(m.version) + " (" + m.origin + ", no transaction) failed at "
                    "statement " + std::to_string(k + 1) + " of " + std::to_string(p.statements.size()) + ": " +
                    e.server_message + "; the " + std::to_string(k) +
                    " statement(s) before it stay committed and the migration is not recorded, so the next boot "
                    "re-runs it from its first statement (which is why it must be safe to re-run)";
        reset(true);
        return e;
      }
    }
    reset(false);
    completed = static_cast<std::int64_t>(p.statements.size());
    return outcome::success();
  }

  [[nodiscard]] result<void> record_and_commit(Run& r, Connection& conn, const Migration& m,
                                               const detail::PreparedMigration& p,
                                               std::chrono::milliseconds duration) {
    const bool transactional = !p.directives.no_transaction;
    const AppliedMigration row{m.version, m.name, m.checksum, {}, duration.count(), r.deploy_version, r.host};
    auto recorded = ledger_.record_applied(conn, row);
    if (!recorded) {
      if (transactional) (void)conn.execute("ROLLBACK");
      auto e = std::move(recorded).error();
      e.file = m.origin;
      return e;
    }
    // Waiting replicas wake on this (NotifyBackoff); NOTIFY is delivered at commit.
    const bool last = m.version == r.final_version;
    if (!transactional) {
      if (last) (void)conn.execute(detail::notify_sql(r.key, std::to_string(m.version)));
      return outcome::success();
    }
    if (last) record_deploy_in_transaction(r, conn, m.version);
    auto committed = conn.execute(last ? detail::notify_sql(r.key, std::to_string(m.version)) + "; COMMIT"
                                       : std::string{"COMMIT"});
    if (committed) return outcome::success();
    auto e = std::move(committed).error();
    // Whether it committed is unknown; the ledger row is in the same
    // transaction, so the restart after reconnecting reads the answer.
    if (!conn.is_open()) return connection_lost(m, std::move(e));
    e.code = errc::migration_failed;
    e.version = m.version;
    e.file = m.origin;
    e.message = "committing migration " + std::to_string(m.version) + " (" + m.origin + ") failed: " + e.message +
                "; the ledger tells whether it committed (lockstep status)";
    return e;
  }

  // The replicas the final commit wakes would otherwise each try to record
  // this deploy at once. Under a savepoint, so bookkeeping can never fail the
  // migration; if it does not stick, finish() records it as usual.
  void record_deploy_in_transaction(Run& r, Connection& conn, std::int64_t version) {
    if (!conn.execute("SAVEPOINT lockstep_deploy")) return;
    auto recorded = ledger_.record_deploy(conn, DeployRecord{r.deploy_version, version, {}, r.host});
    (void)conn.execute(recorded ? "RELEASE SAVEPOINT lockstep_deploy" : "ROLLBACK TO SAVEPOINT lockstep_deploy");
  }

  // The failure log is written in its own statement after the rollback; if
  // even that fails (connection gone), the event stream still has it.
  void record_failure(Run& r, Connection& conn, const Migration& m, const detail::PreparedMigration& p,
                      const Error& e, std::int64_t completed, std::string cause) {
    if (!conn.is_open()) return;
    FailureRecord f;
    f.checksum = m.checksum;
    f.cause = std::move(cause);
    f.version = m.version;
    f.name = m.name;
    f.sqlstate = e.sqlstate;
    f.message = e.server_message.empty() ? e.message : e.server_message;
    if (e.line) f.position = m.origin + ":" + std::to_string(*e.line) + (e.column ? ":" + std::to_string(*e.column) : "");
    f.deploy_version = r.deploy_version;
    f.host = r.host;
    f.partial = p.directives.no_transaction && completed > 0;
    f.statements_completed = completed;
    f.statements_total = static_cast<std::int64_t>(p.statements.size());
    auto recorded = ledger_.record_failure(conn, f);
    if (!recorded) {
      emit(r, "warning", [&](detail::JsonObject& o) {
        o.add("message", "could not record the failure in the ledger: " + recorded.error().message);
      });
    }
  }

  // ---- dry run ------------------------------------------------------------------

  [[nodiscard]] result<Report> dry_run(Run& r, Connection& conn, const LedgerState& state) {
    r.phase = "planning";
    LOCKSTEP_TRY(applied, ledger_.read_applied(conn));
    LOCKSTEP_TRY(p, detail::plan(r.migrations, applied, r.expected));
    std::vector<PlannedMigration> plan;
    for (const Migration* m : p.pending) {
      LOCKSTEP_TRY(prepared, prepared_for(r, conn, *m));
      emit_lint(r, *m, *prepared);
      plan.push_back(PlannedMigration{m->version, m->name, m->origin, !prepared->directives.no_transaction,
                                      prepared->statements.size(), prepared->warnings.size(), false,
                                      std::chrono::milliseconds{0}, {}});
    }
    if (settings_.rehearse) LOCKSTEP_TRYV(rehearse(r, conn, p.pending, plan));
    for (const auto& step : plan) {
      emit(r, "plan", [&](detail::JsonObject& o) {
        o.add("version", step.version).add("name", step.name).add("file", step.origin);
        o.add("transaction", step.transaction).add("statements", static_cast<std::int64_t>(step.statements));
        o.add("warnings", static_cast<std::int64_t>(step.warnings)).add("rehearsed", step.rehearsed);
        if (step.rehearsed) {
          o.add("duration_ms", static_cast<std::int64_t>(step.rehearsal_duration.count()));
          std::string locks = "[";
          for (const auto& l : step.locks) {
            if (locks.size() > 1) locks += ',';
            detail::JsonObject j;
            j.add("relation", l.relation).add("mode", l.mode);
            locks += j.str();
          }
          o.add_raw("locks", locks + "]");
        }
      });
    }
    Report rep;
    rep.role = Role::dry_run;
    rep.schema_version = state.version;
    rep.expected_version = r.expected;
    rep.unknown_versions = std::move(p.unknown_versions);
    rep.duration = std::chrono::milliseconds{elapsed_ms(r)};
    rep.plan = std::move(plan);
    emit(r, "ready", [&](detail::JsonObject& o) {
      o.add("role", to_string(rep.role)).add("schema_version", rep.schema_version);
      o.add("expected_version", rep.expected_version).add("pending", static_cast<std::int64_t>(rep.plan.size()));
      o.add("duration_ms", static_cast<std::int64_t>(rep.duration.count()));
    });
    return rep;
  }

  // Every pending transactional migration, in order, in one transaction that
  // is rolled back: later ones see earlier ones' effects, nothing persists.
  // A no-transaction migration cannot be rehearsed, and what follows it may
  // depend on it, so rehearsal stops there.
  [[nodiscard]] result<void> rehearse(Run& r, Connection& conn, const std::vector<const Migration*>& pending,
                                      std::vector<PlannedMigration>& plan) {
    r.phase = "rehearsing";
    LOCKSTEP_TRYV(conn.execute("BEGIN; " + detail::timeout_sql(settings_.lock_timeout,
                                                               std::max(std::chrono::milliseconds{1}, remaining(r)),
                                                               true)));
    std::set<std::pair<std::string, std::string>> seen;
    for (std::size_t i = 0; i < pending.size(); ++i) {
      const Migration& m = *pending[i];
      if (!plan[i].transaction) break;
      const auto t0 = timeout_.now();
      auto ran = conn.execute(m.sql);
      if (!ran) {
        (void)conn.execute("ROLLBACK");
        auto e = migration_error(std::move(ran).error(), m, sql::Position{});
        e.message = "rehearsal of migration " + std::to_string(m.version) + " (" + m.origin +
                    ") failed: " + e.server_message + "; it was rolled back, nothing was changed";
        return e;
      }
      plan[i].rehearsal_duration = std::chrono::duration_cast<std::chrono::milliseconds>(timeout_.now() - t0);
      auto locks = conn.query(detail::own_relation_locks_sql);
      if (!locks) {
        (void)conn.execute("ROLLBACK");
        return std::move(locks).error();
      }
      for (const auto& row : locks.value()) {
        auto entry = std::make_pair(row[0].value_or(""), row[1].value_or(""));
        if (seen.insert(entry).second) plan[i].locks.push_back(RelationLock{entry.first, entry.second});
      }
      plan[i].rehearsed = true;
    }
    LOCKSTEP_TRYV(conn.execute("ROLLBACK"));
    return outcome::success();
  }

  // ---- the end --------------------------------------------------------------------

  [[nodiscard]] result<Report> finish(Run& r, Connection& conn, const LedgerState& state, Role role,
                                      std::vector<std::int64_t> unknown) {
    if (r.mode != BootMode::dry_run) {
      LOCKSTEP_TRYV(detail::gate(state.version, r.expected, detail::newest_version(r.migrations)));
    }
    if (state.exists && !state.deploy_recorded && r.mode != BootMode::dry_run) {
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
    rep.role = r.mode == BootMode::dry_run ? Role::dry_run : role;
    rep.schema_version = state.version;
    rep.expected_version = r.expected;
    rep.schema_ahead = state.version > r.expected;
    rep.unknown_versions = std::move(unknown);
    rep.applied = r.applied;
    rep.wait_attempts = r.wait_attempts;
    rep.duration = std::chrono::milliseconds{elapsed_ms(r)};
    emit(r, "ready", [&](detail::JsonObject& o) {
      o.add("role", to_string(rep.role))
          .add("schema_version", state.version)
          .add("expected_version", r.expected)
          .add("schema_ahead", rep.schema_ahead)
          .add("applied", static_cast<std::int64_t>(rep.applied.size()))
          .add("wait_attempts", static_cast<std::int64_t>(rep.wait_attempts))
          .add("duration_ms", static_cast<std::int64_t>(rep.duration.count()));
    });
    return rep;
  }

  [[nodiscard]] result<Status> status_of(Run& r, Connection& conn) {
    r.phase = "reading the ledger";
    LOCKSTEP_TRY(state, ledger_.read_state(conn, r.deploy_version));
    LOCKSTEP_TRY(applied, ledger_.read_applied(conn));
    LOCKSTEP_TRY(deploys, ledger_.read_deploys(conn));
    LOCKSTEP_TRY(failures, ledger_.read_failures(conn));
    Status s;
    s.ledger_exists = state.exists;
    s.schema_version = state.version;
    s.expected_version = r.expected;
    s.deploys = std::move(deploys);
    s.failures = std::move(failures);
    std::unordered_map<std::int64_t, const Migration*> by_version;
    for (const auto& m : r.migrations) by_version.emplace(m.version, &m);
    std::set<std::int64_t> done;
    for (const auto& a : applied) {
      done.insert(a.version);
      const auto it = by_version.find(a.version);
      if (it == by_version.end()) {
        s.unknown_versions.push_back(a.version);
      } else if (it->second->checksum != a.checksum) {
        s.drifted.push_back(a.version);
      }
    }
    for (const auto& m : r.migrations) {
      if (done.count(m.version) == 0) s.pending.push_back(PendingMigration{m.version, m.name, m.origin});
    }
    s.applied = std::move(applied);
    return s;
  }

  Settings settings_;
  Lock lock_{};
  Wait wait_{};
  Timeout timeout_{};
  Source source_{};
  Ledger ledger_{};
};

}  // namespace lockstep
