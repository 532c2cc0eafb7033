// `-- lockstep:check SELECT ...` (sql/directives.hpp, detail/run/prechecks.hpp):
// evaluated by the leader under the lock, right before its migration, where
// the migration runs; false is a recorded failure that stops the deploy once.
// How often a check ran is counted at the server: each check reads a table
// no one else reads, so its sequential scans are its evaluations.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "cli.hpp"
#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

result<Report> run_once(const TestDatabase& db, const TempDir& dir, const std::string& deploy,
                        EventSink sink = null_sink(), BootMode mode = BootMode::migrate, bool rehearse = false,
                        std::chrono::milliseconds deadline = 30s) {
  Settings s;
  s.database_url = db.url();
  s.deploy_version = deploy;
  s.on_event = std::move(sink);
  s.mode = mode;
  s.rehearse = rehearse;
  return Migrator<>{s, DirectorySource{dir.path()}, Deadline<>{deadline}}.run();
}

// Sequential scans of `table` the statistics have seen (every check here
// reads its own table, so these are its evaluations). Statistics reach the
// server's counters a little after a session ends: waits for `at_least`.
long long scans(const TestDatabase& db, const std::string& table, long long at_least = 0) {
  const std::string q = "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = '" + table + "'";
  const auto until = std::chrono::steady_clock::now() + 5s;
  long long n = db.number(q);
  while (n < at_least && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);
    n = db.number(q);
  }
  return n;
}

