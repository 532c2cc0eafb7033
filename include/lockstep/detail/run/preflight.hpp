// Phase 4, pre-flight: split, read directives and lint every migration this
// run may apply, then judge their locks against the live catalog
// (lock_safety.hpp), before any of them runs, so a bad file or a migration
// that would block a big table stops the deploy with nothing touched.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <utility>

#include "lockstep/connection.hpp"
#include "lockstep/detail/outcome_shim.hpp"
#include "lockstep/detail/prepare.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/lock_safety.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/migration.hpp"

namespace lockstep::detail {

// A lock policy whose lock lives inside each migration's transaction.
template <class L>
constexpr bool transaction_scoped = requires { requires L::transaction_scoped; };

// Each migration split and checked once per run, by version.
class Prepared {
 public:
  // Prepared at pre-flight, or now (dry runs, and a leader whose pre-flight
  // window was narrower than what it found pending).
  [[nodiscard]] result<const PreparedMigration*> get(const Connection& conn, const Migration& m) {
    auto it = by_version_.find(m.version);
    if (it == by_version_.end()) {
      LOCKSTEP_TRY(p, prepare_migration(m, conn.server_version()));
      it = by_version_.insert_or_assign(m.version, std::move(p)).first;
    }
    return &it->second;
  }
  void add(std::int64_t version, PreparedMigration p) { by_version_.insert_or_assign(version, std::move(p)); }
  [[nodiscard]] const PreparedMigration* find(std::int64_t version) const {
    const auto it = by_version_.find(version);
    return it == by_version_.end() ? nullptr : &it->second;
  }

 private:
  std::unordered_map<std::int64_t, PreparedMigration> by_version_;
};

template <class Timeout>
void emit_lint(const Context<Timeout>& ctx, const Migration& m, const PreparedMigration& p) {
  for (const auto& w : p.warnings) {
    ctx.emit("lint", [&](JsonObject& o) {
      o.add("severity", "warning").add("rule", w.rule).add("version", m.version).add("file", m.origin);
      o.add("line", w.position.line).add("column", w.position.column).add("message", w.message);
    });
  }
}

// `registry`: the ledger keeps the replica registry contract migrations wait on.
template <class Lock, class Timeout>
[[nodiscard]] result<Prepared> preflight(Context<Timeout>& ctx, const Target& target, Connection& conn,
                                         std::int64_t applied_version, bool registry, const LockSafety& safety) {
  ctx.phase = "checking migrations";
  Prepared out;
  for (const auto& m : target.migrations) {
    if (!target.in_window(m, applied_version)) continue;
    LOCKSTEP_TRY(p, prepare_migration(m, conn.server_version()));
    if (m.contract && !registry) {
      return at_migration(make_error(errc::invalid_argument,
                                     "it is a contract migration, and this Ledger keeps no replica registry to "
                                     "tell when older replicas are gone; use lockstep::TableLedger, or drop the "
                                     "lockstep:phase=contract directive"),
                          m);
    }
    if constexpr (transaction_scoped<Lock>) {
      if (p.directives.no_transaction) {
        return at_migration(
            make_error(errc::invalid_argument,
                       "it is marked no-transaction, and a transaction-scoped lock cannot protect it (the lock "
                       "ends with each transaction); apply it over a direct connection (DATABASE_URL_MIGRATION) "
                       "with TryLock (--lock try)"),
            m);
      }
    }
    emit_lint(ctx, m, p);
    out.add(m.version, std::move(p));
  }
  std::vector<Planned> run;
  for (const auto& m : target.migrations) {
    if (const auto* p = out.find(m.version)) run.push_back(Planned{&m, p});
  }
  LOCKSTEP_TRYV(check_lock_safety(ctx, safety, conn, run));
  return out;
}

}  // namespace lockstep::detail
