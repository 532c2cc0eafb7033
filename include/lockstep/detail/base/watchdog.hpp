// Enforces the hard deadline while a query is in flight. At expiry it first
// shuts the socket down, so the query returns at once even on a silent
// network or behind a proxy that lost the server: nothing on the caller's
// side waits on the peer. Only then does it ask the server to end the
// session, from a fresh connection with a short connect timeout
// (pg_terminate_backend, which drops the advisory lock and rolls back at
// once; libpq's PQcancel would block without a timeout). That request runs
// on the watchdog's thread, which is left to finish on its own if the
// server does not answer quickly.
//
// `cancelled` (optional) ends it early the same way: a runner's long
// statement is cut when the application stops the runner, polled every
// 50 ms, so a stop never waits for an index build to end.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <functional>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include "lockstep/connection.hpp"

namespace lockstep::detail {

class Watchdog {
 public:
  // How long disarm() waits for the server to confirm it ended the session
  // before leaving the request to finish in the background.
  static constexpr std::chrono::milliseconds confirm_wait{300};

  // `reaper_conninfo` reaches the same server with a short connect_timeout;
  // empty: only the socket is shut (the server notices the dead client).
  Watchdog(Connection& conn, std::chrono::milliseconds after, std::string reaper_conninfo = {},
           std::function<bool()> cancelled = {})
      : state_{std::make_shared<State>()} {
    state_->reaper_conninfo = std::move(reaper_conninfo);
    state_->backend_pid = conn.backend_pid();
    state_->cancelled = std::move(cancelled);
    try {
      thread_ = std::thread{[s = state_, &conn, after] { watch(s, conn, after); }};
    } catch (const std::system_error&) {
      started_ = false;  // see started()
    }
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() { disarm(); }

  // false: no thread could be started (a pid limit), so nothing bounds the
  // query; the caller must not run it.
  [[nodiscard]] bool started() const noexcept { return started_; }

  void disarm() noexcept {
    if (!thread_.joinable()) return;
    std::unique_lock lk{state_->mutex};
    state_->stop = true;
    state_->cv.notify_all();
    // Until the socket is shut, the thread uses the connection: wait for that.
    state_->cv.wait(lk, [this] { return !state_->severing; });
    const bool fired = state_->fired.load();
    if (fired) state_->cv.wait_for(lk, confirm_wait, [this] { return state_->reaped; });
    const bool done = !fired || state_->reaped;
    lk.unlock();
    if (done) {
      thread_.join();
    } else {
      thread_.detach();  // holds only its own shared state
    }
  }

  [[nodiscard]] bool fired() const noexcept { return state_->fired.load(); }
  // It fired because `cancelled` said so, not at the deadline.
  [[nodiscard]] bool was_cancelled() const noexcept { return state_->by_cancel.load(); }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    bool stop = false;
    bool severing = false;
    bool reaped = false;
    std::atomic<bool> fired{false};
    std::atomic<bool> by_cancel{false};
    std::function<bool()> cancelled;
    std::string reaper_conninfo;
    int backend_pid = 0;
  };

  static void watch(const std::shared_ptr<State>& s, Connection& conn, std::chrono::milliseconds after) noexcept {
    try {
      watch_and_reap(s, conn, after);
    } catch (...) {
      // Out of memory in the reaper: the socket is shut already, which is
      // what bounds the caller; the server notices the dead client itself.
    }
    std::lock_guard lk{s->mutex};
    s->severing = false;
    s->reaped = true;
    s->cv.notify_all();
  }

  static void watch_and_reap(const std::shared_ptr<State>& s, Connection& conn, std::chrono::milliseconds after) {
    {
      std::unique_lock lk{s->mutex};
      if (!s->cancelled) {
        if (s->cv.wait_for(lk, after, [&] { return s->stop; })) return;
      } else {
        const auto until = std::chrono::steady_clock::now() + after;
        for (;;) {
          const auto now = std::chrono::steady_clock::now();
          if (now >= until) break;
          const auto slice = std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds{50});
          if (s->cv.wait_for(lk, slice, [&] { return s->stop; })) return;
          lk.unlock();  // the predicate may take the application's own lock
          bool cancel = false;
          try {
            cancel = s->cancelled();
          } catch (...) {
            cancel = false;  // a throwing predicate never unbounds the query: the deadline still holds
          }
          lk.lock();
          if (s->stop) return;
          if (cancel) {
            s->by_cancel.store(true);
            break;
          }
        }
      }
      s->severing = true;
      s->fired.store(true);
    }
    conn.sever();
    {
      std::lock_guard lk{s->mutex};
      s->severing = false;
    }
    s->cv.notify_all();
    if (!s->reaper_conninfo.empty() && s->backend_pid != 0) {
      auto reaper = Connection::open(s->reaper_conninfo);
      if (reaper) {
        (void)reaper.value().query("SET statement_timeout = 2000; SELECT pg_terminate_backend(" +
                                   std::to_string(s->backend_pid) + ")");
      }
    }
    {
      std::lock_guard lk{s->mutex};
      s->reaped = true;
    }
    s->cv.notify_all();
  }

  std::shared_ptr<State> state_;
  std::thread thread_;
  bool started_ = true;
};

}  // namespace lockstep::detail
