// Durations without overflow. std::chrono converts between units by plain
// multiplication, and the standard library waits by adding the duration to
// now() in nanoseconds: a budget of 3000000 h (or milliseconds::max()) wraps
// to a negative time, and a "five-year" deadline expires at once. So every
// duration from a setting is saturated here before anything adds, converts
// or waits with it, and every one sent to PostgreSQL is held to what the
// server accepts (its time settings are ints of milliseconds).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <ratio>
#include <string>
#include <string_view>

#include "lockstep/error.hpp"

namespace lockstep::detail {

// The longest budget or wait lockstep uses: a century. Longer means "no
// bound" in practice, and a century still adds to any steady_clock reading
// (nanoseconds since boot, or since the epoch on a system clock) without
// reaching its ~292 years.
inline constexpr std::chrono::milliseconds longest_duration = std::chrono::hours{24 * 365 * 100};

// `d` in milliseconds, clamped to [-longest_duration, longest_duration], whatever its
// unit and without ever multiplying past the representation.
template <class Rep, class Period>
[[nodiscard]] constexpr std::chrono::milliseconds saturating_ms(std::chrono::duration<Rep, Period> d) noexcept {
  using Ms = std::chrono::duration<long double, std::milli>;
  const long double ms = std::chrono::duration_cast<Ms>(d).count();
  const auto cap = static_cast<long double>(longest_duration.count());
  if (!(ms < cap)) return longest_duration;  // also NaN
  if (!(ms > -cap)) return -longest_duration;
  return std::chrono::milliseconds{static_cast<std::int64_t>(ms)};
}

// PostgreSQL's time settings (statement_timeout, lock_timeout,
// idle_session_timeout, idle_in_transaction_session_timeout) are ints of ms.
inline constexpr std::int64_t pg_max_ms = std::numeric_limits<std::int32_t>::max();

// `d` as a value for one of those settings: never past what the server
// accepts (the deadline's own watchdog bounds a run beyond that), never
// negative, and 0 only when `d` is 0 (which the server reads as "none").
[[nodiscard]] inline std::string pg_ms(std::chrono::milliseconds d) {
  return std::to_string(std::clamp<std::int64_t>(d.count(), 0, pg_max_ms));
}

// A setting that reaches PostgreSQL as one of those ints: refused at the
// settings check, naming it, rather than failing mid-deploy with 22023.
// `zero_disables`: 0 is accepted and means none; else it must be positive.
[[nodiscard]] inline result<void> check_pg_duration(std::string_view setting, std::chrono::milliseconds d,
                                                    bool zero_disables) {
  if (d.count() < 0 || (d.count() == 0 && !zero_disables)) {
    return make_error(errc::invalid_argument,
                      std::string{setting} + " is " + std::to_string(d.count()) + " ms: it must be positive" +
                          (zero_disables ? " (or 0 for none)" : ""));
  }
  if (d.count() > pg_max_ms) {
    return make_error(errc::invalid_argument,
                      std::string{setting} + " of " + std::to_string(d.count()) +
                          " ms is longer than PostgreSQL allows (2147483647 ms, about 24.8 days): use a shorter "
                          "duration" + (zero_disables ? ", or 0 for none" : ""));
  }
  return outcome::success();
}

// A local duration (a wait, an interval): positive or zero, within longest_duration.
[[nodiscard]] inline result<void> check_local_duration(std::string_view setting, std::chrono::milliseconds d,
                                                       bool zero_disables) {
  if (d.count() < 0 || (d.count() == 0 && !zero_disables)) {
    return make_error(errc::invalid_argument,
                      std::string{setting} + " is " + std::to_string(d.count()) + " ms: it must be positive" +
                          (zero_disables ? " (or 0 for none)" : ""));
  }
  if (d > longest_duration) {
    return make_error(errc::invalid_argument, std::string{setting} + " of " + std::to_string(d.count()) +
                                                  " ms is longer than lockstep waits (a century): use a shorter "
                                                  "duration" + (zero_disables ? ", or 0 for none" : ""));
  }
  return outcome::success();
}

}  // namespace lockstep::detail
