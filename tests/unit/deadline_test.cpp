// Deadline handling without sleeping: the Migrator's clock is a FakeClock, and
// the server is a loopback port where nothing listens (connection refused at
// once), so every wait the Migrator makes is a fake sleep we can add up.
#include <doctest/doctest.h>

#include <chrono>
#include <numeric>
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
// A password in the URL: no event or error may show it.
const std::string kSecretUrl = "postgresql://nobody:topsecret@127.0.0.1:1/none";
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("Deadline") {
    FakeClock clock;
    Deadline<FakeClock> d{90s, clock};
    CHECK(d.budget() == 90s);
    const auto t0 = d.now();
    d.sleep_for(1500ms);
    CHECK(d.now() - t0 == 1500ms);
    CHECK(clock.sleeps() == std::vector<std::chrono::milliseconds>{1500ms});
    CHECK(Deadline<>{}.budget() == std::chrono::minutes{5});
  }

  TEST_CASE("Migrator deadline with a fake clock") {
    std::vector<test::LoggedEvent> events;
    FakeClock clock;
    SUBCASE("connection retries stop exactly at the deadline, having slept only fake time") {
      FakeMigrator m{unreachable(events, kSecretUrl), Deadline<FakeClock>{30s, clock}, ExponentialBackoff{100ms, 5s, 3},
                     MemorySource{{1, "a", "SELECT 1"}}};
      auto r = m.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::connection_failed);
      CHECK(r.error().message.find("deadline") != std::string::npos);
      const auto slept = std::accumulate(clock.sleeps().begin(), clock.sleeps().end(), 0ms);
      CHECK(slept == 30s);  // each delay clamped to what remains, never past it
      CHECK(clock.sleeps().size() >= 7);
      const auto retries = std::count_if(events.begin(), events.end(),
                                         [](const test::LoggedEvent& e) { return e.name == "connect_retry"; });
      CHECK(static_cast<std::size_t>(retries) == clock.sleeps().size());
      REQUIRE_FALSE(events.empty());
      CHECK(events.back().name == "error");
    }
    SUBCASE("no event or error ever shows the password") {
      FakeMigrator m{unreachable(events, kSecretUrl), Deadline<FakeClock>{1s, clock}, MemorySource{{1, "a", "SELECT 1"}}};
      auto r = m.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().message.find("topsecret") == std::string::npos);
      for (const auto& e : events) CHECK(e.json.find("topsecret") == std::string::npos);
      CHECK(r.error().message.find("nobody:***@") != std::string::npos);
    }
    SUBCASE("a zero or negative budget is rejected before anything runs") {
      FakeMigrator m{unreachable(events, kSecretUrl), Deadline<FakeClock>{0s, clock}, MemorySource{}};
      auto r = m.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::invalid_argument);
      CHECK(clock.sleeps().empty());
    }
    SUBCASE("a bad source fails before connecting") {
      FakeMigrator m{unreachable(events, kSecretUrl), Deadline<FakeClock>{10s, clock}, MemorySource{{1, "a", ""}, {1, "b", ""}}};
      auto r = m.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::source_invalid);
      CHECK(clock.sleeps().empty());
    }
  }
}
