// Heartbeat during long work: a CREATE INDEX CONCURRENTLY on a table of
// millions of rows reports advancing blocks, a statement stuck behind
// another session's lock names the blocking pid, and a waiting replica
// reports what the leader's backend is doing.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "events.hpp"
#include "json.hpp"
#include "lockstep/lockstep.hpp"
#include "prod_runs.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

using MemoryMigrator = Migrator<TryLock, NotifyBackoff, Deadline<>, MemorySource>;

Settings fast_progress(const TestDatabase& db, EventLog& log) {
  Settings s;
  s.database_url = db.url();
  s.on_event = log.sink();
  s.progress_interval = 150ms;
  return s;
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("progress events" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"progress"};

    SUBCASE("CREATE INDEX CONCURRENTLY on millions of rows reports advancing blocks") {
      auto conn = db.connect();
      must(conn.query("CREATE TABLE big (id bigint, payload text)"));
      must(conn.query("INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 3000000) g"));
      must(conn.query("ANALYZE big"));
      const MigrationSpec cic{1, "big_payload_idx",
                              "-- lockstep:no-transaction\n"
                              "CREATE INDEX CONCURRENTLY IF NOT EXISTS big_payload_idx ON big (payload);\n"};
      EventLog leader_log, follower_log;
      MemoryMigrator leader{fast_progress(db, leader_log), MemorySource{cic}};
      MemoryMigrator follower{fast_progress(db, follower_log), MemorySource{cic}};
      result<Report> led = make_error(errc::internal_error, "not run");
      std::thread t{[&] { led = leader.run(); }};
      // The follower starts once the leader holds the lock.
      for (int i = 0; i < 400 && leader_log.count("lock_acquired") == 0; ++i) std::this_thread::sleep_for(10ms);
      auto followed = follower.run();
      t.join();
      REQUIRE(led);
      REQUIRE(followed);
      CHECK(led.value().role == Role::leader);
      CHECK(followed.value().role == Role::follower);

      const auto progress = prod::events_named(leader_log, "progress");
      REQUIRE(progress.size() >= 2);
      double last_done = -1, first_done = -1, total = 0;
      int index_events = 0;
      for (const auto& p : progress) {
        CHECK(p["version"].num() == 1);
        CHECK(p["statement"].str() == "1 of 1");
        CHECK(p["running_ms"].num() >= 150);
        CHECK(p.has("backend_pid"));
        if (!p.has("command")) continue;
        CHECK(p["command"].str() == "CREATE INDEX CONCURRENTLY");
        if (!p.has("blocks_total") || p["blocks_total"].num() <= 0) continue;  // phases that count no blocks
        ++index_events;
        total = p["blocks_total"].num();
        if (first_done < 0) first_done = p["blocks_done"].num();
        last_done = p["blocks_done"].num();
      }
      CHECK(index_events >= 2);
      CHECK(total > 10000);  // 3 M rows: tens of thousands of 8 kB blocks
      CHECK(last_done != first_done);  // it moved
      // No query text is ever in an event (a migration may hold a secret).
      for (const auto& e : leader_log.all()) {
        if (e.name == "progress") CHECK(e.json.find("CREATE INDEX CONCURRENTLY IF NOT EXISTS") == std::string::npos);
      }

      const auto seen = prod::events_named(follower_log, "leader_activity");
      REQUIRE_FALSE(seen.empty());
      bool saw_build = false;
      for (const auto& a : seen) {
        if (a["held"].boolean() && a.has("command") && a["command"].str() == "CREATE INDEX CONCURRENTLY") saw_build = true;
      }
      CHECK(saw_build);
    }

    SUBCASE("a statement waiting on another session's lock names the blocking pid") {
      auto conn = db.connect();
      must(conn.query("CREATE TABLE busy (id int)"));
      auto holder = db.connect();
      must(holder.query("BEGIN"));
      must(holder.query("LOCK TABLE busy IN ACCESS SHARE MODE"));
      const std::string holder_pid = std::to_string(holder.backend_pid());
      EventLog log;
      MemoryMigrator m{fast_progress(db, log),
                       MemorySource{{1, "busy_col", "-- lockstep:lock-timeout=10s\nALTER TABLE busy ADD COLUMN x int;\n"}}};
      result<Report> r = make_error(errc::internal_error, "not run");
      std::thread t{[&] { r = m.run(); }};
      for (int i = 0; i < 300 && log.count("progress") == 0; ++i) std::this_thread::sleep_for(10ms);
      std::this_thread::sleep_for(200ms);
      must(holder.query("COMMIT"));
      t.join();
      REQUIRE(r);
      const auto progress = prod::events_named(log, "progress");
      REQUIRE_FALSE(progress.empty());
      CHECK(progress[0]["wait_event"].str() == "Lock:relation");
      CHECK(progress[0]["blocked_by"].str() == "{" + holder_pid + "}");
      CHECK(progress[0]["statement"].str() == "the whole file (one transaction)");
    }

    SUBCASE("quick migrations emit none, and 0 turns them off") {
      EventLog log;
      Settings s = fast_progress(db, log);
      s.progress_interval = 0ms;
      MemoryMigrator m{s, MemorySource{{1, "slow", "SELECT pg_sleep(0.5);\n"}}};
      REQUIRE(m.run());
      CHECK(log.count("progress") == 0);
      EventLog quick_log;
      MemoryMigrator q{fast_progress(db, quick_log), MemorySource{{1, "slow", "SELECT pg_sleep(0.5);\n"},
                                                                  {2, "quick", "CREATE TABLE q (id int);\n"}}};
      REQUIRE(q.run());
      CHECK(quick_log.count("progress") == 0);  // 1 was applied before; 2 takes a millisecond
    }
  }
}
