// Background migrations: long data changes run batch by batch by the
// replicas themselves, after they serve (docs/background.md).
//
//   -- lockstep:background
//   -- lockstep:batch-over=public.orders(id)
//   -- lockstep:batch-size=5000
//   UPDATE orders SET total_cents = round(total * 100)
//   WHERE id BETWEEN :lo AND :hi AND total_cents IS NULL;
//
// The boot that applies such a file only queues its job (detail/run/queue.hpp)
// and never waits for it. A runner (Migrator::background(): a thread of the
// app; `lockstep background run` or `lockstep replica --background` for
// other languages) runs the jobs whose file it has with the same checksum,
// one batch per transaction, exactly once per key range
// (detail/background/runner.hpp); or, for long statements (background +
// no-transaction), one statement at a time under the job's session lock
// (detail/background/long_job.hpp).
#pragma once

#include <chrono>
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "lockstep/background/batch_sql.hpp"
#include "lockstep/background/progress.hpp"
#include "lockstep/concepts.hpp"
#include "lockstep/detail/background/runner.hpp"
#include "lockstep/detail/run/substitute.hpp"
#include "lockstep/detail/run/registry.hpp"
#include "lockstep/heartbeat.hpp"
#include "lockstep/detail/run/resolved.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/sql/directives.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep {

// What a runner did, for a readiness body or the program's exit code.
struct BackgroundState {
  std::int64_t batches = 0;              // committed by this runner
  std::int64_t jobs_finished = 0;        // finished by this runner
  std::vector<std::int64_t> failed;      // jobs of this image that have failed (any runner)
  std::int64_t errors_in_a_row = 0;      // sessions that failed (the database away)
  std::string last_error;
  bool idle = false;                     // the last look found no job this image can run
  bool held = false;                     // the last look found only jobs waiting (old replicas, a job they require)
};

namespace detail {

// Steps until `stopped()` (checked between steps, and every 50 ms of a
// pause), or, with `until_idle`, until no job this image can run is left,
// or until sessions failed in a row for options.give_up_after: then the
// last error.
template <class Runner, class Stopped, class Report>
[[nodiscard]] std::optional<Error> run_steps(Runner& runner, const BackgroundOptions& options, bool until_idle,
                                             Stopped&& stopped, Report&& report) {
  detail::Jitter jitter;
  std::int64_t retries = 0;
  std::int64_t throttled = 0;
  // A flag and a time, not an optional time_point: GCC 12 at -O3 warns that
  // such an optional "may be used uninitialized" (-Wmaybe-uninitialized).
  bool failing = false;
  auto failing_since = std::chrono::steady_clock::time_point{};
  auto pause = [&](std::chrono::milliseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (!stopped() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::min(std::chrono::milliseconds{50},
                                           std::chrono::duration_cast<std::chrono::milliseconds>(
                                               until - std::chrono::steady_clock::now())));
    }
  };
  while (!stopped()) {
    auto step = runner.step();
    report(step);
    if (!step) {
      const auto now = std::chrono::steady_clock::now();
      if (!failing) failing_since = now;
      failing = true;
      if (options.give_up_after.count() > 0 && now - failing_since >= options.give_up_after) return step.error();
      pause(jitter.between(std::chrono::milliseconds{500}, std::chrono::milliseconds{2000}));
      continue;
    }
    failing = false;
    switch (step.value()) {
      case Step::batch:
      case Step::finished:
        retries = 0;
        throttled = 0;
        pause(options.pause);
        break;
      case Step::held:
        // Waiting on older replicas or another job: nothing a run-until-idle
        // can finish now; a replica's runner looks again as when throttled.
        if (until_idle) return std::nullopt;
        [[fallthrough]];
      case Step::throttled:
        // The database said wait: 1 s, doubling to a minute, until it is healthy.
        throttled = std::min<std::int64_t>(throttled + 1, 7);
        pause(std::chrono::milliseconds{500 << throttled});
        break;
      case Step::retry:
      case Step::busy: {
        // Full jitter, growing to a few seconds: another runner has the job,
        // or its rows are locked; neither is this runner's to wait on.
        retries = std::min<std::int64_t>(retries + 1, 6);
        pause(jitter.between(std::chrono::milliseconds{0}, std::chrono::milliseconds{50 << retries}));
        break;
      }
      case Step::failed:
        break;
      case Step::idle:
        if (until_idle) return std::nullopt;
        pause(options.idle_poll);
        break;
    }
  }
  return std::nullopt;
}

}  // namespace detail

