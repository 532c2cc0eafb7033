// A heartbeat during long work: while the leader's connection is busy with
// one statement (a CREATE INDEX CONCURRENTLY on a big table, a backfill),
// a second connection asks the server how that backend is doing and emits a
// `progress` event every interval, so a deploy dashboard and the startup
// probe's logs show a migration that is working rather than silence.
//
// One thread per leader, started by the first statement that lasts an
// interval; statements that end sooner cost a mutex and a notify. The side
// connection is opened then, once, and closed with the monitor.
//
// The run's deadline holds here too, whatever the network does. The side
// connection is opened like the leader's (ConnectAttempt, the same
// keepalives and tcp_user_timeout, name lookups included), each query runs
// under a Watchdog that shuts its socket at the deadline or after
// `query_limit`, and the destructor waits for the thread no longer than the
// deadline: a thread still busy then is left to end on its own, holding
// only the shared state (a proxy that went silent once kept a process 40 s
// past its deadline, joining this thread).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "lockstep/connection.hpp"
#include "lockstep/detail/run/activity.hpp"
#include "lockstep/detail/base/connect_attempt.hpp"
#include "lockstep/detail/base/conninfo.hpp"
#include "lockstep/detail/base/durations.hpp"
#include "lockstep/detail/run/connect.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/base/watchdog.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/settings.hpp"

namespace lockstep::detail {

template <class Timeout>
class ProgressMonitor {
 public:
  // How long one look at the leader's backend may take, connecting included.
  static constexpr std::chrono::milliseconds query_limit{2000};

  ProgressMonitor(const Context<Timeout>& ctx, const Settings& settings)
      : state_{std::make_shared<State>(ctx, std::min(settings.progress_interval, longest_duration))} {
    if (state_->interval.count() <= 0) return;
    auto info = Conninfo::parse(ctx.url());
    if (!info) {
      state_->interval = std::chrono::milliseconds{0};  // checked before the run; nothing to watch with
      return;
    }
    state_->conninfo = session_conninfo(std::move(info).value(), "lockstep progress",
                                        std::chrono::seconds{2}, ctx.remaining());
  }
  ProgressMonitor(const ProgressMonitor&) = delete;
  ProgressMonitor& operator=(const ProgressMonitor&) = delete;
  ~ProgressMonitor() {
    std::unique_lock lock{state_->mutex};
    state_->stopping = true;  // from here on the thread touches neither the Context nor the events
    state_->wake.notify_all();
    if (!thread_.joinable()) return;
    // Every step of the thread ends by the deadline already (its last one
    // may need a moment to return once its socket is shut, as the leader's
    // watchdog allows its reaper); this bound is what makes that a promise
    // rather than a consequence.
    const auto until = std::max(state_->deadline, std::chrono::steady_clock::now()) + Watchdog::confirm_wait;
    const bool ended = state_->wake.wait_until(lock, until, [&] { return state_->finished; });
    lock.unlock();
    if (ended) {
      thread_.join();
    } else {
      thread_.detach();
    }
  }

  // While the returned guard lives, `backend_pid` runs `statement` of `m`.
  class Watch {
   public:
    explicit Watch(ProgressMonitor* monitor) : monitor_{monitor} {}
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    ~Watch() {
      if (monitor_ != nullptr) monitor_->end();
    }

   private:
    ProgressMonitor* monitor_;
  };

  [[nodiscard]] Watch watch(int backend_pid, const Migration& m, std::string statement, int line) {
    if (state_->interval.count() <= 0) return Watch{nullptr};
    {
      std::lock_guard lock{state_->mutex};
      state_->job = Job{backend_pid, m.version, m.name, m.origin, std::move(statement), line,
                        std::chrono::steady_clock::now()};
      state_->deadline = std::chrono::steady_clock::now() + state_->ctx.remaining();
      ++state_->generation;
    }
    if (!thread_.joinable()) {
      try {
        thread_ = std::thread{[s = state_] { loop(*s); }};
      } catch (...) {
        // No thread to spare: the migration runs all the same, only quieter.
        std::lock_guard lock{state_->mutex};
        state_->job.reset();
        return Watch{nullptr};
      }
    }
    state_->wake.notify_all();
    return Watch{this};
  }

