// Opening a connection within a bound. libpq's connect_timeout applies per
// host and not to name resolution, so a DNS lookup that hangs or a list of
// unanswering hosts could outlast the deadline; the attempt runs on a thread
// of its own and the caller stops waiting when its budget ends (the thread
// then closes whatever it opens and ends by itself). It also lets the caller
// do other work (loading the migrations) while the connection is made.
//
// A caller that gives up for another reason (a bad migration file) must not
// leave the thread inside libpq: the application usually exits next, and
// exit runs the TLS and Kerberos libraries' cleanup under a thread still
// negotiating with them (a run that failed on a missing directory aborted
// in krb5int_getspecific about once in 200). So the attempt, dropped before
// its result was taken, waits for its thread within `settle_limit`; only at
// the deadline is a thread left behind, blocked on the network.
//
// A refused attempt's SQLSTATE is learnt on the same thread, by a second
// attempt in libpq's verbose mode (libpq_adapter.hpp): that one resolves the
// host name again, synchronously, so on the caller's thread a slow resolver
// would have held the run past its deadline.
//
// This is the one place lockstep opens a connection (Connection::open, or
// libpq's connect): tests/lint/bounded_connections.py holds every other
// header to it.
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
#include "lockstep/detail/base/libpq_adapter.hpp"
#include "lockstep/error.hpp"

namespace lockstep::detail {

class ConnectAttempt {
 public:
  // Starts connecting; fails only when no thread can be started.
  // `learn_sqlstate`: a refusal without a SQLSTATE is asked for one (above).
  [[nodiscard]] static result<ConnectAttempt> start(std::string conninfo, std::chrono::milliseconds settle_limit,
                                                    bool learn_sqlstate = false) {
    ConnectAttempt a;
    a.state_ = std::make_shared<State>();
    a.settle_limit_ = settle_limit;
    try {
      std::thread{[s = a.state_, conninfo = std::move(conninfo), learn_sqlstate]() noexcept {
        run(s, conninfo, learn_sqlstate);
      }}.detach();
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
    const bool came = state_->cv.wait_for(lk, std::max(budget, std::chrono::milliseconds{0}),
                                          [&] { return state_->out.has_value(); });
    state_->abandoned = true;  // taken, or given up at the deadline: nothing more to wait for
    if (!came) return std::nullopt;
    auto out = std::move(state_->out);
    state_->out.reset();
    return out;
  }

  ConnectAttempt(ConnectAttempt&& other) noexcept
      : state_{std::move(other.state_)}, settle_limit_{other.settle_limit_} {}
  ConnectAttempt& operator=(ConnectAttempt&&) = delete;
  ConnectAttempt(const ConnectAttempt&) = delete;
  ConnectAttempt& operator=(const ConnectAttempt&) = delete;
  ~ConnectAttempt() {
    if (!state_) return;
    std::optional<result<Connection>> unused;
    {
      std::unique_lock lk{state_->mutex};
      if (!state_->abandoned) state_->cv.wait_for(lk, settle_limit_, [&] { return state_->finished; });
      state_->abandoned = true;  // a connection made after this is closed by its thread
      unused = std::move(state_->out);
    }
    // `unused`, if the connection came, closes here.
  }

 private:
  ConnectAttempt() = default;

  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    std::optional<result<Connection>> out;
    bool abandoned = false;
    bool finished = false;  // the thread is out of libpq
  };

  static void run(const std::shared_ptr<State>& s, const std::string& conninfo, bool learn_sqlstate) noexcept {
    std::optional<result<Connection>> mine;
    try {
      mine.emplace(Connection::open(conninfo));
      if (learn_sqlstate && !*mine && mine->error().code == errc::connection_failed && mine->error().sqlstate.empty()) {
        // libpqxx reports no SQLSTATE for a refused connection, and the
        // server's words may be in any language: ask libpq, briefly.
        auto e = std::move(*mine).error();
        e.sqlstate = connect_failure_sqlstate(conninfo, std::chrono::milliseconds{2000});
        mine.emplace(std::move(e));
      }
    } catch (...) {
      mine.emplace(make_error(errc::internal_error, "out of memory while connecting"));
    }
    {
      std::lock_guard lk{s->mutex};
      if (!s->abandoned) {
        s->out = std::move(mine);
        mine.reset();
      }
    }
    s->cv.notify_all();
    mine.reset();  // abandoned at the deadline: the connection closes here, off the caller's path
    {
      std::lock_guard lk{s->mutex};
      s->finished = true;
    }
    s->cv.notify_all();
  }

  std::shared_ptr<State> state_;
  std::chrono::milliseconds settle_limit_{0};
};

}  // namespace lockstep::detail
