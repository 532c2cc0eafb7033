// The contract of each policy family. Migrator static_asserts each one, so a
// wrong policy fails with one line naming the concept; the concept's own
// diagnostics follow for the details.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/ledger/background_jobs.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"

namespace lockstep {

// Leadership. try_acquire returns true when this session now holds the lock;
// it may wait, but never longer than `budget`. release must be safe to call on
// every exit path. A session lock vanishes with its connection, which is what
// lets a follower take over from a dead leader.
template <class L>
concept LockPolicy = requires(L& lock, Connection& conn, std::int64_t key, std::chrono::milliseconds budget) {
  { lock.try_acquire(conn, key, budget) } -> std::same_as<result<bool>>;
  { lock.release(conn, key) } -> std::same_as<result<void>>;
};

// How long a follower waits before polling again; `attempt` counts from 0.
template <class W>
concept WaitPolicy = requires(W& wait, unsigned attempt) {
  { wait.next_delay(attempt) } -> std::convertible_to<std::chrono::milliseconds>;
};

// The run's time budget and the clock it is measured on. Injecting the clock
// (now/sleep_for) is what lets unit tests run deadlines without sleeping.
template <class T>
concept TimeoutPolicy = requires(T& t, std::chrono::milliseconds d) {
  { t.budget() } -> std::convertible_to<std::chrono::milliseconds>;
  { t.now() } -> std::same_as<std::chrono::steady_clock::time_point>;
  t.sleep_for(d);
};

// Where migrations come from. load() returns them sorted by version, with
// unique positive versions and checksums filled in, or an error naming the file.
template <class S>
concept SourcePolicy = requires(S& source) {
  { source.load() } -> std::same_as<result<std::vector<Migration>>>;
};

// Where applied migrations are recorded. read_state is the every-boot fast
// path and must cost one round trip; record_applied runs inside the caller's
// migration transaction so the row commits or rolls back with the migration.
template <class L>
concept LedgerPolicy = requires(L& ledger, const L& cledger, Connection& conn, std::string_view deploy_version,
                                const AppliedMigration& applied, const DeployRecord& deploy,
                                const FailureRecord& failure, std::int64_t version) {
  { cledger.identity() } -> std::convertible_to<std::string>;
  { ledger.read_state(conn, deploy_version) } -> std::same_as<result<LedgerState>>;
  { ledger.ensure(conn) } -> std::same_as<result<void>>;
  { ledger.read_applied(conn) } -> std::same_as<result<std::vector<AppliedMigration>>>;
  { ledger.record_applied(conn, applied) } -> std::same_as<result<void>>;
  { ledger.record_deploy(conn, deploy) } -> std::same_as<result<void>>;
  { ledger.read_deploys(conn) } -> std::same_as<result<std::vector<DeployRecord>>>;
  { ledger.record_failure(conn, failure) } -> std::same_as<result<void>>;
  { ledger.read_failures(conn) } -> std::same_as<result<std::vector<FailureRecord>>>;  // unresolved ones
  { ledger.resolve_failures(conn, version) } -> std::same_as<result<std::int64_t>>;   // how many resolved
};

// A ledger that can also write a migration's row and a deploy as SQL text
// (TableLedger does). The leader then sends a transactional migration, its
// row and COMMIT in one round trip instead of three; any other ledger gets
// one round trip per write.
template <class L>
concept BatchingLedger = LedgerPolicy<L> && requires(const L& ledger, const AppliedMigration& applied,
                                                     const DeployRecord& deploy) {
  { ledger.record_applied_sql(applied) } -> std::convertible_to<std::string>;
  { ledger.record_deploy_sql(deploy) } -> std::convertible_to<std::string>;
};

// What the replica registry must do (ReplicaRegistry does: one table next
// to the ledger). enroll registers `r` for `lease` unless a contract
// migration `r`'s image lacks was applied (then nothing is written and that
// migration is returned); renew moves the lease forward and counts the live
// replicas older than `version` (0: none asked); older_than, inside a
// contract migration's transaction (`in_transaction`), keeps registrations
// out until it commits; recent lists live replicas and those gone in the
// last hour, for status.
template <class R>
concept ReplicaRegistryPolicy = requires(R& registry, Connection& conn, const ReplicaRecord& r,
                                         const std::string& replica_id, std::chrono::milliseconds lease,
                                         std::int64_t version, bool in_transaction) {
  { registry.enroll(conn, r, lease) } -> std::same_as<result<std::optional<AppliedMigration>>>;
  { registry.renew(conn, replica_id, lease, version) } -> std::same_as<result<Renewal>>;
  { registry.withdraw(conn, replica_id) } -> std::same_as<result<void>>;
  { registry.older_than(conn, version, in_transaction) } -> std::same_as<result<std::vector<ReplicaRecord>>>;
  { registry.recent(conn) } -> std::same_as<result<std::vector<ReplicaRecord>>>;
};

// A ledger that also keeps the replica registry (TableLedger does): what
// contract migrations and the heartbeat need. A ledger without one still
// runs expand migrations; a contract migration then stops at pre-flight.
// registry() returns the ledger's own registry (a reference: it lives as
// long as the ledger), of any type that does what ReplicaRegistryPolicy asks.
template <class L>
concept RegistryLedger = LedgerPolicy<L> && requires(L& ledger) {
  { ledger.registry() } -> std::same_as<std::remove_reference_t<decltype(ledger.registry())>&>;
  requires ReplicaRegistryPolicy<std::remove_reference_t<decltype(ledger.registry())>>;
};

// Optional hook: a ledger that keeps background migrations' jobs
// (TableLedger's jobs(): ledger/background_jobs.hpp). Without it a
// `-- lockstep:background` file is refused before anything runs.
template <class L>
concept BackgroundLedger = LedgerPolicy<L> && requires(L& ledger) {
  { ledger.jobs() } -> std::same_as<BackgroundJobs&>;
};

// A ledger whose read_state may answer from a summary (TableLedger's head),
// and that can also read the ledger itself: what a leader does under the
// lock, so a summary is never trusted beyond "nothing to do".
template <class L>
concept ConfirmingLedger = LedgerPolicy<L> && requires(L& ledger, Connection& conn, std::string_view deploy_version) {
  { ledger.read_confirmed_state(conn, deploy_version) } -> std::same_as<result<LedgerState>>;
};

// Optional hooks. A policy without one still works; one that has it gets
// the behaviour named. Migrator checks that a policy that declares a hook
// declares it right (a misspelt or mistyped hook would otherwise be ignored
// without a word).

// A wait policy woken early by the leader's NOTIFY (NotifyBackoff): the
// Migrator LISTENs and waits on the socket instead of only sleeping.
template <class W>
concept ListeningWait = WaitPolicy<W> && requires {
  { std::bool_constant<W::listens>{} } -> std::same_as<std::true_type>;
};

// A lock that lives inside each migration's transaction (TransactionLock):
// the Migrator takes it once per migration, re-reads the ledger under it,
// and refuses no-transaction migrations at pre-flight.
template <class L>
concept TransactionScopedLock = LockPolicy<L> && requires {
  { std::bool_constant<L::transaction_scoped>{} } -> std::same_as<std::true_type>;
};

// A session lock that can prove, inside a migration's transaction, that
// this session still holds it (TryLock, BlockingLock): the SQL returns one
// row whose first column is true while it does. Sent with BEGIN, so a lock
// lost behind a transaction-pooling proxy stops the migration before it runs.
template <class L>
concept HeldCheckLock = LockPolicy<L> && requires(std::int64_t key) {
  { L::held_check_sql(key) } -> std::convertible_to<std::string>;
};

namespace detail {

// Whether a policy declares a hook at all, right or wrong (Migrator's checks).
template <class T>
concept DeclaresListens = requires { &T::listens; };
template <class T>
concept DeclaresTransactionScoped = requires { &T::transaction_scoped; };
template <class T>
concept DeclaresHeldCheck = requires { &T::held_check_sql; };
template <class T>
concept DeclaresRegistry = requires(T& t) { t.registry(); };
// A flag hook declared as a constant bool, true or false.
template <class T>
concept ConstantListens = requires { std::bool_constant<T::listens>{}; };
template <class T>
concept ConstantTransactionScoped = requires { std::bool_constant<T::transaction_scoped>{}; };

template <LedgerPolicy L>
[[nodiscard]] result<LedgerState> confirmed_state(L& ledger, Connection& conn, std::string_view deploy_version) {
  if constexpr (ConfirmingLedger<L>) {
    return ledger.read_confirmed_state(conn, deploy_version);
  } else {
    return ledger.read_state(conn, deploy_version);
  }
}

}  // namespace detail

}  // namespace lockstep
