// Issue #31, where the contract phase and the heartbeat meet older promises:
// every migration passes the same pre-flight whoever runs it (a boot, a
// heartbeat's background run, a dry run), a no-transaction contract never
// runs inside a transaction, the shortest accepted lease holds under a live
// replica, beats are not runs in the metrics, the source is resolved once,
// and status/resolve say the right thing. Real `lockstep` processes where
// the promise is about processes.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
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

const std::string create_big =
    "CREATE TABLE big (id bigint PRIMARY KEY, x int);\n"
    "INSERT INTO big SELECT g, g FROM generate_series(1, 50) g;\n";
const std::string contract_not_null =
    "-- lockstep:phase=contract\n"
    "ALTER TABLE big ALTER COLUMN x SET NOT NULL;\n";

Child run_contract_cli(const std::vector<std::string>& argv, const std::filesystem::path& out) { return run_one(argv, out); }

bool x_not_null(const TestDatabase& db) {
  return db.scalar("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'big'::regclass AND attname = 'x'") == "t";
}

void fill_big(const TestDatabase& db, int rows) {
  auto c = db.connect();
  must(c.query("INSERT INTO big SELECT g, g FROM generate_series(1000, " + std::to_string(999 + rows) + ") g"));
  must(c.query("ANALYZE big"));
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("contract pre-flight: a contract that would block a big table is refused at boot, like an expand") {
    TestDatabase db{"cpre"};
    TempDir v1{"cpre-v1"}, v2{"cpre-v2"}, out{"cpre-out"};
    v1.write("0001_big.sql", create_big);
    v2.write("0001_big.sql", create_big);
    v2.write("0002_x_not_null.sql", contract_not_null);
    REQUIRE(run_contract_cli(cli_argv("migrate", v1, db), out.path() / "v1").exit_code == 0);
    fill_big(db, 5000);
    const std::vector<std::string> rows{"--lock-rows", "1000"};

    SUBCASE("migrate: exit 16 with its lint event, nothing applied") {
      auto r = run_contract_cli(cli_argv("migrate", v2, db, rows), out.path() / "v2");
      CAPTURE(r.out());
      CAPTURE(r.err());
      CHECK(r.exit_code == 16);
      CHECK(r.out().find("\"event\":\"lint\"") != std::string::npos);
      CHECK(r.out().find("\"rule\":\"set_not_null\"") != std::string::npos);
      CHECK(r.out().find("\"event\":\"migration_applied\"") == std::string::npos);
      CHECK_FALSE(x_not_null(db));
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2") == 0);
    }
    SUBCASE("dry-run: lists the contract in its plan, and exits 16 on the finding") {
      auto r = run_contract_cli(cli_argv("migrate", v2, db, {"--mode", "dry-run", "--lock-rows", "1000"}), out.path() / "dry");
      CAPTURE(r.out());
      CHECK(r.exit_code == 16);
      CHECK(r.out().find("\"event\":\"plan\"") != std::string::npos);
      CHECK(r.out().find("\"version\":2,\"name\":\"x_not_null\"") != std::string::npos);
      CHECK(r.out().find("\"contract\":true") != std::string::npos);
      CHECK(r.out().find("\"blocked\":true") != std::string::npos);
      CHECK_FALSE(x_not_null(db));
    }
    SUBCASE("dry-run of a safe contract: planned, not blocked") {
      auto r = run_contract_cli(cli_argv("migrate", v2, db, {"--mode", "dry-run"}), out.path() / "dry-safe");
      CAPTURE(r.out());
      CHECK(r.exit_code == 0);
      CHECK(r.out().find("\"version\":2,\"name\":\"x_not_null\"") != std::string::npos);
      CHECK(r.out().find("\"blocked\":false") != std::string::npos);
      CHECK_FALSE(x_not_null(db));
    }
  }

  TEST_CASE("contract pre-flight: a heartbeat's background run passes the same pre-flight") {
    TestDatabase db{"cprehb"};
    TempDir v1{"cprehb-v1"}, v2{"cprehb-v2"}, out{"cprehb-out"};
    v1.write("0001_big.sql", create_big);
    v2.write("0001_big.sql", create_big);
    v2.write("0002_x_not_null.sql", contract_not_null);
    const std::vector<std::string> beat{"--heartbeat", "300ms", "--lease", "3s", "--lock-rows", "1000"};

    Herd old{out.path() / "old"};
    old.spawn(1, cli_argv("replica", v1, db, beat));
    old.release();
    REQUIRE(old.wait_for_output("\"event\":\"replica_registered\"", 30s) == 0);
    // The new image boots while the old one lives: the contract waits, and
    // passes pre-flight (50 rows).
    Herd fresh{out.path() / "new"};
    fresh.spawn(1, cli_argv("replica", v2, db, beat));
    fresh.release();
    REQUIRE(fresh.wait_for_output("\"event\":\"replica_registered\"", 30s) == 0);
    CHECK(fresh.children()[0].out().find("\"event\":\"contract_waiting\"") != std::string::npos);
    // The table grows past the threshold; then the old replica leaves.
    fill_big(db, 5000);
    ::kill(old.children()[0].pid, SIGTERM);
    old.wait_all(10s);
    auto& c = fresh.children()[0];
    const auto took = time_until(
        [&] { return c.out().find("\"event\":\"error\"") != std::string::npos || x_not_null(db); }, 20s);
    CAPTURE(c.out());
    CHECK(took < 20s);
    CHECK_FALSE(x_not_null(db));
    CHECK(c.out().find("\"class\":\"lock_unsafe\"") != std::string::npos);
    CHECK(c.out().find("\"rule\":\"set_not_null\"") != std::string::npos);
    CHECK(c.out().find("\"background\":true") != std::string::npos);
    CHECK(c.out().find("\"event\":\"migration_applied\"") == std::string::npos);
    // Refused for good, not at every beat: one background error, and the
    // replica keeps serving.
    std::this_thread::sleep_for(1500ms);
    CHECK(count_substr(c.out(), "\"event\":\"error\"") == 1);
    CHECK(::kill(c.pid, 0) == 0);
    ::kill(c.pid, SIGTERM);
    fresh.wait_all(10s);
    CHECK(c.exit_code == 0);
  }

  TEST_CASE("contract pre-flight: a no-transaction contract never runs inside a transaction") {
    TestDatabase db{"cprenotx"};
    TempDir v1{"cprenotx-v1"}, v2{"cprenotx-v2"}, out{"cprenotx-out"};
    v1.write("0001_big.sql", create_big);
    v2.write("0001_big.sql", create_big);
    v2.write("0002_drop_index.sql",
             "-- lockstep:phase=contract\n"
             "-- lockstep:no-transaction\n"
             "CREATE INDEX CONCURRENTLY IF NOT EXISTS big_x ON big (x);\n");
    REQUIRE(run_contract_cli(cli_argv("migrate", v1, db), out.path() / "v1").exit_code == 0);
    // A transaction-scoped lock cannot protect it: refused before anything
    // runs, as the same file as an expand migration is, with nothing
    // recorded against the deploy.
    auto refused = run_contract_cli(cli_argv("migrate", v2, db, {"--lock", "transaction"}), out.path() / "tx");
    CAPTURE(refused.out());
    CAPTURE(refused.err());
    CHECK(refused.exit_code == 3);
    CHECK(refused.err().find("0002_drop_index.sql") != std::string::npos);
    CHECK(refused.err().find("no-transaction") != std::string::npos);
    CHECK(refused.out().find("25001") == std::string::npos);
    CHECK(db.number("SELECT count(*) FROM lockstep.failures") == 0);
    // With a session lock it runs, outside a transaction.
    auto applied = run_contract_cli(cli_argv("migrate", v2, db), out.path() / "try");
    CAPTURE(applied.out());
    CHECK(applied.exit_code == 0);
    CHECK(applied.out().find("\"transaction\":false") != std::string::npos);
    CHECK(db.scalar("SELECT to_regclass('big_x') IS NOT NULL") == "t");
  }

  TEST_CASE("heartbeat lease: the CLI refuses a lease a healthy replica can lose") {
    TempDir dir{"lease-cli"}, out{"lease-cli-out"};
    dir.write("0001_a.sql", "SELECT 1;\n");
    auto r = run_contract_cli({cli_path(), "replica", "--dir", dir.path().string(), "--url", "postgresql://x@127.0.0.1:1/x",
                      "--heartbeat", "2s", "--lease", "2100ms", "--timeout", "2s"},
                     out.path() / "short");
    CHECK(r.exit_code == 2);
    CHECK(r.err().find("--lease is 2100 ms, too short for --heartbeat 2000 ms: it must be at least 4500 ms") !=
          std::string::npos);
  }

  TEST_CASE("heartbeat lease: at the shortest accepted lease no contract runs under a live old replica") {
    TestDatabase db{"leasemin"};
    TempDir v1{"leasemin-v1"}, v2{"leasemin-v2"}, out{"leasemin-out"};
    for (const TempDir* d : {&v1, &v2}) d->write("0001_users.sql", "CREATE TABLE users (id int, name text);\n");
    v2.write("0002_drop_name.sql", "-- lockstep:phase=contract\nALTER TABLE users DROP COLUMN name;\n");
    const auto interval = 1000ms;
    const auto lease = minimum_lease(interval);
    MESSAGE("interval " << interval.count() << " ms, lease " << lease.count() << " ms");
    Herd old{out.path() / "old"};
    old.spawn(1, cli_argv("replica", v1, db,
                     {"--heartbeat", std::to_string(interval.count()) + "ms", "--lease",
                      std::to_string(lease.count()) + "ms", "--deploy-version", "v1"}));
    old.release();
    REQUIRE(old.wait_for_output("\"event\":\"replica_registered\"", 30s) == 0);
    // New-image deploys keep booting while the old replica lives: every one
    // would apply the contract the moment the old lease lapsed.
    const auto until = std::chrono::steady_clock::now() + 12s;
    int boots = 0;
    while (std::chrono::steady_clock::now() < until) {
      auto r = run_contract_cli(cli_argv("migrate", v2, db, {"--deploy-version", "v2"}), out.path() / ("new" + std::to_string(boots)));
      CHECK(r.exit_code == 0);
      ++boots;
      std::this_thread::sleep_for(200ms);
    }
    const auto text = old.children()[0].out();
    CAPTURE(text);
    CHECK(boots > 3);
    CHECK(::kill(old.children()[0].pid, 0) == 0);  // alive, never told to stop
    CHECK(text.find("\"event\":\"replica_reregistered\"") == std::string::npos);
    CHECK(text.find("\"event\":\"beat_failed\"") == std::string::npos);
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2") == 0);
    CHECK(db.scalar("SELECT count(*) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'name' "
                    "AND NOT attisdropped") == "1");
    ::kill(old.children()[0].pid, SIGTERM);
    old.wait_all(10s);
  }

  TEST_CASE("heartbeat metrics: a blip of failed beats is not a failed run, and ready stays 1" *
            doctest::test_suite("pg_sample")) {
    TestDatabase db{"beatblip"};
    TempDir dir{"beatblip-src"};
    dir.write("0001_a.sql", "CREATE TABLE a (id int);\n");
    Metrics metrics;
    EventLog log;
    Settings s;
    s.database_url = db.url();
    s.on_event = tee(log.sink(), metrics.sink());
    Migrator<> m{s, DirectorySource{dir.path()}, Deadline<>{60s}};
    auto report = m.run();
    REQUIRE(report);
    auto hb = m.heartbeat(report.value(), HeartbeatOptions{300ms, 3000ms});
    REQUIRE(hb);
    REQUIRE(time_until([&] { return log.count("beat") >= 1; }, 10s) < 10s);
    // The blip: the registry table is locked away, so beats run into their
    // bound. (A missing table is created again by the next beat, so that is
    // no blip.)
    auto holder = db.connect();
    REQUIRE(holder.execute("BEGIN; LOCK TABLE lockstep.replicas IN ACCESS EXCLUSIVE MODE"));
    REQUIRE(time_until([&] { return log.count("beat_failed") >= 1; }, 10s) < 10s);
    REQUIRE(holder.execute("ROLLBACK"));
    REQUIRE(time_until([&] { return log.count("beat_recovered") >= 1; }, 10s) < 10s);
    const auto text = metrics.render();
    CAPTURE(text);
    CHECK(text.find("\nlockstep_ready 1\n") != std::string::npos);
    CHECK(text.find("outcome=\"error\"") == std::string::npos);
    CHECK(text.find("lockstep_failures_total{") == std::string::npos);
    CHECK(text.find("lockstep_heartbeat_beats_total{outcome=\"failed\"} ") != std::string::npos);
    CHECK(text.find("lockstep_heartbeat_beats_total{outcome=\"failed\"} 0\n") == std::string::npos);
    CHECK(log.count("error") == 0);
    // The state is updated when the beat's session has ended, after its
    // events (beat_recovered among them) were emitted.
    CHECK(time_until([&] { return hb.value().state().registered; }, 5s) < 5s);
    hb.value().stop();
  }

  TEST_CASE("heartbeat: a relative migration directory is resolved once, whatever the app's cwd later") {
    TestDatabase db{"chdir"};
    TempDir home{"chdir-home"}, elsewhere{"chdir-elsewhere"};
    home.write("db/0001_users.sql", "CREATE TABLE users (id int, name text);\n");
    home.write("db/0002_drop_name.sql", "-- lockstep:phase=contract\nALTER TABLE users DROP COLUMN name;\n");
    // Another project's directory of the same name, where the app moves to.
    elsewhere.write("db/0001_other.sql", "CREATE TABLE other (id int);\n");
    const auto cwd = std::filesystem::current_path();
    std::filesystem::current_path(home.path());
    EventLog log;
    Settings s;
    s.database_url = db.url();
    s.on_event = log.sink();
    Migrator<> m{s, DirectorySource{"db"}, Deadline<>{60s}};
    // An old replica is registered (a row of its own), so the contract waits.
    auto conn = db.connect();
    TableLedger ledger;
    REQUIRE(ledger.ensure(conn));
    ReplicaRecord r;
    r.replica_id = "old:1:1";
    r.deploy_version = "v1";
    r.knows_version = 1;
    r.host = "old";
    r.pid = 1;
    REQUIRE(ledger.registry().enroll(conn, r, 600s));
    auto report = m.run();
    REQUIRE(report);
    REQUIRE(report.value().contracts_waiting.size() == 1);
    auto hb = m.heartbeat(report.value(), HeartbeatOptions{200ms, 2000ms});
    REQUIRE(hb);
    std::filesystem::current_path(elsewhere.path());
    REQUIRE(ledger.registry().withdraw(conn, r.replica_id));
    const auto took = time_until([&] { return db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2") == 1; }, 15s);
    std::filesystem::current_path(cwd);
    CHECK(took < 15s);
    CHECK(db.scalar("SELECT to_regclass('other') IS NULL") == "t");
    CHECK(hb.value().state().contracts_waiting.empty());
    hb.value().stop();
  }

  TEST_CASE("status and resolve: the image that ships an applied contract is not behind it; resolve needs no source") {
    TestDatabase db{"statusres"};
    TempDir v2{"statusres-v2"}, out{"statusres-out"};
    v2.write("0001_users.sql", "CREATE TABLE users (id int, name text);\n");
    v2.write("0002_drop_name.sql", "-- lockstep:phase=contract\nALTER TABLE users DROP COLUMN name;\n");
    REQUIRE(run_contract_cli(cli_argv("migrate", v2, db), out.path() / "m").exit_code == 0);
    REQUIRE(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2") == 1);
    auto st = run_contract_cli({cli_path(), "status", "--dir", v2.path().string(), "--url", db.url()}, out.path() / "st");
    CAPTURE(st.out());
    CHECK(st.exit_code == 0);
    CHECK(st.out().find("schema version: 2 (expected 1)") != std::string::npos);
    CHECK(st.out().find("schema ahead") == std::string::npos);
    // `lockstep resolve VERSION --url URL`, as documented: no migration
    // directory anywhere (this one does not exist).
    auto res = run_contract_cli({cli_path(), "resolve", "2", "--url", db.url(), "--dir", (out.path() / "none").string()},
                       out.path() / "res");
    CAPTURE(res.err());
    CHECK(res.exit_code == 0);
    CHECK(res.err().find("resolved 0 failure record(s) of migration 2") != std::string::npos);
  }

  TEST_CASE("heartbeat: a first registration waits for a slow connection, as a beat may not") {
    // Every lookup of *.test takes 4 s (tests/support/slow_getaddrinfo.cpp):
    // connecting takes longer than a 200 ms beat may (the beat budget at this
    // lease is 240 ms). The first registration has no lease yet to lose, so
    // it may connect for as long as a registration was always given (10 s);
    // bounded like a beat, every attempt failed and the replica gave up.
    TestDatabase db{"slowenroll"};
    TempDir v1{"slowenroll-v1"}, out{"slowenroll-out"};
    v1.write("0001_t.sql", "CREATE TABLE t (id int);\n");
    std::string url = db.url();
    const auto at = url.find("@127.0.0.1:");
    REQUIRE(at != std::string::npos);
    url.replace(at, std::string{"@127.0.0.1:"}.size(), "@slow.test:");
    Herd h{out.path()};
    h.spawn(1, {"/usr/bin/env", std::string{"LD_PRELOAD="} + LOCKSTEP_SLOW_GETADDRINFO, cli_path(), "replica",
                "--dir", v1.path().string(), "--url", url, "--timeout", "30s", "--heartbeat", "200ms", "--lease",
                "600ms"});
    h.release();
    const bool registered = h.wait_for_output("\"event\":\"replica_registered\"", 25s) == 0;
    auto& c = h.children()[0];
    CAPTURE(c.out());
    CAPTURE(c.err());
    CHECK(registered);
    CHECK(db.number("SELECT count(*) FROM lockstep.replicas") == 1);
    ::kill(c.pid, SIGTERM);
    h.wait_all(20s);
  }
}
