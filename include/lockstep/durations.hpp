// The range lockstep accepts for a duration setting (a wait, an interval, a
// lease), for a program that reads one from its command line or
// configuration and wants to refuse it before it starts a run:
//
//   if (auto ok = lockstep::check_duration("--lease", lease); !ok) { ... ok.error().message ... }
#pragma once

#include <chrono>
#include <string_view>

#include "lockstep/detail/base/durations.hpp"
#include "lockstep/error.hpp"

namespace lockstep {

// Positive (or 0 when `zero_disables`), and within what lockstep waits (a
// century). `setting` names it in the error, as the caller's user knows it.
[[nodiscard]] inline result<void> check_duration(std::string_view setting, std::chrono::milliseconds d,
                                                 bool zero_disables = false) {
  return detail::check_local_duration(setting, d, zero_disables);
}

}  // namespace lockstep
