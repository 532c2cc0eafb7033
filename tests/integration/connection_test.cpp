// Every server error keeps its SQLSTATE, whatever libpqxx throws for it:
// libpqxx 6.4 (Debian's) throws insufficient_privilege without one, and its
// class 40 exceptions (deadlock, serialization failure) are not even
// sql_errors. BlockingLock steps aside on 40P01; a failure record and a
// migration_failed event name the SQLSTATE.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <unistd.h>

#include "lockstep/lockstep.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;

TEST_SUITE("integration") {
  TEST_CASE("Connection" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"conn"};
    auto c = db.connect();

    SUBCASE("a refused privilege is 42501, with and without parameters") {
      const std::string role = "ls_conn_" + std::to_string(::getpid());
      must(c.query("DROP ROLE IF EXISTS " + role));
      must(c.query("CREATE ROLE " + role + " LOGIN"));
      must(c.query("CREATE TABLE secret (id int)"));
      const std::string url = url_as(db.url(), role);
      {
        auto r = connect_or_fail(url);
        auto plain = r.query("SELECT * FROM secret");
        REQUIRE_FALSE(plain);
        CHECK(plain.error().sqlstate == "42501");
        CHECK(plain.error().message == "permission denied for table secret");
        auto with_params = r.query("SELECT * FROM secret WHERE id = $1", std::string{"1"});
        REQUIRE_FALSE(with_params);
        CHECK(with_params.error().sqlstate == "42501");
      }
      must(c.query("DROP TABLE secret; DROP ROLE " + role));
    }

    SUBCASE("class 40 errors keep their SQLSTATE and the server's message") {
      for (const std::string state : {"40P01", "40001", "40003", "40002"}) {
        CAPTURE(state);
        auto r = c.query("DO $$BEGIN RAISE EXCEPTION 'rolled back here' USING ERRCODE = '" + state +
                         "', DETAIL = 'why'; END$$");
        REQUIRE_FALSE(r);
        CHECK(r.error().code == errc::database_error);
        CHECK(r.error().sqlstate == state);
        CHECK(r.error().message == "rolled back here");
        CHECK(r.error().detail == "why");
      }
    }

    SUBCASE("a real deadlock is 40P01") {
      must(c.query("CREATE TABLE a (id int); CREATE TABLE b (id int)"));
      auto other = db.connect();
      auto watcher = db.connect();
      must(c.query("SET deadlock_timeout = '50ms'; BEGIN; LOCK TABLE a"));
      must(other.query("SET deadlock_timeout = '10s'; SET lock_timeout = '20s'; BEGIN; LOCK TABLE b"));
      // `other` waits for a; then c waits for b and, its deadlock_timeout
      // being the shorter, is the one the server aborts.
      result<Rows> waited = make_error(errc::database_error, "not run");
      std::thread t{[&] { waited = other.query("LOCK TABLE a"); }};
      const std::string pid = std::to_string(other.backend_pid());
      for (int i = 0; i < 500; ++i) {
        auto w = must(watcher.query("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = " + pid));
        if (w.at(0).at(0).value_or("0") != "0") break;
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
      }
      auto r = c.query("LOCK TABLE b");
      (void)c.query("ROLLBACK");
      t.join();
      REQUIRE_FALSE(r);
      CHECK(r.error().sqlstate == "40P01");
      CHECK(r.error().message == "deadlock detected");
      CHECK(waited);  // and the other one got its lock
      (void)other.query("ROLLBACK");
    }
  }
}
