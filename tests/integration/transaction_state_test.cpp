// Nothing is reported applied that is not committed, and a failure blocks
// its deploy only when another attempt would fail the same way (issue #31,
// case 8 and "deadlocks and resource errors"):
// - a no-transaction file that leaves its own transaction open (or aborted)
//   fails, naming the line of the unclosed BEGIN, and writes no ledger row;
// - a deadlock (40P01) is retried like lock_timeout, with the same bound;
// - a resource error (class 53) and a deadlock that outlasts the retries are
//   recorded, but do not stop the next attempt of the same deploy.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "cli.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep::test;
using namespace std::chrono_literals;

TEST_SUITE("integration") {
  TEST_CASE("a no-transaction file that leaves its transaction open is a failure, not applied" *
            doctest::test_suite("pg_sample")) {
    TestDatabase db{"nt_open"};
    TempDir dir{"nt-open"};
    dir.write("0001_base.sql", "CREATE TABLE base (id int);\n");
    const std::string d = dir.path().string();

    SUBCASE("BEGIN never committed") {
      dir.write("0002_open.sql", "-- lockstep:no-transaction\nCREATE TABLE before_begin (id int);\nBEGIN;\n"
                                 "CREATE TABLE nt (id int);\n");
      auto c = lockstep_cli({"migrate", "--dir", d, "--url", db.url()}, "open");
      INFO(c.out() << c.err());
      CHECK(c.exit_code != 0);
      CHECK(c.out().find("\"event\":\"ready\"") == std::string::npos);
      CHECK(c.out().find("\"event\":\"migration_applied\",") != std::string::npos);  // 0001 only
      CHECK(count_substr(c.out(), "\"event\":\"migration_applied\"") == 1);
      CHECK(c.out().find("\"sqlstate\":\"25001\"") != std::string::npos);
      CHECK(c.err().find("0002_open.sql:3") != std::string::npos);
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2") == 0);
      CHECK(db.scalar("SELECT to_regclass('nt') IS NULL") == "t");
      CHECK(db.scalar("SELECT to_regclass('before_begin') IS NOT NULL") == "t");  // before the BEGIN: committed
      CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE version = 2 AND sqlstate = '25001'"
                      " AND position LIKE '%0002_open.sql:3:%' AND partial") == 1);
      // The leader's session was usable after: status reads the same.
      auto s = lockstep_cli({"status", "--dir", d, "--url", db.url()}, "open-status");
      CHECK(s.out().find("schema version: 1") != std::string::npos);
    }
    SUBCASE("START TRANSACTION left open after a closed block") {
      dir.write("0002_open.sql", "-- lockstep:no-transaction\nBEGIN;\nCREATE TABLE a1 (id int);\nCOMMIT;\n"
                                 "START TRANSACTION;\nCREATE TABLE a2 (id int);\n");
      auto c = lockstep_cli({"migrate", "--dir", d, "--url", db.url()}, "start");
      INFO(c.out() << c.err());
      CHECK(c.exit_code != 0);
      CHECK(c.err().find("0002_open.sql:5") != std::string::npos);
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2") == 0);
      CHECK(db.scalar("SELECT to_regclass('a1') IS NOT NULL") == "t");
      CHECK(db.scalar("SELECT to_regclass('a2') IS NULL") == "t");
    }
    SUBCASE("a contract migration (what a heartbeat applies too) goes through the same check") {
      dir.write("0002_contract.sql", "-- lockstep:phase=contract\n-- lockstep:no-transaction\nBEGIN;\n"
                                     "DROP TABLE base;\n");
      auto c = lockstep_cli({"migrate", "--dir", d, "--url", db.url()}, "contract");
      INFO(c.out() << c.err());
      CHECK(c.exit_code != 0);
      CHECK(c.err().find("0002_contract.sql:3") != std::string::npos);
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2") == 0);
      CHECK(db.scalar("SELECT to_regclass('base') IS NOT NULL") == "t");
    }
    SUBCASE("a closed BEGIN ... COMMIT block is applied") {
      dir.write("0002_closed.sql", "-- lockstep:no-transaction\nBEGIN;\nCREATE TABLE nt (id int);\nCOMMIT;\n"
                                   "CREATE INDEX CONCURRENTLY IF NOT EXISTS nt_id ON nt (id);\n");
      auto c = lockstep_cli({"migrate", "--dir", d, "--url", db.url()}, "closed");
      INFO(c.out() << c.err());
      CHECK(c.exit_code == 0);
      CHECK(count_substr(c.out(), "\"event\":\"migration_applied\"") == 2);
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2") == 1);
      CHECK(db.scalar("SELECT to_regclass('nt') IS NOT NULL") == "t");
    }
    SUBCASE("a block rolled back by the file is applied") {
      dir.write("0002_rolled.sql", "-- lockstep:no-transaction\nBEGIN;\nCREATE TABLE gone (id int);\nROLLBACK;\n"
                                   "CREATE TABLE IF NOT EXISTS kept (id int);\n");
      auto c = lockstep_cli({"migrate", "--dir", d, "--url", db.url()}, "rolled");
      INFO(c.out() << c.err());
      CHECK(c.exit_code == 0);
      CHECK(db.scalar("SELECT to_regclass('gone') IS NULL") == "t");
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2") == 1);
    }
  }

  TEST_CASE("a deadlock is retried like lock_timeout" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"deadlock"};
    TempDir dir{"deadlock"};
    db.exec("CREATE TABLE dl_a (id int); CREATE TABLE dl_b (id int)");
    // Takes dl_a, then waits for dl_b, which the test's session holds while
    // it goes for dl_a: a real deadlock, which the server breaks by
    // cancelling the migration (it waited first, so its check runs first).
    dir.write("0001_lock.sql", "LOCK TABLE dl_a IN ACCESS EXCLUSIVE MODE;\nLOCK TABLE dl_b IN ACCESS EXCLUSIVE MODE;\n"
                               "CREATE TABLE dl_done (id int);\n");
    auto other = db.connect();
    must(other.query("BEGIN; LOCK TABLE dl_b IN ACCESS EXCLUSIVE MODE"));
    TempDir out{"deadlock-out"};
    Herd h{out.path()};
    h.spawn(1, {cli_path(), "migrate", "--dir", dir.path().string(), "--url", db.url(), "--lock-timeout", "20s",
                "--timeout", "60s"});
    h.release();
    // Wait until the migration waits for dl_b, then close the cycle.
    bool waiting = false;
    for (int i = 0; i < 300 && !waiting; ++i) {
      waiting = db.number("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'dl_b'::regclass") > 0;
      if (!waiting) std::this_thread::sleep_for(50ms);
    }
    REQUIRE(waiting);
    auto closed = other.query("LOCK TABLE dl_a IN ACCESS EXCLUSIVE MODE");
    CHECK(closed);  // the server cancelled the migration's side, not this one
    must(other.query("COMMIT"));
    h.wait_all(60s);
    const Child& c = h.children().at(0);
    INFO(c.out() << c.err());
    CHECK(c.exit_code == 0);
    CHECK(c.out().find("\"event\":\"migration_retry\"") != std::string::npos);
    CHECK(c.out().find("\"sqlstate\":\"40P01\"") != std::string::npos);
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 1") == 1);
    CHECK(db.number("SELECT count(*) FROM lockstep.failures") == 0);
  }

  TEST_CASE("deadlocks past the retries and resource errors do not block the deploy" *
            doctest::test_suite("pg_sample")) {
    TestDatabase db{"transient"};
    TempDir dir{"transient"};
    db.exec("CREATE TABLE trouble (sqlstate text)");
    // Fails with the SQLSTATE the test puts in `trouble`, while there is one.
    dir.write("0001_flaky.sql",
              "DO $$ DECLARE s text; BEGIN SELECT sqlstate INTO s FROM trouble; IF s IS NOT NULL THEN "
              "RAISE EXCEPTION 'simulated' USING ERRCODE = s; END IF; END $$;\nCREATE TABLE flaky (id int);\n");
    const std::string d = dir.path().string();
    for (const std::string state : {"40P01", "53100", "53200", "53300"}) {
      CAPTURE(state);
      db.exec("DELETE FROM trouble; INSERT INTO trouble VALUES ('" + state + "')");
      db.exec("DROP SCHEMA IF EXISTS lockstep CASCADE");
      auto first = lockstep_cli({"migrate", "--dir", d, "--url", db.url(), "--deploy-version", "v1",
                                 "--lock-retries", "1"},
                                "first-" + state);
      INFO(first.out() << first.err());
      CHECK(first.exit_code != 0);
      const std::string cause = state == "40P01" ? "deadlock" : "resources";
      CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE sqlstate = '" + state +
                      "' AND cause = '" + cause + "'") == 1);
      // The server recovered: the same deploy tries again, and passes.
      db.exec("DELETE FROM trouble");
      auto again = lockstep_cli({"migrate", "--dir", d, "--url", db.url(), "--deploy-version", "v1"},
                                "again-" + state);
      INFO(again.out() << again.err());
      CHECK(again.exit_code == 0);
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 1") == 1);
      db.exec("DROP TABLE IF EXISTS flaky");
    }
  }

  TEST_CASE("an error in the file still blocks its deploy") {
    TestDatabase db{"permanent"};
    TempDir dir{"permanent"};
    dir.write("0001_bad.sql", "SELECT 1/0;\n");
    const std::string d = dir.path().string();
    auto first = lockstep_cli({"migrate", "--dir", d, "--url", db.url(), "--deploy-version", "v1"}, "first");
    CHECK(first.exit_code != 0);
    auto again = lockstep_cli({"migrate", "--dir", d, "--url", db.url(), "--deploy-version", "v1"}, "again");
    CHECK(again.exit_code != 0);
    CHECK(again.err().find("already failed in this deploy") != std::string::npos);
  }
}
