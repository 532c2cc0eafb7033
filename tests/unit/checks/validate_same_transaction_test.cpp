// checks/rules/validate_same_transaction.hpp, offline: what the text says.
#include <doctest/doctest.h>

#include "lock_cases.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("validate_same_transaction: VALIDATE under the lock of the ADD ... NOT VALID") {
    SUBCASE("validate_same_transaction") {
      check_cases({
          {"ALTER TABLE orders ADD CONSTRAINT c CHECK (a > 0) NOT VALID; ALTER TABLE orders VALIDATE CONSTRAINT c;",
           R{"validate_same_transaction"}},
          {"ALTER TABLE orders VALIDATE CONSTRAINT c;", R{}},
      });
      // Outside a transaction each statement commits: the ADD's lock is gone.
      CHECK(rules_of("ALTER TABLE orders ADD CONSTRAINT c CHECK (a > 0) NOT VALID;\n"
                     "ALTER TABLE orders VALIDATE CONSTRAINT c;",
                     true) == R{});
    }
    SUBCASE("VALIDATE after ADD ... NOT VALID in one transaction is sized like the scan it meant to avoid") {
      check_cases({
          {"ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES customers NOT VALID;\n"
           "ALTER TABLE orders VALIDATE CONSTRAINT fk;",
           R{"validate_same_transaction"}},
          // Unnamed: the server names it; any VALIDATE on the table scans under the ADD's lock.
          {"ALTER TABLE orders ADD FOREIGN KEY (c) REFERENCES customers NOT VALID;\n"
           "ALTER TABLE orders VALIDATE CONSTRAINT orders_c_fkey;",
           R{"validate_same_transaction"}},
          {"ALTER TABLE orders ADD CONSTRAINT c CHECK (a > 0) NOT VALID; ALTER TABLE orders VALIDATE CONSTRAINT c;",
           R{"validate_same_transaction"}},  // not lock_held_across_statements as well: the same lock
          {"ALTER TABLE other ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES customers NOT VALID;\n"
           "ALTER TABLE orders VALIDATE CONSTRAINT fk2;",
           R{}},
      });
      CHECK(lockstep::checks::find_rule("validate_same_transaction")->sized);
      CHECK(rules_of("ALTER TABLE orders ADD FOREIGN KEY (c) REFERENCES customers NOT VALID;\n"
                     "ALTER TABLE orders VALIDATE CONSTRAINT orders_c_fkey;",
                     true) == R{});
    }
  }
}
