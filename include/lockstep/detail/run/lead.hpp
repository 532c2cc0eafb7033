// Phase 6a, lead: this replica took the lock. With a session lock it holds
// it for the whole run and applies every pending migration; with a
// transaction-scoped lock it takes the lock once per migration and re-reads
// the ledger under it. Both stop at the first migration a recorded failure
// refuses (failure_gate.hpp).
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/plan.hpp"
#include "lockstep/detail/run/apply.hpp"
#include "lockstep/detail/run/begin.hpp"
#include "lockstep/detail/run/contract.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/elect.hpp"
#include "lockstep/detail/run/failure_gate.hpp"
#include "lockstep/detail/run/fast_path.hpp"
#include "lockstep/detail/run/gate.hpp"
#include "lockstep/detail/run/lock_guard.hpp"
#include "lockstep/detail/run/preflight.hpp"
#include "lockstep/detail/run/record.hpp"
#include "lockstep/detail/run/require.hpp"
#include "lockstep/detail/run/service_wait.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/detail/run/session_sql.hpp"
#include "lockstep/settings.hpp"

namespace lockstep::detail {

template <class Lock, class Wait, class Timeout, class Ledger>
class Leader {
 public:
  Leader(Context<Timeout>& ctx, const Settings& settings, Lock& lock, Wait& wait, Ledger& ledger,
         const Target& target, const LockIdentity& id, Prepared& prepared, Progress& progress)
      : ctx_{ctx},
        settings_{settings},
        lock_{lock},
        ledger_{ledger},
        target_{target},
        id_{id},
        progress_{progress},
        prepared_{prepared},
        opener_{ctx, settings, lock, ledger, id.key},
        recorder_{ctx, ledger, id.key, target.final_version},
        requirements_{ctx, settings, wait, ledger, target},
        services_{ctx, settings, ledger, prepared},
        applier_{ctx, settings, wait, opener_, recorder_, prepared, progress} {}

  // Where the schema stands once this process led, or nullopt when another
  // process holds the lock (the caller follows).
  [[nodiscard]] result<std::optional<Reached>> try_lead(Connection& conn) {
    if constexpr (TransactionScopedLock<Lock>) {
      return per_transaction(conn);
    } else {
      // Armed before the lock is tried, not after: a process that froze
      // between taking the lock and its next statement would otherwise hold
      // it on a session with no idle bound, and wedge every replica until
      // something killed the process. Once per connection: the follower's
      // polls change no session setting.
      if (!armed_) {
        ctx_.phase = "preparing the leader's session";
        LOCKSTEP_TRYV(conn.execute(leader_session_sql(conn.server_version(), settings_.stall_timeout)));
        armed_ = true;
      }
      auto acquired = lock_.try_acquire(conn, id_.key, ctx_.remaining());
      if (!acquired) return lock_error(std::move(acquired).error());
      if (!acquired.value()) return std::optional<Reached>{};
      LOCKSTEP_TRY(reached, with_session_lock(conn));
      return std::optional<Reached>{std::move(reached)};
    }
  }

  // The longest a replica waiting between two try_lead() calls may sit idle
  // on this connection: try_lead() armed it with the leader's idle bound, and
  // a longer wait would have the server end the session.
  [[nodiscard]] std::chrono::milliseconds follower_idle_cap() const {
    if (TransactionScopedLock<Lock> || target_.mode != BootMode::migrate) {
      return std::chrono::milliseconds::max();  // never armed: try_lead() is not called, or arms nothing
    }
    return std::max(std::chrono::milliseconds{1}, settings_.stall_timeout / 2);
  }

 private:
  [[nodiscard]] result<Reached> with_session_lock(Connection& conn) {
    ctx_.emit(events::LockAcquired{.lock = id_.name, .key = id_.key});
    LockGuard<Lock, Timeout> guard{ctx_, lock_, id_, conn};
    ctx_.phase = "preparing the ledger";
    LOCKSTEP_TRYV(ledger_.ensure(conn));
    LOCKSTEP_TRY(applied, ledger_.read_applied(conn));
    LOCKSTEP_TRY(p, plan(target_.migrations, applied, target_.bound));
    if (!p.unknown_versions.empty()) LOCKSTEP_TRYV(refuse_contracted(applied, target_, ctx_.deploy_version()));
    // What the ledger says is pending may be more than the run's pre-flight
    // saw (contract migrations below the schema version, a narrower
    // window): all of it passes the same pre-flight before any of it runs.
    LOCKSTEP_TRYV(preflight(ctx_, conn, p.pending, rules(), prepared_));
    const std::size_t applied_before = progress_.applied.size();
    std::vector<FailureRecord> failures;
    if (!p.pending.empty() && failures_matter(settings_)) {
      LOCKSTEP_TRY(unresolved, ledger_.read_failures(conn));
      failures = std::move(unresolved);
    }
    for (const Migration* m : p.pending) {
      LOCKSTEP_TRYV(refuse_recorded_failure(settings_, ctx_.deploy_version(), *m, failures));
      LOCKSTEP_TRYV(services_.await(conn, *m));       // the other services it requires (service_wait.hpp)
      LOCKSTEP_TRYV(requirements_.ensure(conn, *m));  // the background job it requires (require.hpp)
      LOCKSTEP_TRY(attempt, applier_.apply(conn, *m, false));
      (void)attempt;  // a session lock is held throughout: never busy; a deferred contract is reported
    }
    ctx_.phase = "reading the ledger";
    LOCKSTEP_TRY(state, confirmed_state(ledger_, conn, ctx_.deploy_version()));
    guard.mark_committed();
    guard.release();
    const bool led = progress_.applied.size() > applied_before;
    return Reached{state, led ? Role::leader : p.pending.empty() ? Role::follower : Role::current,
                   std::move(p.unknown_versions)};
  }