bool applied(const TestDatabase& db, int version) {
  return db.number("SELECT count(*) FROM lockstep.migrations WHERE version = " + std::to_string(version)) == 1;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("pre-migration check: a true check lets the migration run, in its transaction after the ones before it") {
    TestDatabase db{"checktrue"};
    TempDir dir{"checktrue"};
    dir.write("0001_orders.sql", "CREATE TABLE orders (id int PRIMARY KEY, total numeric);\n"
                                 "INSERT INTO orders VALUES (1, 10), (2, 20);\n");
    // Migration 1 runs in the same deploy: its table and rows are there when
    // the check of 2 runs. And the check's read-only savepoint leaves the
    // migration free to write.
    dir.write("0002_not_null.sql",
              "-- lockstep:check SELECT count(*) = 0 FROM orders WHERE total IS NULL\n"
              "-- lockstep:check SELECT to_regclass('orders') IS NOT NULL -- and a comment after it\n"
              "ALTER TABLE orders ALTER total SET NOT NULL;\nINSERT INTO orders VALUES (3, 30);\n");
    EventLog log;
    auto r = run_once(db, dir, "d1", log.sink());
    REQUIRE(r);
    CHECK(applied(db, 1));
    CHECK(applied(db, 2));
    CHECK(db.number("SELECT count(*) FROM orders") == 3);
    CHECK(db.scalar("SELECT attnotnull::text FROM pg_attribute WHERE attrelid = 'orders'::regclass AND "
                    "attname = 'total'") == "true");
    CHECK(scans(db, "orders", 1) >= 1);
    CHECK(log.count("migration_failed") == 0);
    CHECK(db.number("SELECT count(*) FROM lockstep.failures") == 0);
  }

  TEST_CASE("pre-migration check: a false check fails the migration, records its text, applies nothing, and blocks its deploy once") {
    TestDatabase db{"checkfalse"};
    TempDir dir{"checkfalse"};
    dir.write("0001_orders.sql", "CREATE TABLE orders (id int PRIMARY KEY, total numeric);\n"
                                 "INSERT INTO orders VALUES (1, NULL);\n");
    REQUIRE(run_once(db, dir, "d0"));
    dir.write("0002_not_null.sql",
              "-- lockstep:lock-timeout=3s\n"
              "-- lockstep:check SELECT count(*) = 0 FROM orders WHERE total IS NULL\n"
              "CREATE TABLE audit (id int);\nALTER TABLE orders ALTER total SET NOT NULL;\n");
    EventLog log;
    auto r = run_once(db, dir, "d1", log.sink());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::migration_failed);
    CHECK(r.error().line == 2);
    CHECK(has(r.error().file, "0002_not_null.sql"));
    CHECK(has(r.error().message, "SELECT count(*) = 0 FROM orders WHERE total IS NULL"));
    CHECK(has(r.error().message, "is false"));
    // Nothing of it ran: no table, no row, no ledger row, no applied event.
    CHECK(db.scalar("SELECT coalesce(to_regclass('audit')::text, 'none')") == "none");
    CHECK_FALSE(applied(db, 2));
    CHECK(log.count("migration_applied") == 0);
    CHECK(log.count("migration_failed") == 1);
    // Recorded, with the check's text, its line and the cause.
    CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE version = 2") == 1);
    CHECK(db.scalar("SELECT cause FROM lockstep.failures WHERE version = 2") == "check");
    CHECK(has(db.scalar("SELECT message FROM lockstep.failures WHERE version = 2"),
              "SELECT count(*) = 0 FROM orders WHERE total IS NULL"));
    CHECK(db.scalar("SELECT position_line::text FROM lockstep.failures WHERE version = 2") == "2");
    const auto evaluated = scans(db, "orders", 1);

    SUBCASE("the same deploy does not evaluate it again") {
      auto again = run_once(db, dir, "d1");
      REQUIRE_FALSE(again);
      CHECK(again.error().code == errc::migration_failed);
      CHECK(has(again.error().message, "already failed in this deploy (d1)"));
      CHECK(has(again.error().message, "orders WHERE total IS NULL"));
      CHECK(has(again.error().message, "lockstep resolve 2"));
      std::this_thread::sleep_for(1200ms);  // statistics of the refused run's session, had it scanned
      CHECK(scans(db, "orders") == evaluated);
    }
    SUBCASE("a new deploy version evaluates it again, and runs the migration once it holds") {
      CHECK_FALSE(run_once(db, dir, "d2"));
      CHECK(scans(db, "orders", evaluated + 1) == evaluated + 1);
      db.exec("UPDATE orders SET total = 0");
      CHECK(run_once(db, dir, "d3"));
      CHECK(applied(db, 2));
      CHECK(db.scalar("SELECT coalesce(to_regclass('audit')::text, 'none')") == "audit");
    }
    SUBCASE("NULL is not true") {
      dir.write("0002_not_null.sql", "-- lockstep:check SELECT NULL::boolean\nCREATE TABLE audit (id int);\n");
      auto n = run_once(db, dir, "d1");
      REQUIRE_FALSE(n);
      CHECK(has(n.error().message, "is NULL"));
      CHECK_FALSE(applied(db, 2));
    }
  }

  TEST_CASE("pre-migration check: a herd of lockstep processes of one deploy evaluates a false check once") {
    TestDatabase db{"checkherd"};
    TempDir dir{"checkherd"};
    dir.write("0001_gauge.sql", "CREATE TABLE gauge (ready boolean);\nINSERT INTO gauge VALUES (false);\n");
    REQUIRE(run_once(db, dir, "d0"));
    const auto before = scans(db, "gauge");
    // The check sleeps, so the other replicas arrive while it is evaluated.
    dir.write("0002_gated.sql", "-- lockstep:check SELECT bool_and(ready) FROM gauge, pg_sleep(1)\n"
                                "CREATE TABLE gated (id int);\n");
    TempDir out{"checkherd-out"};
    constexpr int kProcesses = 6;
    Herd herd{out.path()};
    herd.spawn(kProcesses, {cli_path(), "migrate", "--dir", dir.path().string(), "--url", db.url(),
                            "--deploy-version", "rollout-1", "--timeout", "60s"});
    herd.release();
    herd.wait_all(60s);
    REQUIRE_FALSE(herd.hung());
    int started = 0;
    for (const auto& c : herd.children()) {
      CAPTURE(c.err());
      CHECK(c.exit_code == 8);  // migration_failed, for the one that evaluated it and for every other
      const auto text = c.out() + c.err();
      if (has(text, "\"event\":\"migration_started\"")) {
        ++started;
        CHECK(has(text, "bool_and(ready) FROM gauge"));
      } else {
        CHECK(has(text, "its check already failed in this deploy (rollout-1)"));
      }
    }
    CHECK(started == 1);
    CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE version = 2") == 1);
    CHECK_FALSE(applied(db, 2));
    CHECK(db.scalar("SELECT coalesce(to_regclass('gated')::text, 'none')") == "none");
    std::this_thread::sleep_for(1200ms);
    CHECK(scans(db, "gauge", before + 1) == before + 1);
  }

  TEST_CASE("pre-migration check: bad check syntax is refused at pre-flight, naming file and line") {
    TestDatabase db{"checksyntax"};
    TempDir dir{"checksyntax"};
    dir.write("0001_first.sql", "CREATE TABLE first (id int);\n");
    dir.write("0002_bad.sql", "-- a header\n-- lockstep:check UPDATE first SET id = 1\nCREATE TABLE second (id int);\n");
    auto c = lockstep_cli({"migrate", "--dir", dir.path().string(), "--url", db.url(), "--timeout", "30s"},
                          "checksyntax");
    CAPTURE(c.err());
    CHECK(c.exit_code == 4);  // source_invalid
    CHECK(has(c.err(), "0002_bad.sql:2"));
    CHECK(has(c.err(), "lockstep:check takes a read-only SELECT"));
    // Pre-flight refuses before anything runs: the first file is not applied either.
    CHECK(db.scalar("SELECT coalesce(to_regclass('first')::text, 'none')") == "none");
    dir.write("0002_bad.sql", "-- lockstep:check SELECT true; DROP TABLE first\nCREATE TABLE second (id int);\n");
    auto two = lockstep_cli({"migrate", "--dir", dir.path().string(), "--url", db.url(), "--timeout", "30s"},
                            "checksyntax");
    CHECK(two.exit_code == 4);
    CHECK(has(two.err(), "0002_bad.sql:1"));
    CHECK(has(two.err(), "2 statements"));
  }

  TEST_CASE("pre-migration check: a check that errs or is not one boolean fails like the migration's own error") {
    TestDatabase db{"checkshape"};
    TempDir dir{"checkshape"};
    dir.write("0001_t.sql", "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1), (2);\nCREATE SEQUENCE s;\n");
    REQUIRE(run_once(db, dir, "d0"));
    struct Case {
      const char* check;
      const char* said;
      const char* sqlstate;
    };
    for (const Case& k : {Case{"SELECT true FROM t", "returned 2 rows", ""},
                          Case{"SELECT true FROM t WHERE false", "returned no row", ""},
                          Case{"SELECT 1", "a value of type integer, not a boolean", ""},
                          Case{"SELECT true, false", "returned 2 columns", ""},
                          Case{"SELECT count(*) > 0 FROM missing_table", "relation \"missing_table\" does not exist", "42P01"},
                          // Read-only: a check cannot write, not even a sequence.
                          Case{"SELECT nextval('s') > 0", "read-only transaction", "25006"}}) {
      CAPTURE(k.check);
      dir.write("0002_x.sql", std::string{"-- lockstep:check "} + k.check + "\nCREATE TABLE x (id int);\n");
      auto r = run_once(db, dir, std::string{"d-"} + k.check);
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::migration_failed);
      CHECK(r.error().sqlstate == k.sqlstate);
      CHECK(r.error().line == 1);
      CHECK(has(r.error().message, k.check));
      CHECK(has(r.error().message, k.said));
      CHECK(has(r.error().message, "nothing of the migration ran"));
      CHECK_FALSE(applied(db, 2));
      CHECK(db.scalar("SELECT coalesce(to_regclass('x')::text, 'none')") == "none");
      // Recorded like the migration's own error: it blocks the deploy.
      CHECK(db.scalar("SELECT cause || ' ' || sqlstate FROM lockstep.failures ORDER BY id DESC LIMIT 1") ==
            std::string{"check "} + k.sqlstate);
    }
    CHECK(db.number("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM s") == 0);
  }

  TEST_CASE("pre-migration check: a check in a no-transaction file runs on its session before the first statement") {
    TestDatabase db{"checknotx"};
    TempDir dir{"checknotx"};
    dir.write("0001_t.sql", "CREATE TABLE t (id int, flag boolean);\nINSERT INTO t VALUES (1, false);\n");
    REQUIRE(run_once(db, dir, "d0"));
    dir.write("0002_index.sql", "-- lockstep:no-transaction\n"
                                "-- lockstep:check SELECT bool_and(flag) FROM t\n"
                                "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);\n"
                                "INSERT INTO t VALUES (2, true);\n");
    auto r = run_once(db, dir, "d1");
    REQUIRE_FALSE(r);
    CHECK(has(r.error().message, "SELECT bool_and(flag) FROM t"));
    CHECK(has(r.error().message, "is false"));
    CHECK(db.scalar("SELECT coalesce(to_regclass('t_id')::text, 'none')") == "none");
    CHECK(db.number("SELECT count(*) FROM t") == 1);
    CHECK(db.scalar("SELECT cause || ' ' || statements_completed FROM lockstep.failures WHERE version = 2") ==
          "check 0");
    CHECK_FALSE(applied(db, 2));
    db.exec("UPDATE t SET flag = true");
    REQUIRE(run_once(db, dir, "d2"));
    CHECK(applied(db, 2));
    CHECK(db.scalar("SELECT coalesce(to_regclass('t_id')::text, 'none')") == "t_id");
    CHECK(db.number("SELECT count(*) FROM t") == 2);
    // The check's read-only transaction did not stay on the session: the
    // statements after it wrote.
  }

  TEST_CASE("pre-migration check: dry-run shows the checks and the rehearsal evaluates them, redacted") {
    TestDatabase db{"checkplan"};
    TempDir dir{"checkplan"};
    dir.write("0001_t.sql", "CREATE TABLE t (id int);\n");
    // The second check holds a connection string with a password: shown
    // nowhere. The first sees the table migration 1 creates in the rehearsal.
    dir.write("0002_x.sql", "-- lockstep:check SELECT count(*) = 0 FROM t\n"
                            "-- lockstep:check SELECT 'postgresql://app:Sup3rS3cretPw@db/app' = ''\n"
                            "CREATE TABLE x (id int);\n");
    EventLog log;
    auto r = run_once(db, dir, "d1", log.sink(), BootMode::dry_run, true);
    REQUIRE(r);
    REQUIRE(r.value().plan.size() == 2);
    const auto& step = r.value().plan[1];
    REQUIRE(step.checks.size() == 2);
    CHECK(step.checks[0].line == 1);
    CHECK(step.checks[0].sql == "SELECT count(*) = 0 FROM t");
    CHECK(step.checks[0].result == "true");
    CHECK(step.checks[1].line == 2);
    CHECK(step.checks[1].result == "false");
    CHECK_FALSE(has(step.checks[1].sql, "Sup3rS3cretPw"));
    CHECK(has(step.checks[1].sql, "postgresql://app:"));
    std::string plans;
    for (const auto& e : log.all()) {
      CHECK_FALSE(has(e.json, "Sup3rS3cretPw"));
      if (e.name == "plan") plans += e.json + "\n";
    }
    CHECK(has(plans, "\"checks\":[{\"line\":1,\"sql\":\"SELECT count(*) = 0 FROM t\",\"result\":\"true\"}"));
    CHECK(has(plans, "\"result\":\"false\""));
    // Nothing ran.
    CHECK(db.scalar("SELECT coalesce(to_regclass('t')::text, 'none')") == "none");

    // The deploy fails on the false check, and no output holds the password.
    EventLog run_log;
    auto failed = run_once(db, dir, "d1", run_log.sink());
    REQUIRE_FALSE(failed);
    CHECK_FALSE(has(failed.error().to_string(), "Sup3rS3cretPw"));
    for (const auto& e : run_log.all()) CHECK_FALSE(has(e.json, "Sup3rS3cretPw"));
    CHECK_FALSE(has(db.scalar("SELECT string_agg(message, ' ') FROM lockstep.failures"), "Sup3rS3cretPw"));
    CHECK(has(db.scalar("SELECT string_agg(message, ' ') FROM lockstep.failures"), "postgresql://app:"));
  }

  TEST_CASE("pre-migration check: a check that hangs ends with the run's deadline") {
    TestDatabase db{"checkhang"};
    TempDir dir{"checkhang"};
    dir.write("0001_t.sql", "-- lockstep:check SELECT pg_sleep(60) IS NULL\nCREATE TABLE t (id int);\n");
    const auto t0 = std::chrono::steady_clock::now();
    auto r = run_once(db, dir, "d1", null_sink(), BootMode::migrate, false, 3s);
    const auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::deadline_exceeded);
    CHECK(took < 6s);
    CHECK(db.scalar("SELECT coalesce(to_regclass('t')::text, 'none')") == "none");
    // The deadline is no fault of the file: recorded as such, it blocks nothing.
    CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE cause = 'check'") == 0);
    CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE cause <> 'deadline'") == 0);
  }
}
