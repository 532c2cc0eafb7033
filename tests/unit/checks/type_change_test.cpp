// checks/rules/type_change.hpp, offline: what the text says, and the typmod
// arithmetic of its question. The catalog's half (pg_cast, the column's
// current type, the table's size) is in integration/lock_safety_test.cpp.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lock_cases.hpp"
#include "lockstep/checks/rules/type_change.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("type_change: ALTER COLUMN ... TYPE on a live table") {
    SUBCASE("type_change and set_not_null") {
      check_cases({
          {"ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2);", R{"type_change"}},
          {"ALTER TABLE orders ALTER total SET DATA TYPE bigint USING total::bigint;", R{"type_change"}},
          {"CREATE TABLE n (a int); ALTER TABLE n ALTER a TYPE bigint, ALTER a SET NOT NULL;", R{}},
      });
    }
    SUBCASE("more forms, and the question the catalog settles") {
      check_cases({
          {"ALTER TABLE orders ALTER COLUMN email TYPE varchar(100) COLLATE \"C\";", R{"type_change"}},
          {"ALTER TABLE orders ALTER a TYPE bigint, ALTER b TYPE bigint;", R{"type_change", "type_change"}},
          {"ALTER TABLE orders ALTER COLUMN a SET DEFAULT 0;", R{}},
          {"ALTER TABLE orders ALTER COLUMN a SET STATISTICS 500;", R{}},
      });
      // Without USING only the catalog knows whether the cast is binary-coercible.
      const auto plain = hazards({"ALTER TABLE orders ALTER COLUMN \"Email\" TYPE varchar(100) COLLATE \"C\";"});
      REQUIRE(plain.size() == 1);
      CHECK(plain[0].question == lockstep::safety::Question::type_rewrite);
      CHECK_FALSE(plain[0].certain);
      CHECK(plain[0].column == "Email");
      CHECK(plain[0].new_type == "varchar(100)");
      CHECK(plain[0].what == "ALTER COLUMN \"Email\" TYPE varchar(100) on orders");
      // USING rewrites every row: certain, nothing to ask.
      const auto using_ = hazards({"ALTER TABLE orders ALTER total TYPE bigint USING total::bigint;"});
      REQUIRE(using_.size() == 1);
      CHECK(using_[0].question == lockstep::safety::Question::none);
      CHECK(using_[0].certain);
      CHECK(using_[0].note == "USING rewrites every row");
      CHECK(using_[0].new_type == "bigint");
    }
  }

  TEST_CASE("type modifiers decide a same-type change") {
    using lockstep::checks::rules::type_change::same_type_keeps_values;
    using lockstep::checks::rules::type_change::type_modifiers;
    CHECK(type_modifiers("character varying(20)") == std::vector<long>{20});
    CHECK(type_modifiers("numeric(12, 2)") == std::vector<long>{12, 2});
    CHECK(type_modifiers("text").empty());
    CHECK(same_type_keeps_values("character varying", {20}, {40}));
    CHECK_FALSE(same_type_keeps_values("character varying", {40}, {20}));
    CHECK(same_type_keeps_values("character varying", {40}, {}));
    CHECK_FALSE(same_type_keeps_values("character varying", {}, {40}));
    CHECK(same_type_keeps_values("numeric", {10, 2}, {12, 2}));
    CHECK_FALSE(same_type_keeps_values("numeric", {10, 2}, {12, 3}));
    CHECK_FALSE(same_type_keeps_values("character", {4}, {8}));  // bpchar pads: rewritten
  }
}
