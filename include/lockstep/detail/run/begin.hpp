// Opening a migration's transaction under the migration lock: with a session
// lock, BEGIN plus the proof that this session still holds it; with a
// transaction-scoped lock, BEGIN plus taking the lock and re-reading the
// ledger under it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/contract.hpp"
#include "lockstep/detail/run/prepare.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/elect.hpp"
#include "lockstep/detail/run/session_sql.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/settings.hpp"

namespace lockstep::detail {

template <class Lock, class Timeout, class Ledger>
class Opener {
 public:
  Opener(Context<Timeout>& ctx, const Settings& settings, Lock& lock, Ledger& ledger, std::int64_t key)
      : ctx_{ctx}, settings_{settings}, lock_{lock}, ledger_{ledger}, key_{key} {}

  // BEGIN with this migration's timeouts and, for session locks, the proof
  // that this session still holds the lock, in one round trip.
  [[nodiscard]] result<void> session_locked(Connection& conn, const Migration& m, const std::string& timeouts) {
    // The session's bounds are already set: armed before the lock was
    // taken, and set again by every reset since (session_sql.hpp).
    std::string sql = "BEGIN; " + timeouts;
    // BEGIN succeeds even when what follows it in the same query fails: the
    // transaction is then aborted, and left so it would turn every later
    // statement of this session (the lock's release too) into 25P02.
    auto abandoned = [&](Error e) {
      if (conn.is_open()) (void)conn.execute("ROLLBACK");
      return e;
    };
    if constexpr (HeldCheckLock<Lock>) {
      sql += "; " + Lock::held_check_sql(key_);
      auto held = conn.query(sql);
      if (!held) return abandoned(std::move(held).error());
      const auto& rows = held.value();
      if (rows.empty() || !rows[0][0] || *rows[0][0] != "t") {
        (void)conn.execute("ROLLBACK");
        return at_migration(
            make_error(errc::lock_lost,
                       "before it ran, this session no longer held the migration lock, so another process may be "
                       "migrating; nothing of it ran. This happens behind a transaction-pooling proxy (PgBouncer "
                       "pool_mode=transaction): point DATABASE_URL_MIGRATION at PostgreSQL directly, or use "
                       "lockstep::TransactionLock"),
            m);
      }
      return outcome::success();
    } else {
      auto begun = conn.execute(sql);
      if (!begun) return abandoned(std::move(begun).error());
      return outcome::success();
    }
  }

  // BEGIN, take the transaction-scoped lock, (create the ledger,) and read
  // the ledger under the lock. nullopt: another process holds the lock; the
  // transaction is rolled back then, and on any error.
  [[nodiscard]] result<std::optional<LedgerState>> transaction_locked(Connection& conn, bool ensure_ledger) {
    ctx_.phase = "taking the transaction lock";
    if (auto begun = conn.execute(begin_bounded_sql(settings_.stall_timeout)); !begun) {
      if (conn.is_open()) (void)conn.execute("ROLLBACK");  // BEGIN ran; its settings did not
      return std::move(begun).error();
    }
    auto locked = [&]() -> result<std::optional<LedgerState>> {
      auto acquired = lock_.try_acquire(conn, key_, ctx_.remaining());
      if (!acquired) return lock_error(std::move(acquired).error());
      if (!acquired.value()) return std::optional<LedgerState>{};
      if (ensure_ledger) LOCKSTEP_TRYV(ledger_.ensure(conn));
      LOCKSTEP_TRY(state, confirmed_state(ledger_, conn, ctx_.deploy_version()));
      return std::optional<LedgerState>{state};
    }();
    if (!locked || !locked.value()) (void)conn.execute("ROLLBACK");
    return locked;
  }

  // Whether `version` is in the ledger; read under the lock by the caller.
  [[nodiscard]] result<bool> has_applied(Connection& conn, std::int64_t version) {
    LOCKSTEP_TRY(applied, ledger_.read_applied(conn));
    return std::any_of(applied.begin(), applied.end(),
                       [&](const AppliedMigration& a) { return a.version == version; });
  }

  // The background job `m` requires, unless it has succeeded (contract.hpp).
  [[nodiscard]] result<std::optional<BackgroundWait>> unfinished_requirement(Connection& conn, const Migration& m) {
    return detail::unfinished_requirement(conn, ledger_, m);
  }

  // A contract migration's last check, right before it runs: the live
  // replicas whose image does not have it. In a transaction, the registry
  // then stays locked until COMMIT (replica_registry.hpp), so no old image
  // can register in between; a no-transaction migration cannot hold that
  // lock, so an old image that registers while it runs is not refused.
  [[nodiscard]] result<std::vector<ReplicaRecord>> contract_blockers(Connection& conn, const Migration& m,
                                                                     bool in_transaction) {
    if constexpr (RegistryLedger<Ledger>) {
      return ledger_.registry().older_than(conn, m.version, in_transaction);
    } else {
      return std::vector<ReplicaRecord>{};  // pre-flight refuses contract migrations without a registry
    }
  }

 private:
  Context<Timeout>& ctx_;
  const Settings& settings_;
  Lock& lock_;
  Ledger& ledger_;
  std::int64_t key_;
};

}  // namespace lockstep::detail
