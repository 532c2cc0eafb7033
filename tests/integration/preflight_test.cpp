// Pre-flight (detail/run/preflight.hpp) against a real server: the window's
// files read and linted before any SQL runs, so a bad file stops the deploy
// before any migration, even earlier good ones.
#include <doctest/doctest.h>

#include <string>

#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "plain_runs.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace lockstep::test::plain;

TEST_SUITE("integration") {
  TEST_CASE("pre-flight lint" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"lint"};
    EventLog log;
    SUBCASE("a bad file stops the deploy before any migration runs, even earlier good ones") {
      MemorySource source{{1, "good", "CREATE TABLE good (a int);"},
                          {2, "bad", "CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY t_a ON t (a);"}};
      auto r = MemMigrator{settings_for(db, log), source}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::source_invalid);
      CHECK(r.error().version == 2);
      CHECK(r.error().line == 2);
      CHECK(r.error().message.find("-- lockstep:no-transaction") != std::string::npos);
      CHECK(db.scalar("SELECT to_regclass('public.good')").empty());
      CHECK(db.scalar("SELECT to_regclass('lockstep.migrations')").empty());
      CHECK(log.count("lock_acquired") == 0);
    }
    SUBCASE("an unterminated dollar quote is reported where it opens, nothing applied") {
      MemorySource source{{1, "good", "CREATE TABLE good (a int);"},
                          {2, "fn", "CREATE FUNCTION f() RETURNS int AS $$\n  SELECT 1;\n$ LANGUAGE sql;"}};
      auto r = MemMigrator{settings_for(db, log), source}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().line == 1);
      CHECK(r.error().column == 36);
      CHECK(db.scalar("SELECT to_regclass('public.good')").empty());
    }
  }
}
