// checks/rules/drop_breaks_old_code.hpp, offline: what the text says.
#include <doctest/doctest.h>

#include "lock_cases.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("drop_breaks_old_code: DROP TABLE / DROP COLUMN outside a contract migration") {
    check_cases({
        {"ALTER TABLE orders DROP COLUMN legacy;", R{"drop_breaks_old_code"}},
        {"ALTER TABLE orders DROP COLUMN IF EXISTS legacy;", R{"drop_breaks_old_code"}},
        {"ALTER TABLE orders DROP CONSTRAINT c;", R{}},
        {"DROP TABLE legacy;", R{"drop_breaks_old_code"}},
        {"DROP TABLE IF EXISTS a, b;", R{"drop_breaks_old_code", "drop_breaks_old_code"}},
    });
    // A contract migration is where drops belong.
    CHECK(rules_of("ALTER TABLE orders DROP COLUMN legacy;", false, true) == R{});
    CHECK(rules_of("DROP TABLE old;", false, true) == R{});
  }
}
