// Long statements in the background (`-- lockstep:background` with
// `-- lockstep:no-transaction`; docs/background.md, "Long statements")
// against a real server, with real processes: the boot only queues them;
// runners run each statement once, under the job's session lock; a runner
// killed or stopped mid-statement leaves it to the next one, which runs it
// again from its start; an index left INVALID fails the job once and is
// built again after a retry; a pooler, a window and a boot that needs the
// job are each refused or held with a clear word.
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "poll.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

// A table, a constraint left NOT VALID, and mark(): a function that writes
// which statement ran, so a statement run twice shows.
void bgl_write_table(const TempDir& dir, int rows = 20000) {
  dir.write("1_t.sql",
            "CREATE TABLE t (id bigint PRIMARY KEY, v int NOT NULL, w int);\n"
            "INSERT INTO t SELECT g, g % 97, g FROM generate_series(1, " + std::to_string(rows) + ") g;\n"
            "ALTER TABLE t ADD CONSTRAINT w_positive CHECK (w > 0) NOT VALID;\n"
            "CREATE TABLE marks (n int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());\n"
            "CREATE FUNCTION mark(n int) RETURNS int LANGUAGE sql AS $$ INSERT INTO marks (n) VALUES (n) RETURNING n $$;\n");
}

const std::string kBglHeader = "-- lockstep:background\n-- lockstep:no-transaction\n";

std::vector<std::string> bgl_args(std::vector<std::string> a, const TempDir& dir, const std::string& url,
                                  const std::string& timeout = "60s") {
  a.insert(a.end(), {"--dir", dir.path().string(), "--url", url, "--timeout", timeout});
  return a;
}

std::size_t bgl_count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

