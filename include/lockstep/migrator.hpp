// Migrator<Lock, Wait, Timeout, Source, Ledger>: the startup sequence.
//
//   load -> connect -> fast path -> pre-flight -> elect -> lead | follow -> gate
//
// Every policy is a template parameter so the composition is fixed at compile
// time and a wrong policy is a compile error, not a runtime surprise. Each
// phase lives in a header of its own under lockstep/detail/run/; this file
// only puts them in order (docs/architecture.md, "The run").
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/run/boundary.hpp"
#include "lockstep/detail/run/connect.hpp"
#include "lockstep/detail/run/contract.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/dry_run.hpp"
#include "lockstep/detail/run/elect.hpp"
#include "lockstep/detail/run/fast_path.hpp"
#include "lockstep/detail/run/follow.hpp"
#include "lockstep/detail/run/gate.hpp"
#include "lockstep/detail/run/lead.hpp"
#include "lockstep/detail/run/preflight.hpp"
#include "lockstep/detail/run/status.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/error.hpp"
#include "lockstep/heartbeat.hpp"
#include "lockstep/ledger/table_ledger.hpp"
#include "lockstep/lock/try_lock.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/report.hpp"
#include "lockstep/settings.hpp"
#include "lockstep/source/directory_source.hpp"
#include "lockstep/timeout/deadline.hpp"
#include "lockstep/wait/exponential_backoff.hpp"
#include "lockstep/wait/notify_backoff.hpp"

namespace lockstep {

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

