// Background migrations against a real server, with real processes
// (docs/background.md): the boot only queues; runners process every key
// exactly once through kills and freezes and through PgBouncer; a bad key
// fails the deploy once; a failed batch stops its job, which resumes from
// its cursor.
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

// A table of `rows` orders, and a side table `seen` that each batch writes
// the keys it processed to (no unique constraint: a key done twice shows).
void bg_write_backfill(const TempDir& dir, int rows, int batch_size, const std::string& extra_where = "") {
  dir.write("1_orders.sql",
            "CREATE TABLE orders (id bigint PRIMARY KEY, total numeric NOT NULL, total_cents bigint);\n"
            "INSERT INTO orders (id, total) SELECT g, g * 1.5 FROM generate_series(1, " + std::to_string(rows) +
                ") g;\nCREATE TABLE seen (id bigint NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());\n");
  dir.write("2_backfill.sql", "-- lockstep:background\n-- lockstep:batch-over=public.orders(id)\n"
                              "-- lockstep:batch-size=" + std::to_string(batch_size) + "\n"
                              "UPDATE orders SET total_cents = round(total * 100)" + extra_where +
                              "\nWHERE id BETWEEN :lo AND :hi;\n"
                              "INSERT INTO seen (id) SELECT id FROM orders WHERE id BETWEEN :lo AND :hi;\n");
}

std::vector<std::string> bg_args(std::vector<std::string> a, const std::string& dir, const std::string& url) {
  a.insert(a.end(), {"--dir", dir, "--url", url, "--timeout", "60s"});
  return a;
}

// Orders whose `code` column (of `code_type`) is no batch key, and a
// background file that walks it anyway.
void bg_write_code_key(const TempDir& dir, const std::string& code_type) {
  dir.write("1_orders.sql", "CREATE TABLE orders (id bigint PRIMARY KEY, code " + code_type + ", total numeric);\n");
  dir.write("2_backfill.sql", "-- lockstep:background\n-- lockstep:batch-over=public.orders(code)\n"
                              "UPDATE orders SET total = 0 WHERE code BETWEEN :lo AND :hi;\n");
}

