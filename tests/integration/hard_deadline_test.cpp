// The deadline is hard: run() returns within deadline + 1 s whatever the
// network does: hosts that accept and never answer, a list of them, or a
// proxy that goes silent while a migration runs (where libpq's PQcancel
// would block for ever opening its cancel connection).
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "tcp_proxy.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

TEST_SUITE("integration") {
  TEST_CASE("deadline: hosts that accept and never answer" * doctest::test_suite("pg_sample")) {
    BlackHole a, b, c;
    TempDir dir{"blackhole"};
    dir.write("0001_t.sql", "CREATE TABLE t (id int);\n");
    Settings s;
    // connect_timeout is per host: three of them would take 15 s.
    s.database_url = "host=127.0.0.1,127.0.0.1,127.0.0.1 port=" + std::to_string(a.port()) + "," +
                     std::to_string(b.port()) + "," + std::to_string(c.port()) +
                     " user=nobody dbname=none connect_timeout=5 password=bh-secret";
    EventLog log;
    s.on_event = log.sink();
    const auto t0 = std::chrono::steady_clock::now();
    auto r = Migrator<>{s, DirectorySource{dir.path()}, Deadline<>{2s}}.run();
    const auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::deadline_exceeded);
    CHECK(took < 3s);
    CHECK(r.error().to_string().find("bh-secret") == std::string::npos);
    for (const auto& e : log.all()) CHECK(e.json.find("bh-secret") == std::string::npos);
  }

  TEST_CASE("deadline: a proxy that goes silent while the leader migrates") {
    TestDatabase db{"frozen"};
    FreezingProxy proxy{option_of(db.url(), "host"), static_cast<std::uint16_t>(std::stoi(option_of(db.url(), "port")))};
    TempDir dir{"frozen"};
    dir.write("0001_slow.sql", "SELECT pg_sleep(20);\n");
    Settings s;
    s.database_url = "host=127.0.0.1 port=" + std::to_string(proxy.port()) + " user=" + option_of(db.url(), "user") +
                     " dbname=" + db.name();
    s.on_event = [&](const Event& e) {
      if (e.name == "migration_started") proxy.freeze();
    };
    const auto t0 = std::chrono::steady_clock::now();
    auto r = Migrator<>{s, DirectorySource{dir.path()}, Deadline<>{3s}}.run();
    const auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::deadline_exceeded);
    CHECK(took < 4s);
  }

  TEST_CASE("deadline: on a healthy server the session ends at once" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"reaped"};
    TempDir dir{"reaped"};
    dir.write("0001_slow.sql", "SELECT pg_sleep(30);\n");
    Settings s;
    s.database_url = db.url();
    s.on_event = null_sink();
    auto r = Migrator<>{s, DirectorySource{dir.path()}, Deadline<>{2s}}.run();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::deadline_exceeded);
    // The server ended the leader's backend (and its lock) with the deadline,
    // not when the sleep would have finished.
    bool gone = false;
    for (int i = 0; i < 20 && !gone; ++i) {
      gone = db.number("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE "
                       "'%pg_sleep(30)%' AND pid <> pg_backend_pid()") == 0;
      if (!gone) std::this_thread::sleep_for(100ms);
    }
    CHECK(gone);
    CHECK(db.number("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())") == 0);
  }
}
