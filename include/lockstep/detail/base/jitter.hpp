// Random delays: the heartbeat's beat schedule, a background runner's
// backoff. Never throws (seeded from the pid and the clock: spreading work
// needs no cryptographic randomness).
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <random>

namespace lockstep::detail {

class Jitter {
 public:
  Jitter() noexcept
      : rng_{static_cast<std::uint32_t>(::getpid()) * 2654435761u ^
             static_cast<std::uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count())} {}
  [[nodiscard]] std::chrono::milliseconds between(std::chrono::milliseconds lo, std::chrono::milliseconds hi) noexcept {
    if (hi <= lo) return lo;
    const auto span = static_cast<std::uint64_t>((hi - lo).count()) + 1;
    return lo + std::chrono::milliseconds{static_cast<std::int64_t>(rng_() % span)};
  }

 private:
  std::minstd_rand rng_;
};

}  // namespace lockstep::detail
