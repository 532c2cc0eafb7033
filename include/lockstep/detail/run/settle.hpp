// Phase 7a, settle: where a contract migration waits. The schema reached the
// gate's version; this image's contract migrations may still be pending. If
// the older replicas they wait for are gone, lead once more to apply them
// (the leader checks again under the lock); if another process holds the
// lock, it will; otherwise they are reported as waiting, and the heartbeat
// of a replica that may migrate tries again at every beat. The gate never
// waits for them (docs/expand-contract.md).
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/contract.hpp"
#include "lockstep/detail/run/elect.hpp"
#include "lockstep/detail/run/gate.hpp"
#include "lockstep/detail/run/lead.hpp"
#include "lockstep/detail/run/plan.hpp"
#include "lockstep/detail/run/preflight.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/report.hpp"
#include "lockstep/settings.hpp"

namespace lockstep::detail {

template <class Lock, class Wait, class Timeout, class Ledger>
class Settler {
 public:
  // `prepared`: what this run's pre-flight already passed (nothing on the fast path).
  Settler(Context<Timeout>& ctx, const Settings& settings, Lock& lock, Wait& wait, Ledger& ledger,
          const Target& target, Prepared& prepared, Progress& progress)
      : ctx_{ctx}, settings_{settings}, lock_{lock}, wait_{wait}, ledger_{ledger}, target_{target},
        prepared_{prepared}, progress_{progress} {}

  // The schema reached the gate's version without this process leading (the
  // fast path, or a follower whose leader finished): its contract migrations
  // are still its business. Every replica must know which of them wait, or
  // only the one that led would ever apply them from its heartbeat.
  [[nodiscard]] result<Report> settle_and_gate(Connection& conn, Reached reached) {
    LOCKSTEP_TRY(contracted, settle_contracts(conn, reached.state));
    if (contracted) return gate_and_report(ctx_, ledger_, conn, target_, std::move(*contracted), progress_);
    return gate_and_report(ctx_, ledger_, conn, target_, std::move(reached), progress_);
  }

  // nullopt: nothing was led.
  [[nodiscard]] result<std::optional<Reached>> settle_contracts(Connection& conn, const LedgerState& state) {
    if (target_.mode == BootMode::dry_run || !target_.has_contracts()) return std::optional<Reached>{};
    std::vector<AppliedMigration> applied;
    const bool prefix = matches_prefix(state, target_.chain);
    if (!prefix) {
      LOCKSTEP_TRY(read, ledger_.read_applied(conn));
      applied = std::move(read);
    }
    const auto pending = pending_contracts(target_, state, prefix ? nullptr : &applied);
    // Whoever applies them (this boot, a later one, a heartbeat) runs them
    // through the same pre-flight: a contract that would block a big table
    // stops the deploy that ships it, like an expand migration would.
    if (target_.mode == BootMode::migrate) {
      LOCKSTEP_TRYV(preflight(ctx_, conn, pending, preflight_rules<Lock, Ledger>(settings_), prepared_));
    }
    ctx_.phase = "checking which replicas contract migrations wait for";
    LOCKSTEP_TRY(waiting, who_blocks(conn, ledger_, pending));
    // Reported as waiting even when runnable: if another process holds the
    // lock, this one's heartbeat tries again; applying one takes it off.
    // A wait-only replica (MIGRATE_ON_BOOT=false) reports them and never runs them.
    const bool runnable = target_.mode == BootMode::migrate && any_runnable(waiting);
    if (!runnable) emit_waiting(ctx_, waiting);
    progress_.contracts_waiting = std::move(waiting);
    if (!runnable) return std::optional<Reached>{};
    LOCKSTEP_TRY(id, lock_identity(conn, settings_, ledger_));
    Leader<Lock, Wait, Timeout, Ledger> leader{ctx_, settings_, lock_, wait_, ledger_, target_, id, prepared_, progress_};
    return leader.try_lead(conn);
  }

 private:
  Context<Timeout>& ctx_;
  const Settings& settings_;
  Lock& lock_;
  Wait& wait_;
  Ledger& ledger_;
  const Target& target_;
  Prepared& prepared_;
  Progress& progress_;
};

}  // namespace lockstep::detail
