// The run's hard deadline and the clock it is measured on.
#pragma once

#include <chrono>
#include <thread>

namespace lockstep {

struct SteadyClock {
  [[nodiscard]] std::chrono::steady_clock::time_point now() const noexcept { return std::chrono::steady_clock::now(); }
  void sleep_for(std::chrono::milliseconds d) const { std::this_thread::sleep_for(d); }
};

template <class Clock = SteadyClock>
class Deadline {
 public:
  static constexpr std::chrono::milliseconds default_budget = std::chrono::minutes{5};

  Deadline() = default;
  explicit Deadline(std::chrono::milliseconds budget, Clock clock = {}) : budget_{budget}, clock_{std::move(clock)} {}

  [[nodiscard]] std::chrono::milliseconds budget() const noexcept { return budget_; }
  [[nodiscard]] std::chrono::steady_clock::time_point now() const { return clock_.now(); }
  void sleep_for(std::chrono::milliseconds d) { clock_.sleep_for(d); }

 private:
  std::chrono::milliseconds budget_ = default_budget;
  Clock clock_{};
};

}  // namespace lockstep