 private:
  struct Job {
    int pid = 0;
    std::int64_t version = 0;
    std::string name, file, statement;
    int line = 0;
    std::chrono::steady_clock::time_point started;
  };

  // What the thread uses: shared, so that a thread left behind at the
  // deadline outlives the monitor safely.
  struct State {
    State(const Context<Timeout>& c, std::chrono::milliseconds i)
        : ctx{c}, interval{i}, deadline{std::chrono::steady_clock::now() + c.remaining()} {}
    const Context<Timeout>& ctx;  // used only under `mutex` while !stopping
    std::chrono::milliseconds interval;
    std::string conninfo;
    std::mutex mutex;  // guards job, generation, deadline, stopping, finished; held while emitting
    std::condition_variable wake;
    std::optional<Job> job;
    std::uint64_t generation = 0;
    std::chrono::steady_clock::time_point deadline;  // the run's, on the real clock
    bool stopping = false;
    bool finished = false;
    std::unique_ptr<Connection> side;  // the monitor thread's only
  };

  void end() {
    std::lock_guard lock{state_->mutex};
    state_->job.reset();
    ++state_->generation;
  }

  static void loop(State& s) noexcept {
    try {
      std::unique_lock lock{s.mutex};
      while (!s.stopping) {
        s.wake.wait(lock, [&] { return s.stopping || s.job.has_value(); });
        const auto gen = s.generation;
        // Quiet for the first interval, then one event per interval.
        if (s.wake.wait_for(lock, s.interval, [&] { return s.stopping || s.generation != gen; })) continue;
        const Job job = *s.job;
        const auto until = std::min(s.deadline, std::chrono::steady_clock::now() + query_limit);
        lock.unlock();
        auto activity = observe(s, job.pid, until);
        lock.lock();
        if (s.generation != gen || s.stopping) continue;  // it ended meanwhile: nothing to report
        report(s, job, activity);
      }
    } catch (...) {
      // Observing is best effort; it must never take the migration down.
    }
    try {
      s.side.reset();
    } catch (...) {
    }
    std::lock_guard lock{s.mutex};
    s.finished = true;
    s.wake.notify_all();
  }

  // The leader's backend as the server sees it, or nothing by `until`.
  [[nodiscard]] static std::optional<Activity> observe(State& s, int pid, std::chrono::steady_clock::time_point until) {
    const auto left = [&] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    };
    if (left().count() <= 0) return std::nullopt;
    if (!s.side) {
      auto attempt = ConnectAttempt::start(s.conninfo, std::chrono::milliseconds{0});
      if (!attempt) return std::nullopt;
      auto conn = attempt.value().wait(left());
      if (!conn || !*conn) return std::nullopt;  // not in time (the attempt ends by itself), or refused
      s.side = std::make_unique<Connection>(std::move(*conn).value());
    }
    // The socket is shut when `until` comes: a silent network cannot hold
    // this thread, and with it the run's end, past the deadline. No reaper:
    // the query only reads, and its server-side bound ends it.
    Watchdog watchdog{*s.side, std::max(left(), std::chrono::milliseconds{1})};
    if (!watchdog.started()) {
      s.side.reset();
      return std::nullopt;
    }
    auto a = [&]() -> result<std::optional<Activity>> {
      LOCKSTEP_TRYV(s.side->execute("SET statement_timeout = " + std::to_string(query_limit.count())));
      return read_activity(*s.side, std::to_string(pid));
    }();
    watchdog.disarm();
    if (!a || watchdog.fired()) {
      s.side.reset();  // try a fresh one next interval
      return std::nullopt;
    }
    return a.value();
  }

  static void report(const State& s, const Job& job, const std::optional<Activity>& activity) {
    const auto running = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - job.started);
    s.ctx.emit(events::Progress{.version = job.version, .name_ = job.name, .file = job.file, .statement = job.statement,
                                .line = job.line, .running_ms = static_cast<std::int64_t>(running.count()),
                                .activity = fields_of(activity)});
  }

  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace lockstep::detail