  using Context = detail::Context<Timeout>;
  using Connector = detail::Connector<Wait, Timeout>;

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
    return detail::boundary<Report>(timeout_, settings_, [&](Context& ctx) -> result<Report> {
      ctx.background = background_;
      LOCKSTEP_TRY(checked, detail::check_settings(ctx, settings_));
      Connector connector{ctx, settings_, wait_, std::move(checked.conninfo)};
      // Reading and hashing the files overlaps the first connection attempt:
      // on the every-boot path that hides the source's whole cost. A bad
      // file is reported before any connection retry.
      LOCKSTEP_TRY(first, connector.start());
      LOCKSTEP_TRY(target, detail::load(ctx, settings_, source_, checked.mode));
      return run_reconnecting(ctx, connector, target, std::move(first));
    });
  }

  // Read-only: what is applied, pending, drifted or failed.
  [[nodiscard]] result<Status> status() noexcept {
    return detail::boundary<Status>(timeout_, settings_, [&](Context& ctx) {
      return with_connection(ctx, [&](Connection& conn, const detail::Target& target) {
        return detail::status_report(ctx, ledger_, conn, target);
      });
    });
  }

  // Registers this replica in the ledger's replica registry and keeps it
  // there while the application runs (heartbeat.hpp). Call it after run()
  // succeeded, with its report. Fails with schema_contracted if a contract
  // migration this image lacks was applied since the gate: do not start.
  // Events of the beats go to Settings::on_event from the heartbeat's thread.
  [[nodiscard]] result<Heartbeat<Migrator>> heartbeat(const Report& report, HeartbeatOptions options = {}) noexcept {
    static_assert(RegistryLedger<Ledger>,
                  "lockstep::Migrator::heartbeat: the Ledger keeps no replica registry (see RegistryLedger)");
    try {
      LOCKSTEP_TRYV(check_heartbeat_options(options));
      ReplicaRecord me;
      me.host = detail::resolve_host(settings_);
      me.replica_id = detail::replica_id(me.host);
      me.deploy_version = detail::resolve_deploy_version(settings_);
      me.knows_version = report.knows_version;
      me.expected_version = report.expected_version;
      me.pid = static_cast<std::int64_t>(::getpid());
      // Only a replica that may migrate looks, at each beat, for the moment a
      // waiting contract can run; a wait-only one would only re-run for nothing.
      std::vector<std::int64_t> waiting;
      const auto mode = detail::resolve_mode(settings_);
      if (mode && mode.value() == BootMode::migrate) {
        for (const auto& w : report.contracts_waiting) waiting.push_back(w.version);
      }
      return Heartbeat<Migrator>::start(*this, std::move(me), options, std::move(waiting));
    } catch (...) {
      return make_error(errc::internal_error, "out of memory before the heartbeat started");
    }
  }

  // Marks the failed attempts of `version` as handled by a human, so the
  // leader will apply it again. Returns how many it cleared.
  [[nodiscard]] result<std::int64_t> resolve(std::int64_t version) noexcept {
    return detail::boundary<std::int64_t>(timeout_, settings_, [&](Context& ctx) {
      // Only the ledger: `lockstep resolve VERSION --url URL` needs no
      // migration files (a DBA's shell has none).
      return with_ledger(ctx, [&](Connection& conn) -> result<std::int64_t> {
        LOCKSTEP_TRY(count, ledger_.resolve_failures(conn, version));
        ctx.emit(events::Resolved{.version = version, .failures = count});
        return count;
      });
    });
  }

 private:
  friend class Heartbeat<Migrator>;

  // A short session of its own for the registry: its own deadline
  // (`budget`), so a beat against a database that is down cannot keep
  // stop() waiting for the run's whole budget. A failure is reported as
  // `beat_failed`, never as a run's `error` (`failed_beats`: in a row,
  // this one included).
  template <class T, class Body>
  [[nodiscard]] result<T> registry_session(std::chrono::milliseconds budget, std::int64_t failed_beats,
                                           const std::string& replica_id, Body&& body) noexcept {
    Deadline<> deadline{budget};
    return detail::boundary<T>(
        deadline, settings_,
        [&](detail::Context<Deadline<>>& ctx) -> result<T> {
          LOCKSTEP_TRY(checked, detail::check_settings(ctx, settings_));
          detail::Connector<Wait, Deadline<>> connector{ctx, settings_, wait_, std::move(checked.conninfo)};
          LOCKSTEP_TRY(conn, connector.connect());
          return connector.watched(conn, [&](Connection& c) { return body(ctx, c); });
        },
        [&](const detail::Context<Deadline<>>& ctx, const Error& e) {
          ctx.emit(events::BeatFailed{.replica_id = replica_id, .while_ = ctx.phase, .failed_beats = failed_beats,
                                      .class_ = std::string{to_string(e.code)}, .message = e.message,
                                      .sqlstate = events::unless_empty(e.sqlstate)});
        });
  }

  template <class Ctx>
  [[nodiscard]] result<void> enroll(Ctx& ctx, Connection& conn, const ReplicaRecord& me,
                                    std::chrono::milliseconds lease, bool again) {
    ctx.phase = "registering this replica";
    auto refused = ledger_.registry().enroll(conn, me, lease);
    if (!refused && detail::no_ledger_yet(refused.error())) {
      // A ledger from before the registry, or a database no leader has
      // touched yet (every replica here waits): create what is missing.
      LOCKSTEP_TRYV(ledger_.ensure(conn));
      refused = ledger_.registry().enroll(conn, me, lease);
    }
    if (!refused) return std::move(refused).error();
    if (refused.value()) return detail::contracted_error(*refused.value(), me.knows_version, me.deploy_version);
    const events::ReplicaRegistered registered{.replica_id = me.replica_id, .deploy_version = me.deploy_version,
                                               .knows_version = me.knows_version,
                                               .lease_ms = static_cast<std::int64_t>(lease.count())};
    again ? ctx.emit(events::ReplicaReregistered{registered}) : ctx.emit(registered);
    return outcome::success();
  }

  // The first registration. Only the statement that stamps the lease is
  // bounded like a beat (so the lease it stamps is renewed in time:
  // heartbeat_schedule.hpp); connecting may take as long as a registration
  // was always given (the lease, at least 10 s), since no lease exists yet
  // to lapse: a whole deploy booting at once keeps a small server slow to
  // accept connections, and a short interval's beat budget (100 ms at the
  // shortest) would fail every attempt. An attempt whose statement took
  // longer than a beat may is done again. Returns when the stamping
  // statement of the attempt that succeeded was sent.
  [[nodiscard]] result<std::chrono::steady_clock::time_point> enroll_replica(const ReplicaRecord& me,
                                                                            const HeartbeatOptions& options) {
    const auto budget = detail::beat_budget(options);
    const auto give_up = std::chrono::steady_clock::now() + std::max(options.lease, std::chrono::milliseconds{10000});
    for (std::int64_t attempt = 1;; ++attempt) {
      const auto began = std::chrono::steady_clock::now();
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - began);
      std::chrono::steady_clock::time_point stamped = began;
      auto done = registry_session<void>(std::max(budget, left), attempt, me.replica_id,
                                         [&](auto& ctx, Connection& conn) {
                                           stamped = std::chrono::steady_clock::now();
                                           return enroll(ctx, conn, me, options.lease, false);
                                         });
      const auto ended = std::chrono::steady_clock::now();
      if (done && ended - stamped <= budget) return stamped;
      if (!done) {
        const auto code = done.error().code;
        const bool transient = code == errc::connection_failed || code == errc::deadline_exceeded;
        if (!transient || ended + budget > give_up) return std::move(done).error();
      } else if (ended + budget > give_up) {
        return make_error(errc::deadline_exceeded,
                          "registering this replica: the server took longer than a beat may (" +
                              std::to_string(budget.count()) + " ms) to stamp the lease, until the registration's " +
                              "time ran out; raise --lease (a beat may take half of it) or lighten the server's load");
      }
      if (ended - began < std::chrono::milliseconds{100}) {
        std::this_thread::sleep_for(std::chrono::milliseconds{100});
      }
    }
  }

  // One beat: renew the lease (or register again if it lapsed), and count
  // the live replicas contract `contract` waits for (0: none asked).
  [[nodiscard]] result<std::int64_t> renew_replica(const ReplicaRecord& me, const HeartbeatOptions& options,
                                                   std::int64_t contract, std::int64_t failed_before) {
    return registry_session<std::int64_t>(
        detail::beat_budget(options), failed_before + 1, me.replica_id,
        [&](auto& ctx, Connection& conn) -> result<std::int64_t> {
          ctx.phase = "renewing this replica's lease";
          LOCKSTEP_TRY(renewal, ledger_.registry().renew(conn, me.replica_id, options.lease, contract));
          // The lease lapsed (a long pause, the database away): enroll again,
          // which refuses if a contract this image lacks ran meanwhile.
          if (!renewal.renewed) LOCKSTEP_TRYV(enroll(ctx, conn, me, options.lease, true));
          const auto lease_ms = static_cast<std::int64_t>(options.lease.count());
          if (renewal.renewed) {
            ctx.emit(events::Beat{.replica_id = me.replica_id, .lease_ms = lease_ms});
          }
          if (failed_before > 0) {
            ctx.emit(events::BeatRecovered{.replica_id = me.replica_id, .failed_beats = failed_before, .lease_ms = lease_ms});
          }
          return renewal.blockers;
        });
  }

  // The heartbeat's run, once a contract it waited on is clear: the same
  // run() as a boot (pre-flight included), its events marked background.
  [[nodiscard]] result<Report> run_in_background() noexcept {
    background_ = true;
    return run();
  }

  void withdraw_replica(const std::string& replica_id, std::chrono::milliseconds budget) noexcept {
    (void)registry_session<void>(budget, 1, replica_id, [&](auto& ctx, Connection& conn) -> result<void> {
      ctx.phase = "removing this replica from the registry";
      LOCKSTEP_TRYV(ledger_.registry().withdraw(conn, replica_id));
      ctx.emit(events::ReplicaWithdrawn{.replica_id = replica_id});
      return outcome::success();
    });
  }

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

  // A connection that breaks mid-run (server restart or failover, a
  // terminated backend, a cut link) ends that session and with it any lock
  // and open transaction, so starting over from the ledger is always safe: a
  // committed migration is in the ledger, an uncommitted one left nothing
  // behind, a no-transaction one re-runs from the top (it must be idempotent).
  // The replica reconnects and starts over, as leader or follower, until the
  // deadline, instead of failing a rollout because the database blinked.
  [[nodiscard]] result<Report> run_reconnecting(Context& ctx, Connector& connector, const detail::Target& target,
                                                detail::ConnectAttempt first_attempt) {
    detail::Progress progress;
    std::optional<detail::ConnectAttempt> first{std::move(first_attempt)};
    for (unsigned attempt = 0;; ++attempt) {
      LOCKSTEP_TRY(conn, connector.connect(std::move(first)));
      first.reset();
      auto out = connector.watched(conn, [&](Connection& c) { return migrate(ctx, target, c, progress); });
      if (out) return out;
      auto e = std::move(out).error();
      if (e.code != errc::connection_failed || conn.is_open() || ctx.expired()) return e;
      conn.close();
      const auto delay = ctx.backoff(wait_, attempt);
      ctx.emit(events::Reconnecting{.attempt = static_cast<std::int64_t>(attempt),
                                    .while_ = ctx.phase,
                                    .message = e.message,
                                    .next_delay_ms = static_cast<std::int64_t>(delay.count())});
      ctx.sleep_for(delay);
      if (ctx.expired()) return ctx.deadline_error();
    }
  }

  // One connection's part of the run, in the order of docs/architecture.md.
  [[nodiscard]] result<Report> migrate(Context& ctx, const detail::Target& target, Connection& conn,
                                       detail::Progress& progress) {
    // Fast path: one query, and the schema is usually current.
    ctx.phase = "reading the ledger";
    LOCKSTEP_TRY(head, ledger_.read_state(conn, ctx.deploy_version()));
    LOCKSTEP_TRY(seen, detail::reconcile(conn, ledger_, target, std::move(head), ctx.deploy_version()));
    LedgerState state = std::move(seen.state);
    // A dry run plans whatever is pending, contract migrations included
    // (they may be all a deploy ships, with the schema at its version).
    if (target.mode == BootMode::dry_run && (state.version < target.expected || target.has_contracts())) {
      return detail::dry_run(ctx, settings_, rules(), ledger_, conn, target, state);
    }
    if (state.version >= target.expected) {
      detail::Prepared prepared;
      return settle_and_gate(ctx, target, conn, {state, Role::current, std::move(seen.unknown)}, prepared, progress);
    }

    // Pre-flight: a bad file stops the deploy before anything runs.
    detail::Prepared prepared;
    if (target.mode == BootMode::migrate) {
      LOCKSTEP_TRYV(detail::preflight(ctx, conn, detail::preflight_window(target, state.version), rules(), prepared));
    }

    // Elect, then lead or follow until the schema reaches the target.
    LOCKSTEP_TRY(id, detail::lock_identity(conn, settings_, ledger_));
    detail::Leader<Lock, Wait, Timeout, Ledger> leader{ctx, settings_, lock_, wait_, ledger_,
                                                       target, id, prepared, progress};
    detail::Follower<Wait, Timeout, Ledger> follower{ctx, wait_, ledger_, id, target.expected, progress.wait_attempts,
                                                     settings_.progress_interval, leader.follower_idle_cap()};
    for (unsigned attempt = 0;; ++attempt) {
      ctx.phase = "waiting for the schema to reach version " + std::to_string(target.expected) + " (at " +
                  std::to_string(state.version) + ")";
      if (ctx.expired()) return ctx.deadline_error();
      if (target.mode == BootMode::migrate) {
        LOCKSTEP_TRY(led, leader.try_lead(conn));
        if (led) return gate(ctx, target, conn, std::move(*led), progress);
        if (attempt == 0) {
          ctx.emit(events::LockBusy{{.lock = id.name, .key = id.key}});
        }
      }
      LOCKSTEP_TRY(polled, follower.wait_and_poll(conn, state, attempt));
      LOCKSTEP_TRY(now, detail::reconcile(conn, ledger_, target, std::move(polled), ctx.deploy_version()));
      state = std::move(now.state);
      if (state.version >= target.expected) {
        return settle_and_gate(ctx, target, conn, {state, Role::follower, std::move(now.unknown)}, prepared,
                               progress);
      }
    }
  }

  // The schema reached the gate's version without this process leading (the
  // fast path, or a follower whose leader finished): its contract migrations
  // are still its business. Every replica must know which of them wait, or
  // only the one that led would ever apply them from its heartbeat.
  // `prepared`: what this run's pre-flight already passed (nothing on the fast path).
  [[nodiscard]] result<Report> settle_and_gate(Context& ctx, const detail::Target& target, Connection& conn,
                                               detail::Reached reached, detail::Prepared& prepared,
                                               detail::Progress& progress) {
    LOCKSTEP_TRY(contracted, settle_contracts(ctx, target, conn, reached.state, prepared, progress));
    if (contracted) return gate(ctx, target, conn, std::move(*contracted), progress);
    return gate(ctx, target, conn, std::move(reached), progress);
  }

  // The schema is where the gate wants it; contract migrations of this
  // image may still be pending. If the older replicas they waited for are
  // gone, lead once more to apply them (the leader checks again under the
  // lock); if another process holds the lock, it will. The gate never waits
  // for them. nullopt: nothing was led.
  [[nodiscard]] result<std::optional<detail::Reached>> settle_contracts(Context& ctx, const detail::Target& target,
                                                                        Connection& conn, const LedgerState& state,
                                                                        detail::Prepared& prepared,
                                                                        detail::Progress& progress) {
    if (target.mode == BootMode::dry_run || !target.has_contracts()) return std::optional<detail::Reached>{};
    std::vector<AppliedMigration> applied;
    const bool prefix = detail::matches_prefix(state, target.chain);
    if (!prefix) {
      LOCKSTEP_TRY(read, ledger_.read_applied(conn));
      applied = std::move(read);
    }
    const auto pending = detail::pending_contracts(target, state, prefix ? nullptr : &applied);
    // Whoever applies them (this boot, a later one, a heartbeat) runs them
    // through the same pre-flight: a contract that would block a big table
    // stops the deploy that ships it, like an expand migration would.
    if (target.mode == BootMode::migrate) LOCKSTEP_TRYV(detail::preflight(ctx, conn, pending, rules(), prepared));
    ctx.phase = "checking which replicas contract migrations wait for";
    LOCKSTEP_TRY(waiting, detail::who_blocks(conn, ledger_, pending));
    // Reported as waiting even when runnable: if another process holds the
    // lock, this one's heartbeat tries again; applying one takes it off.
    // A wait-only replica (MIGRATE_ON_BOOT=false) reports them and never runs them.
    const bool runnable = target.mode == BootMode::migrate && detail::any_runnable(waiting);
    if (!runnable) detail::emit_waiting(ctx, waiting);
    progress.contracts_waiting = std::move(waiting);
    if (!runnable) return std::optional<detail::Reached>{};
    LOCKSTEP_TRY(id, detail::lock_identity(conn, settings_, ledger_));
    detail::Leader<Lock, Wait, Timeout, Ledger> leader{ctx, settings_, lock_, wait_, ledger_,
                                                       target, id, prepared, progress};
    return leader.try_lead(conn);
  }

  [[nodiscard]] detail::PreflightRules rules() const { return detail::preflight_rules<Lock, Ledger>(settings_); }

  [[nodiscard]] result<Report> gate(Context& ctx, const detail::Target& target, Connection& conn,
                                    detail::Reached reached, const detail::Progress& progress) {
    return detail::gate_and_report(ctx, ledger_, conn, target, std::move(reached), progress);
  }

  // Connect and run `body` under the deadline watchdog, without the source (resolve).
  template <class Body>
  [[nodiscard]] auto with_ledger(Context& ctx, Body&& body) -> decltype(body(std::declval<Connection&>())) {
    LOCKSTEP_TRY(checked, detail::check_settings(ctx, settings_));
    Connector connector{ctx, settings_, wait_, std::move(checked.conninfo)};
    LOCKSTEP_TRY(conn, connector.connect());
    return connector.watched(conn, [&](Connection& c) { return body(c); });
  }

  // Load, connect, and run `body` under the deadline watchdog (status).
  template <class Body>
  [[nodiscard]] auto with_connection(Context& ctx, Body&& body)
      -> decltype(body(std::declval<Connection&>(), std::declval<const detail::Target&>())) {
    LOCKSTEP_TRY(checked, detail::check_settings(ctx, settings_));
    LOCKSTEP_TRY(target, detail::load(ctx, settings_, source_, checked.mode));
    Connector connector{ctx, settings_, wait_, std::move(checked.conninfo)};
    LOCKSTEP_TRY(conn, connector.connect());
    return connector.watched(conn, [&](Connection& c) { return body(c, target); });
  }

  Settings settings_;
  bool background_ = false;  // this copy is a heartbeat's (run_in_background)
  Lock lock_{};
  Wait wait_{};
  Timeout timeout_{};
  Source source_{};
  Ledger ledger_{};
};

}  // namespace lockstep
