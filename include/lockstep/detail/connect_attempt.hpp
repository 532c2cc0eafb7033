// Opening a connection within a bound. libpq's connect_timeout applies per
// host and not to name resolution, so a DNS lookup that hangs or a list of
// unanswering hosts could outlast the deadline; the attempt runs on a thread
// of its own and the caller stops waiting when its budget ends (the thread
// then closes whatever it opens and ends by itself). It also lets the caller
// do other work (loading the migrations) while the connection is made.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "lockstep/connection.hpp"
#include "lockstep/error.hpp"

namespace lockstep::detail {

class ConnectAttempt {
 public:
  // Starts connecting; fails only when no thread can be started.
  [[nodiscard]] static result<ConnectAttempt> start(std::string conninfo) {
    ConnectAttempt a;
    a.state_ = std::make_shared<State>();
    try {
      std::thread{[s = a.state_, conninfo = std::move(conninfo)]() noexcept { run(s, conninfo); }}.detach();
    } catch (const std::system_error& ex) {
      return make_error(errc::internal_error, std::string{"cannot start a thread to connect ("} + ex.what() +
                                                  "): the process is at its thread or pid limit (ulimit -u, "
                                                  "the container's pids.max); nothing was run");
    }
    return a;
  }

  // The connection, its failure, or nullopt when `budget` ran out first.
  [[nodiscard]] std::optional<result<Connection>> wait(std::chrono::milliseconds budget) {
    std::unique_lock lk{state_->mutex};
    if (!state_->cv.wait_for(lk, std::max(budget, std::chrono::milliseconds{0}), [&] { return state_->out.has_value(); })) {
      state_->abandoned = true;
      return std::nullopt;
    }
    return std::move(state_->out);
  }

  ConnectAttempt(ConnectAttempt&&) noexcept = default;
  ConnectAttempt& operator=(ConnectAttempt&&) noexcept = default;
  ~ConnectAttempt() {
    if (!state_) return;
    std::lock_guard lk{state_->mutex};
    state_->abandoned = true;  // a connection made after this is closed by its thread
  }

 private:
  ConnectAttempt() = default;

  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    std::optional<result<Connection>> out;
    bool abandoned = false;
  };

  static void run(const std::shared_ptr<State>& s, const std::string& conninfo) noexcept {
    try {
      auto c = Connection::open(conninfo);
      std::unique_lock lk{s->mutex};
      if (s->abandoned) {
        lk.unlock();
        return;  // `c` closes here, off the caller's path
      }
      s->out.emplace(std::move(c));
    } catch (...) {
      std::lock_guard lk{s->mutex};
      s->out.emplace(make_error(errc::internal_error, "out of memory while connecting"));
    }
    s->cv.notify_all();
  }

  std::shared_ptr<State> state_;
};

}  // namespace lockstep::detail
