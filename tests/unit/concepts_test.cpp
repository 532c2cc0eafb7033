// Each policy family's concept accepts the ready-made policies and a user's
// own, and rejects near misses. (That Migrator rejects them at compile time
// with a readable message is proven by the compile-fail tests.)
#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "lockstep/lockstep.hpp"
#include "lockstep/testing/fake_clock.hpp"

using namespace lockstep;

namespace {
// A user-written wait policy: linear backoff.
struct LinearWait {
  std::chrono::milliseconds step{100};
  [[nodiscard]] std::chrono::milliseconds next_delay(unsigned attempt) const { return step * (attempt + 1); }
};
// Near misses.
struct LockWithoutRelease {
  result<bool> try_acquire(Connection&, std::int64_t, std::chrono::milliseconds) { return true; }
};
struct LockReturningBool {
  bool try_acquire(Connection&, std::int64_t, std::chrono::milliseconds) { return true; }
  result<void> release(Connection&, std::int64_t) { return outcome::success(); }
};
struct SourceReturningVector {
  std::vector<Migration> load() { return {}; }
};
// The optional hooks (concepts.hpp), declared by a user's own policies.
struct ListeningLinearWait : LinearWait {
  static constexpr bool listens = true;
};
struct QuietWait : LinearWait {
  static constexpr bool listens = false;  // declared, and off
};
struct WholeTransactionLock {
  static constexpr bool transaction_scoped = true;
  result<bool> try_acquire(Connection&, std::int64_t, std::chrono::milliseconds) { return true; }
  result<void> release(Connection&, std::int64_t) { return outcome::success(); }
};
struct CheckedSessionLock {
  result<bool> try_acquire(Connection&, std::int64_t, std::chrono::milliseconds) { return true; }
  result<void> release(Connection&, std::int64_t) { return outcome::success(); }
  static std::string held_check_sql(std::int64_t key) { return "SELECT " + std::to_string(key) + " > 0"; }
};
// A registry of the user's own (not ReplicaRegistry), kept by a ledger.
struct OwnRegistry {
  result<std::optional<AppliedMigration>> enroll(Connection&, const ReplicaRecord&, std::chrono::milliseconds) {
    return std::optional<AppliedMigration>{};
  }
  result<Renewal> renew(Connection&, const std::string&, std::chrono::milliseconds, std::int64_t) { return Renewal{}; }
  result<void> withdraw(Connection&, const std::string&) { return outcome::success(); }
  result<std::vector<ReplicaRecord>> older_than(Connection&, std::int64_t, bool) { return std::vector<ReplicaRecord>{}; }
  result<std::vector<ReplicaRecord>> recent(Connection&) { return std::vector<ReplicaRecord>{}; }
};
struct RegistryWithoutWithdraw {
  result<std::optional<AppliedMigration>> enroll(Connection&, const ReplicaRecord&, std::chrono::milliseconds) {
    return std::optional<AppliedMigration>{};
  }
  result<Renewal> renew(Connection&, const std::string&, std::chrono::milliseconds, std::int64_t) { return Renewal{}; }
  result<std::vector<ReplicaRecord>> older_than(Connection&, std::int64_t, bool) { return std::vector<ReplicaRecord>{}; }
  result<std::vector<ReplicaRecord>> recent(Connection&) { return std::vector<ReplicaRecord>{}; }
};
struct OwnRegistryLedger : TableLedger {
  OwnRegistry& registry() { return own; }
  OwnRegistry own;
};
struct RegistryByValueLedger : TableLedger {
  OwnRegistry registry() { return {}; }  // a copy each time: nothing would stay registered
};
}  // namespace

// Optional hooks: the ready-made policies that have them, and a user's own.
static_assert(ListeningWait<NotifyBackoff> && ListeningWait<ListeningLinearWait>);
static_assert(!ListeningWait<ExponentialBackoff> && !ListeningWait<QuietWait> && !ListeningWait<LinearWait>);
static_assert(TransactionScopedLock<TransactionLock> && TransactionScopedLock<WholeTransactionLock>);
static_assert(!TransactionScopedLock<TryLock> && !TransactionScopedLock<BlockingLock>);
static_assert(HeldCheckLock<TryLock> && HeldCheckLock<BlockingLock> && HeldCheckLock<CheckedSessionLock>);
static_assert(!HeldCheckLock<NoLock> && !HeldCheckLock<TransactionLock>);
// The registry: what it must do, whoever implements it.
static_assert(ReplicaRegistryPolicy<ReplicaRegistry> && ReplicaRegistryPolicy<OwnRegistry>);
static_assert(!ReplicaRegistryPolicy<RegistryWithoutWithdraw>);
static_assert(RegistryLedger<TableLedger> && RegistryLedger<OwnRegistryLedger>);
static_assert(!RegistryLedger<RegistryByValueLedger> && !RegistryLedger<MemorySource>);

static_assert(LockPolicy<TryLock> && LockPolicy<BlockingLock> && LockPolicy<NoLock>);
static_assert(!LockPolicy<LockWithoutRelease> && !LockPolicy<LockReturningBool> && !LockPolicy<int>);
static_assert(WaitPolicy<ExponentialBackoff> && WaitPolicy<NoWait> && WaitPolicy<LinearWait>);
static_assert(TimeoutPolicy<Deadline<>> && TimeoutPolicy<Deadline<testing::FakeClock>>);
static_assert(!TimeoutPolicy<SteadyClock>);  // a clock alone has no budget
static_assert(SourcePolicy<DirectorySource> && SourcePolicy<MemorySource> && !SourcePolicy<SourceReturningVector>);
static_assert(LedgerPolicy<TableLedger> && !LedgerPolicy<MemorySource>);

TEST_SUITE("unit") {
  TEST_CASE("Migrator policies") {
    SUBCASE("defaults are the recommended setup") {
      CHECK(std::is_same_v<Migrator<>::lock_type, TryLock>);
      CHECK(std::is_same_v<Migrator<>::wait_type, NotifyBackoff>);
      CHECK(std::is_same_v<Migrator<>::timeout_type, Deadline<>>);
      CHECK(std::is_same_v<Migrator<>::source_type, DirectorySource>);
      CHECK(std::is_same_v<Migrator<>::ledger_type, TableLedger>);
    }
    SUBCASE("policy arguments are routed by type, in any order") {
      using namespace std::chrono_literals;
      Migrator<TryLock, LinearWait> m{Settings{}, Deadline<>{42s}, LinearWait{7ms}, DirectorySource{"db/migrations"}};
      CHECK(m.timeout().budget() == 42s);
      CHECK(m.wait().next_delay(1) == 14ms);
      CHECK(m.source().directory() == "db/migrations");
    }
    SUBCASE("a user's own policies with the optional hooks compose") {
      Migrator<WholeTransactionLock, ListeningLinearWait, Deadline<>, MemorySource, OwnRegistryLedger> hooked{Settings{}};
      Migrator<CheckedSessionLock, QuietWait> checked{Settings{}};
      CHECK(std::is_same_v<decltype(hooked)::ledger_type, OwnRegistryLedger>);
      CHECK(std::is_same_v<decltype(checked)::wait_type, QuietWait>);
    }
  }
}
