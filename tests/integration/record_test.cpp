// A transactional migration costs two round trips: BEGIN, its timeouts and
// the proof that the lock is still held (begin.hpp); then the file, its
// ledger row and COMMIT (record.hpp). These cases check that a failure
// anywhere is still told apart: before the file, in the file, in the ledger
// row, or at COMMIT; and a COMMIT is durable even on a server that
// acknowledges commits early (synchronous_commit = off).
#include <doctest/doctest.h>

#include <string>

#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "prod_runs.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;

namespace {

using Run = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>;

Settings commit_settings(const TestDatabase& db, EventLog& log) {
  Settings s;
  s.database_url = db.url();
  s.deploy_version = "v-commit";
  s.host = "test-host";
  s.on_event = log.sink();
  return s;
}

MemorySource first() { return MemorySource{{1, "one", "CREATE TABLE one (id int PRIMARY KEY);"}}; }

MemorySource with(std::string second_sql) {
  MemorySource source = first();
  source.add({2, "two", std::move(second_sql)});
  source.add({3, "three", "CREATE TABLE three (id int PRIMARY KEY);"});
  return source;
}

// Nothing after migration 1 is applied: no other table, no other ledger row.
void only_first_applied(const TestDatabase& db) {
  CHECK(db.number("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'one'") == 0);
  CHECK(db.number("SELECT max(version) FROM lockstep.migrations") == 1);
}

// Applies migration 1 alone, so the ledger exists for a test to tamper with.
void apply_first(const TestDatabase& db) {
  EventLog log;
  auto r = Run{commit_settings(db, log), first()}.run();
  REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
}

// Applies migration 1, then changes the ledger so that it refuses something.
void apply_first_then(const TestDatabase& db, const std::string& tamper) {
  apply_first(db);
  auto c = db.connect();
  must(c.query(tamper));
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("Recorder commits a migration with its ledger row" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"commit"};

    SUBCASE("the ledger's duration is the server's time for the file") {
      EventLog log;
      auto r = Run{commit_settings(db, log), with("CREATE TABLE two (id int);\nSELECT pg_sleep(0.3);")}.run();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 3);
      const auto slept = db.number("SELECT duration_ms FROM lockstep.migrations WHERE version = 2");
      CHECK(slept >= 300);
      CHECK(slept < 5000);
      CHECK(db.number("SELECT duration_ms FROM lockstep.migrations WHERE version = 3") < 300);
      CHECK(db.scalar("SELECT deploy_version || ':' || schema_version FROM lockstep.deploys") == "v-commit:3");
    }
    SUBCASE("values with quotes and backslashes are stored as they are") {
      EventLog log;
      auto s = commit_settings(db, log);
      s.deploy_version = R"(v'1\n"\'')";
      s.host = R"(host\'; DROP TABLE one; --)";
      MemorySource source{{1, "one",
                           "-- lockstep:allow=constraint_scan it's empty \\ really\n"
                           "CREATE TABLE one (id int PRIMARY KEY);\nALTER TABLE one ADD CHECK (id > 0);"}};
      auto r = Run{s, source}.run();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      CHECK(db.scalar("SELECT deploy_version FROM lockstep.migrations") == s.deploy_version);
      CHECK(db.scalar("SELECT applied_by FROM lockstep.migrations") == s.host);
      CHECK(db.scalar("SELECT allowed->>'constraint_scan' FROM lockstep.migrations") == R"(it's empty \ really)");
      CHECK(db.scalar("SELECT deploy_version || '|' || booted_by FROM lockstep.deploys") ==
            s.deploy_version + "|" + s.host);
    }
    SUBCASE("a failure in the file is the file's, even after a savepoint of its own") {
      apply_first(db);
      EventLog log;
      auto r = Run{commit_settings(db, log),
                   with("SAVEPOINT lockstep_recorded_0000000000000000;\nCREATE TABLE two (id int);\n"
                        "SELECT 1 / (SELECT count(*) FROM two);")}
                   .run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::migration_failed);
      CHECK(r.error().sqlstate == "22012");
      CHECK(r.error().version == 2);
      CHECK(r.error().message.find("division by zero") != std::string::npos);
      CHECK(r.error().message.find("nothing of it was applied") != std::string::npos);
      only_first_applied(db);
      CHECK(log.count("migration_failed") == 1);
    }
    SUBCASE("a syntax error keeps its line and column in the file") {
      apply_first(db);
      EventLog log;
      auto r = Run{commit_settings(db, log), with("CREATE TABLE two (id int);\n\nCREATE TABLE x (id int,, y int);")}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().sqlstate == "42601");
      CHECK(r.error().line == 3);
      CHECK(r.error().column == 24);
      only_first_applied(db);
    }
    SUBCASE("a migration that gives up the lock stops the next one before any of it runs") {
      EventLog log;
      auto r = Run{commit_settings(db, log), MemorySource{{1, "one", "CREATE TABLE one (id int PRIMARY KEY);\n"
                                                                  "SELECT pg_advisory_unlock_all();"},
                                                       {2, "two", "CREATE TABLE two (id int);"}}}
                   .run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::lock_lost);
      CHECK(r.error().version == 2);
      CHECK(r.error().message.find("nothing of it ran") != std::string::npos);
      CHECK(db.number("SELECT count(*) FROM pg_tables WHERE tablename = 'two'") == 0);
      CHECK(db.number("SELECT max(version) FROM lockstep.migrations") == 1);
    }
    SUBCASE("a ledger that refuses the row fails the migration as the ledger's fault, with nothing applied") {
      apply_first_then(db, "ALTER TABLE lockstep.migrations ADD CONSTRAINT not_two CHECK (version <> 2)");
      EventLog log;
      auto r = Run{commit_settings(db, log), with("CREATE TABLE two (id int);")}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().sqlstate == "23514");
      CHECK(r.error().version == 2);
      CHECK(r.error().message.find("not_two") != std::string::npos);
      CHECK(r.error().message.find("Fix it") == std::string::npos);  // not blamed on the file
      only_first_applied(db);
      CHECK(log.count("migration_applied") == 0);
    }
    SUBCASE("a deploy row the ledger refuses does not fail the last migration") {
      apply_first_then(db, "ALTER TABLE lockstep.deploys ADD CONSTRAINT no_v3 CHECK (schema_version <> 3)");
      EventLog log;
      auto r = Run{commit_settings(db, log), with("CREATE TABLE two (id int);")}.run();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      CHECK(r.value().schema_version == 3);
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 3);
      CHECK(db.number("SELECT count(*) FROM lockstep.deploys WHERE schema_version = 3") == 0);
    }
    SUBCASE("a COMMIT that fails (a deferred constraint) is reported as the commit, with nothing applied") {
      apply_first(db);
      EventLog log;
      auto r = Run{commit_settings(db, log),
                   with("CREATE TABLE parent (id int PRIMARY KEY);\n"
                        "CREATE TABLE two (p int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);\n"
                        "INSERT INTO two VALUES (42);")}
                   .run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::migration_failed);
      CHECK(r.error().sqlstate == "23503");
      CHECK(r.error().version == 2);
      CHECK(r.error().message.find("committing migration 2") != std::string::npos);
      only_first_applied(db);
      // The session is usable afterwards: the next boot, with the file fixed, applies it.
      EventLog again;
      auto fixed = Run{commit_settings(db, again),
                       with("CREATE TABLE parent (id int PRIMARY KEY);\n"
                            "CREATE TABLE two (p int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);")}
                       .run();
      REQUIRE_MESSAGE(fixed, (fixed ? "" : fixed.error().to_string()));
      CHECK(db.number("SELECT max(version) FROM lockstep.migrations") == 3);
    }
  }
}

// A Migrator over a MemorySource as the production-safety suites run it
// (prod_runs.hpp), by its own names, in a namespace of its own.
namespace durable {
using lockstep::test::prod::Mem;
using lockstep::test::prod::settings_for;

TEST_SUITE("integration") {
  TEST_CASE("ledger commits are durable even where the server acknowledges early" * doctest::test_suite("pg_sample")) {
    // The test server runs with synchronous_commit = off, as some tuned
    // production servers do: a crash could lose a commit already reported.
    TestDatabase db{"durable"};
    EventLog log;
    REQUIRE(db.scalar("SHOW synchronous_commit") == "off");
    const MemorySource source{{1, "seen", "CREATE TABLE seen AS SELECT current_setting('synchronous_commit') AS v;"}};
    SUBCASE("session lock") { REQUIRE(Mem<TryLock>{settings_for(db.url(), log), source}.run()); }
    SUBCASE("transaction lock") { REQUIRE(Mem<TransactionLock>{settings_for(db.url(), log), source}.run()); }
    CHECK(db.scalar("SELECT v FROM seen") == "on");
  }
}
}  // namespace durable