// Every key up to `upper` processed exactly once; none above it.
void bg_check_exactly_once(const TestDatabase& db, long long upper) {
  CHECK(db.number("SELECT count(*) FROM (SELECT id FROM seen GROUP BY id HAVING count(*) > 1) d") == 0);
  CHECK(db.number("SELECT count(DISTINCT id) FROM seen") == upper);
  CHECK(db.number("SELECT count(*) FROM orders o WHERE o.id <= " + std::to_string(upper) +
                  " AND NOT EXISTS (SELECT 1 FROM seen s WHERE s.id = o.id)") == 0);
  CHECK(db.number("SELECT count(*) FROM seen WHERE id > " + std::to_string(upper)) == 0);
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("a background migration's boot queues its job and a herd of boots never waits for it" *
            doctest::test_suite("pg_sample")) {
    TestDatabase db{"bgqueue"};
    TempDir dir{"bg-queue"};
    bg_write_backfill(dir, 5000, 500);
    auto first = lockstep_cli(bg_args({"migrate"}, dir.path().string(), db.url()), "bg-queue");
    CAPTURE(first.err());
    REQUIRE(first.exit_code == 0);
    // Queued in the migration's own commit: the ledger row and the job, the
    // upper bound frozen at the greatest key, and not one row processed.
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2") == 1);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "queued");
    CHECK(db.scalar("SELECT upper_bound::text FROM lockstep.jobs WHERE version = 2") == "{5000}");
    CHECK(db.number("SELECT count(*) FROM orders WHERE total_cents IS NOT NULL") == 0);
    CHECK(db.number("SELECT count(*) FROM seen") == 0);
    CHECK(first.out().find("background_batch") == std::string::npos);
    // Rows written after the job was queued are above its bound: the new code's.
    db.exec("INSERT INTO orders (id, total) SELECT g, 1 FROM generate_series(5001, 5100) g");

    // 20 replicas boot while the job is queued: each takes the every-boot
    // path and none runs or waits for a batch.
    TempDir out{"bg-herd"};
    Herd herd{out.path()};
    herd.spawn(20, {cli_path(), "migrate", "--dir", dir.path().string(), "--url", db.url(), "--timeout", "60s"});
    herd.release();
    herd.wait_all(90s);
    REQUIRE_FALSE(herd.hung());
    for (const auto& c : herd.children()) {
      CAPTURE(c.err());
      CHECK(c.exit_code == 0);
      CHECK(c.out().find("\"role\":\"current\"") != std::string::npos);
      CHECK(c.out().find("background_") == std::string::npos);
      CHECK(c.out().find("migration_applied") == std::string::npos);
    }
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "queued");

    auto ran = lockstep_cli(bg_args({"background", "run"}, dir.path().string(), db.url()), "bg-run");
    CAPTURE(ran.err());
    CHECK(ran.exit_code == 0);
    CHECK(ran.out().find("\"event\":\"background_succeeded\"") != std::string::npos);
    // Begun once: with the first batch, and not again with the later ones.
    const auto started = ran.out().find("\"event\":\"background_started\"");
    CHECK(started != std::string::npos);
    CHECK(started < ran.out().find("\"event\":\"background_batch\""));
    CHECK(ran.out().find("\"event\":\"background_started\"", started + 1) == std::string::npos);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "succeeded");
    CHECK(db.number("SELECT rows_done FROM lockstep.jobs WHERE version = 2") == 5000);
    bg_check_exactly_once(db, 5000);
    CHECK(db.number("SELECT count(*) FROM orders WHERE id <= 5000 AND total_cents IS NULL") == 0);
    auto status = lockstep_cli(bg_args({"background", "status"}, dir.path().string(), db.url()), "bg-status");
    CHECK(status.exit_code == 0);
    CHECK(status.out().find("\"state\":\"succeeded\"") != std::string::npos);
  }

  TEST_CASE("background runners process every key exactly once through kills and freezes" *
            doctest::test_suite("background")) {
    TestDatabase db{"bgchaos"};
    TempDir dir{"bg-chaos"};
    constexpr int kRows = 20000;
    bg_write_backfill(dir, kRows, 100);
    REQUIRE(lockstep_cli(bg_args({"migrate"}, dir.path().string(), db.url()), "bg-chaos-boot").exit_code == 0);
    // Writes go on while the runners work: keys above the bound are new.
    db.exec("INSERT INTO orders (id, total) SELECT g, 1 FROM generate_series(20001, 20500) g");

    TempDir out{"bg-chaos-out"};
    std::vector<std::unique_ptr<Herd>> runners;
    auto start_runner = [&] {
      auto h = std::make_unique<Herd>(out.path() / ("r" + std::to_string(runners.size())));
      h->spawn(1, bg_args({cli_path(), "background", "run"}, dir.path().string(), db.url()));
      h->release();
      runners.push_back(std::move(h));
    };
    for (int i = 0; i < 3; ++i) start_runner();
    std::mt19937 rng{20261207};
    const auto until = std::chrono::steady_clock::now() + 90s;
    int kills = 0, freezes = 0;
    while (db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") != "succeeded" &&
           std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds{100 + rng() % 200});
      auto& victim = runners[rng() % runners.size()]->children().at(0);
      // A runner that exited (nothing left for it) is a zombie until its
      // Herd reaps it: a signal to it does nothing, and reaping it here
      // would leave its Herd waiting for it forever.
      if (victim.finished) continue;
      if (rng() % 2 == 0) {
        ::kill(victim.pid, SIGKILL);  // mid-batch, usually: the server rolls it back
        ++kills;
        start_runner();
      } else {
        ::kill(victim.pid, SIGSTOP);  // frozen inside a batch holds its lock: the others back off
        std::this_thread::sleep_for(std::chrono::milliseconds{300});
        ::kill(victim.pid, SIGCONT);
        ++freezes;
      }
    }
    for (auto& h : runners) h->wait_all(60s);
    MESSAGE("kills: " << kills << ", freezes: " << freezes << ", runners: " << runners.size());
    CHECK(kills > 0);
    REQUIRE(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "succeeded");
    bg_check_exactly_once(db, kRows);
    CHECK(db.number("SELECT rows_done FROM lockstep.jobs WHERE version = 2") == kRows);
  }

  TEST_CASE("background batches run through PgBouncer's transaction pooling" * doctest::test_suite("background")) {
    TestDatabase db{"bgbouncer"};
    TempDir dir{"bg-bouncer"};
    bg_write_backfill(dir, 3000, 250);
    REQUIRE(lockstep_cli(bg_args({"migrate"}, dir.path().string(), db.url()), "bg-bouncer-boot").exit_code == 0);
    const auto via = url_for_database(pgbouncer_url(), db.name());
    TempDir out{"bg-bouncer-out"};
    Herd herd{out.path()};
    herd.spawn(2, bg_args({cli_path(), "background", "run"}, dir.path().string(), via));
    herd.release();
    herd.wait_all(90s);
    REQUIRE_FALSE(herd.hung());
    for (const auto& c : herd.children()) {
      CAPTURE(c.err());
      CHECK(c.exit_code == 0);
    }
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "succeeded");
    bg_check_exactly_once(db, 3000);
  }

  TEST_CASE("a background migration whose key is wrong fails its deploy once, naming the file and the column" *
            doctest::test_suite("background")) {
    TestDatabase db{"bgbadkey"};
    TempDir dir{"bg-badkey"};
    bg_write_code_key(dir, "text");  // may be NULL
    auto r = lockstep_cli(bg_args({"migrate"}, dir.path().string(), db.url()), "bg-badkey");
    CHECK(r.exit_code == 8);  // migration_failed
    CHECK(r.err().find("2_backfill.sql") != std::string::npos);
    CHECK(r.err().find("orders.code may be NULL") != std::string::npos);
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2") == 0);
    CHECK(db.number("SELECT count(*) FROM lockstep.jobs") == 0);
    CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE version = 2 AND resolved_at IS NULL") == 1);
    // The same deploy does not try the same file again (promise 7).
    auto again = lockstep_cli(bg_args({"migrate"}, dir.path().string(), db.url()), "bg-badkey-again");
    CHECK(again.exit_code != 0);
    CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE version = 2") == 1);
  }

  TEST_CASE("a failed background batch stops its job and records it, and a retry resumes from the cursor" *
            doctest::test_suite("background")) {
    TestDatabase db{"bgfail"};
    TempDir dir{"bg-fail"};
    // The batch divides by zero at the row whose total is 0.
    bg_write_backfill(dir, 2000, 100, " + (1 / total)::bigint * 0");
    REQUIRE(lockstep_cli(bg_args({"migrate"}, dir.path().string(), db.url()), "bg-fail-boot").exit_code == 0);
    db.exec("UPDATE orders SET total = 0 WHERE id = 1234");
    auto r = lockstep_cli(bg_args({"background", "run"}, dir.path().string(), db.url()), "bg-fail-run");
    CHECK(r.exit_code == 8);
    CHECK(r.out().find("\"event\":\"background_failed\"") != std::string::npos);
    CHECK(r.out().find("\"sqlstate\":\"22012\"") != std::string::npos);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "failed");
    CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE version = 2 AND resolved_at IS NULL") == 1);
    // The batches before the failing one stay committed, exactly once.
    CHECK(db.number("SELECT (cursor[1])::bigint FROM lockstep.jobs WHERE version = 2") == 1200);
    CHECK(db.number("SELECT count(*) FROM seen") == 1200);
    db.exec("UPDATE orders SET total = 1 WHERE id = 1234");
    auto retried = lockstep_cli(bg_args({"background", "retry", "2"}, dir.path().string(), db.url()), "bg-retry");
    CAPTURE(retried.err());
    CHECK(retried.exit_code == 0);
    CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE version = 2 AND resolved_at IS NULL") == 0);
    auto resumed = lockstep_cli(bg_args({"background", "run"}, dir.path().string(), db.url()), "bg-fail-resume");
    CAPTURE(resumed.err());
    CHECK(resumed.exit_code == 0);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "succeeded");
    bg_check_exactly_once(db, 2000);
  }
}

