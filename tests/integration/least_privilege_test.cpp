// The hardened setup: a DBA creates the ledger in advance (lockstep
// ledger-sql) and the migration role has only what it needs, with no CREATE
// on the database. A whole herd runs as that role.
#include <doctest/doctest.h>

#include <string>
#include <unistd.h>

#include "cli.hpp"
#include "lockstep/lockstep.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

TEST_SUITE("integration") {
  TEST_CASE("least privilege: a herd as a role without CREATE on the database" * doctest::test_suite("pg_sample")) {
    const std::string role = "ls_least_" + std::to_string(::getpid());
    TestDatabase db{"least"};
    auto admin = db.connect();
    must(admin.query("DROP ROLE IF EXISTS " + role));
    must(admin.query("CREATE ROLE " + role + " LOGIN"));
    must(admin.query("GRANT CONNECT ON DATABASE " + db.name() + " TO " + role));
    // What the migrations themselves create goes in a schema the role may use.
    must(admin.query("CREATE SCHEMA app; GRANT USAGE, CREATE ON SCHEMA app TO " + role));
    const TableLedger ledger;
    must(admin.query(ledger.create_sql()));
    must(admin.query(ledger.grant_sql(role)));
    REQUIRE(db.scalar("SELECT has_database_privilege('" + role + "', current_database(), 'CREATE')") == "f");

    TempDir dir{"least"};
    dir.write("0001_t.sql", "CREATE TABLE app.t (id int PRIMARY KEY, n int);\n"
                            "INSERT INTO app.t (id) SELECT generate_series(1, 300);\n");
    dir.write("0002_u.sql", "SET search_path = app;\nCREATE TABLE u (id int);\n");
    dir.write("0004_fill.sql", "-- lockstep:background\n-- lockstep:batch-over=app.t(id)\n-- lockstep:batch-size=100\n"
                               "UPDATE app.t SET n = id WHERE id BETWEEN :lo AND :hi;\n");
    dir.write("0003_ix.sql", "-- lockstep:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS u_id ON app.u (id);\n");
    TempDir out{"least-out"};
    const std::string url = url_as(db.url(), role);
    Herd herd{out.path()};
    herd.spawn(6, {cli_path(), "migrate", "--dir", dir.path().string(), "--url", url, "--deploy-version", "lp-1",
                   "--timeout", "60s"});
    herd.release();
    herd.wait_all(90s);
    REQUIRE_FALSE(herd.hung());
    for (const auto& c : herd.children()) {
      CAPTURE(c.err());
      CHECK(c.exit_code == 0);
    }
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 4);
    CHECK(db.scalar("SELECT string_agg(DISTINCT deploy_version, ',') FROM lockstep.deploys") == "lp-1");
    CHECK(db.scalar("SELECT to_regclass('app.u') IS NOT NULL") == "t");
    // A background migration: queued by the herd, run by the same role
    // through the grants ledger-sql prints (the jobs table's among them).
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 4") == "queued");
    auto ran = lockstep_cli({"background", "run", "--dir", dir.path().string(), "--url", url, "--timeout", "60s"},
                            "least-background");
    CAPTURE(ran.err());
    CHECK(ran.exit_code == 0);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 4") == "succeeded");
    CHECK(db.number("SELECT count(*) FROM app.t WHERE n = id") == 300);
    // A boot that queues a job and reaches a migration requiring it finishes
    // the job inline, as the same role (jobs, registry and ledger grants only).
    dir.write("0005_double.sql", "-- lockstep:background\n-- lockstep:batch-over=app.t(id)\n-- lockstep:batch-size=100\n"
                                 "UPDATE app.t SET n = 2 * id WHERE id BETWEEN :lo AND :hi;\n");
    dir.write("0006_need.sql", "-- lockstep:requires-background=5\nCREATE TABLE app.v (id int);\n");
    auto inline_run = lockstep_cli({"migrate", "--dir", dir.path().string(), "--url", url, "--timeout", "60s"},
                                   "least-finalize");
    CAPTURE(inline_run.err());
    CHECK(inline_run.exit_code == 0);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 5") == "succeeded");
    CHECK(db.number("SELECT count(*) FROM app.t WHERE n = 2 * id") == 300);
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 6") == 1);
    // Long statements in the background, run by the same role: the job's
    // session lock and pg_locks need no grant beyond the ledger's.
    dir.write("0007_ix.sql", "-- lockstep:background\n-- lockstep:no-transaction\n"
                             "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_n ON app.t (n);\n");
    auto queued = lockstep_cli({"migrate", "--dir", dir.path().string(), "--url", url, "--timeout", "60s"},
                               "least-long-boot");
    CAPTURE(queued.err());
    CHECK(queued.exit_code == 0);
    auto built = lockstep_cli({"background", "run", "--dir", dir.path().string(), "--url", url, "--timeout", "60s"},
                              "least-long-run");
    CAPTURE(built.err());
    CHECK(built.exit_code == 0);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 7") == "succeeded");
    CHECK(db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 'app.t_n'::regclass") == "t");
    must(admin.query("DROP OWNED BY " + role));
  }
}
