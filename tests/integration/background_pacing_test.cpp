// How a runner sizes its batches against a real server
// (detail/background/runner.hpp, docs/background.md "Pacing and failures").
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "cli.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep::test;

TEST_SUITE("integration") {
  TEST_CASE("a batch whose time is mostly fixed is not shrunk toward one row") {
    TestDatabase db{"bgpacing"};
    TempDir dir{"bgpacing"};
    dir.write("1_t.sql", "CREATE TABLE t (id bigint PRIMARY KEY, x int);\n"
                         "INSERT INTO t (id) SELECT generate_series(1, 3000);\n");
    // Every batch sleeps 250 ms whatever its size: past the 100 ms target.
    dir.write("2_fill.sql", "-- lockstep:background\n-- lockstep:batch-over=public.t(id)\n-- lockstep:batch-size=400\n"
                            "UPDATE t SET x = id WHERE id BETWEEN :lo AND :hi;\nSELECT pg_sleep(0.25);\n");
    const std::vector<std::string> common{"--dir", dir.path().string(), "--url", db.url(), "--timeout", "60s"};
    std::vector<std::string> boot{"migrate"};
    boot.insert(boot.end(), common.begin(), common.end());
    REQUIRE(lockstep_cli(boot, "bgpacing-boot").exit_code == 0);
    std::vector<std::string> run{"background", "run", "--batch-target", "100ms"};
    run.insert(run.end(), common.begin(), common.end());
    auto ran = lockstep_cli(run, "bgpacing-run");
    CAPTURE(ran.err());
    CHECK(ran.exit_code == 0);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs") == "succeeded");
    CHECK(db.number("SELECT count(*) FROM t WHERE x = id") == 3000);
    // Halved once (400, then 200), then held: without the rule it halved on
    // to one row, 3000 batches of a quarter second.
    const auto batches = db.number("SELECT batches FROM lockstep.jobs");
    CAPTURE(batches);
    CHECK(batches <= 20);
    CHECK(ran.out().find("\"batch_size\":100,") == std::string::npos);
  }
}
