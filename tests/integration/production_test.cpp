// Production safety against real PostgreSQL and a real PgBouncer in
// transaction pooling mode: boot modes, pooled connections, lock_timeout
// retries, failure records, CREATE INDEX CONCURRENTLY under a waiting herd.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "cli.hpp"
#include "events.hpp"
#include "json.hpp"
#include "lockstep/lockstep.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

template <class Lock = TryLock>
using Mem = Migrator<Lock, ExponentialBackoff, Deadline<>, MemorySource>;

Settings settings_for(const std::string& url, EventLog& log) {
  Settings s;
  s.database_url = url;
  s.deploy_version = "v-prod";
  s.on_event = log.sink();
  return s;
}

constexpr const char* kOwnAdvisoryLocks =
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database())";

long long settled_advisory_locks(const TestDatabase& db) {
  for (int i = 0; i < 100 && db.number(kOwnAdvisoryLocks) != 0; ++i) std::this_thread::sleep_for(50ms);
  return db.number(kOwnAdvisoryLocks);
}

std::vector<Json> events_named(const EventLog& log, const std::string& name) {
  std::vector<Json> out;
  for (const auto& e : log.all()) {
    if (e.name == name) out.push_back(parse_json(e.json));
  }
  return out;
}

std::string through_pgbouncer(const TestDatabase& db) {
  const std::string bouncer = pgbouncer_url();
  REQUIRE_MESSAGE(!bouncer.empty(), "no PgBouncer: run through ctest (fixture pgbouncer)");
  return url_for_database(bouncer, db.name());
}

// Scoped environment variable.
class EnvVar {
 public:
  EnvVar(const char* name, const char* value) : name_{name} { ::setenv(name, value, 1); }
  ~EnvVar() { ::unsetenv(name_); }
  EnvVar(const EnvVar&) = delete;
  EnvVar& operator=(const EnvVar&) = delete;

 private:
  const char* name_;
};

MemorySource two_tables() {
  return MemorySource{{1, "t", "CREATE TABLE t (id int PRIMARY KEY);\nINSERT INTO t VALUES (1), (2);"},
                      {2, "u", "CREATE TABLE u (id int);\nALTER TABLE t ADD COLUMN note text;"}};
}

}  // namespace

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

  TEST_CASE("CREATE INDEX CONCURRENTLY while a herd waits" * doctest::test_suite("pg_sample")) {
    for (const std::string lock : {"try", "blocking"}) {
      CAPTURE(lock);
      TestDatabase db{"cic"};
      TempDir migrations{"cic-migrations"};
      TempDir out{"cic-out"};
      migrations.write("0001_t.sql", "CREATE TABLE t (id int, v text);\n"
                                     "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g;\n");
      // The pause makes sure the followers are waiting (polling, or blocked
      // in pg_advisory_lock) while the concurrent build runs.
      migrations.write("0002_idx.sql", "-- lockstep:no-transaction\nSELECT pg_sleep(1.5);\n"
                                       "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_v ON t (v);\n");
      Herd herd{out.path()};
      herd.spawn(17, {cli_path(), "migrate", "--dir", migrations.path().string(), "--url", db.url(), "--lock", lock,
                      "--timeout", "90s"});
      herd.release();
      herd.wait_all(120s);
      REQUIRE_FALSE(herd.hung());
      int waited = 0;
      for (const auto& c : herd.children()) {
        CAPTURE(c.err());
        CHECK(c.exit_code == 0);
        if (c.out().find("\"event\":\"waiting\"") != std::string::npos) ++waited;
      }
      CHECK(waited >= 8);
      CHECK(db.number("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                      "WHERE c.relname = 't_v' AND i.indisvalid") == 1);
    }
  }
}
