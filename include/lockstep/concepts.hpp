// The contract of each policy family. Migrator static_asserts each one, so a
// wrong policy fails with one line naming the concept; the concept's own
// diagnostics follow for the details.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/error.hpp"
#include "lockstep/ledger/replica_registry.hpp"
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

// A ledger that also keeps the replica registry (TableLedger does): what
// contract migrations and the heartbeat need. A ledger without one still
// runs expand migrations; a contract migration then stops at pre-flight.
template <class L>
concept RegistryLedger = LedgerPolicy<L> && requires(L& ledger) {
  { ledger.registry() } -> std::same_as<ReplicaRegistry&>;
};

// A ledger whose read_state may answer from a summary (TableLedger's head),
// and that can also read the ledger itself: what a leader does under the
// lock, so a summary is never trusted beyond "nothing to do".
template <class L>
concept ConfirmingLedger = LedgerPolicy<L> && requires(L& ledger, Connection& conn, std::string_view deploy_version) {
  { ledger.read_confirmed_state(conn, deploy_version) } -> std::same_as<result<LedgerState>>;
};

namespace detail {

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
