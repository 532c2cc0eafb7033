// Migrator against a real PostgreSQL: each test case on its own database.
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "events.hpp"
#include "lockstep/detail/base/sha256.hpp"
#include "lockstep/lockstep.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

Settings migrator_settings(const TestDatabase& db, EventLog& log) {
  Settings s;
  s.database_url = db.url();
  s.deploy_version = "v-test";
  s.host = "test-host";
  s.on_event = log.sink();
  return s;
}

MemorySource three_tables() {
  return MemorySource{{1, "one", "CREATE TABLE one (id int PRIMARY KEY);"},
                      {2, "two", "CREATE TABLE two (id int PRIMARY KEY);\nINSERT INTO two VALUES (2);"},
                      {3, "three", "CREATE TABLE three (id int PRIMARY KEY);"}};
}

long long advisory_locks(const TestDatabase& db) {
  return db.number("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                   "(SELECT oid FROM pg_database WHERE datname = current_database())");
}

// Session advisory locks vanish when the server notices the session ended;
// give it a moment instead of racing it.
long long advisory_locks_settled(const TestDatabase& db) {
  for (int i = 0; i < 100 && advisory_locks(db) != 0; ++i) std::this_thread::sleep_for(50ms);
  return advisory_locks(db);
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("Migrator applies pending migrations" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"apply"};
    EventLog log;
    auto report = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{migrator_settings(db, log),
                                                                                 three_tables()}
                      .run();
    REQUIRE_MESSAGE(report, (report ? "" : report.error().to_string()));
    CHECK(report.value().role == Role::leader);
    CHECK(report.value().schema_version == 3);
    CHECK(report.value().applied.size() == 3);
    CHECK(log.count("lock_acquired") == 1);
    CHECK(log.count("lock_released") == 1);
    CHECK(log.count("migration_applied") == 3);

    SUBCASE("the ledger records version, name, checksum, deploy version and host") {
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 3);
      CHECK(db.scalar("SELECT name FROM lockstep.migrations WHERE version = 2") == "two");
      CHECK(db.scalar("SELECT checksum FROM lockstep.migrations WHERE version = 2") ==
            detail::sha256_hex("CREATE TABLE two (id int PRIMARY KEY);\nINSERT INTO two VALUES (2);"));
      CHECK(db.scalar("SELECT string_agg(DISTINCT deploy_version || '@' || applied_by, ',') FROM "
                      "lockstep.migrations") == "v-test@test-host");
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE duration_ms >= 0 AND applied_at <= now()") == 3);
      CHECK(db.scalar("SELECT deploy_version || ':' || schema_version FROM lockstep.deploys") == "v-test:3");
      CHECK(db.number("SELECT id FROM two") == 2);
      CHECK(advisory_locks(db) == 0);
    }
    SUBCASE("the next boot takes the fast path: no lock, nothing applied") {
      EventLog again;
      auto second = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{migrator_settings(db, again),
                                                                                   three_tables()}
                        .run();
      REQUIRE(second);
      CHECK(second.value().role == Role::current);
      CHECK(second.value().applied.empty());
      CHECK(again.count("lock_acquired") == 0);
      CHECK(again.count("ready") == 1);
    }
    SUBCASE("the fast path writes the deploy row only for a deploy that has not booted against this version") {
      // Any write to the deploys table now fails, and a boot that tries one
      // says so in a warning: the fast path's "already booted" answer is
      // what keeps an every-boot write away.
      REQUIRE(db.connect().execute(
          "CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS "
          "$$BEGIN RAISE EXCEPTION 'deploys are read-only here'; END$$;"
          "CREATE TRIGGER refuse BEFORE INSERT ON lockstep.deploys FOR EACH ROW EXECUTE FUNCTION public.refuse()"));
      // The same deploy once more (and with another deploy's rows beside it).
      REQUIRE(db.connect().execute("ALTER TABLE lockstep.deploys DISABLE TRIGGER refuse;"
                                   "INSERT INTO lockstep.deploys (deploy_version, schema_version, booted_by) "
                                   "VALUES ('v-test', 2, 'h'), ('v-other', 3, 'h');"
                                   "ALTER TABLE lockstep.deploys ENABLE TRIGGER refuse"));
      EventLog same;
      auto booted = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{migrator_settings(db, same),
                                                                                   three_tables()}
                        .run();
      REQUIRE(booted);
      CHECK(same.count("warning") == 0);
      // A deploy that booted only against an older version must record this one.
      EventLog older;
      auto settings = migrator_settings(db, older);
      settings.deploy_version = "v-older";
      REQUIRE(db.connect().execute("ALTER TABLE lockstep.deploys DISABLE TRIGGER refuse;"
                                   "INSERT INTO lockstep.deploys (deploy_version, schema_version, booted_by) "
                                   "VALUES ('v-older', 2, 'h');"
                                   "ALTER TABLE lockstep.deploys ENABLE TRIGGER refuse"));
      auto recorded = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{settings, three_tables()}.run();
      REQUIRE(recorded);
      CHECK(recorded.value().role == Role::current);
      REQUIRE(older.count("warning") == 1);
      for (const auto& e : older.all()) {
        if (e.name == "warning") CHECK(e.json.find("deploys are read-only here") != std::string::npos);
      }
    }
    SUBCASE("a later binary applies only what is new and records its deploy version") {
      auto source = three_tables();
      source.add({4, "four", "ALTER TABLE one ADD COLUMN name text;"});
      auto settings = migrator_settings(db, log);
      settings.deploy_version = "v-next";
      auto next = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{settings, source}.run();
      REQUIRE(next);
      REQUIRE(next.value().applied.size() == 1);
      CHECK(next.value().applied[0].version == 4);
      CHECK(db.scalar("SELECT deploy_version FROM lockstep.migrations WHERE version = 4") == "v-next");
      CHECK(db.number("SELECT count(*) FROM lockstep.deploys") == 2);
    }
  }

  TEST_CASE("Migrator empty and comment-only migrations") {
    TestDatabase db{"empty"};
    EventLog log;
    MemorySource source{{1, "empty", ""}, {2, "comments", "-- nothing here\n/* still nothing */\n"},
                        {3, "real", "CREATE TABLE real_one (id int);"}};
    auto r = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{migrator_settings(db, log), source}.run();
    REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 3);
    CHECK(db.number("SELECT count(*) FROM real_one") == 0);
  }

  TEST_CASE("Migrator failing migration") {
    TestDatabase db{"fail"};
    EventLog log;
    MemorySource source{{1, "ok", "CREATE TABLE ok (id int);"},
                        {2, "bad", "CREATE TABLE half (id int);\nINSERT INTO half VALUES (1);\nSELECT nme FROM ok;"},
                        {3, "never", "CREATE TABLE never (id int);"}};
    auto r = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{migrator_settings(db, log), source}.run();
    REQUIRE_FALSE(r);
    const Error& e = r.error();
    CHECK(e.code == errc::migration_failed);
    CHECK(e.version == 2);
    CHECK(e.file == "memory:2_bad");
    CHECK(e.sqlstate == "42703");
    CHECK(e.line == 3);
    CHECK(e.column == 8);
    CHECK(e.message.find("rolled back") != std::string::npos);
    CHECK(e.to_string().rfind("memory:2_bad:3:8: migration_failed [42703]", 0) == 0);

    SUBCASE("nothing of it is applied and nothing after it runs") {
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 1);
      CHECK(db.scalar("SELECT to_regclass('public.half')").empty());
      CHECK(db.scalar("SELECT to_regclass('public.never')").empty());
    }
    SUBCASE("the lock is released and the failure is reported as an event") {
      CHECK(advisory_locks(db) == 0);
      CHECK(log.count("migration_failed") == 1);
      CHECK(log.count("error") == 1);
      CHECK(log.count("lock_released") == 1);
    }
    SUBCASE("the next boot retries, and succeeds once the migration is fixed") {
      MemorySource fixed{{1, "ok", "CREATE TABLE ok (id int);"},
                         {2, "bad", "CREATE TABLE half (id int);"},
                         {3, "never", "CREATE TABLE never (id int);"}};
      auto again = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{migrator_settings(db, log), fixed}.run();
      REQUIRE(again);
      CHECK(again.value().applied.size() == 2);
    }
  }

  TEST_CASE("Migrator gate") {
    TestDatabase db{"gate"};
    EventLog log;
    SUBCASE("schema behind: expecting a version the source does not have fails") {
      auto settings = migrator_settings(db, log);
      settings.expected_version = 9;
      auto r = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{settings, three_tables()}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::schema_behind);
      CHECK(r.error().message.find("expects 9") != std::string::npos);
      CHECK(db.number("SELECT max(version) FROM lockstep.migrations") == 3);
    }
    SUBCASE("schema ahead: an older binary (rolled back) starts and reports it") {
      auto source = three_tables();
      source.add({4, "four", "CREATE TABLE four (id int);"});
      REQUIRE(Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{migrator_settings(db, log), source}.run());
      MemorySource old{{1, "one", "CREATE TABLE one (id int PRIMARY KEY);"},
                       {2, "two", "CREATE TABLE two (id int PRIMARY KEY);\nINSERT INTO two VALUES (2);"}};
      EventLog old_log;
      auto r = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{migrator_settings(db, old_log), old}.run();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      CHECK(r.value().role == Role::current);
      CHECK(r.value().schema_ahead);
      CHECK(r.value().schema_version == 4);
      CHECK(r.value().expected_version == 2);
      CHECK(r.value().unknown_versions == std::vector<std::int64_t>{3, 4});
      const auto events = old_log.all();
      REQUIRE_FALSE(events.empty());
      CHECK(events.back().json.find("\"schema_ahead\":true") != std::string::npos);
    }
  }

  TEST_CASE("Migrator checksum drift") {
    TestDatabase db{"drift"};
    TempDir dir{"drift"};
    dir.write("0001_one.sql", "CREATE TABLE one (id int);\n");
    dir.write("0002_two.sql", "CREATE TABLE two (id int);\n");
    EventLog log;
    REQUIRE(Migrator<>{migrator_settings(db, log), DirectorySource{dir.path()}}.run());

    dir.write("0002_two.sql", "CREATE TABLE two (id bigint);\n");  // edited after it was applied
    dir.write("0003_three.sql", "CREATE TABLE three (id int);\n");
    auto r = Migrator<>{migrator_settings(db, log), DirectorySource{dir.path()}}.run();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::checksum_mismatch);
    CHECK(r.error().version == 2);
    CHECK(r.error().file == (dir.path() / "0002_two.sql").string());
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 2);
    CHECK(db.scalar("SELECT to_regclass('public.three')").empty());
    CHECK(advisory_locks(db) == 0);
  }

  TEST_CASE("Migrator deadline" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"deadline"};
    EventLog log;
    SUBCASE("a migration stuck behind another session's lock is cancelled at the deadline") {
      REQUIRE(Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{
          migrator_settings(db, log), MemorySource{{1, "t", "CREATE TABLE t (id int);"}}}.run());
      auto blocker = db.connect();
      must(blocker.query("BEGIN"));
      must(blocker.query("LOCK TABLE t IN ACCESS EXCLUSIVE MODE"));

      MemorySource source{{1, "t", "CREATE TABLE t (id int);"}, {2, "alter", "ALTER TABLE t ADD COLUMN x int;"}};
      const auto t0 = std::chrono::steady_clock::now();
      auto r = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{migrator_settings(db, log), source,
                                                                              Deadline<>{2s}}
                   .run();
      const auto took = std::chrono::steady_clock::now() - t0;
      REQUIRE_FALSE(r);
      CHECK_MESSAGE(r.error().code == errc::deadline_exceeded, r.error().to_string());
      CHECK(r.error().message.find("applying migration 2") != std::string::npos);
      CHECK(took < 3s);  // deadline + 1 s
      CHECK(advisory_locks_settled(db) == 0);
      must(blocker.query("ROLLBACK"));
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 1);
      CHECK(db.number("SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = 'x'") == 0);
    }
    SUBCASE("a follower whose leader never finishes gives up at the deadline") {
      auto holder = db.connect();
      const auto key = lock_key(default_lock_name(db.name(), TableLedger{}.identity()));
      must(holder.query("SELECT pg_advisory_lock(" + std::to_string(key) + ")"));
      const auto t0 = std::chrono::steady_clock::now();
      auto r = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{
          migrator_settings(db, log), three_tables(), Deadline<>{1500ms}, ExponentialBackoff{20ms, 200ms}}
                   .run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::deadline_exceeded);
      CHECK(r.error().message.find("waiting for the schema") != std::string::npos);
      CHECK(std::chrono::steady_clock::now() - t0 < 2500ms);
      CHECK(log.count("lock_busy") == 1);
      CHECK(log.count("waiting") >= 3);
      CHECK(db.scalar("SELECT to_regclass('public.one')").empty());
    }
  }

  TEST_CASE("BlockingLock") {
    TestDatabase db{"blocking"};
    EventLog log;
    auto holder = db.connect();
    const auto key = lock_key(default_lock_name(db.name(), TableLedger{}.identity()));
    must(holder.query("SELECT pg_advisory_lock(" + std::to_string(key) + ")"));
    std::thread release_later{[&] {
      std::this_thread::sleep_for(1200ms);
      (void)holder.query("SELECT pg_advisory_unlock(" + std::to_string(key) + ")");
    }};
    auto source = three_tables();
    // Records the session's lock_timeout as the migration saw it: the slices'
    // SET lock_timeout must not leak into migrations (they get Settings::lock_timeout).
    source.add({4, "seen", "CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lock_timeout;"});
    auto r = Migrator<BlockingLock, ExponentialBackoff, Deadline<>, MemorySource>{
        migrator_settings(db, log), source, BlockingLock{300ms}, ExponentialBackoff{10ms, 50ms}}
                 .run();
    release_later.join();
    REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
    CHECK(r.value().role == Role::leader);
    CHECK(r.value().wait_attempts >= 2);  // waited in bounded slices, not one unbounded call
    CHECK(db.scalar("SELECT lock_timeout FROM seen") == "2s");  // the migration default, not the 300 ms slice
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 4);
  }

  TEST_CASE("Migrator connection errors" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"connerr"};
    EventLog log;
    SUBCASE("a database that does not exist fails at once, without retrying") {
      auto settings = migrator_settings(db, log);
      settings.database_url = url_for_database(server_url(), "no_such_database_here");
      auto r = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{settings, three_tables()}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::connection_failed);
      CHECK(r.error().sqlstate == "3D000");
      CHECK(r.error().message.find("no_such_database_here") != std::string::npos);
      CHECK(log.count("connect_retry") == 0);
    }
  }

  TEST_CASE("TableLedger" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"ledger"};
    EventLog log;
    SUBCASE("names that need quoting work end to end") {
      auto r = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource, TableLedger>{
          migrator_settings(db, log), three_tables(), TableLedger{"Deploy \"Ledger\"", "schema-history", "boots"}}
                   .run();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      CHECK(db.number("SELECT count(*) FROM \"Deploy \"\"Ledger\"\"\".\"schema-history\"") == 3);
      CHECK(db.number("SELECT count(*) FROM \"Deploy \"\"Ledger\"\"\".boots") == 1);
    }
    SUBCASE("a table with another layout is a ledger_invalid error, not a crash") {
      must(db.connect().query("CREATE SCHEMA lockstep; CREATE TABLE lockstep.migrations (id int)"));
      auto r = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{migrator_settings(db, log), three_tables()}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::ledger_invalid);
      CHECK(r.error().message.find("layout") != std::string::npos);
    }
    SUBCASE("the advisory-lock key equals the documented SQL derivation") {
      const std::string name = default_lock_name(db.name(), TableLedger{}.identity());
      CHECK(db.number("SELECT ('x' || substr(encode(sha256(convert_to('" + name +
                      "', 'UTF8')), 'hex'), 1, 16))::bit(64)::bigint") == lock_key(name));
    }
  }

  TEST_CASE("Migrator status") {
    TestDatabase db{"status"};
    TempDir dir{"status"};
    dir.write("0001_one.sql", "CREATE TABLE one (id int);\n");
    dir.write("0002_two.sql", "CREATE TABLE two (id int);\n");
    EventLog log;
    REQUIRE(Migrator<>{migrator_settings(db, log), DirectorySource{dir.path()}}.run());
    dir.write("0001_one.sql", "CREATE TABLE one (id bigint);\n");
    dir.write("0003_three.sql", "CREATE TABLE three (id int);\n");
    auto s = Migrator<>{migrator_settings(db, log), DirectorySource{dir.path()}}.status();
    REQUIRE_MESSAGE(s, (s ? "" : s.error().to_string()));
    CHECK(s.value().schema_version == 2);
    CHECK(s.value().applied.size() == 2);
    REQUIRE(s.value().pending.size() == 1);
    CHECK(s.value().pending[0].version == 3);
    CHECK(s.value().drifted == std::vector<std::int64_t>{1});
    CHECK(s.value().deploys.size() == 1);
    CHECK(db.scalar("SELECT to_regclass('public.three')").empty());  // status changes nothing
  }
}
