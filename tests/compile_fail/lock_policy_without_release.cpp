// Must NOT compile: this lock has no release(), so it is not a LockPolicy.
#include "lockstep/lockstep.hpp"

struct HalfALock {
  lockstep::result<bool> try_acquire(lockstep::Connection&, std::int64_t, std::chrono::milliseconds) { return true; }
};

int main() {
  lockstep::Migrator<HalfALock> m{lockstep::Settings{}};
  return m.run() ? 0 : 1;
}
