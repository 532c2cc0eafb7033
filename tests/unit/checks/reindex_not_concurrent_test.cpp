// checks/rules/reindex_not_concurrent.hpp, offline: what the text says.
#include <doctest/doctest.h>

#include "lock_cases.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("reindex_not_concurrent: REINDEX without CONCURRENTLY") {
    SUBCASE("of an index or a table") {
      check_cases({
          {"REINDEX INDEX orders_email;", R{"reindex_not_concurrent"}},
          {"REINDEX (VERBOSE) TABLE orders;", R{"reindex_not_concurrent"}},
          {"REINDEX TABLE CONCURRENTLY orders;", R{}},
          {"REINDEX SCHEMA public;", R{"reindex_not_concurrent"}},  // at deploy, like any other statement
      });
    }
    SUBCASE("parenthesised options are read as options") {
      check_cases({
          {"REINDEX (CONCURRENTLY) TABLE orders;", R{}},
          {"REINDEX (VERBOSE, CONCURRENTLY) INDEX orders_email;", R{}},
          {"REINDEX (CONCURRENTLY true) TABLE orders;", R{}},
          {"REINDEX (CONCURRENTLY false) TABLE orders;", R{"reindex_not_concurrent"}},
          {"REINDEX (TABLESPACE fast) TABLE orders;", R{"reindex_not_concurrent"}},
      });
    }
    SUBCASE("REINDEX of a schema, a database or the catalogs runs at deploy too") {
      check_cases({
          {"REINDEX SCHEMA public;", R{"reindex_not_concurrent"}},
          {"REINDEX (VERBOSE) DATABASE app;", R{"reindex_not_concurrent"}},
          {"REINDEX DATABASE;", R{"reindex_not_concurrent"}},
          {"REINDEX SYSTEM;", R{"reindex_not_concurrent"}},
          {"REINDEX SCHEMA CONCURRENTLY public;", R{}},
          {"REINDEX (CONCURRENTLY) DATABASE app;", R{}},
      });
      const auto h = hazards({"REINDEX SCHEMA app;"});
      REQUIRE(h.size() == 1);
      CHECK(h[0].object == lockstep::safety::Object::schema);
      CHECK(h[0].table == "app");
      CHECK(hazards({"REINDEX SYSTEM;"})[0].object == lockstep::safety::Object::catalogs);
    }
  }
}
