// The deadline and the settings at their edges, with the lockstep program
// (issue #31, cases 1, 2, 13 and 14):
//  - the progress monitor's side connection through a proxy that goes
//    silent must not keep the process alive past --timeout;
//  - a resolver that takes 4 s per lookup must not stretch a 5 s --timeout
//    (the refusal's SQLSTATE probe resolved the name again on the caller's
//    thread);
//  - a timeout of 700 h (more than PostgreSQL's int of milliseconds) or of
//    9223372036854775807 ms applies a migration instead of overflowing;
//  - a deploy version that is not UTF-8 is refused at the settings check,
//    naming the setting, before anything runs.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "processes.hpp"
#include "tcp_proxy.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

struct Timed {
  Child child;
  std::chrono::milliseconds took{0};
};

// Runs `argv` (argv[0] a path) with a hard limit; `during` runs meanwhile.
template <class During>
Timed run_timed(const std::vector<std::string>& argv, const std::string& tag, std::chrono::milliseconds limit,
                During&& during) {
  static TempDir out{"deadline-edges-out"};
  Herd h{out.path() / tag};
  h.spawn(1, argv);
  const auto t0 = std::chrono::steady_clock::now();
  h.release();
  during(h);
  h.wait_all(limit);
  Timed t;
  t.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  t.child = h.children().at(0);
  return t;
}

Timed run_timed(const std::vector<std::string>& argv, const std::string& tag, std::chrono::milliseconds limit) {
  return run_timed(argv, tag, limit, [](Herd&) {});
}

