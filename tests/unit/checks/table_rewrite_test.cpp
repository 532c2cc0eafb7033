// checks/rules/table_rewrite.hpp, offline: what the text says. The catalog's
// half (already logged, already in the tablespace) is in
// integration/lock_safety_test.cpp.
#include <doctest/doctest.h>

#include "lock_cases.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("table_rewrite: VACUUM FULL, CLUSTER, SET TABLESPACE / LOGGED / UNLOGGED") {
    SUBCASE("table_rewrite") {
      check_cases({
          {"VACUUM FULL orders;", R{"table_rewrite"}},
          {"VACUUM (FULL, ANALYZE) orders;", R{"table_rewrite"}},
          {"VACUUM (FULL false) orders;", R{}},
          {"VACUUM ANALYZE orders;", R{}},
          {"CLUSTER orders USING orders_pkey;", R{"table_rewrite"}},
          {"ALTER TABLE orders SET TABLESPACE fast;", R{"table_rewrite"}},
          {"ALTER TABLE orders SET LOGGED;", R{"table_rewrite"}},
          {"ALTER TABLE orders SET (fillfactor = 70);", R{}},
      });
    }
    SUBCASE("parenthesised options are read as options") {
      check_cases({
          {"VACUUM (VERBOSE, FULL on) orders;", R{"table_rewrite"}},
          {"VACUUM (FULL 0) orders;", R{}},
          {"CLUSTER (VERBOSE) orders USING orders_pkey;", R{"table_rewrite"}},
      });
    }
    SUBCASE("the table a CLUSTER is sized by") {
      // The old spelling of CLUSTER names the index first (pg-regress cluster.sql).
      const auto old_cluster = hazards({"CLUSTER orders_pkey ON orders;"});
      REQUIRE(old_cluster.size() == 1);
      CHECK(old_cluster[0].table == "orders");
      const auto cluster = hazards({"CLUSTER VERBOSE orders USING orders_pkey;"});
      REQUIRE(cluster.size() == 1);
      CHECK(cluster[0].table == "orders");
    }
    SUBCASE("SET LOGGED, SET UNLOGGED and SET TABLESPACE ask the catalog, for the table alone") {
      const auto logged = hazards({"ALTER TABLE orders SET LOGGED;"});
      REQUIRE(logged.size() == 1);
      CHECK(logged[0].rule == "table_rewrite");
      CHECK(logged[0].question == lockstep::safety::Question::persistence);
      CHECK(logged[0].target == "p");
      CHECK(logged[0].only);
      CHECK_FALSE(logged[0].certain);
      CHECK(hazards({"ALTER TABLE orders SET UNLOGGED;"})[0].target == "u");
      const auto moved = hazards({"ALTER TABLE orders SET TABLESPACE \"Fast\";"});
      CHECK(moved[0].question == lockstep::safety::Question::tablespace);
      CHECK(moved[0].target == "Fast");
    }
  }
}
