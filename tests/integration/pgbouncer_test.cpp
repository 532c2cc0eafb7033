// Behind a real PgBouncer in transaction pooling mode: session-lock policies
// refuse the pooled connection before taking any lock, TransactionLock
// applies every migration once for a herd, and the program says why.
#include <doctest/doctest.h>

#include <string>
#include <thread>

#include "cli.hpp"
#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "processes.hpp"
#include "prod_runs.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace lockstep::test::prod;
using namespace std::chrono_literals;

TEST_SUITE("integration") {
  TEST_CASE("PgBouncer transaction pooling" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"bouncer"};
    EventLog log;
    SUBCASE("session-lock policies refuse the pooled connection before taking any lock") {
      auto r = Mem<TryLock>{settings_for(through_pgbouncer(db), log), two_tables()}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::lock_lost);
      CHECK(r.error().message.find("transaction pooling") != std::string::npos);
      CHECK(r.error().message.find("DATABASE_URL_MIGRATION") != std::string::npos);
      auto b = Mem<BlockingLock>{settings_for(through_pgbouncer(db), log), two_tables()}.run();
      REQUIRE_FALSE(b);
      CHECK(b.error().code == errc::lock_lost);
      CHECK(settled_advisory_locks(db) == 0);  // nothing stranded on a pooled server connection
      CHECK(db.scalar("SELECT to_regclass('public.t')").empty());
    }
    SUBCASE("TransactionLock refuses a no-transaction migration, before anything runs") {
      MemorySource source = two_tables();
      source.add({3, "idx", "-- lockstep:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);"});
      auto r = Mem<TransactionLock>{settings_for(through_pgbouncer(db), log), source}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::invalid_argument);
      CHECK(r.error().version == 3);
      CHECK(r.error().message.find("no-transaction") != std::string::npos);
      CHECK(db.scalar("SELECT to_regclass('public.t')").empty());
    }
    SUBCASE("a herd of 16 with TransactionLock through PgBouncer applies every migration once") {
      TempDir migrations{"bouncer-migrations"};
      TempDir out{"bouncer-out"};
      write_table_migrations(migrations, 30);
      Herd herd{out.path()};
      herd.spawn(16, {cli_path(), "migrate", "--dir", migrations.path().string(), "--url", through_pgbouncer(db),
                      "--lock", "transaction", "--timeout", "120s"});
      herd.release();
      herd.wait_all(150s);
      REQUIRE_FALSE(herd.hung());
      for (const auto& c : herd.children()) {
        CAPTURE(c.err());
        CHECK(c.exit_code == 0);
      }
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 30);
      CHECK(db.number("SELECT count(DISTINCT version) FROM lockstep.migrations") == 30);
      CHECK(db.number("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename ~ '^t[0-9]+$'") == 30);
      CHECK(settled_advisory_locks(db) == 0);
    }
    SUBCASE("the lockstep program explains itself with exit code 13") {
      TempDir migrations{"bouncer-cli"};
      write_table_migrations(migrations, 2);
      Herd h{migrations.path() / "out"};
      h.spawn(1, {cli_path(), "migrate", "--dir", migrations.path().string(), "--url", through_pgbouncer(db)});
      h.release();
      h.wait_all(60s);
      CHECK(h.children()[0].exit_code == 13);
      CHECK(h.children()[0].err().find("lock_lost") != std::string::npos);
    }
  }
}
