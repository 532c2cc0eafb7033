// ExponentialBackoff and NoWait (wait/exponential_backoff.hpp): full jitter
// inside its bounds, and a wait that never waits.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "lockstep/wait/exponential_backoff.hpp"

using namespace std::chrono_literals;
using lockstep::ExponentialBackoff;

TEST_SUITE("unit") {
  TEST_CASE("ExponentialBackoff") {
    SUBCASE("ceiling doubles from the initial delay and stops at the cap") {
      ExponentialBackoff b{50ms, 2000ms, 1};
      CHECK(b.ceiling(0) == 50ms);
      CHECK(b.ceiling(1) == 100ms);
      CHECK(b.ceiling(3) == 400ms);
      CHECK(b.ceiling(5) == 1600ms);
      CHECK(b.ceiling(6) == 2000ms);
      CHECK(b.ceiling(1000) == 2000ms);  // no overflow for huge attempts
    }
    SUBCASE("full jitter: every delay lies in [0, ceiling] and the range is used") {
      ExponentialBackoff b{50ms, 2000ms, 42};
      for (unsigned attempt : {0U, 2U, 8U}) {
        const auto ceiling = b.ceiling(attempt);
        std::chrono::milliseconds lo = ceiling, hi{0};
        for (int i = 0; i < 2000; ++i) {
          const auto d = b.next_delay(attempt);
          REQUIRE(d >= 0ms);
          REQUIRE(d <= ceiling);
          lo = std::min(lo, d);
          hi = std::max(hi, d);
        }
        CHECK(lo <= ceiling / 10);
        CHECK(hi >= ceiling * 9 / 10);
      }
    }
    SUBCASE("different seeds give different sequences, the same seed the same") {
      ExponentialBackoff a{50ms, 2000ms, 7}, b{50ms, 2000ms, 7}, c{50ms, 2000ms, 8};
      std::vector<long> sa, sb, sc;
      for (unsigned i = 0; i < 20; ++i) {
        sa.push_back(static_cast<long>(a.next_delay(6).count()));
        sb.push_back(static_cast<long>(b.next_delay(6).count()));
        sc.push_back(static_cast<long>(c.next_delay(6).count()));
      }
      CHECK(sa == sb);
      CHECK(sa != sc);
    }
    SUBCASE("nonsense bounds are clamped: initial >= 1 ms, cap >= initial") {
      ExponentialBackoff b{0ms, 0ms, 1};
      CHECK(b.initial() == 1ms);
      CHECK(b.cap() == 1ms);
    }
  }

  TEST_CASE("NoWait") { CHECK(lockstep::NoWait{}.next_delay(9) == 0ms); }
}
