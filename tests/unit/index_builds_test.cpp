#include <doctest/doctest.h>

#include "lockstep/sql/index_builds.hpp"

using lockstep::sql::concurrent_index_build;

TEST_SUITE("unit") {
  TEST_CASE("concurrent_index_build") {
    SUBCASE("named, unique, IF NOT EXISTS, ONLY, qualified table") {
      auto b = concurrent_index_build("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS Users_Email ON ONLY app.users (email)");
      REQUIRE(b);
      CHECK(b->index == "users_email");  // folded as the catalog stores it
      CHECK(b->table == "app.users");
    }
    SUBCASE("quoted names keep their case and doubled quotes") {
      auto b = concurrent_index_build("create index concurrently \"Ix \"\"q\"\"\" on \"App\".\"T\" using btree (a)");
      REQUIRE(b);
      CHECK(b->index == "Ix \"q\"");
      CHECK(b->table == "\"App\".\"T\"");
    }
    SUBCASE("comments between the words") {
      auto b = concurrent_index_build("CREATE /* a /* nested */ one */ INDEX -- x\n CONCURRENTLY ix ON t(a)");
      REQUIRE(b);
      CHECK(b->index == "ix");
      CHECK(b->table == "t");
    }
    SUBCASE("unnamed: the table only") {
      auto b = concurrent_index_build("CREATE INDEX CONCURRENTLY ON t (a)");
      REQUIRE(b);
      CHECK(b->index.empty());
      CHECK(b->table == "t");
      // A quoted "on" is a name, not the keyword.
      auto q = concurrent_index_build("CREATE INDEX CONCURRENTLY \"on\" ON t (a)");
      REQUIRE(q);
      CHECK(q->index == "on");
    }
    SUBCASE("anything else is not a concurrent build") {
      CHECK_FALSE(concurrent_index_build("CREATE INDEX ix ON t (a)"));
      CHECK_FALSE(concurrent_index_build("DROP INDEX CONCURRENTLY ix"));
      CHECK_FALSE(concurrent_index_build("REINDEX INDEX CONCURRENTLY ix"));
      CHECK_FALSE(concurrent_index_build("CREATE INDEX CONCURRENTLY IF EXISTS ix ON t (a)"));
      CHECK_FALSE(concurrent_index_build("CREATE INDEX CONCURRENTLY ix"));
    }
  }
}
