// Must NOT compile: held_check_sql is the optional hook of lockstep::HeldCheckLock,
// but declared as a member taking no key, it could never be called: without
// the check, the Migrator would skip it silently and lose the proof that the
// session still holds the lock.
#include <string>

#include "lockstep/lockstep.hpp"

struct ForgetfulLock {
  lockstep::result<bool> try_acquire(lockstep::Connection&, std::int64_t, std::chrono::milliseconds) { return true; }
  lockstep::result<void> release(lockstep::Connection&, std::int64_t) { return lockstep::outcome::success(); }
  std::string held_check_sql() const { return "SELECT true"; }
};

int main() {
  lockstep::Migrator<ForgetfulLock> m{lockstep::Settings{}};
  return m.run() ? 0 : 1;
}
