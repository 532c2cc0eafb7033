// checks/rules/volatile_default.hpp, offline: what the text says. The
// catalog's half (pg_proc volatility, the table's size) is in
// integration/lock_safety_test.cpp.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lock_cases.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("volatile_default: ADD COLUMN ... DEFAULT computed per row") {
    SUBCASE("volatile_default and generated_column") {
      check_cases({
          {"ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();", R{"volatile_default"}},
          {"ALTER TABLE orders ADD COLUMN token uuid NOT NULL DEFAULT uuid_generate_v4();", R{"volatile_default"}},
          {"ALTER TABLE orders ADD COLUMN n int DEFAULT my_func();", R{"volatile_default"}},  // uncertain
          {"ALTER TABLE orders ADD COLUMN created timestamptz NOT NULL DEFAULT now();", R{}},
          {"ALTER TABLE orders ADD COLUMN state text NOT NULL DEFAULT 'new';", R{}},
          {"ALTER TABLE orders ADD COLUMN flags int DEFAULT 0, ADD COLUMN note text;", R{}},
          {"ALTER TABLE orders ADD COLUMN c varchar(20) DEFAULT ''::character varying;", R{}},
          {"CREATE TABLE n (id bigserial, t uuid DEFAULT gen_random_uuid());", R{}},
      });
      // Before PostgreSQL 11 every non-NULL default rewrote the table.
      CHECK(rules_of("ALTER TABLE orders ADD COLUMN s text DEFAULT 'x';", false, false, 100000) == R{"volatile_default"});
      CHECK(rules_of("ALTER TABLE orders ADD COLUMN s text DEFAULT NULL;", false, false, 100000) == R{});
    }
    SUBCASE("more defaults, and the question the catalog settles") {
      check_cases({
          {"ALTER TABLE orders ADD COLUMN n int DEFAULT (random() * 10)::int;", R{"volatile_default"}},
          {"ALTER TABLE orders ADD COLUMN n bigint DEFAULT nextval('orders_n_seq');", R{"volatile_default"}},
          {"ALTER TABLE orders ADD COLUMN t timestamptz DEFAULT clock_timestamp() NOT NULL;", R{"volatile_default"}},
          {"ALTER TABLE orders ADD COLUMN n int DEFAULT NULL;", R{}},
          {"ALTER TABLE orders ADD COLUMN t text DEFAULT lower('X') COLLATE \"C\";", R{}},
          {"ALTER TABLE orders ADD COLUMN d date DEFAULT CAST(now() AS date);", R{}},
          {"CREATE TABLE n (a int); ALTER TABLE n ADD COLUMN t uuid DEFAULT gen_random_uuid();", R{}},
      });
      // A known volatile function is certain; an unknown one is the catalog's question.
      const auto known = hazards({"ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();"});
      REQUIRE(known.size() == 1);
      CHECK(known[0].certain);
      CHECK(known[0].question == lockstep::safety::Question::default_volatile);
      CHECK(known[0].functions == std::vector<std::string>{"gen_random_uuid"});
      CHECK(known[0].what == "ADD COLUMN token DEFAULT gen_random_uuid() to orders");
      const auto unknown = hazards({"ALTER TABLE orders ADD COLUMN n int DEFAULT coalesce(my_func(), 0);"});
      REQUIRE(unknown.size() == 1);
      CHECK_FALSE(unknown[0].certain);
      CHECK(unknown[0].functions == std::vector<std::string>{"coalesce", "my_func"});
      // Before 11: certain, no question, and the note says why.
      lockstep::safety::Analyzer old{100000};
      const std::string sql = "ALTER TABLE orders ADD COLUMN s text DEFAULT 'x';";
      auto st = lockstep::sql::split(sql);
      REQUIRE(st);
      const auto h = old.migration(st.value(), sql, {});
      REQUIRE(h.size() == 1);
      CHECK(h[0].certain);
      CHECK(h[0].question == lockstep::safety::Question::none);
      CHECK(h[0].note == "before PostgreSQL 11 any default rewrites the table");
    }
  }
}
