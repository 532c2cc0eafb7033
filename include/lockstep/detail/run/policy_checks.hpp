// The Migrator's policies checked against their concepts (concepts.hpp), each
// with a message that names what is missing: a wrong policy is a compile
// error that says what to add, not a wall of failed substitutions. The
// compile-fail tests (tests/compile_fail/) match these messages.
#pragma once

#include "lockstep/concepts.hpp"

namespace lockstep::detail {

template <class Lock, class Wait, class Timeout, class Source, class Ledger>
struct PolicyChecks {
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
  // The optional hooks: one declared wrong would otherwise be ignored.
  static_assert(!DeclaresHeldCheck<Lock> || HeldCheckLock<Lock>,
                "lockstep::Migrator: Lock declares held_check_sql but does not model lockstep::HeldCheckLock: it "
                "needs static held_check_sql(std::int64_t key) -> std::string");
  static_assert(!DeclaresTransactionScoped<Lock> || ConstantTransactionScoped<Lock>,
                "lockstep::Migrator: Lock declares transaction_scoped but not as a constant bool "
                "(static constexpr bool transaction_scoped = true): see lockstep::TransactionScopedLock");
  static_assert(!DeclaresListens<Wait> || ConstantListens<Wait>,
                "lockstep::Migrator: Wait declares listens but not as a constant bool "
                "(static constexpr bool listens = true): see lockstep::ListeningWait");
  static_assert(!DeclaresRegistry<Ledger> || RegistryLedger<Ledger>,
                "lockstep::Migrator: Ledger has registry() but does not model lockstep::RegistryLedger: its "
                "registry must do what lockstep::ReplicaRegistryPolicy asks");
  static constexpr bool checked = true;
};

}  // namespace lockstep::detail
