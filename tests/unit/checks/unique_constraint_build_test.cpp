// checks/rules/unique_constraint_build.hpp, offline: what the text says.
// The catalog's half (the table's size) is in integration/lock_safety_test.cpp.
#include <doctest/doctest.h>

#include "lock_cases.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("unique_constraint_build: ADD UNIQUE / PRIMARY KEY / EXCLUDE without USING INDEX on a live table") {
    SUBCASE("constraint_scan, foreign_key_scan, unique_constraint_build") {
      check_cases({
          {"ALTER TABLE orders ADD CONSTRAINT u UNIQUE (email);", R{"unique_constraint_build"}},
          {"ALTER TABLE orders ADD PRIMARY KEY (id);", R{"unique_constraint_build"}},
          {"ALTER TABLE orders ADD CONSTRAINT u UNIQUE USING INDEX orders_email;", R{}},
          {"ALTER TABLE orders ADD CONSTRAINT pk PRIMARY KEY USING INDEX orders_id;", R{}},
          {"ALTER TABLE r ADD CONSTRAINT x EXCLUDE USING gist (during WITH &&);", R{"unique_constraint_build"}},
          {"CREATE TABLE n (id int); ALTER TABLE n ADD PRIMARY KEY (id), ADD CHECK (id > 0);", R{}},
      });
    }
    SUBCASE("column constraints, and what it names") {
      check_cases({
          {"ALTER TABLE orders ADD COLUMN code text UNIQUE;", R{"unique_constraint_build"}},
          {"ALTER TABLE orders ADD COLUMN code text NOT NULL DEFAULT '' UNIQUE;", R{"unique_constraint_build"}},
          {"ALTER TABLE orders ADD CONSTRAINT u UNIQUE (a) DEFERRABLE INITIALLY DEFERRED;", R{"unique_constraint_build"}},
          {"ALTER TABLE orders ADD UNIQUE (a), ADD UNIQUE (b);", R{"unique_constraint_build", "unique_constraint_build"}},
          {"CREATE TABLE n (a int); ALTER TABLE n ADD COLUMN b int UNIQUE;", R{}},
      });
      const auto unique = hazards({"ALTER TABLE orders ADD UNIQUE (email);"});
      REQUIRE(unique.size() == 1);
      CHECK(unique[0].what == "ADD UNIQUE on orders");
      CHECK(unique[0].note.empty());
      const auto exclude = hazards({"ALTER TABLE r ADD EXCLUDE USING gist (during WITH &&);"});
      REQUIRE(exclude.size() == 1);
      CHECK(exclude[0].what == "ADD EXCLUDE on r");
      CHECK(exclude[0].note == "an exclusion constraint has no USING INDEX form");
      const auto column = hazards({"ALTER TABLE orders ADD COLUMN n bigint DEFAULT 0 PRIMARY KEY;"});
      REQUIRE(column.size() == 1);
      CHECK(column[0].what == "ADD COLUMN n PRIMARY KEY on orders");
    }
  }
}
