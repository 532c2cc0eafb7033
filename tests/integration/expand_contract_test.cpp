// Expand/contract enforced by the replicas: a contract migration waits while
// a replica of an older image heartbeats, runs (once) after it is gone, and
// an older image refuses a contracted schema. Real `lockstep replica`
// processes: the old one is SIGKILLed, so nothing unregisters it but its lease.
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <cstdint>
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

// The worked example of docs/expand-contract.md: rename users.name to
// users.full_name in three deploys.
struct Deploys {
  TempDir v1{"ec-v1"}, v2{"ec-v2"}, v3{"ec-v3"};
  Deploys() {
    for (const TempDir* d : {&v1, &v2, &v3}) {
      d->write("0001_create_users.sql",
               "CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL);\n"
               "CREATE TABLE contract_runs (version int, at timestamptz DEFAULT clock_timestamp());\n"
               "INSERT INTO users VALUES (1, 'Ada');\n");
    }
    for (const TempDir* d : {&v2, &v3}) {
      d->write("0002_add_full_name.sql",
               "-- expand: the new column, kept in step with the old one while both images run\n"
               "ALTER TABLE users ADD COLUMN full_name text;\n"
               "UPDATE users SET full_name = name;\n"
               "ALTER TABLE users ALTER COLUMN name DROP NOT NULL;\n");
    }
    v3.write("0003_drop_name.sql",
             "-- lockstep:phase=contract\n"
             "-- v2 code still reads users.name: this waits until no v2 replica is alive\n"
             "INSERT INTO contract_runs (version) VALUES (3);\n"
             "ALTER TABLE users DROP COLUMN name;\n");
  }
};

std::vector<std::string> replica_argv(const TempDir& dir, const std::string& url, const std::string& deploy,
                                      const std::string& lease = "1500ms") {
  return {cli_path(), "replica", "--dir", dir.path().string(), "--url", url, "--deploy-version", deploy,
          "--heartbeat", "200ms", "--lease", lease, "--timeout", "60s"};
}

Child run_once(const std::vector<std::string>& argv, const std::string& tag) {
  static TempDir out{"ec-out"};
  Herd h{out.path() / tag};
  h.spawn(1, argv);
  h.release();
  h.wait_all(60s);
  return h.children().at(0);
}

// A registry entry for a replica that is not a process here.
ReplicaRecord replica_record(const std::string& id, const std::string& deploy, std::int64_t knows) {
  ReplicaRecord r;
  r.replica_id = id;
  r.deploy_version = deploy;
  r.knows_version = knows;
  r.host = id.substr(0, id.find(':'));
  r.pid = 1;
  return r;
}

