// Links and runs without a database: the package's headers, libpqxx and Boost.Outcome work together.
#include <cstdio>

#include <lockstep/lockstep.hpp>

int main() {
  const auto key = lockstep::lock_key("lockstep:app:lockstep.migrations");
  auto source = lockstep::MemorySource{{1, "init", "CREATE TABLE t (id int);"}}.load();
  std::printf("lockstep %s, lock key %lld, %zu migration(s)\n", LOCKSTEP_VERSION_STRING, static_cast<long long>(key),
              source ? source.value().size() : 0);
  return key == 4385342301517901086LL && source ? 0 : 1;
}
