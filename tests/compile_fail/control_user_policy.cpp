// Control for the compile-fail tests: the same shape with a correct user
// policy compiles, so the failures above are the concept's doing.
#include "lockstep/lockstep.hpp"

struct WholeLock {
  lockstep::result<bool> try_acquire(lockstep::Connection&, std::int64_t, std::chrono::milliseconds) { return true; }
  lockstep::result<void> release(lockstep::Connection&, std::int64_t) { return lockstep::outcome::success(); }
};

int main() {
  lockstep::Migrator<WholeLock> m{lockstep::Settings{}};
  return m.run() ? 0 : 1;
}
