// Waiting on a condition that another process or the server brings about.
#pragma once

#include <chrono>
#include <thread>

namespace lockstep::test {

// Polls `pred` every `every` until it holds or `limit` passes; returns the
// time it took (exactly `limit` if it never held), so a test can assert a bound.
template <class Pred>
std::chrono::milliseconds time_until(Pred pred, std::chrono::milliseconds limit,
                                     std::chrono::milliseconds every = std::chrono::milliseconds{20}) {
  const auto t0 = std::chrono::steady_clock::now();
  while (!pred()) {
    const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    if (spent >= limit) return limit;
    std::this_thread::sleep_for(every);
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
}

}  // namespace lockstep::test
