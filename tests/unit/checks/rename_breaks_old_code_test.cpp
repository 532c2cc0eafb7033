// checks/rules/rename_breaks_old_code.hpp, offline: what the text says.
#include <doctest/doctest.h>

#include "lock_cases.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("rename_breaks_old_code: RENAME of a live table or column") {
    check_cases({
        {"ALTER TABLE orders RENAME COLUMN email TO mail;", R{"rename_breaks_old_code"}},
        {"ALTER TABLE orders RENAME email TO mail;", R{"rename_breaks_old_code"}},
        {"ALTER TABLE orders RENAME TO purchases;", R{"rename_breaks_old_code"}},
        {"ALTER TABLE orders RENAME CONSTRAINT a TO b;", R{}},
        {"CREATE TABLE tmp (a int); ALTER TABLE tmp RENAME TO tmp2; DROP TABLE tmp2;", R{}},
    });
    // A rename is never safe in one step, not even in a contract migration.
    CHECK(rules_of("ALTER TABLE orders RENAME COLUMN a TO b;", false, true) == R{"rename_breaks_old_code"});
  }
}
