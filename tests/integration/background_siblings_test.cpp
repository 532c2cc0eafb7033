// Several background jobs at once in one runner (BackgroundOptions::
// jobs_at_once, `--jobs K`; detail/background/siblings.hpp) against a real
// server: jobs on different tables run side by side, two jobs on one table
// never do, every key of each is processed exactly once, and a stop ends
// every sibling.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "poll.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

// Tables a and b, and three jobs: 2 on a, 3 on b, 4 on a again. Each batch
// logs its job, its keys and when it ran (statement_timestamp() is the
// batch's start, clock_timestamp() its end, after a short sleep).
void bgs_write_jobs(const TempDir& dir, int rows) {
  dir.write("1_tables.sql",
            "CREATE TABLE a (id bigint PRIMARY KEY, x int, y int);\n"
            "CREATE TABLE b (id bigint PRIMARY KEY, x int);\n"
            "INSERT INTO a (id) SELECT generate_series(1, " + std::to_string(rows) + ");\n"
            "INSERT INTO b (id) SELECT generate_series(1, " + std::to_string(rows) + ");\n"
            "CREATE TABLE batches (job int NOT NULL, lo bigint NOT NULL, hi bigint NOT NULL,\n"
            "  started timestamptz NOT NULL, ended timestamptz NOT NULL);\n");
  auto job = [&](const std::string& file, const std::string& table, const std::string& set, int number) {
    dir.write(file, "-- lockstep:background\n-- lockstep:batch-over=public." + table + "(id)\n-- lockstep:batch-size=200\n"
                    "UPDATE " + table + " SET " + set + " WHERE id BETWEEN :lo AND :hi;\n"
                    "INSERT INTO batches SELECT " + std::to_string(number) +
                    ", :lo, :hi, statement_timestamp(), clock_timestamp() FROM pg_sleep(0.03);\n");
  };
  job("2_fill_a.sql", "a", "x = id", 2);
  job("3_fill_b.sql", "b", "x = id", 3);
  job("4_fill_a_again.sql", "a", "y = id", 4);
}

// Whether any batch of job `p` ran while one of job `q` did.
long long bgs_overlaps(const TestDatabase& db, int p, int q) {
  return db.number("SELECT count(*) FROM batches s JOIN batches t ON s.job = " + std::to_string(p) +
                   " AND t.job = " + std::to_string(q) + " AND s.started < t.ended AND t.started < s.ended");
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("a runner with --jobs 2 runs jobs of two tables side by side, never two of one table, each key once") {
    TestDatabase db{"bgsiblings"};
    TempDir dir{"bgs-siblings"};
    constexpr int kRows = 3000;
    bgs_write_jobs(dir, kRows);
    const std::vector<std::string> common{"--dir", dir.path().string(), "--url", db.url(), "--timeout", "90s"};
    auto boot_args = std::vector<std::string>{"migrate"};
    boot_args.insert(boot_args.end(), common.begin(), common.end());
    REQUIRE(lockstep_cli(boot_args, "bgs-boot").exit_code == 0);
    auto run_args = std::vector<std::string>{"background", "run", "--jobs", "2", "--batch-target", "100ms"};
    run_args.insert(run_args.end(), common.begin(), common.end());
    auto ran = lockstep_cli(run_args, "bgs-run");
    CAPTURE(ran.err());
    CHECK(ran.exit_code == 0);
    CHECK(db.number("SELECT count(*) FROM lockstep.jobs WHERE state = 'succeeded'") == 3);
    // Every key of every job exactly once (the batches' ranges tile 1..kRows).
    for (int job : {2, 3, 4}) {
      CAPTURE(job);
      CHECK(db.number("SELECT sum(hi - lo + 1) FROM batches WHERE job = " + std::to_string(job)) == kRows);
      CHECK(db.number("SELECT count(*) FROM batches s JOIN batches t ON s.job = t.job AND s.ctid <> t.ctid AND "
                      "s.lo <= t.hi AND t.lo <= s.hi WHERE s.job = " + std::to_string(job)) == 0);
    }
    CHECK(db.number("SELECT count(*) FROM a WHERE x = id AND y = id") == kRows);
    CHECK(db.number("SELECT count(*) FROM b WHERE x = id") == kRows);
    // Side by side: a and b at once; never a with a.
    CHECK(bgs_overlaps(db, 2, 3) + bgs_overlaps(db, 4, 3) > 0);
    CHECK(bgs_overlaps(db, 2, 4) == 0);
  }

  TEST_CASE("an application's runner with jobs_at_once stops every sibling when asked") {
    TestDatabase db{"bgsstop"};
    TempDir dir{"bgs-stop"};
    bgs_write_jobs(dir, 200000);  // more than the runners can finish before the stop
    Settings s;
    s.database_url = db.url();
    EventLog log;
    s.on_event = log.sink();
    Migrator<> m{s, DirectorySource{dir.path().string()}, Deadline<>{60s}};
    REQUIRE(m.run());
    BackgroundOptions o;
    o.jobs_at_once = 3;
    o.idle_poll = 100ms;
    auto runner = m.background(o);
    REQUIRE(runner);
    // Two jobs at work (a's first one and b's), not three: 4 shares a's table.
    REQUIRE(time_until([&] { return db.number("SELECT count(DISTINCT job) FROM batches") >= 2; }, 30s) < 30s);
    std::this_thread::sleep_for(500ms);
    const auto t0 = std::chrono::steady_clock::now();
    runner.value().stop();
    CHECK(std::chrono::steady_clock::now() - t0 < 30s);  // at most a batch in flight each
    const auto after = db.number("SELECT count(*) FROM batches");
    std::this_thread::sleep_for(1s);
    CHECK(db.number("SELECT count(*) FROM batches") == after);  // nothing runs after stop() returned
    CHECK(db.number("SELECT count(*) FROM batches WHERE job = 4") == 0);
    CHECK(bgs_overlaps(db, 2, 3) > 0);
    CHECK(log.count("background_error") == 0);
  }
}