namespace detail {

// One runner's steps, its BackgroundState kept up to date.
template <class M>
[[nodiscard]] std::optional<Error> run_one(JobRunner<typename M::wait_type, typename M::ledger_type>& jobs,
                                           const BackgroundOptions& options, bool until_idle,
                                           const std::function<bool()>& stopped, BackgroundState& state,
                                           const std::function<void()>& changed) {
  jobs.stop_long_statements_when([&] { return stopped && stopped(); });
  return run_steps(jobs, options, until_idle, [&] { return stopped && stopped(); }, [&](const result<Step>& s) {
    if (!s) {
      ++state.errors_in_a_row;
      state.last_error = s.error().message;
      return;
    }
    state.errors_in_a_row = 0;
    state.idle = s.value() == Step::idle;
    state.held = s.value() == Step::held;
    if (s.value() == Step::batch) ++state.batches;
    if (s.value() == Step::finished) ++state.jobs_finished;
    state.failed = jobs.failed();
    changed();
  });
}

// What several runners did, as one: counts summed, failed jobs merged, idle
// or held only when every one of them is.
[[nodiscard]] inline BackgroundState combined(const std::vector<BackgroundState>& each) {
  BackgroundState out;
  out.idle = !each.empty();
  out.held = false;
  bool all_waiting = !each.empty();
  for (const auto& s : each) {
    out.batches += s.batches;
    out.jobs_finished += s.jobs_finished;
    for (auto v : s.failed) {
      if (std::find(out.failed.begin(), out.failed.end(), v) == out.failed.end()) out.failed.push_back(v);
    }
    out.errors_in_a_row = std::max(out.errors_in_a_row, s.errors_in_a_row);
    if (!s.last_error.empty()) out.last_error = s.last_error;
    out.idle = out.idle && s.idle;
    all_waiting = all_waiting && (s.idle || s.held);
    out.held = out.held || s.held;
  }
  out.held = out.held && all_waiting;
  std::sort(out.failed.begin(), out.failed.end());
  return out;
}

}  // namespace detail

