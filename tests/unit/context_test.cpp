// The run's Context (detail/run/context.hpp) at the deadline's edges: a huge
// budget is a century, and past the deadline the time left and every wait
// are zero. No sleeping: a FakeClock.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>

#include "lockstep/detail/run/context.hpp"
#include "lockstep/lockstep.hpp"
#include "lockstep/testing/fake_clock.hpp"

using namespace lockstep;
using namespace std::chrono_literals;
using testing::FakeClock;

TEST_SUITE("unit") {
  TEST_CASE("a huge budget is a century, not a deadline in the past") {
    FakeClock clock;
    Settings s;
    s.on_event = null_sink();
    for (const auto budget : {std::chrono::milliseconds::max(), std::chrono::milliseconds{std::chrono::hours{3000000}},
                              std::chrono::milliseconds{std::chrono::hours{700}}}) {
      Deadline<FakeClock> d{budget, clock};
      detail::Context<Deadline<FakeClock>> ctx{d, s};
      CHECK_FALSE(ctx.expired());
      CHECK(ctx.remaining() == std::min(budget, detail::longest_duration));
      CHECK(ctx.budget() == std::min(budget, detail::longest_duration));
    }
  }

  // A run checks its deadline between steps, so a step may end past it: the
  // time left and every wait then count as zero, never negative (a
  // connect_retry event once said next_delay_ms: -15, which its schema forbids).
  TEST_CASE("past the deadline, the time left and the next wait are zero, not negative") {
    FakeClock clock;
    Settings s;
    s.on_event = null_sink();
    Deadline<FakeClock> d{100ms, clock};
    detail::Context<Deadline<FakeClock>> ctx{d, s};
    struct OneSecond {
      [[nodiscard]] std::chrono::milliseconds next_delay(unsigned) const { return 1s; }
    } wait;
    clock.advance(85ms);
    CHECK(ctx.remaining() == 15ms);
    CHECK(ctx.backoff(wait, 3) == 15ms);
    clock.advance(30ms);
    CHECK(ctx.expired());
    CHECK(ctx.remaining() == 0ms);
    CHECK(ctx.backoff(wait, 3) == 0ms);
  }
}
