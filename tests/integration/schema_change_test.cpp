// Schema changes reach the replicas that are already serving (issue #34,
// part 1; docs/schema-changes.md): the leader measures which relations' row
// types each migration changed, in its transaction, records them in its
// ledger row, NOTIFYs at COMMIT, and every heartbeat learns of it at its
// next beat (a `schema_changed` event, HeartbeatOptions::on_schema_change).
// Real servers, real `lockstep` processes where the promise is about them.
#include <doctest/doctest.h>

#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
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

// A session that LISTENs on the schema-change channel, on libpq itself (the
// payloads are what is tested; lockstep's adapter only says "woken").
class Listener {
 public:
  explicit Listener(const std::string& url) : conn_{PQconnectdb(url.c_str())} {
    if (PQstatus(conn_) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(conn_));
    PGresult* r = PQexec(conn_, (std::string{"LISTEN "} + schema_change_channel).c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) throw std::runtime_error("LISTEN failed");
  }
  ~Listener() { PQfinish(conn_); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Every payload that arrives within `wait`.
  std::vector<std::string> drain(std::chrono::milliseconds wait) {
    std::vector<std::string> out;
    const auto until = std::chrono::steady_clock::now() + wait;
    for (;;) {
      PQconsumeInput(conn_);
      while (PGnotify* n = PQnotifies(conn_)) {
        out.emplace_back(n->extra);
        PQfreemem(n);
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return out;
      pollfd p{PQsocket(conn_), POLLIN, 0};
      (void)::poll(&p, 1, static_cast<int>(left.count()));
    }
  }

 private:
  PGconn* conn_;
};

using Memory = Migrator<TryLock, NotifyBackoff, Deadline<>, MemorySource>;

Memory memory_migrator(const TestDatabase& db, std::vector<MigrationSpec> ms, EventLog* log = nullptr) {
  Settings s;
  s.database_url = db.url();
  if (log != nullptr) s.on_event = log->sink();
  return Memory{s, MemorySource{std::move(ms)}, Deadline<>{60s}};
}

std::string changed(const TestDatabase& db, int version) {
  return db.scalar("SELECT coalesce(row_types_changed::text, 'NULL') FROM lockstep.migrations WHERE version = " +
                   std::to_string(version));
}

const std::string create_t =
    "CREATE TABLE t (id int PRIMARY KEY, a int, b text);\n"
    "INSERT INTO t VALUES (1, 10, 'one'), (2, 20, 'two');\n";

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("schema change: the ledger row names exactly the relations whose row types the migration changed") {
    TestDatabase db{"scrows"};
    auto m = memory_migrator(
        db, {{1, "base",
              "CREATE TABLE t (id int PRIMARY KEY, a int, b text);\n"
              "CREATE TABLE u (id int);\n"
              "CREATE VIEW v AS SELECT id FROM t;\n"
              "CREATE TABLE p (id int, at date) PARTITION BY RANGE (at);\n"
              "CREATE TABLE p1 PARTITION OF p FOR VALUES FROM ('2020-01-01') TO ('2030-01-01');\n"},
             {2, "add_column", "ALTER TABLE t ADD COLUMN c int;\n"},
             {3, "no_row_type", "CREATE INDEX t_a ON t (a);\nINSERT INTO t (id) VALUES (1);\nCREATE TABLE w (id int);\n"},
             {4, "drop_column", "ALTER TABLE t DROP COLUMN b;\n"},
             {5, "drop_table_and_retype", "DROP TABLE u;\nALTER TABLE t ALTER COLUMN a TYPE bigint;\n"},
             {6, "view_and_dynamic_sql",
              "CREATE OR REPLACE VIEW v AS SELECT id, 1 AS extra FROM t;\n"
              "DO $$ BEGIN EXECUTE 'ALTER TABLE w ADD COLUMN z int'; END $$;\n"},
             {7, "partitioned", "ALTER TABLE p ADD COLUMN note text;\n"},
             {8, "rename_column", "ALTER TABLE t RENAME COLUMN c TO c2;\n"},
             {9, "no_transaction", "-- lockstep:no-transaction\nALTER TABLE w ADD COLUMN q int;\n"},
             {10, "after_no_transaction", "CREATE TABLE x (id int);\n"}});
    auto r = m.run();
    REQUIRE(r);
    CHECK(changed(db, 1) == "[]");  // only new relations: no prepared statement can depend on them yet
    CHECK(changed(db, 2) == "[\"public.t\"]");
    CHECK(changed(db, 3) == "[]");  // an index, rows, a new table
    CHECK(changed(db, 4) == "[\"public.t\"]");
    CHECK(changed(db, 5) == "[\"public.t\", \"public.u\"]");  // a dropped relation counts
    CHECK(changed(db, 6) == "[\"public.v\", \"public.w\"]");  // dynamic SQL no parser sees
    CHECK(changed(db, 7) == "[\"public.p\"]");                // the root, not its partitions
    CHECK(changed(db, 8) == "[\"public.t\"]");
    CHECK(changed(db, 9) == "[\"public.w\"]");  // a no-transaction file, on its session
    CHECK(changed(db, 10) == "[]");             // the session's setting did not leak into the next row
  }

  TEST_CASE("schema change: one NOTIFY at COMMIT, none for a rolled-back or unchanged migration, the list left out when too long") {
    TestDatabase db{"scnotify"};
    Listener listen{db.url()};
    REQUIRE(memory_migrator(db, {{1, "t", create_t}}).run());
    CHECK(listen.drain(200ms).empty());  // CREATE TABLE changes no existing row type

    // A migration that changes t and then fails: rolled back, nothing said.
    auto failing = memory_migrator(db, {{1, "t", create_t}, {2, "fails", "ALTER TABLE t ADD COLUMN d int;\nSELECT 1/0;\n"}});
    auto failed = failing.run();
    REQUIRE_FALSE(failed);
    CHECK(failed.error().sqlstate == "22012");
    CHECK(listen.drain(300ms).empty());
    CHECK(db.number("SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'd'") == 0);

    auto ok = memory_migrator(db, {{1, "t", create_t}, {3, "adds", "ALTER TABLE t ADD COLUMN e int;\n"}}).run();
    REQUIRE(ok);
    auto got = listen.drain(2s);
    REQUIRE(got.size() == 1);
    CHECK(got[0].find("\"version\": 3") != std::string::npos);
    CHECK(got[0].find("\"phase\": \"expand\"") != std::string::npos);
    CHECK(got[0].find("\"relations\": [\"public.t\"]") != std::string::npos);
    CHECK(got[0].find("\"ledger\": \"lockstep.migrations\"") != std::string::npos);

    // 300 long-named tables changed at once: more than a NOTIFY payload holds.
    std::string many = "DO $$ BEGIN FOR i IN 1..300 LOOP EXECUTE format('CREATE TABLE %I (id int)', "
                       "'a_rather_long_table_name_to_fill_the_payload_' || i); END LOOP; END $$;\n";
    std::string alter_all = "DO $$ BEGIN FOR i IN 1..300 LOOP EXECUTE format('ALTER TABLE %I ADD COLUMN x int', "
                            "'a_rather_long_table_name_to_fill_the_payload_' || i); END LOOP; END $$;\n";
    REQUIRE(memory_migrator(db, {{1, "t", create_t}, {3, "adds", "ALTER TABLE t ADD COLUMN e int;\n"},
                                 {4, "many", many}, {5, "alter_all", alter_all}})
                .run());
    got = listen.drain(2s);
    REQUIRE(got.size() == 1);
    CHECK(got[0].find("\"version\": 5") != std::string::npos);
    CHECK(got[0].find("\"relations\": null") != std::string::npos);
    CHECK(got[0].find("\"count\": 300") != std::string::npos);
    CHECK(got[0].size() < 8000);
    CHECK(db.number("SELECT jsonb_array_length(row_types_changed) FROM lockstep.migrations WHERE version = 5") == 300);
  }

  TEST_CASE("schema change: a serving replica's prepared SELECT * survives a contract DROP COLUMN another replica applies, healed by on_schema_change") {
    // An old image (v1) serves; the new image (v2) has a contract that
    // drops t.b. A new replica in this process serves with a prepared
    // SELECT * on two connections, and hears of the change by its hook; a
    // new replica in another process applies the contract once the old one
    // leaves. The connection the hook's flag heals keeps working; the other
    // one fails with 0A000, which is what every app without it sees.
    TestDatabase db{"scheal"};
    TempDir v1{"scheal-v1"}, v2{"scheal-v2"}, out{"scheal-out"};
    v1.write("0001_t.sql", create_t);
    v2.write("0001_t.sql", create_t);
    const std::string contract = "-- lockstep:phase=contract\nALTER TABLE t DROP COLUMN b;\n";
    v2.write("0002_drop_b.sql", contract);
    const std::vector<std::string> beat{"--heartbeat", "300ms", "--lease", "3s"};
    REQUIRE(run_one(cli_argv("migrate", v1, db), out.path() / "v1").exit_code == 0);

    Herd old{out.path() / "old"};
    old.spawn(1, cli_argv("replica", v1, db, beat));
    old.release();
    REQUIRE(old.wait_for_output("\"event\":\"replica_registered\"", 30s) == 0);

    // The serving replica of the new image: waits for nothing (wait mode),
    // applies nothing, only listens.
    EventLog log;
    Settings s;
    s.database_url = db.url();
    s.mode = BootMode::wait;
    s.on_event = log.sink();
    Migrator<TryLock, NotifyBackoff, Deadline<>, DirectorySource> serving{s, DirectorySource{v2.path()},
                                                                         Deadline<>{60s}};
    auto gated = serving.run();
    REQUIRE(gated);
    std::atomic<int> stale{0};
    std::mutex seen_mutex;
    std::vector<SchemaChange> seen;
    HeartbeatOptions options{300ms, 3000ms};
    options.on_schema_change = [&](const SchemaChange& c) {
      {
        std::lock_guard lock{seen_mutex};
        seen.push_back(c);
      }
      ++stale;  // the pool deallocates on each idle connection before its next use
    };
    auto hb = serving.heartbeat(gated.value(), options);
    REQUIRE(hb);

    auto healed = db.connect();
    auto plain = db.connect();
    for (auto* c : {&healed, &plain}) {
      must(c->query("PREPARE all_t AS SELECT * FROM t ORDER BY id"));
      auto rows = must(c->query("EXECUTE all_t"));
      REQUIRE(rows.size() == 2);
      CHECK(rows[0].size() == 3);
    }

    Herd fresh{out.path() / "new"};
    fresh.spawn(1, cli_argv("replica", v2, db, beat));
    fresh.release();
    REQUIRE(fresh.wait_for_output("\"event\":\"contract_waiting\"", 30s) == 0);
    CHECK(stale.load() == 0);
    ::kill(old.children()[0].pid, SIGTERM);
    old.wait_all(10s);

    // The other process applies the contract; this one hears of it.
    CHECK(time_until([&] { return stale.load() > 0; }, 20s) < 20s);
    CHECK(db.number("SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'b' "
                    "AND NOT attisdropped") == 0);
    {
      std::lock_guard lock{seen_mutex};
      REQUIRE(seen.size() == 1);
      CHECK(seen[0].version == 2);
      CHECK(seen[0].contract);
      CHECK(seen[0].ledger == "lockstep.migrations");
      CHECK(seen[0].relations == std::vector<std::string>{"public.t"});
    }
    CHECK(log.count("schema_changed") == 1);

    // Without the hook: the statement is stale on its connection.
    auto broken = plain.query("EXECUTE all_t");
    REQUIRE_FALSE(broken);
    CHECK(broken.error().sqlstate == "0A000");
    // With it: deallocated while idle, prepared again, two columns now.
    if (stale.exchange(0) > 0) must(healed.query("DEALLOCATE ALL"));
    must(healed.query("PREPARE all_t AS SELECT * FROM t ORDER BY id"));
    auto rows = must(healed.query("EXECUTE all_t"));
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].size() == 2);

