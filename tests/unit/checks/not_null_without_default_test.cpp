// checks/rules/not_null_without_default.hpp, offline: what the text says,
// and what the table's size makes of it. The catalog's half (a domain's
// default, the table's rows) is in integration/lock_safety_test.cpp.
#include <doctest/doctest.h>

#include <cstdint>

#include "lock_cases.hpp"
#include "lockstep/checks/rules/not_null_without_default.hpp"

using namespace lockstep;
using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("not_null_without_default: ADD COLUMN ... NOT NULL without a DEFAULT on a live table") {
    SUBCASE("ADD COLUMN ... NOT NULL without a default") {
      check_cases({
          {"ALTER TABLE orders ADD COLUMN n int NOT NULL;", R{"not_null_without_default"}},
          {"ALTER TABLE orders ADD n int CONSTRAINT n_nn NOT NULL;", R{"not_null_without_default"}},
          {"ALTER TABLE orders ADD COLUMN n int DEFAULT NULL NOT NULL;", R{"not_null_without_default"}},
          {"ALTER TABLE orders ADD COLUMN n bigint PRIMARY KEY;", R{"unique_constraint_build", "not_null_without_default"}},
          {"ALTER TABLE orders ADD COLUMN n int NOT NULL DEFAULT 0;", R{}},
          {"ALTER TABLE orders ADD COLUMN n int;", R{}},
          {"ALTER TABLE orders ADD COLUMN n int NULL;", R{}},
          {"ALTER TABLE orders ADD COLUMN n int CHECK (n IS NOT NULL);", R{"constraint_scan"}},
          {"ALTER TABLE orders ADD COLUMN n bigserial NOT NULL;", R{"generated_column"}},
          {"ALTER TABLE orders ADD COLUMN n int NOT NULL GENERATED ALWAYS AS IDENTITY;", R{"generated_column"}},
          {"CREATE TABLE n (a int); ALTER TABLE n ADD COLUMN b int NOT NULL;", R{}},
      });
      const auto h = hazards({"ALTER TABLE orders ADD COLUMN n app.money_cents NOT NULL;"});
      REQUIRE(h.size() == 1);
      CHECK(h[0].question == safety::Question::has_rows);
      CHECK(h[0].new_type == "app.money_cents");  // a domain's default would fill the rows
      CHECK_FALSE(h[0].certain);
    }
    SUBCASE("more forms, and the type the catalog is asked about") {
      check_cases({
          {"ALTER TABLE orders ADD COLUMN n text COLLATE \"C\" NOT NULL;", R{"not_null_without_default"}},
          {"ALTER TABLE orders ADD COLUMN IF NOT EXISTS n int NOT NULL;", R{"not_null_without_default"}},
          {"ALTER TABLE orders ADD COLUMN n int NOT NULL DEFAULT NULL;", R{"not_null_without_default"}},
          {"ALTER TABLE orders ADD COLUMN n bigint DEFAULT 1 PRIMARY KEY;", R{"unique_constraint_build"}},
          {"ALTER TABLE orders ADD COLUMN n int NOT NULL GENERATED ALWAYS AS (a * 2) STORED;", R{"generated_column"}},
      });
      const auto h = hazards({"ALTER TABLE orders ADD COLUMN n numeric(12, 2) COLLATE \"C\" NOT NULL;"});
      REQUIRE(h.size() == 1);
      CHECK(h[0].new_type == "numeric(12, 2)");
      CHECK(h[0].what == "ADD COLUMN n NOT NULL without a DEFAULT to orders");
    }
    SUBCASE("the table's size: no pages is empty, counted rows fail, pages without counted rows may be either") {
      using checks::rules::not_null_without_default::sized;
      struct Size {
        double rows;
        std::int64_t bytes;
        bool dismissed, fails, certain, stale;
      };
      for (const Size c : {Size{0, 0, true, false, false, false}, Size{-1, 0, true, false, false, false},
                           Size{12, 8192, false, true, true, false}, Size{0, 8192, false, false, false, true},
                           Size{-1, 16384, false, false, false, true}}) {
        CAPTURE(c.rows);
        CAPTURE(c.bytes);
        checks::TableSize s;
        s.exists = true;
        s.rows = c.rows;
        s.bytes = c.bytes;
        const auto a = sized(s);
        CHECK(a.dismissed == c.dismissed);
        CHECK(a.fails == c.fails);
        CHECK(a.certain == c.certain);
        CHECK(a.why.empty() == !c.stale);
      }
    }
  }
}
