// checks/rules/lock_held_across_statements.hpp, offline: what the text says.
#include <doctest/doctest.h>

#include "lock_cases.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("lock_held_across_statements: work after ACCESS EXCLUSIVE in the same transaction") {
    SUBCASE("a second table, or long work") {
      check_cases({
          {"ALTER TABLE a ADD COLUMN x int; ALTER TABLE b ADD COLUMN y int;", R{"lock_held_across_statements"}},
          {"ALTER TABLE a ADD COLUMN x int; UPDATE a SET x = 1;", R{"unbatched_dml", "lock_held_across_statements"}},
          {"ALTER TABLE a ADD COLUMN x int; ALTER TABLE a ADD COLUMN y int;", R{}},  // quick, same table
          {"ALTER TABLE a ADD COLUMN x int; CREATE TABLE n (a int); INSERT INTO n VALUES (1);", R{}},
          {"ALTER TABLE a ADD FOREIGN KEY (b) REFERENCES b NOT VALID; ALTER TABLE c ADD COLUMN y int;", R{}},
          {"UPDATE a SET x = 1; ALTER TABLE a ADD COLUMN y int;", R{"unbatched_dml"}},  // the lock comes after the work
          {"ALTER TABLE a ADD COLUMN x int; CREATE INDEX i ON a (x);",
           R{"index_not_concurrent", "lock_held_across_statements"}},
      });
      CHECK(rules_of("ALTER TABLE a ADD COLUMN x int; ALTER TABLE b ADD COLUMN y int;", true) == R{});
    }
    SUBCASE("EXPLAIN ANALYZE runs its statement; EXPLAIN alone does not") {
      check_cases({
          {"ALTER TABLE a ADD COLUMN x int; EXPLAIN (ANALYZE, BUFFERS) UPDATE a SET x = 1;",
           R{"unbatched_dml", "lock_held_across_statements"}},
          {"ALTER TABLE a ADD COLUMN x int; EXPLAIN ANALYZE VERBOSE UPDATE a SET x = 1;",
           R{"unbatched_dml", "lock_held_across_statements"}},
          {"ALTER TABLE a ADD COLUMN x int; EXPLAIN (ANALYZE false) UPDATE a SET x = 1;", R{}},
          {"ALTER TABLE a ADD COLUMN x int; EXPLAIN UPDATE a SET x = 1;", R{}},
      });
    }
  }
}
