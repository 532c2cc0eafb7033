// After each migration, and after any failure, the leader's session is as
// it was: what a migration SETs (search_path, ROLE) reaches neither the
// ledger writes nor the next migration; a no-transaction file that fails
// inside its own BEGIN leaves no aborted transaction behind, so the failure
// is recorded, the lock released and the waiters woken; a blocking lock
// attempt leaves no lock_timeout on a pooled server connection.
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {
Settings quiet(const TestDatabase& db, EventLog* log = nullptr) {
  Settings s;
  s.database_url = db.url();
  s.on_event = log != nullptr ? log->sink() : null_sink();
  return s;
}
}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("session hygiene: a migration's SET reaches neither the ledger nor the next migration" *
            doctest::test_suite("pg_sample")) {
    TestDatabase db{"hygiene"};
    const std::string other = "ls_other_" + std::to_string(::getpid());
    must(db.connect().query("DROP ROLE IF EXISTS " + other + "; CREATE ROLE " + other));
    TempDir dir{"hygiene"};
    dir.write("0001_path.sql", "CREATE SCHEMA elsewhere;\nSET search_path = elsewhere;\nSET ROLE " + other + ";\n");
    dir.write("0002_t.sql", "CREATE TABLE t (id int);\n");
    dir.write("0003_nt.sql", "-- lockstep:no-transaction\nSET search_path = elsewhere;\nSET ROLE " + other + ";\n");
    dir.write("0004_u.sql", "CREATE TABLE u (id int);\n");
    auto r = Migrator<>{quiet(db), DirectorySource{dir.path()}}.run();
    REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
    CHECK(db.scalar("SELECT schemaname || ':' || tableowner FROM pg_tables WHERE tablename = 't'") == "public:postgres");
    CHECK(db.scalar("SELECT schemaname || ':' || tableowner FROM pg_tables WHERE tablename = 'u'") == "public:postgres");
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 4);
    must(db.connect().query("DROP SCHEMA elsewhere"));
  }

  TEST_CASE("session hygiene: a no-transaction file that fails inside its own BEGIN" *
            doctest::test_suite("pg_sample")) {
    TestDatabase db{"ownbegin"};
    TempDir dir{"ownbegin"};
    dir.write("0001_t.sql", "CREATE TABLE t (id int);\n");
    dir.write("0002_tx.sql",
              "-- lockstep:no-transaction\nBEGIN;\nINSERT INTO t VALUES (1);\nSELECT 1/0;\nCOMMIT;\n");
    EventLog log;
    auto r = Migrator<>{quiet(db, &log), DirectorySource{dir.path()}}.run();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::migration_failed);
    CHECK(r.error().sqlstate == "22012");
    // The failure record was written (not lost in an aborted transaction) ...
    CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE version = 2") == 1);
    // ... the lock released cleanly (which also sends the waiters' NOTIFY) ...
    bool clean = false;
    for (const auto& e : log.all()) {
      if (e.name == "lock_released") clean = e.json.find("\"clean\":true") != std::string::npos;
    }
    CHECK(clean);
    // ... and nothing of the failed transaction stayed.
    CHECK(db.number("SELECT count(*) FROM t") == 0);
  }

  TEST_CASE("BlockingLock: no lock_timeout is left on a pooled server connection" * doctest::test_suite("pg_sample")) {
    const std::string bouncer = pgbouncer_url();
    if (bouncer.empty()) {
      if (in_ci()) FAIL("no PgBouncer fixture");
      return;
    }
    // Attempts and readers share PgBouncer's small pool; a SET that outlived
    // the attempt's transaction would show in some reader's SHOW.
    std::atomic<bool> stop{false};
    std::atomic<int> leaked{0}, reads{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
      threads.emplace_back([&, i] {
        auto c = connect_or_fail(bouncer);
        for (int k = 0; k < 60; ++k) (void)BlockingLock{}.try_acquire(c, 7700 + i, 200ms);
      });
    }
    for (int i = 0; i < 3; ++i) {
      threads.emplace_back([&] {
        auto c = connect_or_fail(bouncer);
        while (!stop) {
          auto rows = c.query("SHOW lock_timeout");
          if (rows && !rows.value().empty()) {
            ++reads;
            if (rows.value()[0][0].value_or("") != "0") ++leaked;
          }
        }
      });
    }
    for (int i = 0; i < 3; ++i) threads[static_cast<std::size_t>(i)].join();
    stop = true;
    for (std::size_t i = 3; i < threads.size(); ++i) threads[i].join();
    CHECK(reads > 0);
    CHECK(leaked == 0);
  }
}

TEST_SUITE("integration") {
  TEST_CASE("lock key: a PgBouncer alias and a direct URL derive the same lock" * doctest::test_suite("pg_sample")) {
    const std::string bouncer = pgbouncer_url();
    if (bouncer.empty()) {
      if (in_ci()) FAIL("no PgBouncer fixture");
      return;
    }
    auto admin = connect_or_fail(server_url());
    must(admin.query("DROP DATABASE IF EXISTS lockstep_alias_target WITH (FORCE)"));
    must(admin.query("CREATE DATABASE lockstep_alias_target"));
    TempDir dir{"alias"};
    dir.write("0001_t.sql", "CREATE TABLE t (id int);\n");
    EventLog log;
    Settings s;
    s.database_url = url_for_database(bouncer, "lockstep_alias");
    s.mode = BootMode::wait;  // takes no lock, but names the one it waits on
    s.on_event = log.sink();
    auto r = Migrator<>{s, DirectorySource{dir.path()}, Deadline<>{1s}}.run();
    CHECK_FALSE(r);
    bool named = false;
    for (const auto& e : log.all()) {
      if (e.name == "waiting") named = e.json.find("\"lock\":\"lockstep:lockstep_alias_target:") != std::string::npos;
    }
    CHECK(named);
    must(admin.query("DROP DATABASE IF EXISTS lockstep_alias_target WITH (FORCE)"));
  }
}
