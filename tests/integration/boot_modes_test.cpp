// Boot modes against a real server: MIGRATE_ON_BOOT read strictly, a
// replica that never migrates but waits and passes the gate, and dry-run
// (the plan, and a rehearsal rolled back) that changes nothing.
#include <doctest/doctest.h>

#include <string>

#include "events.hpp"
#include "json.hpp"
#include "lockstep/lockstep.hpp"
#include "prod_runs.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace lockstep::test::prod;
using namespace std::chrono_literals;

TEST_SUITE("integration") {
  TEST_CASE("boot modes") {
    TestDatabase db{"modes"};
    EventLog log;
    SUBCASE("an invalid MIGRATE_ON_BOOT is an error, not a silent default") {
      EnvVar env{"MIGRATE_ON_BOOT", "maybe"};
      auto r = Mem<>{settings_for(db.url(), log), two_tables()}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::invalid_argument);
      CHECK(r.error().message.find("MIGRATE_ON_BOOT='maybe'") != std::string::npos);
      CHECK(db.scalar("SELECT to_regclass('public.t')").empty());
    }
    SUBCASE("false: never migrates, waits for another process, then passes the gate") {
      EnvVar env{"MIGRATE_ON_BOOT", "false"};
      EventLog waiter_log;
      auto waiter_settings = settings_for(db.url(), waiter_log);
      result<Report> waited = make_error(errc::success, "not run");
      std::thread waiter{[&] {
        waited = Mem<>{waiter_settings, two_tables(), Deadline<>{30s}, ExponentialBackoff{20ms, 100ms}}.run();
      }};
      std::this_thread::sleep_for(600ms);
      CHECK(db.scalar("SELECT to_regclass('public.t')").empty());  // the waiter changed nothing
      auto owner = settings_for(db.url(), log);
      owner.mode = BootMode::migrate;  // the migration owner, whatever the environment says
      REQUIRE(Mem<>{owner, two_tables()}.run());
      waiter.join();
      REQUIRE_MESSAGE(waited, (waited ? "" : waited.error().to_string()));
      CHECK(waited.value().role == Role::follower);
      CHECK(waiter_log.count("lock_acquired") == 0);
      CHECK(waiter_log.count("lock_busy") == 0);
      CHECK(waiter_log.count("waiting") >= 3);
      const auto boot = events_named(waiter_log, "boot");
      REQUIRE(boot.size() == 1);
      CHECK(boot[0]["mode"].str() == "wait");
    }
    SUBCASE("false: still bounded by the deadline and the gate") {
      auto s = settings_for(db.url(), log);
      s.mode = BootMode::wait;
      auto r = Mem<>{s, two_tables(), Deadline<>{800ms}, ExponentialBackoff{20ms, 100ms}}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::deadline_exceeded);
    }
    SUBCASE("dry-run: reports the plan and changes nothing") {
      auto s = settings_for(db.url(), log);
      s.mode = BootMode::dry_run;
      MemorySource source = two_tables();
      source.add({3, "idx", "-- lockstep:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_note ON t (note);"});
      auto r = Mem<>{s, source}.run();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      CHECK(r.value().role == Role::dry_run);
      REQUIRE(r.value().plan.size() == 3);
      CHECK(r.value().plan[2].transaction == false);
      CHECK(r.value().plan[0].statements == 2);
      const auto plan = events_named(log, "plan");
      REQUIRE(plan.size() == 3);
      CHECK(plan[2]["transaction"].boolean() == false);
      CHECK(db.scalar("SELECT to_regclass('lockstep.migrations')").empty());
      CHECK(db.scalar("SELECT to_regclass('public.t')").empty());
    }
    SUBCASE("dry-run with rehearsal: durations and locks, then rolled back") {
      REQUIRE(Mem<>{settings_for(db.url(), log), MemorySource{{1, "t", "CREATE TABLE t (id int PRIMARY KEY);"}}}.run());
      auto s = settings_for(db.url(), log);
      s.mode = BootMode::dry_run;
      s.rehearse = true;
      MemorySource source{{1, "t", "CREATE TABLE t (id int PRIMARY KEY);"},
                          {2, "alter", "ALTER TABLE t ADD COLUMN note text;"},
                          {3, "read", "SELECT count(*) FROM t;"}};
      auto r = Mem<>{s, source}.run();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      REQUIRE(r.value().plan.size() == 2);
      CHECK(r.value().plan[0].rehearsed);
      const auto& locks = r.value().plan[0].locks;
      CHECK(std::any_of(locks.begin(), locks.end(), [](const RelationLock& l) {
        return l.relation == "public.t" && l.mode == "AccessExclusiveLock";
      }));
      const auto plan = events_named(log, "plan");
      REQUIRE(plan.size() == 2);
      CHECK(plan[0]["rehearsed"].boolean());
      CHECK(plan[0]["locks"].array().size() >= 1);
      CHECK(db.number("SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = 'note'") == 0);
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 1);
    }
  }
}
