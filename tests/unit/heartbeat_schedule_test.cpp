// The contract-safety invariant of the heartbeat, over (interval, lease,
// beat latency): a replica whose every beat lands within its bound never
// loses its lease, so no contract migration can run under it. The schedule
// is the heartbeat's own (heartbeat_schedule.hpp: next_beat_start, the
// wait range, beat_budget), driven here as a pure function of the time
// each beat takes; the heartbeat thread's only other input is the clock.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <set>
#include <string>

#include "lockstep/heartbeat.hpp"
#include "lockstep/heartbeat_schedule.hpp"

using namespace lockstep;
using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;
using time_point = std::chrono::steady_clock::time_point;

namespace {

// One beat as the server and the client see it: it starts at `start`, the
// server stamps the lease `stamp_after` later, and the new lease is visible
// to others (committed) by the time the beat ends, `took` after its start.
struct Beat {
  time_point start, stamp, visible;
};

// Drives `beats` beats of a healthy replica through the heartbeat's own
// schedule; `draw(lo, hi)` picks every duration (the adversary). Returns the
// widest window between a stamp and the next renewal becoming visible.
template <class Draw>
ms widest_gap(const HeartbeatOptions& o, int beats, Draw&& draw) {
  const ms budget = detail::beat_budget(o);
  auto one = [&](time_point start) {
    const ms took = draw(ms{0}, budget);   // a beat that lands: within its bound
    const ms stamped = draw(ms{0}, took);  // the UPDATE (or INSERT) somewhere in it
    return Beat{start, start + stamped, start + took};
  };
  Beat last = one(time_point{});  // the registration attempt that succeeded
  ms widest{0};
  ms wait = draw(o.interval / 2, o.interval);  // the first beat: somewhere in the interval
  for (int k = 0; k < beats; ++k) {
    const Beat next = one(detail::next_beat_start(last.start, last.visible, wait));
    widest = std::max(widest, std::chrono::duration_cast<ms>(next.visible - last.stamp));
    last = next;
    wait = draw(detail::shortest_beat_wait(o.interval), detail::longest_beat_wait(o.interval));
  }
  return widest;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("heartbeat schedule: a healthy replica never loses its lease (property)") {
    std::mt19937_64 rng{20261207};
    auto uniform = [&](ms lo, ms hi) {
      return hi <= lo ? lo : ms{std::uniform_int_distribution<std::int64_t>{lo.count(), hi.count()}(rng)};
    };
    // The adversary's favourite: every duration at one end of its range.
    auto extreme = [&](ms lo, ms hi) { return std::bernoulli_distribution{0.5}(rng) ? lo : hi; };
    for (int round = 0; round < 3000; ++round) {
      const ms interval = uniform(detail::shortest_interval, round % 10 == 0 ? ms{std::chrono::hours{1}} : ms{30000});
      const ms least = minimum_lease(interval);
      // The shortest accepted lease most often, where it matters.
      const ms lease = round % 3 == 0 ? least : uniform(least, least * 4);
      const HeartbeatOptions o{interval, lease};
      CAPTURE(interval.count());
      CAPTURE(lease.count());
      REQUIRE(check_heartbeat_options(o));
      REQUIRE(detail::beat_budget(o) >= std::min(interval, ms{10000}));  // a beat gets an interval at least
      REQUIRE(detail::beat_budget(o) <= ms{10000});
      const ms gap = round % 2 == 0 ? widest_gap(o, 50, uniform) : widest_gap(o, 50, extreme);
      CAPTURE(gap.count());
      // The lease outlives the window with the margin to spare (watchdog
      // latency, client and server clocks).
      REQUIRE(gap + detail::beat_margin(interval) <= lease);
    }
  }

  TEST_CASE("heartbeat schedule: the worst case is the bound, and the minimum is refused below") {
    for (const ms interval : {ms{200}, ms{2000}, ms{10000}, ms{60000}}) {
      CAPTURE(interval.count());
      const ms least = minimum_lease(interval);
      const HeartbeatOptions o{interval, least};
      // Every beat takes its whole bound and stamps at its very start; every
      // wait is 1.1 intervals (draws: took, stamped, wait, took, ...).
      auto worst = [calls = 0](ms lo, ms hi) mutable { return ++calls % 3 == 2 ? lo : hi; };
      const ms gap = widest_gap(o, 10, worst);
      CHECK(gap + detail::beat_margin(interval) <= least);
      CHECK(gap == detail::longest_beat_wait(interval) + detail::beat_budget(o));
      auto refused = check_heartbeat_options(HeartbeatOptions{interval, least - ms{1}});
      REQUIRE_FALSE(refused);
      CHECK(refused.error().code == errc::invalid_argument);
      CHECK(refused.error().message.find("HeartbeatOptions::lease") != std::string::npos);
      CHECK(refused.error().message.find("at least " + std::to_string(least.count()) + " ms") != std::string::npos);
    }
  }

  TEST_CASE("heartbeat schedule: the options of issue #31 are refused, the defaults accepted") {
    // 2 s beats and a 2.1 s lease: beats 1.8-2.2 s apart plus their own time.
    auto r = check_heartbeat_options(HeartbeatOptions{2000ms, 2100ms}, "--heartbeat", "--lease");
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("--lease is 2100 ms, too short for --heartbeat 2000 ms: it must be at least 4500 ms") !=
          std::string::npos);
    CHECK(check_heartbeat_options(HeartbeatOptions{}));
    CHECK(minimum_lease(10000ms) == 22100ms);
    // A beat connects within about an interval: 1 ms can never land.
    for (const ms interval : {1ms, 99ms}) {
      auto refused = check_heartbeat_options(HeartbeatOptions{interval, 30000ms}, "--heartbeat", "--lease");
      REQUIRE_FALSE(refused);
      CHECK(refused.error().message.find("--heartbeat is " + std::to_string(interval.count()) + " ms") !=
            std::string::npos);
      CHECK(refused.error().message.find("at least 100 ms") != std::string::npos);
    }
    CHECK(check_heartbeat_options(HeartbeatOptions{100ms, minimum_lease(100ms)}));
    CHECK(check_heartbeat_options(HeartbeatOptions{2000ms, 4500ms}));
  }

