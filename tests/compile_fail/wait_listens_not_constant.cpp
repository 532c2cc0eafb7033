// Must NOT compile: `listens` (the hook of lockstep::ListeningWait) is a
// runtime variable, not a constant bool, so the Migrator could not know at
// compile time whether to LISTEN: without the check it would never listen.
#include "lockstep/lockstep.hpp"

struct MaybeListening {
  static inline bool listens = true;
  std::chrono::milliseconds next_delay(unsigned attempt) { return std::chrono::milliseconds{100} * (attempt + 1); }
};

int main() {
  lockstep::Migrator<lockstep::TryLock, MaybeListening> m{lockstep::Settings{}};
  return m.run() ? 0 : 1;
}
