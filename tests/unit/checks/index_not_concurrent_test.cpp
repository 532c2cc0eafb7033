// checks/rules/index_not_concurrent.hpp, offline: what the text says. The
// catalog's half (the table's size) is in integration/lock_safety_test.cpp.
#include <doctest/doctest.h>

#include "lock_cases.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("index_not_concurrent: CREATE INDEX without CONCURRENTLY") {
    check_cases({
        {"CREATE INDEX orders_email ON orders (email);", R{"index_not_concurrent"}},
        {"create unique index if not exists i on public.\"Orders\" using btree (a);", R{"index_not_concurrent"}},
        {"CREATE INDEX ON orders (email);", R{"index_not_concurrent"}},
        {"CREATE INDEX CONCURRENTLY i ON orders (email);", R{}},
        {"CREATE TABLE t (a int); CREATE INDEX i ON t (a);", R{}},  // new table: nobody waits on it
        {"CREATE INDEX i ON ONLY measurements (a);", R{}},          // partitioned parent: an empty shell
    });
  }
}