    // The replica that applied it prints the event too, for apps in other languages.
    auto& n = fresh.children()[0];
    CHECK(time_until([&] { return n.out().find("\"event\":\"schema_changed\"") != std::string::npos; }, 10s) < 10s);
    CAPTURE(n.out());
    CHECK(n.out().find("\"relations\":[\"public.t\"]") != std::string::npos);
    CHECK(n.out().find("\"phase\":\"contract\"") != std::string::npos);
    hb.value().stop();
    ::kill(n.pid, SIGTERM);
    fresh.wait_all(10s);
  }

  TEST_CASE("schema change: a hook that throws is reported in the state and the beats go on") {
    TestDatabase db{"scthrow"};
    EventLog log;
    auto m = memory_migrator(db, {{1, "t", create_t}}, &log);
    auto gated = m.run();
    REQUIRE(gated);
    HeartbeatOptions options{200ms, 2000ms};
    std::atomic<int> calls{0};
    options.on_schema_change = [&](const SchemaChange&) {
      ++calls;
      throw std::runtime_error("cache refresh failed on postgresql://app:hunter2-not-shown@cache/app");
    };
    auto hb = m.heartbeat(gated.value(), options);
    REQUIRE(hb);
    REQUIRE(memory_migrator(db, {{1, "t", create_t}, {2, "adds", "ALTER TABLE t ADD COLUMN c int;\n"}}).run());
    CHECK(time_until([&] { return calls.load() > 0; }, 10s) < 10s);
    const auto beats = hb.value().state().beats;
    CHECK(time_until([&] { return hb.value().state().beats >= beats + 3; }, 10s) < 10s);
    CHECK(calls.load() == 1);  // once per change, not at every beat
    const auto state = hb.value().state();
    CHECK(state.failed_beats == 0);
    CHECK(state.registered);
    CHECK(state.schema_version == 2);
    CHECK(state.schema_changes == 1);
    CHECK(log.count("schema_changed") == 1);
    // What the hook threw stays in the state, redacted, until it next returns normally.
    CHECK(state.schema_hook_error.find("on_schema_change threw for migration 2: cache refresh failed") !=
          std::string::npos);
    CHECK(state.schema_hook_error.find("hunter2-not-shown") == std::string::npos);
    CHECK(to_json(state).find("hunter2-not-shown") == std::string::npos);
    CHECK(state.last_error.empty());
    hb.value().stop();
  }

  TEST_CASE("schema change: a dry run's rehearsal names the relations whose row types would change") {
    TestDatabase db{"scdry"};
    TempDir dir{"scdry-dir"}, out{"scdry-out"};
    dir.write("0001_t.sql", create_t);
    REQUIRE(run_one(cli_argv("migrate", dir, db), out.path() / "apply").exit_code == 0);
    dir.write("0002_adds.sql", "ALTER TABLE t ADD COLUMN c int;\nCREATE TABLE n (id int);\n");
    auto r = run_one(cli_argv("migrate", dir, db, {"--mode", "dry-run", "--rehearse"}), out.path() / "dry");
    CAPTURE(r.out());
    CAPTURE(r.err());
    CHECK(r.exit_code == 0);
    CHECK(r.out().find("\"row_types_changed\":[\"public.t\"]") != std::string::npos);
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2") == 0);
  }

  // Found by review: the beat read the ledger's newest version inside its
  // renewal, so a ledger locked by a DBA's ALTER (or any DDL queued behind a
  // long reader) failed every renewal until the lock went, the lease lapsed
  // under a live replica, and a contract could commit under it.
  TEST_CASE("schema change: a locked ledger never costs a beating replica its lease") {
    TestDatabase db{"sclocked"};
    auto m = memory_migrator(db, {{1, "t", create_t}});
    auto gated = m.run();
    REQUIRE(gated);
    auto hb = m.heartbeat(gated.value(), HeartbeatOptions{200ms, 1500ms});
    REQUIRE(hb);
    const std::string id = hb.value().state().replica_id;
    auto locker = db.connect();
    must(locker.query("BEGIN; LOCK TABLE lockstep.migrations IN ACCESS EXCLUSIVE MODE"));
    const auto until = std::chrono::steady_clock::now() + 4s;
    int lapsed = 0, looks = 0;
    while (std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(100ms);
      ++looks;
      if (db.scalar("SELECT expires_at > clock_timestamp() FROM lockstep.replicas WHERE replica_id = '" + id + "'") !=
          "t") {
        ++lapsed;
      }
    }
    must(locker.query("COMMIT"));
    CHECK(looks > 20);
    CHECK(lapsed == 0);
    hb.value().stop();
  }

  TEST_CASE("schema change: off (Settings::schema_changes) measures and broadcasts nothing, and applies as before") {
    TestDatabase db{"scoff"};
    Listener listen{db.url()};
    Settings s;
    s.database_url = db.url();
    s.on_event = null_sink();
    s.schema_changes = false;
    Memory m{s, MemorySource{{1, "t", create_t}, {2, "adds", "ALTER TABLE t ADD COLUMN c int;\n"}}, Deadline<>{60s}};
    REQUIRE(m.run());
    CHECK(changed(db, 2) == "NULL");
    CHECK(listen.drain(300ms).empty());
    CHECK(db.number("SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'c'") == 1);
  }
}