// Runs background jobs in this thread until `stopped()` returns true or, with
// `until_idle`, no job this image's files can run is left (all succeeded or
// failed). What `lockstep background run` does. With
// options.jobs_at_once > 1, that many runners work at once, the others on
// threads of their own that end before it returns; never two on jobs of one
// table. Never throws.
template <class M>
[[nodiscard]] result<BackgroundState> run_background(M& migrator, BackgroundOptions options,
                                                     std::function<bool()> stopped, bool until_idle,
                                                     std::function<void(const BackgroundState&)> observe = {}) noexcept {
  static_assert(BackgroundLedger<typename M::ledger_type>,
                "lockstep::run_background: the Ledger keeps no background jobs (see BackgroundLedger)");
  using Runner = detail::JobRunner<typename M::wait_type, typename M::ledger_type>;
  try {
    LOCKSTEP_TRY(migrations, migrator.source().load());
    // A batch file's placeholders, as the boot that queued it replaced them.
    LOCKSTEP_TRY(values, detail::substitute_placeholders(migrations, migrator.settings().placeholders));
    LOCKSTEP_TRY(files, detail::runnable_files(std::move(migrations)));
    auto resolved = detail::resolve(migrator.settings());
    resolved.redact = resolved.redact.with(std::move(values));
    const std::string runner = detail::replica_id(resolved.settings.host);
    const std::size_t k = std::max(1u, options.jobs_at_once);
    // Each runner has its own copy of the Migrator: a wait policy or a
    // ledger object is not shared between threads.
    std::deque<M> copies;
    for (std::size_t i = 1; i < k; ++i) copies.push_back(migrator);
    std::deque<Runner> runners;
    runners.emplace_back(migrator.settings(), migrator.wait(), migrator.ledger(), resolved, runner, options, files);
    for (auto& c : copies) runners.emplace_back(c.settings(), c.wait(), c.ledger(), resolved, runner, options, files);
    detail::Siblings siblings;
    std::vector<BackgroundState> states(k);
    std::mutex mutex;  // states and observe, across the runners' threads
    auto changed = [&] {
      if (!observe) return;
      std::lock_guard lock{mutex};
      observe(detail::combined(states));
    };
    std::vector<std::optional<Error>> gave_up(k);
    auto run = [&](std::size_t i) noexcept {
      try {
        BackgroundState mine;
        if (k > 1) runners[i].run_beside(siblings, i);
        gave_up[i] = detail::run_one<M>(runners[i], options, until_idle, stopped, mine, [&] {
          {
            std::lock_guard lock{mutex};
            states[i] = mine;
          }
          changed();
        });
        std::lock_guard lock{mutex};
        states[i] = mine;
      } catch (...) {
        gave_up[i] = make_error(errc::internal_error, "a background runner stopped on an exception (out of memory?)");
      }
    };
    std::vector<std::thread> others;
    std::optional<Error> no_thread;
    for (std::size_t i = 1; i < k; ++i) {
      try {
        others.emplace_back(run, i);
      } catch (const std::system_error&) {
        no_thread = make_error(errc::internal_error, "cannot start a background runner's thread (" +
                                                         std::to_string(i) + " of " + std::to_string(k) +
                                                         " started): the process is at its thread or pid limit");
        break;
      }
    }
    if (!no_thread) run(0);
    for (auto& t : others) t.join();  // each ends as run(0) does: stopped, idle or given up
    if (no_thread) return std::move(*no_thread);
    for (auto& e : gave_up) {
      if (e) return std::move(*e);
    }
    return detail::combined(states);
  } catch (...) {
    return make_error(errc::internal_error, "the background runner stopped on an exception (out of memory?)");
  }
}

// A runner on a thread of the application, on a copy of the Migrator (its
// settings, wait policy, ledger and source): Migrator::background().
template <class M>
class Background {
 public:
  Background() = default;
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  Background(Background&&) noexcept = default;
  Background& operator=(Background&& other) noexcept {
    if (this != &other) {
      stop();
      shared_ = std::move(other.shared_);
      thread_ = std::move(other.thread_);
    }
    return *this;
  }
  ~Background() { stop(); }

  // Ends the runner: returns once its thread has ended. A batch in flight
  // ends first, within its session's deadline (20 x target_batch + 2 x
  // lock_timeout + 5 s + connect_timeout: about 29 s with the defaults); it
  // commits whole or not at all. A long statement in flight (an index
  // build) is not waited for: its session is ended within 50 ms and a
  // runner runs it again later.
  void stop() noexcept {
    if (!shared_) return;
    {
      std::lock_guard lock{shared_->mutex};
      shared_->stopping = true;
    }
    if (thread_.joinable()) thread_.join();
    shared_.reset();
  }

  [[nodiscard]] BackgroundState state() const {
    if (!shared_) return {};
    std::lock_guard lock{shared_->mutex};
    return shared_->state;
  }

  [[nodiscard]] static result<Background> start(const M& migrator, BackgroundOptions options) noexcept {
    try {
      Background b;
      b.shared_ = std::make_unique<Shared>(migrator, options);
      Shared& s = *b.shared_;
      b.thread_ = std::thread{[&s] {
        auto ran = run_background(
            s.migrator, s.options,
            [&s] {
              std::lock_guard lock{s.mutex};
              return s.stopping;
            },
            false,
            [&s](const BackgroundState& now) {
              std::lock_guard lock{s.mutex};
              s.state = now;
            });
        std::lock_guard lock{s.mutex};
        if (!ran) s.state.last_error = ran.error().message;
      }};
      return b;
    } catch (...) {
      return make_error(errc::internal_error,
                        "cannot start the background runner's thread (out of memory, or at the thread limit)");
    }
  }

 private:
  struct Shared {
    Shared(M m, BackgroundOptions o) : migrator{std::move(m)}, options{o} {}
    M migrator;
    BackgroundOptions options;
    std::mutex mutex;
    bool stopping = false;
    BackgroundState state;
  };

  std::unique_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace lockstep
