// Executing a migration (detail/run/execute.hpp) against a real server: a
// no-transaction file statement by statement, the per-migration timeouts its
// directives set, and the server's error positions mapped back into the file.
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
  TEST_CASE("no-transaction migration" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"notx"};
    EventLog log;
    SUBCASE("CREATE INDEX CONCURRENTLY runs, each statement on its own") {
      MemorySource source{
          {1, "table", "CREATE TABLE t (a int, b int);\nINSERT INTO t SELECT g, g FROM generate_series(1, 1000) g;"},
          {2, "indexes",
           "-- lockstep:no-transaction\n"
           "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a ON t (a);\n"
           "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_b ON t (b);\n"}};
      auto r = MemMigrator{settings_for(db, log), source}.run();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      CHECK(db.number("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                      "WHERE c.relname IN ('t_a', 't_b') AND i.indisvalid") == 2);
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 2);
      const auto events = log.all();
      bool saw = false;
      for (const auto& e : events) {
        if (e.name == "migration_started" && e.json.find("\"version\":2") != std::string::npos) {
          CHECK(e.json.find("\"transaction\":false") != std::string::npos);
          CHECK(e.json.find("\"statements\":2") != std::string::npos);
          saw = true;
        }
      }
      CHECK(saw);
      CHECK(log.count("lint") == 0);  // IF NOT EXISTS is enough: the leader handles invalid leftovers
      CHECK(log.count("invalid_index_dropped") == 0);  // there were none
    }
    SUBCASE("a failure part-way keeps earlier statements, records nothing, and says where") {
      MemorySource source{{1, "partial",
                           "-- lockstep:no-transaction\nCREATE TABLE IF NOT EXISTS kept (a int);\n\n"
                           "  SELECT * FROM missing_table;\nCREATE TABLE IF NOT EXISTS never (a int);"}};
      auto r = MemMigrator{settings_for(db, log), source}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::migration_failed);
      CHECK(r.error().line == 4);
      CHECK(r.error().column == 17);  // "missing_table" in the file, not in the statement
      CHECK(r.error().message.find("statement 2 of 3") != std::string::npos);
      CHECK_FALSE(db.scalar("SELECT to_regclass('public.kept')").empty());
      CHECK(db.scalar("SELECT to_regclass('public.never')").empty());
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 0);
    }
  }

  TEST_CASE("per-migration timeouts" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"timeouts"};
    EventLog log;
    MemorySource source{
        {1, "tx", "-- lockstep:lock-timeout=1500ms\n-- lockstep:statement-timeout=1min\n"
                  "CREATE TABLE seen_tx AS SELECT current_setting('lock_timeout') AS lt, "
                  "current_setting('statement_timeout') AS st;"},
        {2, "after", "CREATE TABLE seen_after AS SELECT current_setting('lock_timeout') AS lt;"},
        {3, "notx", "-- lockstep:no-transaction\n-- lockstep:lock-timeout=2s\n"
                    "CREATE TABLE IF NOT EXISTS seen_notx AS SELECT current_setting('lock_timeout') AS lt;"},
        {4, "after_notx", "CREATE TABLE seen_after_notx AS SELECT current_setting('lock_timeout') AS lt;"}};
    auto settings = settings_for(db, log);
    settings.lock_timeout = std::chrono::milliseconds{750};
    auto r = MemMigrator{settings, source}.run();
    REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
    CHECK(db.scalar("SELECT lt || ' ' || st FROM seen_tx") == "1500ms 1min");  // directives win
    CHECK(db.scalar("SELECT lt FROM seen_after") == "750ms");  // the setting, not the previous directive
    CHECK(db.scalar("SELECT lt FROM seen_notx") == "2s");
    CHECK(db.scalar("SELECT lt FROM seen_after_notx") == "750ms");
  }

  TEST_CASE("error positions" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"positions"};
    EventLog log;
    SUBCASE("a long line's column is exact although libpq truncates the line it quotes") {
      const std::string pad(150, ' ');
      MemorySource source{{1, "long", "CREATE TABLE t (a int);\nSELECT a," + pad + "nope FROM t;"}};
      auto r = MemMigrator{settings_for(db, log), source}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().sqlstate == "42703");
      CHECK(r.error().line == 2);
      CHECK(r.error().column == 10 + 150);
    }
    SUBCASE("detail and hint come through") {
      MemorySource source{{1, "dup", "CREATE TABLE u (a int UNIQUE);\nINSERT INTO u VALUES (1), (1);"}};
      auto r = MemMigrator{settings_for(db, log), source}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().sqlstate == "23505");
      CHECK(r.error().detail.find("already exists") != std::string::npos);
      CHECK(r.error().to_string().find("\n  detail: ") != std::string::npos);
    }
  }
}