bool has_name_column(const TestDatabase& db) {
  return db.scalar("SELECT count(*) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'name' "
                   "AND NOT attisdropped") == "1";
}


}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("contract migration") {
    TestDatabase db{"contract"};
    Deploys d;
    TempDir out{"ec-herds"};

    // Deploy v2 is live: one replica heartbeating.
    Herd old{out.path() / "old"};
    old.spawn(1, replica_argv(d.v2, db.url(), "v2"));
    old.release();
    REQUIRE(old.wait_for_output("\"event\":\"replica_registered\"", 30s) == 0);
    REQUIRE(db.number("SELECT max(version) FROM lockstep.migrations") == 2);

    SUBCASE("waits while an old replica heartbeats and runs once within the lease after SIGKILL") {
      Herd fresh{out.path() / "new"};
      fresh.spawn(3, replica_argv(d.v3, db.url(), "v3"));
      fresh.release();
      // The new image starts at once: the gate does not wait for a contract.
      for (int i = 0; i < 3; ++i) {
        CHECK(time_until([&] { return fresh.children()[i].out().find("\"event\":\"replica_registered\"") !=
                                      std::string::npos; },
                         30s) < 30s);
      }
      CHECK(fresh.wait_for_output("\"event\":\"contract_waiting\"", 5s) >= 0);
      std::this_thread::sleep_for(2s);  // longer than the lease: the old replica's beats keep it alive
      CHECK(has_name_column(db));
      CHECK(db.number("SELECT count(*) FROM contract_runs") == 0);

      auto st = run_once({cli_path(), "status", "--dir", d.v3.path().string(), "--url", db.url()}, "status");
      CHECK(st.exit_code == 0);
      CHECK(st.out().find("contract 3 (drop_name) waits for 1 live replica(s)") != std::string::npos);
      CHECK(st.out().find("deploy=v2") != std::string::npos);

      ::kill(old.children()[0].pid, SIGKILL);
      const auto took = time_until([&] { return !has_name_column(db); }, 20s);
      // lease (1.5 s) + one beat (0.2 s) + the run; generous for a loaded CI machine.
      CHECK(took < 8s);
      CHECK_FALSE(has_name_column(db));
      CHECK(db.number("SELECT count(*) FROM contract_runs") == 1);
      CHECK(db.scalar("SELECT contract FROM lockstep.migrations WHERE version = 3") == "t");
      MESSAGE("contract ran " << took.count() << " ms after the old replica was killed (lease 1500 ms)");

      // A rollback image refuses the contracted schema.
      {
        auto rollback = run_once({cli_path(), "migrate", "--dir", d.v2.path().string(), "--url", db.url(),
                                  "--deploy-version", "v2"},
                                 "rollback");
        CHECK(rollback.exit_code == 15);
        CHECK(rollback.err().find("schema_contracted") != std::string::npos);
        CHECK(rollback.err().find("contract migration 3 (drop_name)") != std::string::npos);
        CHECK(rollback.err().find("deploy v3") != std::string::npos);
        CHECK(has_name_column(db) == false);
      }
    }

    SUBCASE("followers of a new image's leader take up its contract when the leader dies") {
      // An image with an expand migration slow enough that the others follow
      // instead of taking the fast path, then the contract.
      TempDir v3x{"ec-v3x"};
      for (const auto& f : {"0001_create_users.sql", "0002_add_full_name.sql"}) {
        v3x.write(f, read_file(d.v2.path() / f));
      }
      v3x.write("0003_slow_expand.sql", "SELECT pg_sleep(1);\nCREATE TABLE audit (id bigint);\n");
      v3x.write("0004_drop_name.sql",
                "-- lockstep:phase=contract\n"
                "INSERT INTO contract_runs (version) VALUES (4);\n"
                "ALTER TABLE users DROP COLUMN name;\n");
      Herd fresh{out.path() / "new-followers"};
      fresh.spawn(3, replica_argv(v3x, db.url(), "v3x"));
      fresh.release();
      int leader = -1;
      for (int i = 0; i < 3; ++i) {
        auto& c = fresh.children()[i];
        REQUIRE(time_until([&] { return c.out().find("\"event\":\"replica_registered\"") != std::string::npos; },
                           30s) < 30s);
        CAPTURE(c.out());
        if (c.out().find("\"event\":\"migration_applied\"") != std::string::npos) leader = i;
        // Leader and followers alike know the contract waits: each heartbeat
        // will look for the moment it can run.
        CHECK(c.out().find("\"contracts_waiting\":1") != std::string::npos);
      }
      REQUIRE(leader >= 0);
      CHECK(fresh.children()[(leader + 1) % 3].out().find("\"role\":\"follower\"") != std::string::npos);
      ::kill(fresh.children()[leader].pid, SIGKILL);
      ::kill(old.children()[0].pid, SIGKILL);
      const auto took = time_until([&] { return !has_name_column(db); }, 20s);
      CHECK(took < 8s);
      CHECK(db.number("SELECT count(*) FROM contract_runs") == 1);
      int appliers = 0;
      for (int i = 0; i < 3; ++i) {
        if (i == leader) continue;
        const auto text = fresh.children()[i].out();
        appliers += text.find("\"event\":\"migration_applied\",\"ts\"") != std::string::npos &&
                            text.find("\"version\":4,\"name\":\"drop_name\"") != std::string::npos
                        ? 1
                        : 0;
      }
      CHECK(appliers == 1);
    }

    SUBCASE("a wait-only replica reports a waiting contract and never applies it") {
      const std::vector<std::string> wait_only{cli_path(), "migrate", "--dir", d.v3.path().string(), "--url", db.url(),
                                               "--mode", "false", "--deploy-version", "v3"};
      auto blocked = run_once(wait_only, "wait-only-blocked");
      CHECK(blocked.exit_code == 0);
      CHECK(blocked.out().find("\"event\":\"contract_waiting\"") != std::string::npos);
      CHECK(blocked.out().find("\"contracts_waiting\":1") != std::string::npos);
      ::kill(old.children()[0].pid, SIGKILL);
      std::this_thread::sleep_for(2s);  // the lease runs out: the contract could run now
      auto clear = run_once(wait_only, "wait-only-clear");
      CHECK(clear.exit_code == 0);
      CHECK(clear.out().find("\"contracts_waiting\":1") != std::string::npos);
      CHECK(clear.out().find("\"event\":\"migration_applied\"") == std::string::npos);
      CHECK(has_name_column(db));
      CHECK(db.number("SELECT count(*) FROM contract_runs") == 0);
    }

    SUBCASE("a clean stop unregisters, so the contract does not wait out the lease") {
      Herd slow_old{out.path() / "slow-old"};
      slow_old.spawn(1, replica_argv(d.v2, db.url(), "v2-long-lease", "600s"));
      slow_old.release();
      REQUIRE(slow_old.wait_for_output("\"event\":\"replica_registered\"", 30s) == 0);
      ::kill(old.children()[0].pid, SIGTERM);
      old.wait_all(10s);
      CHECK(old.children()[0].exit_code == 0);
      CHECK(old.children()[0].out().find("\"event\":\"replica_withdrawn\"") != std::string::npos);

      Herd fresh{out.path() / "new2"};
      fresh.spawn(1, replica_argv(d.v3, db.url(), "v3"));
      fresh.release();
      REQUIRE(fresh.wait_for_output("\"event\":\"contract_waiting\"", 30s) == 0);
      CHECK(fresh.children()[0].out().find("\"deploys\":\"v2-long-lease x1\"") != std::string::npos);
      ::kill(slow_old.children()[0].pid, SIGTERM);
      const auto took = time_until([&] { return !has_name_column(db); }, 20s);
      CHECK(took < 3s);  // far below the 600 s lease
      CHECK(db.number("SELECT count(*) FROM contract_runs") == 1);
    }

    SUBCASE("a later boot's leader applies a contract whose old replicas are gone") {
      auto first = run_once({cli_path(), "migrate", "--dir", d.v3.path().string(), "--url", db.url(),
                             "--deploy-version", "v3"},
                            "first");
      CHECK(first.exit_code == 0);
      CHECK(first.out().find("\"event\":\"contract_waiting\"") != std::string::npos);
      CHECK(first.out().find("\"contracts_waiting\":1") != std::string::npos);
      CHECK(has_name_column(db));
      ::kill(old.children()[0].pid, SIGKILL);
      std::this_thread::sleep_for(2s);  // the lease runs out
      auto later = run_once({cli_path(), "migrate", "--dir", d.v3.path().string(), "--url", db.url(),
                             "--deploy-version", "v3"},
                            "later");
      CHECK(later.exit_code == 0);
      CHECK(later.out().find("\"event\":\"migration_applied\",") != std::string::npos);
      CHECK_FALSE(has_name_column(db));
      CHECK(db.number("SELECT count(*) FROM contract_runs") == 1);
      auto again = run_once({cli_path(), "migrate", "--dir", d.v3.path().string(), "--url", db.url()}, "again");
      CHECK(again.exit_code == 0);
      CHECK(again.out().find("\"role\":\"current\"") != std::string::npos);
      CHECK(again.out().find("\"schema_ahead\":false") != std::string::npos);
    }

    SUBCASE("an older image starts on an expanded schema, and reports it ahead") {
      auto v1 = run_once({cli_path(), "migrate", "--dir", d.v1.path().string(), "--url", db.url(),
                          "--deploy-version", "v1"},
                         "v1");
      CHECK(v1.exit_code == 0);
      CHECK(v1.out().find("\"schema_ahead\":true") != std::string::npos);
    }

    SUBCASE("registration after a contract it does not know is refused, atomically with the ledger") {
      ::kill(old.children()[0].pid, SIGKILL);
      std::this_thread::sleep_for(1700ms);
      auto leader = run_once({cli_path(), "migrate", "--dir", d.v3.path().string(), "--url", db.url()}, "lead");
      REQUIRE(leader.exit_code == 0);
      REQUIRE_FALSE(has_name_column(db));
      auto conn = db.connect();
      TableLedger ledger;
      ReplicaRecord late = replica_record("late:1:1", "v2", 2);
      auto refused = ledger.registry().enroll(conn, late, 30s);
      REQUIRE(refused);
      REQUIRE(refused.value().has_value());
      CHECK(refused.value()->version == 3);
      CHECK(db.number("SELECT count(*) FROM lockstep.replicas WHERE replica_id = 'late:1:1'") == 0);
      late.knows_version = 3;
      late.replica_id = "late:1:2";
      auto accepted = ledger.registry().enroll(conn, late, 30s);
      REQUIRE(accepted);
      CHECK_FALSE(accepted.value().has_value());
      CHECK(db.number("SELECT count(*) FROM lockstep.replicas WHERE replica_id = 'late:1:2'") == 1);
    }
  }
}

