// A clock that only moves when told to, for deadline and backoff tests that
// must never sleep. Copies share one timeline, so a test keeps a handle.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

namespace lockstep::testing {

class FakeClock {
 public:
  [[nodiscard]] std::chrono::steady_clock::time_point now() const noexcept { return state_->now; }
  void sleep_for(std::chrono::milliseconds d) {
    state_->sleeps.push_back(d);
    state_->now += d;
  }
  void advance(std::chrono::milliseconds d) noexcept { state_->now += d; }
  [[nodiscard]] const std::vector<std::chrono::milliseconds>& sleeps() const noexcept { return state_->sleeps; }

 private:
  struct State {
    std::chrono::steady_clock::time_point now{};
    std::vector<std::chrono::milliseconds> sleeps;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace lockstep::testing