  TEST_CASE("heartbeat options: the century cap of every waited duration is inside the one check") {
    // Issue #31 leftover: Heartbeat::start ran durations.hpp's check and
    // then this one; now this one alone is run, and refuses, with its own
    // wording, whatever the century check refused (past a century, at the
    // edges of the representation, zero and below).
    const ms century = detail::longest_duration;
    for (const ms interval : {century + 1ms, ms::max(), ms::min(), 0ms, -1ms}) {
      CAPTURE(interval.count());
      auto refused = check_heartbeat_options(HeartbeatOptions{interval, 30000ms}, "--heartbeat", "--lease");
      REQUIRE_FALSE(refused);
      CHECK(refused.error().code == errc::invalid_argument);
      CHECK(refused.error().message.find("--heartbeat is " + std::to_string(interval.count()) +
                                         " ms; it must be at least 100 ms") != std::string::npos);
    }
    for (const ms lease : {century + 1ms, ms::max()}) {
      CAPTURE(lease.count());
      auto refused = check_heartbeat_options(HeartbeatOptions{10000ms, lease});
      REQUIRE_FALSE(refused);
      CHECK(refused.error().message == "HeartbeatOptions::lease is " + std::to_string(lease.count()) +
                                           " ms; it must be at most 7 days");
    }
    for (const ms lease : {ms::min(), 0ms, -1ms}) {
      CAPTURE(lease.count());
      auto refused = check_heartbeat_options(HeartbeatOptions{10000ms, lease});
      REQUIRE_FALSE(refused);
      CHECK(refused.error().message.find("HeartbeatOptions::lease is " + std::to_string(lease.count()) +
                                         " ms, too short") != std::string::npos);
    }
    // What passes is a duration the beats may wait on as it is.
    CHECK(check_heartbeat_options(HeartbeatOptions{detail::longest_interval, detail::longest_lease}));
    CHECK(detail::check_local_duration("lease", detail::longest_lease, false));
  }
}

TEST_SUITE("unit") {
  TEST_CASE("the beat schedule") {
    SUBCASE("a beat may take as long as the lease allows, at least an interval, at most 10 s") {
      CHECK(detail::beat_budget(HeartbeatOptions{1000ms, 5000ms}) == 2400ms);     // half of lease - margin
      CHECK(detail::beat_budget(HeartbeatOptions{10000ms, 30000ms}) == 10000ms);  // the cap (the defaults)
      CHECK(detail::beat_budget(HeartbeatOptions{1000ms, 2300ms}) == 1000ms);     // the shortest lease: an interval
    }
    SUBCASE("jitter stays in its range and spreads") {
      detail::Jitter j;
      std::set<std::int64_t> seen;
      for (int i = 0; i < 1000; ++i) {
        const auto d = j.between(900ms, 1100ms);
        REQUIRE(d >= 900ms);
        REQUIRE(d <= 1100ms);
        seen.insert(d.count());
      }
      CHECK(seen.size() > 100);  // 201 possible values: not one fixed phase
      CHECK(j.between(500ms, 500ms) == 500ms);
    }
  }
}
