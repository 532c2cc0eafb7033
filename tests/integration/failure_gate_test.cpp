// One failure cannot wedge a rollout: a migration the server rejected is
// attempted once per deploy, not once per replica. Attempts are counted at
// the server, by a sequence the migration advances before it fails
// (sequences are not transactional, so the rollback keeps the count).
#include <doctest/doctest.h>

#include <chrono>
#include <string>

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

// Fails after 2 s, at a position the server reports (line 3, column 8).
constexpr const char* kFailing = "SELECT nextval('attempts');\nSELECT pg_sleep(2);\nSELECT nope FROM attempts;\n";

long long attempts(const TestDatabase& db) {
  return db.number("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM attempts");
}

result<Report> gated_run(const TestDatabase& db, const TempDir& dir, const std::string& deploy,
                        FailurePolicy policy = FailurePolicy::stop_deploy) {
  Settings s;
  s.database_url = db.url();
  s.deploy_version = deploy;
  s.on_failure = policy;
  s.on_event = null_sink();
  return Migrator<>{s, DirectorySource{dir.path()}, Deadline<>{30s}}.run();
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("failed migration: a herd of the same deploy attempts it once") {
    TestDatabase db{"failherd"};
    TempDir dir{"failherd"};
    dir.write("0001_seq.sql", "CREATE SEQUENCE attempts;\n");
    dir.write("0002_fails.sql", kFailing);
    TempDir out{"failherd-out"};
    constexpr int kProcesses = 8;

    Herd herd{out.path()};
    herd.spawn(kProcesses, {cli_path(), "migrate", "--dir", dir.path().string(), "--url", db.url(),
                            "--deploy-version", "rollout-1", "--timeout", "60s"});
    const auto t0 = std::chrono::steady_clock::now();
    herd.release();
    herd.wait_all(60s);
    const auto wall = std::chrono::steady_clock::now() - t0;
    REQUIRE_FALSE(herd.hung());

    CHECK(attempts(db) == 1);
    CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE version = 2") == 1);
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 1);
    int ran = 0, refused = 0;
    for (const auto& c : herd.children()) {
      CAPTURE(c.err());
      CHECK(c.exit_code == 8);  // migration_failed, for the one that ran it and for every other
      const auto text = c.out();
      if (text.find("\"event\":\"migration_started\"") != std::string::npos) {
        ++ran;
      } else {
        ++refused;
        // The recorded failure, with where, what and who, and the way out.
        CHECK(text.find("already failed in this deploy (rollout-1)") != std::string::npos);
        CHECK(text.find("0002_fails.sql:3:8") != std::string::npos);
        CHECK(text.find("[42703]") != std::string::npos);
        CHECK(text.find("lockstep resolve 2") != std::string::npos);
      }
    }
    CHECK(ran == 1);
    CHECK(refused == kProcesses - 1);
    // One run of the 2 s migration, then everyone out: before, each replica
    // ran it in turn (8 x 2 s).
    CHECK(wall < 4500ms);
  }

  TEST_CASE("failed migration: what allows a new attempt") {
    TestDatabase db{"failagain"};
    TempDir dir{"failagain"};
    dir.write("0001_seq.sql", "CREATE SEQUENCE attempts;\n");
    dir.write("0002_fails.sql", "SELECT nextval('attempts');\nSELECT nope FROM attempts;\n");
    REQUIRE_FALSE(gated_run(db, dir, "d1"));
    REQUIRE(attempts(db) == 1);

    SUBCASE("the same deploy and file: refused without running") {
      auto r = gated_run(db, dir, "d1");
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::migration_failed);
      CHECK(r.error().sqlstate == "42703");
      CHECK(r.error().line == 2);
      CHECK(r.error().column == 8);
      // The position travels as numbers, in columns of their own.
      CHECK(db.scalar("SELECT position_line || ':' || position_column FROM lockstep.failures") == "2:8");
      CHECK(r.error().message.find("already failed") != std::string::npos);
      CHECK(attempts(db) == 1);
    }
    SUBCASE("a new deploy version tries again") {
      CHECK_FALSE(gated_run(db, dir, "d2"));
      CHECK(attempts(db) == 2);
    }
    SUBCASE("a changed file tries again") {
      dir.write("0002_fails.sql", "SELECT nextval('attempts');\nSELECT last_value FROM attempts;\n");
      CHECK(gated_run(db, dir, "d1"));
      CHECK(attempts(db) == 2);
    }
    SUBCASE("lockstep resolve tries again") {
      Settings s;
      s.database_url = db.url();
      s.on_event = null_sink();
      auto n = Migrator<>{s, DirectorySource{dir.path()}}.resolve(2);
      REQUIRE(n);
      CHECK(n.value() == 1);
      CHECK_FALSE(gated_run(db, dir, "d1"));
      CHECK(attempts(db) == 2);
    }
    SUBCASE("FailurePolicy::retry tries again") {
      CHECK_FALSE(gated_run(db, dir, "d1", FailurePolicy::retry));
      CHECK(attempts(db) == 2);
    }
  }

  TEST_CASE("failed migration: lock_timeout is retryable, not deploy-blocking" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"failretry"};
    TempDir dir{"failretry"};
    dir.write("0001_t.sql", "CREATE TABLE t (id int);\n");
    Settings s;
    s.database_url = db.url();
    s.deploy_version = "d1";
    s.on_event = null_sink();
    REQUIRE(Migrator<>{s, DirectorySource{dir.path()}}.run());
    dir.write("0002_alter.sql", "ALTER TABLE t ADD COLUMN x int;\n");
    auto blocker = db.connect();
    must(blocker.query("BEGIN; LOCK TABLE t IN ACCESS SHARE MODE"));
    s.lock_timeout = 50ms;
    s.lock_retries = 1;
    auto r = Migrator<>{s, DirectorySource{dir.path()}, Deadline<>{20s}}.run();
    REQUIRE_FALSE(r);
    CHECK(r.error().sqlstate == "55P03");
    CHECK(db.scalar("SELECT cause FROM lockstep.failures WHERE version = 2") == "lock_timeout");
    must(blocker.query("ROLLBACK"));
    // The same deploy may try again once the other session is gone.
    CHECK(Migrator<>{s, DirectorySource{dir.path()}}.run());
  }

  TEST_CASE("TableLedger: ledgers sharing a schema keep their own failures and deploys") {
    TestDatabase db{"twoledgers"};
    TempDir a{"ledger-a"}, b{"ledger-b"};
    a.write("0001_a.sql", "SELECT 1/0;\n");
    b.write("0001_b.sql", "CREATE TABLE b (id int);\n");
    Settings s;
    s.database_url = db.url();
    s.deploy_version = "d1";
    s.on_event = null_sink();
    CHECK_FALSE(Migrator<>{s, DirectorySource{a.path()}, TableLedger{"lockstep", "svc_a"}}.run());
    auto rb = Migrator<>{s, DirectorySource{b.path()}, TableLedger{"lockstep", "svc_b"}}.run();
    CHECK_MESSAGE(rb, (rb ? "" : rb.error().to_string()));
    CHECK(db.number("SELECT count(*) FROM lockstep.svc_a_failures") == 1);
    CHECK(db.number("SELECT count(*) FROM lockstep.svc_b_failures") == 0);
    CHECK(db.number("SELECT count(*) FROM lockstep.svc_b_deploys") == 1);
    CHECK(db.scalar("SELECT to_regclass('lockstep.failures')").empty());
  }
}