TEST_SUITE("integration") {
  TEST_CASE("contract migration under TransactionLock" * doctest::test_suite("pg_sample")) {
    // A contract applied out of order sits below the schema version: after a
    // lock_timeout retry, "the head is past it" must not pass for "applied".
    SUBCASE("a lock_timeout retry of an out-of-order contract still applies it") {
      TestDatabase db{"ec_txlock"};
      MemorySource source{{1, "t", "CREATE TABLE t (id int, old text);"},
                          {2, "drop_old", "-- lockstep:phase=contract\nALTER TABLE t DROP COLUMN old;"},
                          {3, "u", "CREATE TABLE u (id int);"}};
      Settings s;
      s.database_url = db.url();
      s.deploy_version = "v2";
      s.lock_timeout = 100ms;
      s.lock_retries = 20;
      s.on_event = null_sink();
      using TxMigrator = Migrator<TransactionLock, ExponentialBackoff, Deadline<>, MemorySource>;

      // An old replica is alive: 1 and 3 are applied, the contract waits.
      TableLedger ledger;
      {
        auto conn = db.connect();
        REQUIRE(ledger.ensure(conn));
        auto enrolled = ledger.registry().enroll(conn, replica_record("old:1:1", "v1", 1), 60s);
        REQUIRE(enrolled);
        REQUIRE_FALSE(enrolled.value().has_value());
      }
      auto first = TxMigrator{s, source}.run();
      REQUIRE_MESSAGE(first, (first ? "" : first.error().to_string()));
      REQUIRE(first.value().contracts_waiting.size() == 1);
      REQUIRE(db.number("SELECT max(version) FROM lockstep.migrations") == 3);

      // It leaves; the contract's table is busy for a moment.
      {
        auto conn = db.connect();
        REQUIRE(ledger.registry().withdraw(conn, "old:1:1"));
      }
      auto holder = db.connect();
      REQUIRE(holder.execute("BEGIN; LOCK TABLE t IN ACCESS SHARE MODE"));
      std::thread release{[&] {
        std::this_thread::sleep_for(700ms);
        (void)holder.execute("COMMIT");
      }};
      EventLog log;
      s.on_event = log.sink();
      auto second = TxMigrator{s, source}.run();
      release.join();
      REQUIRE_MESSAGE(second, (second ? "" : second.error().to_string()));
      CHECK(log.count("migration_retry") >= 1);
      CHECK(second.value().contracts_waiting.empty());
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2 AND contract") == 1);
      CHECK(db.scalar("SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'old' "
                      "AND NOT attisdropped") == "0");
    }
  }
}
