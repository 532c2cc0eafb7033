// A heartbeat during long work: while the leader's connection is busy with
// one statement (a CREATE INDEX CONCURRENTLY on a big table, a backfill),
// a second connection asks the server how that backend is doing and emits a
// `progress` event every interval, so a deploy dashboard and the startup
// probe's logs show a migration that is working rather than silence.
//
// One thread per leader, started by the first statement that lasts an
// interval; statements that end sooner cost a mutex and a notify. The side
// connection is opened then, once, and closed with the monitor.
#pragma once

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
#include "lockstep/detail/activity.hpp"
#include "lockstep/detail/conninfo.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/migration.hpp"

namespace lockstep::detail {

template <class Timeout>
class ProgressMonitor {
 public:
  ProgressMonitor(const Context<Timeout>& ctx, std::chrono::milliseconds interval) : ctx_{ctx}, interval_{interval} {}
  ProgressMonitor(const ProgressMonitor&) = delete;
  ProgressMonitor& operator=(const ProgressMonitor&) = delete;
  ~ProgressMonitor() {
    {
      std::lock_guard lock{mutex_};
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
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
    if (interval_.count() <= 0) return Watch{nullptr};
    {
      std::lock_guard lock{mutex_};
      job_ = Job{backend_pid, m.version, m.name, m.origin, std::move(statement), line, std::chrono::steady_clock::now()};
      ++generation_;
    }
    if (!thread_.joinable()) {
      try {
        thread_ = std::thread{[this] { loop(); }};
      } catch (...) {
        // No thread to spare: the migration runs all the same, only quieter.
        std::lock_guard lock{mutex_};
        job_.reset();
        return Watch{nullptr};
      }
    }
    wake_.notify_all();
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

  void end() {
    std::lock_guard lock{mutex_};
    job_.reset();
    ++generation_;
  }

  void loop() noexcept {
    try {
      std::unique_lock lock{mutex_};
      while (!stopping_) {
        wake_.wait(lock, [&] { return stopping_ || job_.has_value(); });
        const auto gen = generation_;
        // Quiet for the first interval, then one event per interval.
        if (wake_.wait_for(lock, interval_, [&] { return stopping_ || generation_ != gen; })) continue;
        const Job job = *job_;
        lock.unlock();
        auto activity = observe(job.pid);
        lock.lock();
        if (generation_ != gen || stopping_) continue;  // it ended meanwhile: nothing to report
        report(job, activity);
      }
    } catch (...) {
      // Observing is best effort; it must never take the migration down.
    }
    side_.reset();
  }

  [[nodiscard]] std::optional<Activity> observe(int pid) {
    if (!side_) {
      auto info = Conninfo::parse(ctx_.url());
      if (!info) return std::nullopt;
      Conninfo c = std::move(info).value();
      c.set_default("connect_timeout", "2");
      c.set_default("application_name", "lockstep progress");
      auto conn = Connection::open(c.str());
      if (!conn) return std::nullopt;
      side_ = std::make_unique<Connection>(std::move(conn).value());
      (void)side_->execute("SET statement_timeout = 2000");
    }
    auto a = read_activity(*side_, std::to_string(pid));
    if (!a) {
      side_.reset();  // try a fresh one next interval
      return std::nullopt;
    }
    return a.value();
  }

  void report(const Job& job, const std::optional<Activity>& activity) const {
    const auto running = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - job.started);
    ctx_.emit("progress", [&](JsonObject& o) {
      o.add("version", job.version).add("name", job.name).add("file", job.file).add("statement", job.statement);
      o.add("line", static_cast<std::int64_t>(job.line)).add("running_ms", static_cast<std::int64_t>(running.count()));
      if (activity) activity->add_to(o);
    });
  }

  const Context<Timeout>& ctx_;
  std::chrono::milliseconds interval_;
  std::mutex mutex_;  // guards job_, generation_, stopping_; held while emitting
  std::condition_variable wake_;
  std::optional<Job> job_;
  std::uint64_t generation_ = 0;
  bool stopping_ = false;
  std::thread thread_;
  std::unique_ptr<Connection> side_;  // the monitor thread's only
};

}  // namespace lockstep::detail
