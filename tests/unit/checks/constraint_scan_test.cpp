// checks/rules/constraint_scan.hpp, offline: what the text says. The
// catalog's half (the table's size) is in integration/lock_safety_test.cpp.
#include <doctest/doctest.h>

#include "lock_cases.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("constraint_scan: ADD CHECK without NOT VALID on a live table") {
    SUBCASE("constraint_scan, foreign_key_scan, unique_constraint_build") {
      check_cases({
          {"ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0);", R{"constraint_scan"}},
          {"ALTER TABLE orders ADD CHECK (total > 0);", R{"constraint_scan"}},
          {"ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;", R{}},
          {"CREATE TABLE n (id int); ALTER TABLE n ADD PRIMARY KEY (id), ADD CHECK (id > 0);", R{}},
      });
    }
    SUBCASE("column checks, several actions, and what it names") {
      check_cases({
          {"ALTER TABLE orders ADD COLUMN n int CHECK (n > 0);", R{"constraint_scan"}},
          {"ALTER TABLE IF EXISTS orders ADD CONSTRAINT c CHECK (a > 0) NO INHERIT;", R{"constraint_scan"}},
          {"ALTER TABLE orders ADD CONSTRAINT c CHECK (a > 0) NOT VALID, ADD CHECK (b > 0);", R{"constraint_scan"}},
          {"ALTER TABLE orders ADD CHECK (a > 0), ADD CHECK (b > 0);", R{"constraint_scan", "constraint_scan"}},
          {"ALTER TABLE orders VALIDATE CONSTRAINT c;", R{}},
          {"ALTER TABLE orders DROP CONSTRAINT c;", R{}},
          {"CREATE TABLE n (a int); ALTER TABLE n ADD COLUMN b int CHECK (b > 0);", R{}},
      });
      const auto added = hazards({"ALTER TABLE app.orders ADD CONSTRAINT c CHECK (a > 0);"});
      REQUIRE(added.size() == 1);
      CHECK(added[0].table == "app.orders");
      CHECK(added[0].what == "ADD CHECK on app.orders");
      CHECK(added[0].question == lockstep::safety::Question::none);
      const auto column = hazards({"ALTER TABLE orders ADD COLUMN n int CHECK (n > 0);"});
      REQUIRE(column.size() == 1);
      CHECK(column[0].what == "ADD COLUMN n CHECK on orders");
    }
  }
}
