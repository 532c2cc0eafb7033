// Migrator<Lock, Wait, Timeout, Source, Ledger>: the startup sequence.
//
//   load -> connect -> fast path -> pre-flight -> elect -> lead | follow -> gate
//
// Every policy is a template parameter so the composition is fixed at compile
// time and a wrong policy is a compile error, not a runtime surprise. Each
// phase lives in a header of its own under lockstep/detail/run/; this file
// only puts them in order (docs/architecture.md, "The run").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "lockstep/background.hpp"
#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/run/boundary.hpp"
#include "lockstep/detail/run/connect.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/dry_run.hpp"
#include "lockstep/detail/run/elect.hpp"
#include "lockstep/detail/run/fast_path.hpp"
#include "lockstep/detail/run/follow.hpp"
#include "lockstep/detail/run/gate.hpp"
#include "lockstep/detail/run/lead.hpp"
#include "lockstep/detail/run/policy_checks.hpp"
#include "lockstep/detail/run/pooler_reconnect.hpp"
#include "lockstep/detail/run/preflight.hpp"
#include "lockstep/detail/run/reconnect.hpp"
#include "lockstep/detail/run/require.hpp"
#include "lockstep/detail/run/settle.hpp"
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
  // Each policy against its concept, with a message naming what it lacks.
  static_assert(detail::PolicyChecks<Lock, Wait, Timeout, Source, Ledger>::checked);

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
      // A broken connection starts over from the ledger (reconnect.hpp).
      detail::Progress progress;
      std::vector<std::int64_t> changed;  // committed here, and changed row types (pooler_reconnect.hpp)
      std::string database;
      auto report = detail::run_reconnecting(ctx, connector, wait_, std::move(first), [&](Connection& conn) {
        auto out = migrate(ctx, target, conn, progress);
        if (out && !settings_.pooler_admin_urls.empty() && !progress.applied.empty()) {
          database = conn.database_name();
          changed = detail::row_types_changed_by(ctx, ledger_, conn, progress.applied);
        }
        return out;
      });
      if (report && !changed.empty()) detail::reconnect_poolers(ctx, settings_, database);
      return report;
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

  // The run a Heartbeat starts when a contract migration it waits on is
  // clear, while the application serves: run() itself (pre-flight
  // included), its boot, ready and error events marked "background" so that
  // a metrics sink does not take its outcome for readiness (metrics.hpp).
  [[nodiscard]] result<Report> run_in_background() noexcept {
    background_ = true;
    auto out = run();
    background_ = false;
    return out;
  }

  // Registers this replica in the ledger's replica registry and keeps it
  // there while the application runs (heartbeat.hpp). Call it after run()
  // succeeded, with its report. Fails with schema_contracted if a contract
  // migration this image lacks was applied since the gate: do not start.
  // Events of the beats go to Settings::on_event from the heartbeat's thread.
  // The heartbeat works on a copy of this Migrator, through the public face
  // above; the registry's sessions are detail/run/registry.hpp's.
  [[nodiscard]] result<Heartbeat<Migrator>> heartbeat(const Report& report, HeartbeatOptions options = {}) noexcept {
    static_assert(RegistryLedger<Ledger>,
                  "lockstep::Migrator::heartbeat: the Ledger keeps no replica registry (see RegistryLedger)");
    return Heartbeat<Migrator>::start(*this, report, options);
  }

  // Starts a background runner on a thread of its own (background.hpp): it
  // runs the background migrations this image has the files of, batch by
  // batch, while the application serves, until stop() or destruction.
  [[nodiscard]] result<Background<Migrator>> background(BackgroundOptions options = {}) const noexcept {
    static_assert(BackgroundLedger<Ledger>,
                  "lockstep::Migrator::background: the Ledger keeps no background jobs (see BackgroundLedger)");
    return Background<Migrator>::start(*this, options);
  }

  // Every background job of the ledger (`lockstep background status`).
  [[nodiscard]] result<std::vector<BackgroundJob>> background_jobs() noexcept {
    static_assert(BackgroundLedger<Ledger>, "lockstep::Migrator::background_jobs: the Ledger keeps no background jobs");
    return detail::boundary<std::vector<BackgroundJob>>(timeout_, settings_, [&](Context& ctx) {
      return with_ledger(ctx, [&](Connection& conn) {
        ctx.phase = "reading the background jobs";
        return ledger_.jobs().list(conn);
      });
    });
  }

  // An operator's control of background job `version` (`lockstep background
  // pause|resume|retry|cancel`; BackgroundJobs::control says what each does).
  // A retry also resolves the job's failure records. False: the job is not
  // in a state the action applies to.
  [[nodiscard]] result<bool> control_background(std::int64_t version, std::string_view action) noexcept {
    static_assert(BackgroundLedger<Ledger>, "lockstep::Migrator::control_background: the Ledger keeps no background jobs");
    return detail::boundary<bool>(timeout_, settings_, [&](Context& ctx) {
      return with_ledger(ctx, [&](Connection& conn) -> result<bool> {
        ctx.phase = "background job " + std::to_string(version) + ": " + std::string{action};
        LOCKSTEP_TRY(changed, ledger_.jobs().control(conn, version, action));
        if (changed && action == "retry") LOCKSTEP_TRYV(ledger_.resolve_failures(conn, version));
        return changed;
      });
    });
  }

  // Finishes background job `version` now, in this process, batch by batch
  // until it has succeeded or the deadline (`lockstep background finalize`):
  // for an operator who will not wait for the runners. Each batch exactly
  // once, as a runner's; runners working meanwhile share the job. Returns
  // the job as it ended; background_unfinished when it may not run now
  // (failed, cancelled, paused, waiting for old replicas) or the deadline
  // came first, with its progress and ETA.
  [[nodiscard]] result<BackgroundJob> finalize_background(std::int64_t version) noexcept {
    static_assert(BackgroundLedger<Ledger>, "lockstep::Migrator::finalize_background: the Ledger keeps no background jobs");
    return detail::boundary<BackgroundJob>(timeout_, settings_, [&](Context& ctx) {
      return with_connection(ctx, [&](Connection& conn, const detail::Target& target) -> result<BackgroundJob> {
        return detail::finalize_job(ctx, settings_, wait_, ledger_, target, conn, version);
      });
    });
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

  // One connection's part of the run, in the order of docs/architecture.md.
  [[nodiscard]] result<Report> migrate(Context& ctx, const detail::Target& target, Connection& conn,
                                       detail::Progress& progress) {
    // Fast path: one query, and the schema is usually current.
    ctx.phase = "reading the ledger";
    LOCKSTEP_TRY(head, ledger_.read_state(conn, ctx.deploy_version()));
    LOCKSTEP_TRY(seen, detail::reconcile(ctx, conn, ledger_, target, std::move(head)));
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
      LOCKSTEP_TRY(now, detail::reconcile(ctx, conn, ledger_, target, std::move(polled)));
      state = std::move(now.state);
      if (state.version >= target.expected) {
        return settle_and_gate(ctx, target, conn, {state, Role::follower, std::move(now.unknown)}, prepared,
                               progress);
      }
    }
  }

  // Contract migrations of this image that the gate leaves pending: settle.hpp.
  [[nodiscard]] result<Report> settle_and_gate(Context& ctx, const detail::Target& target, Connection& conn,
                                               detail::Reached reached, detail::Prepared& prepared,
                                               detail::Progress& progress) {
    detail::Settler<Lock, Wait, Timeout, Ledger> settler{ctx, settings_, lock_, wait_, ledger_, target, prepared, progress};
    return settler.settle_and_gate(conn, std::move(reached));
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
  bool background_ = false;  // inside run_in_background
  Lock lock_{};
  Wait wait_{};
  Timeout timeout_{};
  Source source_{};
  Ledger ledger_{};
};

}  // namespace lockstep
