// Must NOT compile: `transaction_scoped` (the hook of
// lockstep::TransactionScopedLock) is a runtime variable: without the check
// the Migrator would treat this lock as a session lock and take it once,
// outside the transactions it lives in.
#include "lockstep/lockstep.hpp"

struct MaybeScopedLock {
  static inline bool transaction_scoped = true;
  lockstep::result<bool> try_acquire(lockstep::Connection&, std::int64_t, std::chrono::milliseconds) { return true; }
  lockstep::result<void> release(lockstep::Connection&, std::int64_t) { return lockstep::outcome::success(); }
};

int main() {
  lockstep::Migrator<MaybeScopedLock> m{lockstep::Settings{}};
  return m.run() ? 0 : 1;
}
