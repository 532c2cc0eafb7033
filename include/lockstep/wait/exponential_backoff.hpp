// Exponential backoff with full jitter: delay ~ U[0, min(cap, initial * 2^attempt)].
// Full jitter spreads a herd's polls evenly instead of in synchronized waves.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

#include <unistd.h>

namespace lockstep {

namespace detail {
// std::random_device may throw (no entropy source in a locked-down
// sandbox); the jitter only has to differ between replicas, so the pid,
// the clock and an address do when it does.
[[nodiscard]] inline std::uint64_t jitter_seed() noexcept {
  try {
    std::random_device rd;
    return (std::uint64_t{rd()} << 32) ^ rd();
  } catch (...) {
    const auto t = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    int local = 0;
    return t ^ (static_cast<std::uint64_t>(::getpid()) << 40) ^ reinterpret_cast<std::uintptr_t>(&local);
  }
}
}  // namespace detail

class ExponentialBackoff {
 public:
  ExponentialBackoff() : ExponentialBackoff(std::chrono::milliseconds{50}, std::chrono::milliseconds{2000}) {}
  ExponentialBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds cap,
                     std::uint64_t seed = detail::jitter_seed())
      : initial_{std::max(initial, std::chrono::milliseconds{1})}, cap_{std::max(cap, initial_)}, rng_{seed} {}

  // The upper bound for `attempt`, before jitter.
  [[nodiscard]] std::chrono::milliseconds ceiling(unsigned attempt) const noexcept {
    const unsigned shift = std::min(attempt, 30U);
    const auto scaled = initial_.count() * (std::int64_t{1} << shift);
    return std::chrono::milliseconds{std::min<std::int64_t>(scaled, cap_.count())};
  }

  [[nodiscard]] std::chrono::milliseconds next_delay(unsigned attempt) {
    std::uniform_int_distribution<std::int64_t> dist{0, ceiling(attempt).count()};
    return std::chrono::milliseconds{dist(rng_)};
  }

  [[nodiscard]] std::chrono::milliseconds initial() const noexcept { return initial_; }
  [[nodiscard]] std::chrono::milliseconds cap() const noexcept { return cap_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds cap_;
  std::mt19937_64 rng_;
};

// Null wait policy for tests: poll again at once.
struct NoWait {
  [[nodiscard]] std::chrono::milliseconds next_delay(unsigned) const noexcept { return std::chrono::milliseconds{0}; }
};

}  // namespace lockstep
