// Must NOT compile: a source without load().
#include "lockstep/lockstep.hpp"

struct NotASource {};

int main() {
  lockstep::Migrator<lockstep::TryLock, lockstep::ExponentialBackoff, lockstep::Deadline<>, NotASource> m{
      lockstep::Settings{}};
  return m.run() ? 0 : 1;
}
