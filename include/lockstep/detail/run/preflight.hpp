// Phase 4, pre-flight: every migration this run may apply is read and
// checked by one Checker (checks/check.hpp): the statement rules, then its
// locks judged against the live catalog (lock_safety.hpp), before any of
// them runs, so a bad file or a migration
// that would block a big table stops the deploy with nothing touched.
// Every path that runs a migration goes through preflight() below; the
// Applier refuses anything it did not pass.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/prepare.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/lock_safety.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/settings.hpp"

namespace lockstep::detail {

// What every migration must pass before it runs, whoever runs it: a boot's
// leader, a follower that leads once contracts are clear, a heartbeat's
// background run, or a dry run that shows what they would do.
struct PreflightRules {
  bool registry = false;            // the Ledger keeps the replica registry contract migrations wait on
  bool transaction_scoped = false;  // the Lock lives in each migration's transaction
  const LockSafety* safety = nullptr;
};

template <class Lock, class Ledger>
[[nodiscard]] PreflightRules preflight_rules(const Settings& settings) noexcept {
  return PreflightRules{RegistryLedger<Ledger>, TransactionScopedLock<Lock>, &settings.lock_safety};
}

// Each migration split and checked once per run, by version. Only
// preflight() fills it, and the Applier runs only what it holds: a
// migration that did not pass pre-flight cannot reach the server.
class Prepared {
 public:
  [[nodiscard]] result<const PreparedMigration*> get(const Migration& m) const {
    if (const auto* p = find(m.version)) return p;
    return at_migration(make_error(errc::internal_error,
                                   "it was about to run without passing pre-flight; nothing of it ran (report "
                                   "this)"),
                        m);
  }
  [[nodiscard]] const PreparedMigration* find(std::int64_t version) const {
    const auto it = by_version_.find(version);
    return it == by_version_.end() ? nullptr : &it->second;
  }

  // For preflight() alone: `p` passed every check.
  void passed(std::int64_t version, PreparedMigration p) { by_version_.insert_or_assign(version, std::move(p)); }

 private:
  std::unordered_map<std::int64_t, PreparedMigration> by_version_;
};

// The one pre-flight: splits, reads the directives of and lints every
// migration of `run` (in version order) that `prepared` does not hold yet,
// refuses what the ledger or the lock cannot protect, then judges their
// locks against the live catalog (lock_safety.hpp), before any of them
// runs. A dry run passes `found`: it gets every finding and the lock-safety
// verdict as the result, and `prepared` holds them all either way.
template <class Timeout>
[[nodiscard]] result<void> preflight(Context<Timeout>& ctx, Connection& conn, const std::vector<const Migration*>& run,
                                     const PreflightRules& rules, Prepared& prepared,
                                     std::map<std::int64_t, std::vector<Finding>>* found = nullptr) {
  const std::string was = ctx.phase;
  ctx.phase = "checking migrations";
  // With the connection: which tables exist, to tell a new one (nobody waits
  // on it) from one a CREATE ... IF NOT EXISTS finds, or one in another
  // schema; and the catalog's answers to the rules' questions.
  Checker checker{CheckOptions{rules.safety != nullptr ? *rules.safety : LockSafety{}, conn.server_version()}, &conn};
  std::vector<std::pair<const Migration*, PreparedMigration>> fresh;
  for (const Migration* mp : run) {
    const Migration& m = *mp;
    if (prepared.find(m.version) != nullptr) continue;
    LOCKSTEP_TRY(p, checker.read(m));
    if (m.contract && !rules.registry) {
      return at_migration(make_error(errc::invalid_argument,
                                     "it is a contract migration, and this Ledger keeps no replica registry to "
                                     "tell when older replicas are gone; use lockstep::TableLedger, or drop the "
                                     "lockstep:phase=contract directive"),
                          m);
    }
    if (p.directives.after_old_replicas_gone && !rules.registry) {
      return at_migration(make_error(errc::invalid_argument,
                                     "it says lockstep:after=old-replicas-gone, and this Ledger keeps no replica "
                                     "registry to tell when older replicas are gone; use lockstep::TableLedger, or "
                                     "drop the directive"),
                          m);
    }
    if (rules.transaction_scoped && !p.directives.boot_in_transaction()) {
      return at_migration(
          make_error(errc::invalid_argument,
                     "it is marked no-transaction, and a transaction-scoped lock cannot protect it (the lock "
                     "ends with each transaction); apply it over a direct connection (DATABASE_URL_MIGRATION) "
                     "with TryLock (--lock try)"),
          m);
    }
    for (const auto& f : p.findings) emit_finding(ctx, m, f);
    fresh.emplace_back(mp, std::move(p));
  }
  std::vector<Planned> planned;
  for (const auto& [m, p] : fresh) planned.push_back(Planned{m, &p});
  auto safe = rules.safety != nullptr ? check_lock_safety(ctx, checker, planned, found)
                                      : result<void>{outcome::success()};
  if (!safe && found == nullptr) return safe;
  for (auto& [m, p] : fresh) prepared.passed(m->version, std::move(p));
  ctx.phase = was;
  return safe;
}

// What a run may apply as far as the schema version tells: expand
// migrations up to the expected version, contract ones up to the bound.
[[nodiscard]] inline std::vector<const Migration*> preflight_window(const Target& target,
                                                                    std::int64_t applied_version) {
  std::vector<const Migration*> out;
  for (const auto& m : target.migrations) {
    if (target.in_window(m, applied_version)) out.push_back(&m);
  }
  return out;
}

}  // namespace lockstep::detail
