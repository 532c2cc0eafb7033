// Settings (settings.hpp) through the settings check at its edges (issue
// #31, cases 13 and 14): durations PostgreSQL cannot take, and texts that
// are not UTF-8. All refused before anything is sent; no sleeping (a
// FakeClock) and no server (a port where nothing listens). Saturation is
// durations_test.cpp's, the deadline's edges context_test.cpp's.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "fake_migrator.hpp"
#include "lockstep/lockstep.hpp"
#include "lockstep/testing/fake_clock.hpp"
#include "../support/events.hpp"

using namespace lockstep;
using namespace std::chrono_literals;
using testing::FakeClock;
using test::FakeMigrator;
using test::unreachable;

namespace {
bool valid_utf8(const std::string& s) { return !detail::first_bad_byte(s).has_value(); }
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("durations PostgreSQL cannot take are refused by name before anything runs") {
    std::vector<test::LoggedEvent> events;
    FakeClock clock;
    Settings s = unreachable(events);
    std::string named;
    SUBCASE("lock_timeout of 700 h") {
      s.lock_timeout = std::chrono::hours{700};
      named = "Settings::lock_timeout";
    }
    SUBCASE("lock_timeout negative") {
      s.lock_timeout = -1ms;
      named = "Settings::lock_timeout";
    }
    SUBCASE("statement_timeout of 25 days") {
      s.statement_timeout = std::chrono::hours{25 * 24};
      named = "Settings::statement_timeout";
    }
    SUBCASE("stall_timeout of 700 h") {
      s.stall_timeout = std::chrono::hours{700};
      named = "Settings::stall_timeout";
    }
    SUBCASE("stall_timeout of 0") {
      s.stall_timeout = 0ms;
      named = "Settings::stall_timeout";
    }
    SUBCASE("progress_interval past a century") {
      s.progress_interval = std::chrono::milliseconds::max();
      named = "Settings::progress_interval";
    }
    SUBCASE("transaction_control turned off in LockSafety::levels") {
      s.lock_safety.levels["transaction_control"] = checks::Level::off;
      named = "Settings::lock_safety.levels: rule transaction_control is always an error";
    }
    SUBCASE("an unknown rule in LockSafety::levels") {
      s.lock_safety.levels["table_rewirte"] = checks::Level::off;
      named = "Settings::lock_safety.levels: unknown rule 'table_rewirte'";
    }
    SUBCASE("connect_timeout past what milliseconds hold") {
      s.connect_timeout = std::chrono::seconds::max();
      named = "Settings::connect_timeout";
    }
    FakeMigrator m{s, Deadline<FakeClock>{30s, clock}, MemorySource{{1, "a", "SELECT 1"}}};
    auto r = m.run();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK(r.error().message.find(named) != std::string::npos);
    CHECK(clock.sleeps().empty());
    for (const auto& e : events) CHECK(e.name != "boot");
  }

  TEST_CASE("heartbeat durations past a century are refused by name before anything is sent") {
    Settings s;
    s.database_url = "host=127.0.0.1 port=1 user=x dbname=y";
    std::vector<std::string> events;
    s.on_event = [&](const Event& e) { events.push_back(to_json(e)); };
    Migrator<> m{s};
    Report report;
    auto lease = m.heartbeat(report, HeartbeatOptions{10s, std::chrono::milliseconds::max()});
    REQUIRE_FALSE(lease);
    CHECK(lease.error().code == errc::invalid_argument);
    CHECK(lease.error().message.find("HeartbeatOptions::lease") != std::string::npos);
    auto interval = m.heartbeat(report, HeartbeatOptions{std::chrono::hours{3000000}, std::chrono::milliseconds::max()});
    REQUIRE_FALSE(interval);
    CHECK(interval.error().message.find("HeartbeatOptions::interval") != std::string::npos);
    CHECK(events.empty());  // no connection was tried
  }

  TEST_CASE("durations at their accepted edges pass the check") {
    Settings s;
    s.lock_timeout = 0ms;  // none
    s.statement_timeout = 2147483647ms;
    s.stall_timeout = 2147483647ms;
    s.progress_interval = 0ms;
    CHECK(detail::check_durations(s));
    s.progress_interval = detail::longest_duration;
    CHECK(detail::check_durations(s));
  }

  TEST_CASE("settings that reach SQL or an event must be UTF-8 without NUL") {
    std::vector<test::LoggedEvent> events;
    FakeClock clock;
    Settings s = unreachable(events);
    std::string named;
    SUBCASE("deploy_version") {
      s.deploy_version = "v\xe9";
      named = "Settings::deploy_version";
    }
    SUBCASE("deploy_version with a NUL") {
      s.deploy_version = std::string{"v1\0x", 4};
      named = "Settings::deploy_version";
    }
    SUBCASE("host") {
      s.host = "h\xc3\x28";
      named = "Settings::host";
    }
    SUBCASE("application_name") {
      s.application_name = "app\xed\xa0\x80";  // a surrogate
      named = "Settings::application_name";
    }
    SUBCASE("lock_name") {
      s.lock_name = "l\xf8";
      named = "Settings::lock_name";
    }
    FakeMigrator m{s, Deadline<FakeClock>{30s, clock}, MemorySource{{1, "a", "SELECT 1"}}};
    auto r = m.run();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK(r.error().message.find(named) != std::string::npos);
    CHECK(valid_utf8(r.error().message));
    CHECK(clock.sleeps().empty());
    REQUIRE_FALSE(events.empty());
    for (const auto& e : events) {
      CHECK(e.name != "boot");
      CHECK(valid_utf8(e.json));
    }
  }

  TEST_CASE("UTF-8 text passes, and an event line is valid UTF-8 whatever reaches it") {
    CHECK(valid_utf8("v1.2.3 \xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80"));
    detail::JsonObject o;
    o.add("message", std::string_view{"caf\xe9 \xc3\xa9 \xff"});
    CHECK(o.str() == "{\"message\":\"caf\\ufffd \xc3\xa9 \\ufffd\"}");
    CHECK(valid_utf8(o.str()));
  }
}
