// The ledger's head is never trusted beyond what the ledger confirms
// (issue #31, case 4): a head whose version, count or digest contradicts the
// ledger sends every path (fast path, follower poll) to the ledger itself,
// for the version the gate checks and records as well as for the digest.
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
  TEST_CASE("a head that contradicts the ledger is not trusted on the fast path" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"trust_fast"};
    TempDir dir{"trust-fast"};
    write_table_migrations(dir, 2);
    const std::string d = dir.path().string();
    REQUIRE(lockstep_cli({"migrate", "--dir", d, "--url", db.url(), "--deploy-version", "v1"}, "first").exit_code == 0);

    SUBCASE("a version beyond the ledger, with a pending migration") {
      write_table_migrations(dir, 1, 3);
      db.exec("UPDATE lockstep.head SET version = 99");
      auto c = lockstep_cli({"migrate", "--dir", d, "--url", db.url(), "--deploy-version", "v2"}, "ahead");
      INFO(c.out() << c.err());
      CHECK(c.exit_code == 0);
      CHECK(c.out().find("\"event\":\"migration_applied\"") != std::string::npos);
      CHECK(c.out().find("\"schema_version\":3") != std::string::npos);
      CHECK(c.out().find("\"schema_version\":99") == std::string::npos);
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 3") == 1);
      CHECK(db.scalar("SELECT to_regclass('t3') IS NOT NULL") == "t");
      CHECK(db.number("SELECT count(*) FROM lockstep.deploys WHERE schema_version = 99") == 0);
    }
    SUBCASE("a version beyond the ledger whose digest matches the whole source") {
      db.exec("UPDATE lockstep.head SET version = 99");
      auto c = lockstep_cli({"migrate", "--dir", d, "--url", db.url(), "--deploy-version", "v2"}, "digest-ok");
      INFO(c.out() << c.err());
      CHECK(c.exit_code == 0);
      CHECK(c.out().find("\"schema_version\":2") != std::string::npos);
      CHECK(c.out().find("\"schema_ahead\":true") == std::string::npos);
      CHECK(db.number("SELECT count(*) FROM lockstep.deploys WHERE schema_version = 99") == 0);
      CHECK(db.number("SELECT count(*) FROM lockstep.deploys WHERE deploy_version = 'v2' AND schema_version = 2") == 1);
    }
    SUBCASE("a count that is not the ledger's") {
      write_table_migrations(dir, 1, 3);
      db.exec("UPDATE lockstep.head SET version = 3, count = 3");
      auto c = lockstep_cli({"migrate", "--dir", d, "--url", db.url()}, "count");
      INFO(c.out() << c.err());
      CHECK(c.exit_code == 0);
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 3") == 1);
    }
    SUBCASE("an empty head over a ledger that has rows") {
      write_table_migrations(dir, 1, 3);
      db.exec("UPDATE lockstep.head SET version = 99, count = 0, digest = ''");
      auto c = lockstep_cli({"migrate", "--dir", d, "--url", db.url()}, "empty");
      INFO(c.out() << c.err());
      CHECK(c.exit_code == 0);
      CHECK(c.out().find("\"schema_version\":99") == std::string::npos);
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 3") == 1);
    }
  }

  TEST_CASE("a head that contradicts the ledger is not trusted by a waiting follower") {
    TestDatabase db{"trust_follow"};
    TempDir dir{"trust-follow"};
    write_table_migrations(dir, 2);
    const std::string d = dir.path().string();
    REQUIRE(lockstep_cli({"migrate", "--dir", d, "--url", db.url()}, "first").exit_code == 0);
    write_table_migrations(dir, 1, 3);

    // A wait-only replica polls the ledger for version 3; meanwhile the head
    // is made to claim 99 while the ledger stays at 2.
    TempDir out{"trust-follow-out"};
    Herd h{out.path()};
    h.spawn(1, {cli_path(), "migrate", "--dir", d, "--url", db.url(), "--mode", "false", "--wait", "poll",
                "--timeout", "5s"});
    h.release();
    REQUIRE(h.wait_for_output("\"event\":\"waiting\"", 20s) == 0);
    db.exec("UPDATE lockstep.head SET version = 99");
    h.wait_all(30s);
    const Child& c = h.children().at(0);
    INFO(c.out() << c.err());
    CHECK(c.exit_code != 0);
    CHECK(c.out().find("\"event\":\"ready\"") == std::string::npos);
    CHECK(db.number("SELECT count(*) FROM lockstep.deploys WHERE schema_version = 99") == 0);
  }
}
