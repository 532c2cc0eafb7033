// lock_key() (lock/lock_key.hpp): the advisory lock key a name derives.
#include <doctest/doctest.h>

#include <string>

#include "lockstep/lock/lock_key.hpp"

using namespace lockstep;

TEST_SUITE("unit") {
  TEST_CASE("lock_key") {
    SUBCASE("frozen values: changing them would let old and new binaries lead at once") {
      // Cross-checked with PostgreSQL:
      //   SELECT ('x' || substr(encode(sha256(convert_to(name, 'UTF8')), 'hex'), 1, 16))::bit(64)::bigint
      CHECK(lock_key("") == -2039914840885289964LL);
      CHECK(lock_key("orders") == 2023957755765852388LL);
      CHECK(lock_key("lockstep:app:lockstep.migrations") == 4385342301517901086LL);
    }
    SUBCASE("default name combines database and ledger") {
      CHECK(default_lock_name("app", "lockstep.migrations") == "lockstep:app:lockstep.migrations");
      CHECK(lock_key(default_lock_name("app", "a.b")) != lock_key(default_lock_name("app", "a.c")));
    }
  }
}
