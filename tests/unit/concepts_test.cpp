// Each policy family's concept accepts the ready-made policies and a user's
// own, and rejects near misses. (That Migrator rejects them at compile time
// with a readable message is proven by the compile-fail tests.)
#include <doctest/doctest.h>

#include <chrono>

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
}  // namespace

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
  }
}
