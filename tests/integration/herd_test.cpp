// Concurrency claims, proven with real processes started at the same instant.
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "cli.hpp"
#include "json.hpp"
#include "processes.hpp"
#include "prod_runs.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep::test;
using namespace std::chrono_literals;

TEST_SUITE("integration") {
  TEST_CASE("herd of 16 processes" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"herd"};
    TempDir migrations{"herd-migrations"};
    TempDir out{"herd-out"};
    constexpr int kMigrations = 60;
    constexpr int kProcesses = 16;
    write_table_migrations(migrations, kMigrations);

    Herd herd{out.path()};
    herd.spawn(kProcesses, {cli_path(), "migrate", "--dir", migrations.path().string(), "--url", db.url(),
                            "--deploy-version", "herd-1", "--timeout", "120s"});
    herd.release();
    herd.wait_all(150s);
    REQUIRE_FALSE(herd.hung());

    int leaders = 0, followers = 0;
    for (const auto& c : herd.children()) {
      CAPTURE(c.err());
      CHECK(c.exit_code == 0);
      const auto text = c.out();
      const auto applied = count_substr(text, "\"event\":\"migration_applied\"");
      if (applied > 0) {
        ++leaders;
        CHECK(applied == kMigrations);
        CHECK(text.find("\"role\":\"leader\"") != std::string::npos);
      } else {
        ++followers;
      }
      const auto lines = c.lines();
      REQUIRE_FALSE(lines.empty());
      CHECK(lines.back().find("\"event\":\"ready\"") != std::string::npos);
      CHECK(lines.back().find("\"schema_version\":60") != std::string::npos);
    }
    CHECK(leaders == 1);
    CHECK(followers == kProcesses - 1);

    // Every line of every process is one JSON object with the documented
    // fields; the event stream tells the whole story of the run.
    const std::map<std::string, std::vector<std::string>> required{
        {"boot", {"mode", "expected_version", "deploy_version", "migrations", "budget_ms"}},
        {"lock_acquired", {"lock", "key"}},
        {"lock_busy", {"lock", "key"}},
        {"waiting", {"attempt", "schema_version", "expected_version", "next_delay_ms"}},
        {"migration_started", {"version", "name", "file", "transaction", "statements"}},
        {"migration_applied", {"version", "name", "file", "statements", "retries", "duration_ms"}},
        {"lock_released", {"lock", "held_ms", "clean"}},
        {"ready", {"role", "schema_version", "expected_version", "schema_ahead", "applied", "wait_attempts",
                   "duration_ms"}}};
    std::map<std::string, int> seen;
    for (const auto& c : herd.children()) {
      double pid = -1;
      for (const auto& line : c.lines()) {
        CAPTURE(line);
        Json e;
        REQUIRE_NOTHROW(e = parse_json(line));
        REQUIRE(e.is_object());
        for (const char* common : {"event", "ts", "elapsed_ms", "pid", "host"}) REQUIRE(e.has(common));
        CHECK(e["ts"].str().size() == 24);  // 2026-11-21T15:14:29.348Z
        if (pid < 0) pid = e["pid"].num();
        CHECK(e["pid"].num() == pid);
        const std::string name = e["event"].str();
        ++seen[name];
        REQUIRE_MESSAGE(required.count(name) == 1, "undocumented event " << name);
        for (const auto& field : required.at(name)) CHECK_MESSAGE(e.has(field), name << " lacks " << field);
        if (name == "migration_applied") CHECK(e["duration_ms"].num() >= 0);
        if (name == "ready") CHECK(e["schema_version"].num() == kMigrations);
      }
    }
    CHECK(seen["boot"] == kProcesses);
    CHECK(seen["ready"] == kProcesses);
    CHECK(seen["migration_applied"] == kMigrations);
    CHECK(seen["lock_released"] >= 1);

    // The database, not the processes' word, decides.
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == kMigrations);
    CHECK(db.number("SELECT count(DISTINCT version) FROM lockstep.migrations") == kMigrations);
    CHECK(db.number("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename ~ '^t[0-9]+$'") ==
          kMigrations);
    CHECK(db.number("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname ~ '_note$'") ==
          kMigrations);
    CHECK(db.number("SELECT count(*) FROM t1") + db.number("SELECT count(*) FROM t60") == 2);
    CHECK(db.number(prod::kOwnAdvisoryLocks) == 0);
  }

  TEST_CASE("leader killed mid-migration") {
    TestDatabase db{"leaderdeath"};
    TempDir migrations{"death-migrations"};
    TempDir out{"death-out"};
    write_table_migrations(migrations, 3);
    migrations.write("0004_slow.sql",
                     "CREATE TABLE slow (id int);\nINSERT INTO slow VALUES (1);\nSELECT pg_sleep(5);\n"
                     "INSERT INTO slow VALUES (2);\n");
    write_table_migrations(migrations, 2, 5);

    Herd herd{out.path()};
    herd.spawn(4, {cli_path(), "migrate", "--dir", migrations.path().string(), "--url", db.url(), "--timeout", "60s"});
    herd.release();
    const int leader = herd.wait_for_output("\"event\":\"migration_started\"", 30s);
    REQUIRE(leader >= 0);
    const int slow_leader = herd.wait_for_output("\"version\":4,\"name\":\"slow\"", 30s);
    REQUIRE(slow_leader == leader);
    std::this_thread::sleep_for(500ms);  // well inside pg_sleep(5)
    ::kill(herd.children()[static_cast<std::size_t>(leader)].pid, SIGKILL);
    herd.wait_all(90s);
    REQUIRE_FALSE(herd.hung());

    int takeovers = 0;
    for (std::size_t i = 0; i < herd.children().size(); ++i) {
      const auto& c = herd.children()[i];
      if (static_cast<int>(i) == leader) {
        CHECK(c.signal == SIGKILL);
        continue;
      }
      CAPTURE(c.err());
      CHECK(c.exit_code == 0);
      if (c.out().find("\"event\":\"migration_applied\"") != std::string::npos) {
        ++takeovers;
        CHECK(count_substr(c.out(), "\"name\":\"slow\",\"file\"") >= 1);
      }
    }
    CHECK(takeovers == 1);
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 6);
    CHECK(db.number("SELECT count(DISTINCT version) FROM lockstep.migrations") == 6);
    // Applied exactly once, whole: both rows of the slow migration, once each.
    CHECK(db.scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM slow") == "1,2");
    CHECK(db.number(prod::kOwnAdvisoryLocks) == 0);
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