TEST_SUITE("integration") {
  TEST_CASE("a background job is paused, resumed and cancelled by an operator" * doctest::test_suite("background")) {
    TestDatabase db{"bgcontrol"};
    TempDir dir{"bg-control"};
    bg_write_backfill(dir, 1000, 100);
    REQUIRE(lockstep_cli(bg_args({"migrate"}, dir.path().string(), db.url()), "bg-control-boot").exit_code == 0);
    auto control = [&](const std::string& action, const std::string& version = "2") {
      return lockstep_cli(bg_args({"background", action, version}, dir.path().string(), db.url()), "bg-" + action);
    };
    CHECK(control("pause").exit_code == 0);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs") == "paused");
    // A paused job is no runner's: `run` finds nothing to do.
    auto idle = lockstep_cli(bg_args({"background", "run"}, dir.path().string(), db.url()), "bg-control-idle");
    CHECK(idle.exit_code == 0);
    CHECK(idle.out().find("background_batch") == std::string::npos);
    CHECK(db.number("SELECT count(*) FROM seen") == 0);
    // Only what applies: a paused job cannot be retried, an unknown one not paused.
    auto wrong = control("retry");
    CHECK(wrong.exit_code == 3);  // invalid_argument
    CHECK(wrong.err().find("is not in a state that retry applies to") != std::string::npos);
    CHECK(control("pause", "9").exit_code == 3);
    CHECK(control("resume").exit_code == 0);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs") == "queued");
    auto ran = lockstep_cli(bg_args({"background", "run"}, dir.path().string(), db.url()), "bg-control-run");
    CHECK(ran.exit_code == 0);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs") == "succeeded");
    bg_check_exactly_once(db, 1000);
    CHECK(control("cancel").exit_code == 3);  // a finished job stays finished
    // A second job, cancelled before it ran: never run.
    dir.write("3_again.sql", "-- lockstep:background\n-- lockstep:batch-over=public.orders(id)\n"
                             "INSERT INTO seen (id) SELECT id FROM orders WHERE id BETWEEN :lo AND :hi;\n");
    REQUIRE(lockstep_cli(bg_args({"migrate"}, dir.path().string(), db.url()), "bg-control-boot2").exit_code == 0);
    CHECK(control("cancel", "3").exit_code == 0);
    auto none = lockstep_cli(bg_args({"background", "run"}, dir.path().string(), db.url()), "bg-control-none");
    CHECK(none.exit_code == 0);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 3") == "cancelled");
    CHECK(db.number("SELECT count(*) FROM seen") == 1000);
  }
}

// Found in review (review/bg): a rehearsal skips a background file
// entirely (dry_run.hpp), so what the boot checks when it queues the job
// (queue.hpp: the table, the key's columns, NOT NULL, a unique index) is
// never rehearsed: the rehearsal says all is well, the deploy then fails.
TEST_SUITE("integration") {
  TEST_CASE("a rehearsal of a background migration whose key is not unique fails as its deploy would" *
            doctest::test_suite("background")) {
    TestDatabase db{"bgrehearse"};
    TempDir dir{"bg-rehearse"};
    bg_write_code_key(dir, "int NOT NULL");  // not unique
    auto rehearsed = lockstep_cli(bg_args({"migrate", "--mode", "dry-run", "--rehearse"}, dir.path().string(), db.url()),
                                  "bg-rehearse");
    CAPTURE(rehearsed.err());
    auto deployed = lockstep_cli(bg_args({"migrate"}, dir.path().string(), db.url()), "bg-rehearse-deploy");
    REQUIRE(deployed.exit_code == 8);  // the deploy: "its batch key (code) is not unique"
    CHECK(rehearsed.exit_code != 0);
    CHECK(rehearsed.err().find("not unique") != std::string::npos);
  }
}
