// checks/rules/drop_index_not_concurrent.hpp, offline: what the text says.
#include <doctest/doctest.h>

#include "lock_cases.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("drop_index_not_concurrent: DROP INDEX without CONCURRENTLY") {
    check_cases({
        {"DROP INDEX orders_email;", R{"drop_index_not_concurrent"}},
        {"DROP INDEX IF EXISTS orders_email;", R{"drop_index_not_concurrent"}},
        {"DROP INDEX CONCURRENTLY IF EXISTS orders_email;", R{}},
        {"CREATE INDEX CONCURRENTLY i2 ON t (a);", R{}},
    });
  }
}
