// INVALID indexes left by CREATE INDEX CONCURRENTLY (hexpm#1817): a failed
// build's leftover is dropped before the migration runs again, and a build
// that did not complete is never recorded as applied.
#include <doctest/doctest.h>

#include <string>

#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;

namespace {

using Run = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>;

Settings index_settings(const TestDatabase& db, EventLog& log, const std::string& deploy) {
  Settings s;
  s.database_url = db.url();
  s.deploy_version = deploy;
  s.on_event = log.sink();
  return s;
}

std::string validity(const TestDatabase& db, const std::string& index) {
  return db.scalar("SELECT indisvalid::text FROM pg_index WHERE indexrelid = to_regclass('" + index + "')");
}

const char* setup = "CREATE TABLE t (id int, x int); INSERT INTO t VALUES (1, 1), (2, 1);";

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("invalid index" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"invalid_index"};

    SUBCASE("a failed unique build's leftover is dropped and built again on the next deploy") {
      for (const std::string create : {"CREATE UNIQUE INDEX CONCURRENTLY t_x_key ON t (x);",
                                       "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_x_key ON t (x);"}) {
        CAPTURE(create);
        TestDatabase fresh{"invalid_index_rerun"};
        MemorySource source{{1, "t", setup}, {2, "unique_x", "-- lockstep:no-transaction\n" + create}};
        EventLog first_log;
        auto first = Run{index_settings(fresh, first_log, "v1"), source}.run();
        REQUIRE_FALSE(first);
        CHECK(first.error().code == errc::migration_failed);
        CHECK(first.error().sqlstate == "23505");
        REQUIRE(validity(fresh, "t_x_key") == "false");  // what the server leaves behind

        REQUIRE(fresh.connect().execute("DELETE FROM t WHERE id = 2"));
        EventLog log;
        auto second = Run{index_settings(fresh, log, "v2"), source}.run();
        REQUIRE_MESSAGE(second, (second ? "" : second.error().to_string()));
        CHECK(log.count("invalid_index_dropped") == 1);
        CHECK(validity(fresh, "t_x_key") == "true");
        CHECK(fresh.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2") == 1);
      }
    }

    SUBCASE("an index left invalid fails the migration instead of being recorded") {
      // The build "completes" but the index is invalid, as after a build
      // that the server gave up on; the catalog is set by hand to make it so.
      MemorySource source{{1, "t", setup},
                          {2, "y", "-- lockstep:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);\n"
                                   "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 't_id'::regclass;"}};
      EventLog log;
      auto r = Run{index_settings(db, log, "v1"), source}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::migration_failed);
      CHECK(r.error().message.find("t_id") != std::string::npos);
      CHECK(r.error().message.find("INVALID") != std::string::npos);
      CHECK(r.error().line == 2);
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2") == 0);
      CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE version = 2") == 1);
    }

    SUBCASE("a leftover of the second build on a table is its own, also seen from the first build") {
      // t_x_key's leftover shows up when the invalid indexes of t are listed
      // for t_id too; it is still the migration's own, so leaving it invalid
      // again must fail the migration.
      auto conn = db.connect();
      REQUIRE(conn.execute(setup));
      REQUIRE_FALSE(conn.execute("CREATE UNIQUE INDEX CONCURRENTLY t_x_key ON t (x)"));
      REQUIRE(validity(db, "t_x_key") == "false");
      MemorySource source{{1, "t", "SELECT 1;"},
                          {2, "two", "-- lockstep:no-transaction\n"
                                     "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);\n"
                                     "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_x_key ON t (id);\n"
                                     "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 't_x_key'::regclass;"}};
      EventLog log;
      auto r = Run{index_settings(db, log, "v1"), source}.run();
      CHECK(log.count("invalid_index_dropped") == 1);
      REQUIRE_FALSE(r);
      CHECK(r.error().message.find("t_x_key") != std::string::npos);
      CHECK(r.error().line == 3);
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2") == 0);
    }

    SUBCASE("someone else's invalid index is left alone") {
      auto conn = db.connect();
      REQUIRE(conn.execute("CREATE TABLE u (x int); INSERT INTO u VALUES (1), (1)"));
      REQUIRE_FALSE(conn.execute("CREATE UNIQUE INDEX CONCURRENTLY u_x ON u (x)"));
      REQUIRE(validity(db, "u_x") == "false");
      // An invalid index on the migration's own table, under another name.
      REQUIRE(conn.execute("CREATE TABLE t (id int, x int); INSERT INTO t VALUES (1, 1), (2, 1)"));
      REQUIRE_FALSE(conn.execute("CREATE UNIQUE INDEX CONCURRENTLY t_other ON t (x)"));
      MemorySource source{{1, "t", "SELECT 1;"},
                          {2, "id", "-- lockstep:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);"}};
      EventLog log;
      auto r = Run{index_settings(db, log, "v1"), source}.run();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      CHECK(log.count("invalid_index_dropped") == 0);
      CHECK(validity(db, "u_x") == "false");
      CHECK(validity(db, "t_other") == "false");
      CHECK(validity(db, "t_id") == "true");
    }
  }
}