Migrator<> bgl_migrator(const TempDir& dir, const std::string& url, EventSink sink) {
  Settings s;
  s.database_url = url;
  s.on_event = std::move(sink);
  return Migrator<>{s, DirectorySource{dir.path().string()}, Deadline<>{60s}};
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("long statements in the background: the boot queues them, runners build and validate, each statement once" *
            doctest::test_suite("pg_sample")) {
    TestDatabase db{"bglong"};
    TempDir dir{"bgl-long"};
    bgl_write_table(dir);
    dir.write("2_index.sql", kBglHeader +
                                 "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_v ON t (v);\n"
                                 "SELECT mark(2) FROM pg_sleep(0.3);\n"
                                 "ALTER TABLE t VALIDATE CONSTRAINT w_positive;\n");
    // A herd boots: one queues the job in a transaction; none runs or waits for it.
    TempDir out{"bgl-long-boot"};
    Herd boots{out.path()};
    boots.spawn(5, bgl_args({cli_path(), "migrate"}, dir, db.url()));
    boots.release();
    boots.wait_all(90s);
    REQUIRE_FALSE(boots.hung());
    for (const auto& c : boots.children()) {
      CAPTURE(c.err());
      CHECK(c.exit_code == 0);
      CHECK(c.out().find("background_statement") == std::string::npos);
    }
    CHECK(db.scalar("SELECT state || ' ' || rows_done || '/' || rows_estimated FROM lockstep.jobs WHERE version = 2") ==
          "queued 0/3");
    CHECK(db.scalar("SELECT relation FROM lockstep.jobs WHERE version = 2") == "public.t");
    CHECK(db.scalar("SELECT to_regclass('t_v') IS NULL") == "t");
    CHECK(db.scalar("SELECT convalidated FROM pg_constraint WHERE conname = 'w_positive'") == "f");

    // Three runners at once: each statement runs once, in order.
    TempDir runs{"bgl-long-run"};
    Herd runners{runs.path()};
    runners.spawn(3, bgl_args({cli_path(), "background", "run"}, dir, db.url()));
    runners.release();
    runners.wait_all(90s);
    REQUIRE_FALSE(runners.hung());
    std::string all;
    for (const auto& c : runners.children()) {
      CAPTURE(c.err());
      CHECK(c.exit_code == 0);
      all += c.out() + c.err();
    }
    CHECK(bgl_count(all, "\"event\":\"background_statement\"") == 3);
    CHECK(bgl_count(all, "\"event\":\"background_succeeded\"") == 1);
    CHECK(bgl_count(all, "\"event\":\"background_started\"") == 1);  // once per job, whoever began it
    CHECK(all.find("\"kind\":\"statements\"") != std::string::npos);
    CHECK(db.scalar("SELECT state || ' ' || rows_done FROM lockstep.jobs WHERE version = 2") == "succeeded 3");
    CHECK(db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_v'::regclass") == "t");
    CHECK(db.scalar("SELECT convalidated FROM pg_constraint WHERE conname = 'w_positive'") == "t");
    CHECK(db.scalar("SELECT string_agg(n::text, ',') FROM marks") == "2");
    auto status = lockstep_cli(bgl_args({"status", "--json"}, dir, db.url()), "bgl-long-status");
    CHECK(status.out().find("\"kind\":\"statements\"") != std::string::npos);
  }

  TEST_CASE("a runner killed in a long statement: the next runs it again from its start, never one recorded before it") {
    TestDatabase db{"bglkill"};
    TempDir dir{"bgl-kill"};
    bgl_write_table(dir, 1000);
    dir.write("2_steps.sql", kBglHeader +
                                 "SELECT mark(1);\n"
                                 "SELECT mark(2) FROM pg_sleep(4);\n"
                                 "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_w ON t (w);\n");
    REQUIRE(lockstep_cli(bgl_args({"migrate"}, dir, db.url()), "bgl-kill-boot").exit_code == 0);
    TempDir out{"bgl-kill-out"};
    Herd first{out.path() / "first"};
    first.spawn(1, bgl_args({cli_path(), "background", "run"}, dir, db.url()));
    first.release();
    // Statement 2 in flight (its pg_sleep), statement 1 recorded.
    const auto seen = time_until([&] {
      return db.number("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT mark(2)%' AND datname = '" +
                       db.name() + "'") == 1;
    }, 30s);
    REQUIRE(seen < 30s);
    CHECK(db.number("SELECT rows_done FROM lockstep.jobs WHERE version = 2") == 1);
    ::kill(first.children().at(0).pid, SIGKILL);
    first.wait_all(10s);
    // The server ends the dead client's session (client_connection_check_interval)
    // and its lock with it: the next runner takes the job over.
    Herd second{out.path() / "second"};
    second.spawn(1, bgl_args({cli_path(), "background", "run"}, dir, db.url()));
    second.release();
    // Statement 2 again (its 4 s), then the index.
    second.wait_all(90s);
    REQUIRE_FALSE(second.hung());
    const auto& c = second.children().at(0);
    CAPTURE(c.err());
    CHECK(c.exit_code == 0);
    CHECK(c.out().find("\"statement\":1,") == std::string::npos);  // recorded before: never again
    CHECK(c.out().find("\"statement\":2,") != std::string::npos);
    CHECK(c.out().find("\"statement\":3,") != std::string::npos);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "succeeded");
    // Statement 1 once; statement 2 once: the killed attempt rolled back.
    CHECK(db.scalar("SELECT string_agg(n::text, ',' ORDER BY at) FROM marks") == "1,2");
    CHECK(db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_w'::regclass") == "t");
  }

  TEST_CASE("stopping an application's background runner ends its long statement at once and leaves the job to the next") {
    TestDatabase db{"bglstop"};
    TempDir dir{"bgl-stop"};
    bgl_write_table(dir, 1000);
    dir.write("2_slow.sql", kBglHeader + "SELECT mark(1) FROM pg_sleep(60);\n");
    EventLog log;
    auto m = bgl_migrator(dir, db.url(), log.sink());
    REQUIRE(m.run());
    BackgroundOptions o;
    o.idle_poll = 100ms;
    auto runner = m.background(o);
    REQUIRE(runner);
    const auto sleeping = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT mark(1)%' AND datname = '" +
                          db.name() + "'";
    REQUIRE(time_until([&] { return db.number(sleeping) == 1; }, 30s) < 30s);
    const auto t0 = std::chrono::steady_clock::now();
    runner.value().stop();
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(took < 3s);  // not the 60 s of the statement
    // Its session is gone (terminated), and with it the statement and the lock.
    CHECK(time_until([&] { return db.number(sleeping) == 0; }, 10s) < 10s);
    CHECK(db.number("SELECT count(*) FROM marks") == 0);
    CHECK(db.scalar("SELECT state || ' ' || rows_done FROM lockstep.jobs WHERE version = 2") == "running 0");
    CHECK(time_until([&] { return db.number("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database "
                                    "WHERE datname = current_database())") == 0; }, 10s) <
          10s);
    CHECK(log.count("background_error") == 0);  // a stop is no error
    CHECK(db.number("SELECT count(*) FROM lockstep.failures") == 0);
  }

  TEST_CASE("an index build of long statements left INVALID fails its job once, and a retry after the fix builds it again") {
    TestDatabase db{"bglinvalid"};
    TempDir dir{"bgl-invalid"};
    bgl_write_table(dir, 1000);  // v repeats: no unique index over it
    dir.write("2_unique.sql", kBglHeader + "SELECT mark(1);\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_v_key ON t (v);\n");
    REQUIRE(lockstep_cli(bgl_args({"migrate"}, dir, db.url()), "bgl-invalid-boot").exit_code == 0);
    auto failed = lockstep_cli(bgl_args({"background", "run"}, dir, db.url()), "bgl-invalid-run");
    CHECK(failed.exit_code == 8);  // migration_failed
    CHECK(failed.out().find("\"event\":\"background_failed\"") != std::string::npos);
    CHECK(failed.out().find("\"sqlstate\":\"23505\"") != std::string::npos);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "failed");
    const auto why = db.scalar("SELECT last_error FROM lockstep.jobs WHERE version = 2");
    CHECK(why.find("2_unique.sql, long statements) failed at statement 2 of 2 (line 4)") != std::string::npos);
    CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE version = 2 AND sqlstate = '23505'") == 1);
    CHECK(db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_v_key'::regclass") == "f");
    // Failed once: another runner of the same image does not run it again.
    auto again = lockstep_cli(bgl_args({"background", "run"}, dir, db.url()), "bgl-invalid-again");
    CHECK(again.exit_code == 8);
    CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE version = 2") == 1);
    // The fix, then a retry: the INVALID leftover is dropped and built again,
    // and statement 1 (recorded) does not run again.
    db.exec("UPDATE t SET v = id");
    REQUIRE(lockstep_cli(bgl_args({"background", "retry", "2"}, dir, db.url()), "bgl-invalid-retry").exit_code == 0);
    auto fixed = lockstep_cli(bgl_args({"background", "run"}, dir, db.url()), "bgl-invalid-fixed");
    CAPTURE(fixed.err());
    CHECK(fixed.exit_code == 0);
    CHECK(fixed.out().find("\"event\":\"invalid_index_dropped\"") != std::string::npos);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "succeeded");
    CHECK(db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_v_key'::regclass") == "t");
    CHECK(db.number("SELECT count(*) FROM marks") == 1);
  }

  TEST_CASE("long statements are refused through a transaction pooler, naming it, and nothing of them runs") {
    TestDatabase db{"bglbouncer"};
    TempDir dir{"bgl-bouncer"};
    bgl_write_table(dir, 100);
    dir.write("2_index.sql", kBglHeader + "SELECT mark(1);\n");
    REQUIRE(lockstep_cli(bgl_args({"migrate"}, dir, db.url()), "bgl-bouncer-boot").exit_code == 0);
    const auto via = url_for_database(pgbouncer_url(), db.name());
    const auto t0 = std::chrono::steady_clock::now();
    auto r = lockstep_cli(bgl_args({"background", "run"}, dir, via, "4s"), "bgl-bouncer-run");
    CHECK(std::chrono::steady_clock::now() - t0 < 30s);
    CHECK(r.exit_code != 0);
    CHECK(r.err().find("transaction pooler") != std::string::npos);
    CHECK(db.scalar("SELECT state || ' ' || rows_done FROM lockstep.jobs WHERE version = 2") == "queued 0");
    CHECK(db.number("SELECT count(*) FROM marks") == 0);
    // No session lock was left on a pooled server connection.
    CHECK(db.number("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database "
                                    "WHERE datname = current_database())") == 0);
  }

  TEST_CASE("a background job outside its lockstep:window is held, and `background run` ends saying so") {
    TestDatabase db{"bglwindow"};
    TempDir dir{"bgl-window"};
    bgl_write_table(dir, 100);
    // A window of the server's clock that is not now: two to three hours ahead.
    const auto from = db.scalar("SELECT to_char(now() AT TIME ZONE 'UTC' + interval '2 hours', 'HH24:MI')");
    const auto to = db.scalar("SELECT to_char(now() AT TIME ZONE 'UTC' + interval '3 hours', 'HH24:MI')");
    dir.write("2_index.sql", kBglHeader + "-- lockstep:window=" + from + "-" + to + "\nSELECT mark(1);\n");
    REQUIRE(lockstep_cli(bgl_args({"migrate"}, dir, db.url()), "bgl-window-boot").exit_code == 0);
    auto r = lockstep_cli(bgl_args({"background", "run"}, dir, db.url()), "bgl-window-run");
    CHECK(r.exit_code == 0);
    CHECK(r.out().find("\"signal\":\"window\"") != std::string::npos);
    CHECK(r.out().find("\"limit\":\"" + from + "-" + to + " UTC\"") != std::string::npos);
    CHECK(r.err().find("lockstep:window") != std::string::npos);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "queued");
    CHECK(db.number("SELECT count(*) FROM marks") == 0);
  }

  TEST_CASE("a boot that requires unfinished long statements refuses with exit 17, and `background finalize` runs them") {
    TestDatabase db{"bglneed"};
    TempDir dir{"bgl-need"};
    bgl_write_table(dir, 1000);
    dir.write("2_index.sql", kBglHeader + "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_v ON t (v);\n");
    dir.write("3_uses.sql", "-- lockstep:requires-background=2\nCREATE TABLE after_index (id int);\n");
    auto boot = lockstep_cli(bgl_args({"migrate"}, dir, db.url()), "bgl-need-boot");
    CHECK(boot.exit_code == 17);  // background_unfinished
    CHECK(boot.err().find("never run by a boot") != std::string::npos);
    CHECK(boot.err().find("lockstep background finalize 2") != std::string::npos);
    CHECK(db.scalar("SELECT to_regclass('after_index') IS NULL") == "t");
    CHECK(db.number("SELECT count(*) FROM lockstep.failures") == 0);  // nothing recorded as failed
    auto fin = lockstep_cli(bgl_args({"background", "finalize", "2"}, dir, db.url()), "bgl-need-finalize");
    CAPTURE(fin.err());
    CHECK(fin.exit_code == 0);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "succeeded");
    CHECK(db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_v'::regclass") == "t");
    auto again = lockstep_cli(bgl_args({"migrate"}, dir, db.url()), "bgl-need-again");
    CAPTURE(again.err());
    CHECK(again.exit_code == 0);
    CHECK(db.scalar("SELECT to_regclass('after_index') IS NOT NULL") == "t");
  }

  TEST_CASE("a transaction-scoped lock's boot queues long statements, which it could not run itself") {
    TestDatabase db{"bgltxlock"};
    TempDir dir{"bgl-txlock"};
    bgl_write_table(dir, 100);
    dir.write("2_index.sql", kBglHeader + "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_v ON t (v);\n");
    auto boot = lockstep_cli(bgl_args({"migrate", "--lock", "transaction"}, dir, db.url()), "bgl-txlock-boot");
    CAPTURE(boot.err());
    CHECK(boot.exit_code == 0);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "queued");
    CHECK(db.scalar("SELECT to_regclass('t_v') IS NULL") == "t");
  }

  TEST_CASE("a long statement's runner whose event sink throws still runs and records it, and throws nothing") {
    TestDatabase db{"bglthrow"};
    TempDir dir{"bgl-throw"};
    bgl_write_table(dir, 100);
    dir.write("2_marks.sql", kBglHeader + "SELECT mark(1);\nSELECT mark(2);\n");
    REQUIRE(bgl_migrator(dir, db.url(), {}).run());
    int thrown = 0;
    auto m = bgl_migrator(dir, db.url(), [&](const Event& e) {
      if (e.name.starts_with("background_")) {
        ++thrown;
        throw std::runtime_error("sink down");
      }
    });
    BackgroundOptions o;
    o.idle_poll = 100ms;
    o.give_up_after = 20s;
    const auto until = std::chrono::steady_clock::now() + 30s;
    auto ran = run_background(m, o, [&] { return std::chrono::steady_clock::now() > until; }, true);
    CHECK(ran);  // a value: nothing thrown out of it
    CHECK(thrown > 0);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "succeeded");
    CHECK(db.scalar("SELECT string_agg(n::text, ',' ORDER BY at) FROM marks") == "1,2");  // each once
  }
}
