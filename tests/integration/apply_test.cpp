// Applying one migration (detail/run/apply.hpp) against a real server: its
// retries after lock_timeout, and the failure log a failed migration leaves
// (partial for a no-transaction file stopped part-way, and what the next
// boot does about it).
#include <doctest/doctest.h>

#include <string>
#include <thread>

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
  TEST_CASE("lock_timeout with retries" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"locktimeout"};
    EventLog log;
    REQUIRE(Mem<>{settings_for(db.url(), log), MemorySource{{1, "t", "CREATE TABLE t (id int); INSERT INTO t VALUES (1);"}}}
                .run());
    // A long transaction holds a lock that conflicts with the DDL.
    auto holder = db.connect();
    must(holder.query("BEGIN; SELECT * FROM t"));
    std::atomic<bool> stop{false};
    std::atomic<long long> worst_ms{0};
    std::atomic<int> app_queries{0};
    std::thread app{[&] {
      auto conn = db.connect();
      while (!stop) {
        const auto t0 = std::chrono::steady_clock::now();
        must(conn.query("SELECT count(*) FROM t"));
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        worst_ms = std::max<long long>(worst_ms, ms);
        ++app_queries;
        std::this_thread::sleep_for(20ms);
      }
    }};
    std::thread release_later{[&] {
      std::this_thread::sleep_for(2500ms);
      (void)holder.query("COMMIT");
    }};
    EventLog retry_log;
    auto s = settings_for(db.url(), retry_log);
    s.lock_timeout = 200ms;
    s.lock_retries = 50;
    auto r = Mem<>{s,
                   MemorySource{{1, "t", "CREATE TABLE t (id int); INSERT INTO t VALUES (1);"},
                                {2, "alter", "ALTER TABLE t ADD COLUMN note text;"}},
                   ExponentialBackoff{50ms, 300ms}}
                 .run();
    release_later.join();
    stop = true;
    app.join();
    REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
    const auto retries = events_named(retry_log, "migration_retry");
    CHECK(retries.size() >= 2);
    for (const auto& e : retries) CHECK(e["sqlstate"].str() == "55P03");
    const auto applied = events_named(retry_log, "migration_applied");
    REQUIRE(applied.size() == 1);
    CHECK(applied[0]["retries"].num() == static_cast<double>(retries.size()));
    // Waiting DDL queues every later query on the table behind it; with a
    // 200 ms lock_timeout the application waits at most about that long,
    // instead of the holder's 2.5 s.
    MESSAGE("worst application query latency during " << retries.size() << " retries: " << worst_ms.load()
                                                         << " ms over " << app_queries.load() << " queries");
    CHECK(app_queries.load() > 20);
    CHECK(worst_ms.load() < 1000);
  }

  TEST_CASE("failure records") {
    TestDatabase db{"failures"};
    EventLog log;
    SUBCASE("a failed transactional migration is logged in its own transaction, then retried next boot") {
      MemorySource bad{{1, "ok", "CREATE TABLE ok (id int);"}, {2, "bad", "CREATE TABLE b (id int);\nSELECT nope;"}};
      auto r = Mem<>{settings_for(db.url(), log), bad}.run();
      REQUIRE_FALSE(r);
      CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE version = 2 AND sqlstate = '42703' "
                      "AND position = 'memory:2_bad:2:8' AND deploy_version = 'v-prod' AND NOT partial") == 1);
      CHECK(db.scalar("SELECT to_regclass('public.b')").empty());
      MemorySource fixed{{1, "ok", "CREATE TABLE ok (id int);"}, {2, "bad", "CREATE TABLE b (id int);"}};
      REQUIRE(Mem<>{settings_for(db.url(), log), fixed}.run());
    }
    SUBCASE("a no-transaction migration that stops part-way is recorded as partial; refuse waits for resolve") {
      MemorySource partial{{1, "p", "-- lockstep:no-transaction\nCREATE TABLE IF NOT EXISTS a (id int);\n"
                                    "CREATE TABLE IF NOT EXISTS b (id int);\nSELECT nope;\n"}};
      auto r = Mem<>{settings_for(db.url(), log), partial}.run();
      REQUIRE_FALSE(r);
      CHECK(db.scalar("SELECT partial || ':' || statements_completed || '/' || statements_total FROM lockstep.failures") ==
            "true:2/3");
      CHECK_FALSE(db.scalar("SELECT to_regclass('public.b')").empty());  // the completed statements stay

      MemorySource fixed{{1, "p", "-- lockstep:no-transaction\nCREATE TABLE IF NOT EXISTS a (id int);\n"
                                  "CREATE TABLE IF NOT EXISTS b (id int);\n"}};
      auto refuse = settings_for(db.url(), log);
      refuse.on_partial = PartialPolicy::refuse;
      auto refused = Mem<>{refuse, fixed}.run();
      REQUIRE_FALSE(refused);
      CHECK(refused.error().code == errc::migration_failed);
      CHECK(refused.error().message.find("lockstep resolve 1") != std::string::npos);

      auto status = Mem<>{settings_for(db.url(), log), fixed}.status();
      REQUIRE(status);
      REQUIRE(status.value().failures.size() == 1);
      CHECK(status.value().failures[0].partial);

      auto resolved = Mem<>{settings_for(db.url(), log), fixed}.resolve(1);
      REQUIRE(resolved);
      CHECK(resolved.value() == 1);
      REQUIRE(Mem<>{refuse, fixed}.run());  // re-runs from the top: idempotent statements
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 1);
    }
    SUBCASE("by default the next boot simply re-runs a partial migration") {
      MemorySource partial{{1, "p", "-- lockstep:no-transaction\nCREATE TABLE IF NOT EXISTS a (id int);\nSELECT nope;\n"}};
      REQUIRE_FALSE(Mem<>{settings_for(db.url(), log), partial}.run());
      MemorySource fixed{{1, "p", "-- lockstep:no-transaction\nCREATE TABLE IF NOT EXISTS a (id int);\n"}};
      REQUIRE(Mem<>{settings_for(db.url(), log), fixed}.run());
    }
  }
}