bool valid_utf8(const std::string& s) { return !detail::first_bad_byte(s).has_value(); }

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("deadline: the progress monitor's connection goes silent (lockstep migrate)") {
    TestDatabase db{"progress_silent"};
    FreezingProxy proxy{option_of(db.url(), "host"), static_cast<std::uint16_t>(std::stoi(option_of(db.url(), "port")))};
    TempDir dir{"progress-silent"};
    dir.write("0001_slow.sql", "SELECT pg_sleep(20);\n");
    const std::string url = "host=127.0.0.1 port=" + std::to_string(proxy.port()) +
                            " user=" + option_of(db.url(), "user") + " dbname=" + db.name();
    auto t = run_timed({cli_path(), "migrate", "--dir", dir.path().string(), "--url", url, "--timeout", "6s",
                        "--progress-interval", "1s"},
                       "progress-silent", 30s, [&](Herd& h) {
                         // The side connection is open once a progress event is out; from then on
                         // the proxy neither forwards nor closes anything, on either connection.
                         CHECK(h.wait_for_output("\"progress\"", 5s) == 0);
                         std::this_thread::sleep_for(300ms);
                         proxy.freeze();
                       });
    INFO("stdout: " << t.child.out());
    INFO("stderr: " << t.child.err());
    REQUIRE(t.child.finished);
    CHECK(t.child.signal == 0);  // not killed at the test's limit
    CHECK(t.child.exit_code == 10);  // deadline_exceeded
    CHECK(t.child.out().find("lock_released") != std::string::npos);
    // About the deadline: the leader's watchdog and the monitor's both fire at 6 s.
    CHECK(t.took < 7500ms);
  }

  TEST_CASE("deadline: a slow resolver (lockstep status against a closed port)") {
    // A port with nothing behind it: each attempt is refused at once, after
    // a lookup of 4 s. Two lookups per attempt (the connection, and the
    // probe for the refusal's SQLSTATE) took 8 s on a 5 s deadline.
    std::uint16_t port = 0;
    ::close(listen_loopback(port));
    const std::string url = "postgresql://postgres@slow.test:" + std::to_string(port) + "/t1";
    TempDir dir{"slow-resolver"};
    dir.write("0001_t.sql", "CREATE TABLE t (id int);\n");
    auto t = run_timed({"/usr/bin/env", std::string{"LD_PRELOAD="} + LOCKSTEP_SLOW_GETADDRINFO, cli_path(), "status",
                        "--dir", dir.path().string(), "--url", url, "--timeout", "5s"},
                       "slow-resolver", 30s);
    INFO("stdout: " << t.child.out());
    INFO("stderr: " << t.child.err());
    REQUIRE(t.child.finished);
    CHECK(t.child.signal == 0);
    CHECK(t.child.exit_code != 0);
    CHECK(t.took >= 4s);  // the shim was in use
    CHECK(t.took < 6s);
  }

  TEST_CASE("large durations apply a migration (lockstep migrate --timeout)") {
    TestDatabase db{"large_durations"};
    TempDir dir{"large-durations"};
    dir.write("0001_t.sql", "CREATE TABLE t (id int);\n");
    dir.write("0002_u.sql", "-- lockstep:no-transaction\nCREATE TABLE u (id int);\n");
    std::string tag = "timeout-";
    std::string timeout;
    SUBCASE("700h: statement_timeout would pass PostgreSQL's int of ms") { timeout = "700h"; }
    SUBCASE("3000000h: nanoseconds would overflow") { timeout = "3000000h"; }
    SUBCASE("9223372036854775807ms") { timeout = "9223372036854775807ms"; }
    SUBCASE("9223372036854775807h: milliseconds would overflow") { timeout = "9223372036854775807h"; }
    auto t = run_timed({cli_path(), "migrate", "--dir", dir.path().string(), "--url", db.url(), "--timeout", timeout},
                       tag + std::to_string(timeout.size()), 60s);
    INFO("timeout " << timeout);
    INFO("stdout: " << t.child.out());
    INFO("stderr: " << t.child.err());
    CHECK(t.child.exit_code == 0);
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 2);
    CHECK(db.number("SELECT count(*) FROM pg_tables WHERE tablename IN ('t', 'u')") == 2);
  }

  TEST_CASE("durations PostgreSQL cannot take are refused by name (lockstep migrate)" *
            doctest::test_suite("pg_sample")) {
    TestDatabase db{"pg_durations"};
    TempDir dir{"pg-durations"};
    dir.write("0001_t.sql", "CREATE TABLE t (id int);\n");
    std::string flag, value, named;
    SUBCASE("--lock-timeout 700h") {
      flag = "--lock-timeout";
      value = "700h";
      named = "lock timeout";
    }
    SUBCASE("--stall-timeout 700h") {
      flag = "--stall-timeout";
      value = "700h";
      named = "stall timeout";
    }
    SUBCASE("--stall-timeout 9223372036854775807h") {
      flag = "--stall-timeout";
      value = "9223372036854775807h";
      named = "stall timeout";
    }
    SUBCASE("--progress-interval 3000000h") {
      flag = "--progress-interval";
      value = "3000000h";
      named = "progress interval";
    }
    auto t = run_timed({cli_path(), "migrate", "--dir", dir.path().string(), "--url", db.url(), flag, value},
                       "pg-durations" + std::to_string(flag.size() + value.size()), 60s);
    INFO("stdout: " << t.child.out());
    INFO("stderr: " << t.child.err());
    CHECK(t.child.exit_code == 3);  // invalid_argument
    CHECK(t.child.err().find(named) != std::string::npos);
    CHECK(t.child.err().find(flag) != std::string::npos);
    CHECK(t.child.out().find("migration_started") == std::string::npos);
    CHECK(db.number("SELECT count(*) FROM pg_tables WHERE tablename = 't'") == 0);
  }

  TEST_CASE("a deploy version that is not UTF-8 is a settings error (lockstep migrate)") {
    TestDatabase db{"deploy_utf8"};
    TempDir dir{"deploy-utf8"};
    dir.write("0001_t.sql", "CREATE TABLE t (id int);\n");
    auto t = run_timed({cli_path(), "migrate", "--dir", dir.path().string(), "--url", db.url(), "--deploy-version",
                        "v\xe9"},
                       "deploy-utf8", 60s);
    INFO("stdout: " << t.child.out());
    INFO("stderr: " << t.child.err());
    CHECK(t.child.exit_code == 3);  // invalid_argument, not migration_failed
    CHECK(t.child.err().find("deploy version") != std::string::npos);
    CHECK(t.child.err().find("--deploy-version") != std::string::npos);
    CHECK(t.child.err().find("22021") == std::string::npos);
    CHECK(t.child.out().find("migration_started") == std::string::npos);
    CHECK(valid_utf8(t.child.out()));
    CHECK(valid_utf8(t.child.err()));
    CHECK(db.number("SELECT count(*) FROM pg_tables WHERE tablename = 't'") == 0);
  }

  TEST_CASE("settings that reach SQL or an event must be UTF-8 (library)") {
    TestDatabase db{"settings_utf8"};
    Settings s;
    s.database_url = db.url();
    std::string named;
    SUBCASE("deploy_version") {
      s.deploy_version = "v\xe9";
      named = "Settings::deploy_version";
    }
    SUBCASE("host") {
      s.host = std::string{"pod\0one", 7};
      named = "Settings::host";
    }
    SUBCASE("application_name") {
      s.application_name = "app\xff";
      named = "Settings::application_name";
    }
    SUBCASE("lock_name") {
      s.lock_name = "lock\xc3";
      named = "Settings::lock_name";
    }
    EventLog log;
    s.on_event = log.sink();
    auto r = Migrator<TryLock, NotifyBackoff, Deadline<>, MemorySource>{s, MemorySource{{1, "t", "CREATE TABLE t (id int);"}},
                                                                        Deadline<>{10s}}
                 .run();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK(r.error().message.find(named) != std::string::npos);
    CHECK(log.count("boot") == 0);
    for (const auto& e : log.all()) CHECK(valid_utf8(e.json));
    CHECK(db.number("SELECT count(*) FROM pg_tables WHERE tablename = 't'") == 0);
  }
}