  // One migration per transaction, each taking the lock and re-reading the
  // ledger under it, until nothing is left or another process has the lock.
  [[nodiscard]] result<std::optional<Reached>> per_transaction(Connection& conn) {
    for (bool ensured = false;; ensured = true) {
      if (ctx_.expired()) return ctx_.deadline_error();
      LOCKSTEP_TRY(locked, opener_.transaction_locked(conn, !ensured));
      if (!locked) return std::optional<Reached>{};
      const LedgerState state = *locked;
      const Migration* next = next_after(state.version);
      if (next == nullptr) {
        LOCKSTEP_TRYV(conn.execute("COMMIT"));
        LOCKSTEP_TRY(unknown, unknown_versions(ctx_, conn, ledger_, target_, state));
        LOCKSTEP_TRY(contracts_done, contracts_per_transaction(conn));
        if (!contracts_done) return std::optional<Reached>{};
        LOCKSTEP_TRY(after, confirmed_state(ledger_, conn, ctx_.deploy_version()));
        return std::optional<Reached>{
            Reached{after, progress_.applied.empty() ? Role::follower : Role::leader, std::move(unknown)}};
      }
      if (auto refused = checked(conn, *next); !refused) {
        (void)conn.execute("ROLLBACK");
        return std::move(refused).error();
      }
      // Another service it requires is behind: the lock is let go while
      // this boot waits for it, then taken again and the ledger re-read.
      auto met = services_.met(conn, *next);
      if (!met || !met.value()) {
        (void)conn.execute("ROLLBACK");
        if (!met) return std::move(met).error();
        LOCKSTEP_TRYV(services_.await(conn, *next));
        continue;
      }
      if (next->requires_background != 0) {
        // Its job unfinished: the lock is let go while this boot finishes it
        // (require.hpp), then taken again and the ledger re-read.
        auto unfinished = opener_.unfinished_requirement(conn, *next);
        if (!unfinished || unfinished.value()) {
          (void)conn.execute("ROLLBACK");
          if (!unfinished) return std::move(unfinished).error();
          LOCKSTEP_TRYV(requirements_.ensure(conn, *next));
          continue;
        }
      }
      LOCKSTEP_TRY(attempt, applier_.apply(conn, *next, true));
      if (attempt == Attempt::lock_busy) return std::optional<Reached>{};
    }
  }

  // The next expand migration; contract ones go after them (below).
  [[nodiscard]] const Migration* next_after(std::int64_t version) const {
    for (const auto& m : target_.migrations) {
      if (!m.contract && target_.in_window(m, version)) return &m;
    }
    return nullptr;
  }

  // Each pending contract migration in a transaction of its own, taking the
  // lock and re-reading the ledger under it like the expand ones. False:
  // another process holds the lock (it will see to them).
  [[nodiscard]] result<bool> contracts_per_transaction(Connection& conn) {
    if (!target_.has_contracts()) return true;
    LOCKSTEP_TRY(applied, ledger_.read_applied(conn));
    for (const Migration* m : pending_contracts(target_, LedgerState{}, &applied)) {
      LOCKSTEP_TRY(locked, opener_.transaction_locked(conn, false));
      if (!locked) return false;
      LOCKSTEP_TRY(done, opener_.has_applied(conn, m->version));
      if (done) {
        LOCKSTEP_TRYV(conn.execute("COMMIT"));
        continue;
      }
      if (auto refused = checked(conn, *m); !refused) {
        (void)conn.execute("ROLLBACK");
        return std::move(refused).error();
      }
      LOCKSTEP_TRY(attempt, applier_.apply(conn, *m, true));
      if (attempt == Attempt::lock_busy) return false;
    }
    return true;
  }

  [[nodiscard]] PreflightRules rules() const { return preflight_rules<Lock, Ledger>(settings_); }

  // Inside the transaction that holds the lock, before `m` runs: pre-flight
  // (a no-op when the run's pre-flight covered it) and its failure record.
  [[nodiscard]] result<void> checked(Connection& conn, const Migration& m) {
    LOCKSTEP_TRYV(preflight(ctx_, conn, {&m}, rules(), prepared_));
    return refuse_if_failed(conn, m);
  }

  [[nodiscard]] result<void> refuse_if_failed(Connection& conn, const Migration& m) {
    if (!failures_matter(settings_)) return outcome::success();
    LOCKSTEP_TRY(failures, ledger_.read_failures(conn));
    return refuse_recorded_failure(settings_, ctx_.deploy_version(), m, failures);
  }

  Context<Timeout>& ctx_;
  const Settings& settings_;
  Lock& lock_;
  Ledger& ledger_;
  const Target& target_;
  const LockIdentity& id_;
  Progress& progress_;
  Prepared& prepared_;
  Opener<Lock, Timeout, Ledger> opener_;
  Recorder<Timeout, Ledger> recorder_;
  Requirements<Wait, Timeout, Ledger> requirements_;
  ServiceWaits<Timeout, Ledger> services_;
  Applier<Lock, Wait, Timeout, Ledger> applier_;
  bool armed_ = false;  // leader_session_sql sent on this connection
};

}  // namespace lockstep::detail
