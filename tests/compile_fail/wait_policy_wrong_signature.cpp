// Must NOT compile: next_delay returns a plain int, not a duration.
#include "lockstep/lockstep.hpp"

struct IntWait {
  int next_delay(unsigned attempt) { return static_cast<int>(attempt) * 100; }
};

int main() {
  lockstep::Migrator<lockstep::TryLock, IntWait> m{lockstep::Settings{}};
  return m.run() ? 0 : 1;
}
