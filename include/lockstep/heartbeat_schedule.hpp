// The heartbeat's schedule as pure functions of its options: when the next
// beat starts, how long one beat may take, and the shortest lease that a
// healthy replica can never lose between two beats. heartbeat.hpp runs
// exactly these; tests/unit/heartbeat_schedule_test.cpp proves the invariant
// over (interval, lease, beat latency).
//
// The model. Beat k starts at S_k. The server stamps the lease at T_k >= S_k
// (clock_timestamp() of the UPDATE, or of the INSERT when registering) and
// the row is visible to others by the time the beat ends, E_k <= S_k + B
// (B = beat_budget(): the beat's own deadline, connecting included). The
// next beat starts at S_{k+1} = max(S_k + w_k, E_k), w_k in [0.9, 1.1]
// intervals: measured from the start of the last beat, not its end, so a
// slow beat does not push the next one later. Hence the renewal that
// follows a stamp is visible within max(1.1 I, B) + B of it, and the lease
// never lapses under a replica whose beats land while
//   lease >= max(1.1 I, B) + B + margin.
// The margin (a tenth of an interval plus 100 ms) covers the watchdog's own
// latency and the difference between the client's and the server's clocks.
// The shortest lease gives a beat one interval (at most 10 s):
//   minimum_lease(I) = 1.1 I + min(I, 10 s) + I / 10 + 100 ms.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>

#include "lockstep/detail/base/durations.hpp"
#include "lockstep/error.hpp"
#include "lockstep/schema_change.hpp"

namespace lockstep {

struct HeartbeatOptions {
  std::chrono::milliseconds interval{10000};  // between beats
  std::chrono::milliseconds lease{30000};     // how long one beat keeps the replica alive; >= minimum_lease(interval)
  // Called on the heartbeat thread once for each migration that changed row
  // types after this replica's gate, at the first beat after it committed
  // (docs/schema-changes.md): deallocate prepared statements on the pool's
  // idle connections, refresh a cache. Keep it short: the next beat waits
  // for it. An exception is caught and shown in HeartbeatState::schema_hook_error.
  std::function<void(const SchemaChange&)> on_schema_change{};
};

namespace detail {

inline constexpr std::chrono::milliseconds beat_budget_cap{10000};
// Bounds that keep every product below in range (and a replica that beats
// less than daily, or a lease of weeks, is a typo).
inline constexpr std::chrono::milliseconds longest_interval{std::chrono::hours{24}};
// A beat opens a connection and sends one UPDATE within about an interval
// (the beat budget at the shortest lease): below 100 ms even a local server
// under a booting deploy's load cannot be reached that fast, and the replica
// would fail every beat and never register.
inline constexpr std::chrono::milliseconds shortest_interval{100};
inline constexpr std::chrono::milliseconds longest_lease{std::chrono::hours{24 * 7}};

[[nodiscard]] constexpr std::chrono::milliseconds beat_margin(std::chrono::milliseconds interval) noexcept {
  return interval / 10 + std::chrono::milliseconds{100};
}

// The range each wait between two beat starts is drawn from.
[[nodiscard]] constexpr std::chrono::milliseconds shortest_beat_wait(std::chrono::milliseconds interval) noexcept {
  return interval * 9 / 10;
}
[[nodiscard]] constexpr std::chrono::milliseconds longest_beat_wait(std::chrono::milliseconds interval) noexcept {
  return interval * 11 / 10;
}

// When the next beat starts: `wait` after the last one started, or at once
// when that one ran longer.
[[nodiscard]] constexpr std::chrono::steady_clock::time_point next_beat_start(
    std::chrono::steady_clock::time_point last_start, std::chrono::steady_clock::time_point last_end,
    std::chrono::milliseconds wait) noexcept {
  return std::max(last_start + wait, last_end);
}

}  // namespace detail

// The shortest lease HeartbeatOptions (and `lockstep replica --lease`)
// accept for `interval`: see the model above.
[[nodiscard]] constexpr std::chrono::milliseconds minimum_lease(std::chrono::milliseconds interval) noexcept {
  return detail::longest_beat_wait(interval) + std::min(interval, detail::beat_budget_cap) + detail::beat_margin(interval);
}

namespace detail {

// How long one beat (or a registration) may take, connecting included: the
// longest B with max(1.1 I, B) + B + margin <= lease, at most 10 s (so that
// stop() is not kept waiting long by a database that is away). A busy server
// (a whole deploy booting) may need more than an interval to accept a
// connection, so a long lease buys slow beats up to half of it.
[[nodiscard]] constexpr std::chrono::milliseconds beat_budget(const HeartbeatOptions& o) noexcept {
  const auto room = o.lease - beat_margin(o.interval);
  const auto longest = longest_beat_wait(o.interval);
  const auto b = room / 2 >= longest ? room / 2 : room - longest;
  return std::clamp(b, std::chrono::milliseconds{1}, beat_budget_cap);
}

}  // namespace detail

// The settings check for HeartbeatOptions: `interval_name` and `lease_name`
// are the settings as the caller knows them (--heartbeat/--lease for the CLI).
// The one check: its bounds lie inside the century every duration lockstep
// waits on is capped at (durations.hpp), and a non-positive value is below
// them, so what passes needs no other duration check before the beats wait
// on it, send it as milliseconds or do the lease arithmetic.
static_assert(detail::shortest_interval > std::chrono::milliseconds{0} &&
              detail::longest_interval <= detail::longest_duration && detail::longest_lease <= detail::longest_duration);
[[nodiscard]] inline result<void> check_heartbeat_options(const HeartbeatOptions& o,
                                                          const char* interval_name = "HeartbeatOptions::interval",
                                                          const char* lease_name = "HeartbeatOptions::lease") {
  const auto ms = [](std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; };
  if (o.interval < detail::shortest_interval || o.interval > detail::longest_interval) {
    return make_error(errc::invalid_argument,
                      std::string{interval_name} + " is " + ms(o.interval) +
                          "; it must be at least 100 ms (a beat connects to the database within about an "
                          "interval) and at most 24 h");
  }
  if (o.lease > detail::longest_lease) {
    return make_error(errc::invalid_argument,
                      std::string{lease_name} + " is " + ms(o.lease) + "; it must be at most 7 days");
  }
  const auto least = minimum_lease(o.interval);
  if (o.lease < least) {
    return make_error(
        errc::invalid_argument,
        std::string{lease_name} + " is " + ms(o.lease) + ", too short for " + interval_name + " " +
            ms(o.interval) + ": it must be at least " + ms(least) +
            ". Beats come 0.9-1.1 intervals apart and each may take up to an interval (at most 10 s) to land, "
            "so a shorter lease lapses while a healthy replica still runs, and a contract migration could then "
            "run under it (docs/expand-contract.md, \"The replica registry\"). Raise the lease (about three "
            "intervals is usual) or shorten the interval");
  }
  return outcome::success();
}

}  // namespace lockstep
