// Enforces the hard deadline while a query is in flight. At expiry it asks the
// server to cancel the query and then shuts the socket down, so even a query
// stuck on a silent network returns at once, and the server ends the session
// (dropping its advisory lock) instead of holding it until TCP gives up.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "lockstep/connection.hpp"

namespace lockstep::detail {

class Watchdog {
 public:
  Watchdog(Connection& conn, std::chrono::milliseconds after) : conn_{conn} {
    thread_ = std::thread{[this, after] {
      std::unique_lock lk{mutex_};
      if (cv_.wait_for(lk, after, [this] { return stop_; })) return;
      fired_.store(true);
      conn_.cancel();
      conn_.sever();
    }};
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() { disarm(); }

  void disarm() noexcept {
    {
      std::lock_guard lk{mutex_};
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  [[nodiscard]] bool fired() const noexcept { return fired_.load(); }

 private:
  Connection& conn_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::atomic<bool> fired_{false};
  std::thread thread_;
};

}  // namespace lockstep::detail
