// Heartbeat<M>: this replica's entry in the replica registry, kept alive
// while the application runs. What contract migrations wait on
// (docs/expand-contract.md).
//
//   auto report = migrator.run();                    // the gate
//   auto beat = migrator.heartbeat(report.value());  // register; refuses a contracted schema
//   ...                        // serve; to_json(beat.value().state()) for /readyz
//   beat.value().stop();       // on shutdown (the destructor does it too)
//
// examples/service/main.cpp is the whole pattern, with signals and probes.
//
// Each beat opens a short connection, moves the lease forward with one
// UPDATE and closes it: no connection is held between beats (200 replicas
// would otherwise hold 200 server backends for nothing). A replica that
// vanishes without stop() (SIGKILL, a lost node) stops counting once its
// lease expires: at most `lease` after its last beat.
//
// The schedule (when beats come, how long one may take, the shortest lease
// that a healthy replica never loses) is heartbeat_schedule.hpp's.
// Beats report `beat`, `beat_failed` and `beat_recovered` events: a beat
// is not a run, and never emits a run's `error`.
//
// When a contract migration of this image waits only for replicas that are
// gone, the beat that sees it runs the Migrator again (a copy: same
// settings and policies; its events say "background"), which applies it
// under the migration lock, once, after the same pre-flight as any boot.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "lockstep/detail/base/durations.hpp"
#include "lockstep/detail/base/jitter.hpp"
#include "lockstep/detail/base/json.hpp"
#include "lockstep/detail/run/registry.hpp"
#include "lockstep/detail/run/resolved.hpp"
#include "lockstep/error.hpp"
#include "lockstep/heartbeat_schedule.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/report.hpp"
#include "lockstep/schema_change.hpp"

namespace lockstep {

// What the heartbeat knows now, for a readiness endpoint.
struct HeartbeatState {
  std::string replica_id;
  bool registered = false;  // the last beat renewed the lease
  // False once the schema has a contract migration this image lacks (it
  // was applied while this replica's lease had lapsed): stop serving.
  bool compatible = true;
  std::int64_t beats = 0;
  std::int64_t failed_beats = 0;  // in a row; the lease lapses after about (lease - B) / interval of them
  std::string last_error;
  std::vector<std::int64_t> contracts_waiting;  // this image's contract migrations not yet applied
  // The newest migration that changed row types which a beat learned of
  // (0: none since the gate), and how many such migrations it learned of.
  std::int64_t schema_version = 0;
  std::int64_t schema_changes = 0;
  // What on_schema_change last threw (redacted), until it next returns normally.
  std::string schema_hook_error;
};

// The state as one JSON object (a readiness body, a log line). last_error
// comes from the library's own messages, which never carry a password.
[[nodiscard]] inline std::string to_json(const HeartbeatState& s) {
  std::string waiting = "[";
  for (auto v : s.contracts_waiting) {
    // Piece by piece: `"," + std::to_string(v)` draws a false -Wrestrict from GCC 12 at -O3.
    if (waiting.size() > 1) waiting += ',';
    waiting += std::to_string(v);
  }
  waiting += ']';
  detail::JsonObject o;
  o.add("replica_id", s.replica_id)
      .add("registered", s.registered)
      .add("compatible", s.compatible)
      .add("beats", s.beats)
      .add("failed_beats", s.failed_beats)
      .add_raw("contracts_waiting", waiting)
      .add("schema_changes", s.schema_changes);
  if (!s.last_error.empty()) o.add("last_error", s.last_error);
  if (!s.schema_hook_error.empty()) o.add("schema_hook_error", s.schema_hook_error);
  return o.str();
}


// M: the Migrator whose run() gated this process. The heartbeat uses only
// its public face (settings(), wait(), ledger(), run_in_background()); the
// registry sessions are detail/run/registry.hpp's.
template <class M>
class Heartbeat {
 public:
  Heartbeat() = default;
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;
  Heartbeat(Heartbeat&&) noexcept = default;
  Heartbeat& operator=(Heartbeat&& other) noexcept {
    if (this != &other) {
      stop();
      shared_ = std::move(other.shared_);
      thread_ = std::move(other.thread_);
    }
    return *this;
  }
  ~Heartbeat() { stop(); }

  // Ends the beats and removes this replica from the registry, so a
  // contract migration waiting for it can run without waiting out the lease.
  // Returns once the thread has ended (a contract migration it is applying
  // finishes first). Idempotent.
  void stop() noexcept {
    if (!shared_) return;
    {
      std::lock_guard lock{shared_->mutex};
      shared_->stopping = true;
    }
    shared_->wake.notify_all();
    if (thread_.joinable()) thread_.join();
    shared_.reset();
  }

  [[nodiscard]] HeartbeatState state() const {
    if (!shared_) return {};
    std::lock_guard lock{shared_->mutex};
    return shared_->state;
  }

  // Registers this replica (in the caller's thread, so a refusal stops the
  // start), then starts the beats: what Migrator::heartbeat does, which
  // says when to call it. The beat thread works on a copy of `migrator`,
  // made inside the boundary: a policy or sink whose copy throws (or an
  // allocation that fails) is an error, not std::terminate.
  [[nodiscard]] static result<Heartbeat> start(const M& migrator, const Report& report,
                                               HeartbeatOptions options) noexcept {
    static_assert(RegistryLedger<typename M::ledger_type>,
                  "lockstep::Migrator::heartbeat: the Ledger keeps no replica registry (see RegistryLedger)");
    try {
      LOCKSTEP_TRYV(check_heartbeat_options(options));
      // Resolved once, for every beat and the withdrawal: the URL (parsed
      // once), its secrets and PGPASSWORD. The deploy version, host and mode
      // are the ones the run that gated resolved (Report::resolved).
      auto resolved = detail::resolve(migrator.settings());
      if (!report.resolved.deploy_version.empty()) {  // a run's report, not a Report{} of the caller's
        resolved.settings = report.resolved;
        resolved.mode_error.reset();
      }
      auto me = detail::replica_record(resolved.settings, report);
      auto waiting = detail::contracts_to_settle(resolved, report);
      Heartbeat hb;
      hb.shared_ = std::make_unique<Shared>(migrator, std::move(resolved), std::move(me), options);
      Shared& s = *hb.shared_;
      // Each registration attempt is bounded like a beat, so the schedule's
      // invariant holds from the first stamp on; `began` is when the one
      // that succeeded started, the anchor of the first beat.
      s.registry.schema_seen(report.schema_version);
      LOCKSTEP_TRY(began, s.registry.enroll(options));
      s.state.replica_id = s.registry.me().replica_id;
      s.state.registered = true;
      s.state.contracts_waiting = std::move(waiting);
      s.jobs_required = detail::jobs_required(report.contracts_waiting);
      hb.thread_ = std::thread{[&s, began] { beat_until_stopped(s, began); }};
      return hb;
    } catch (...) {
      return make_error(errc::internal_error,
                        "cannot start the heartbeat thread (out of memory, or at the thread limit); the replica "
                        "is not registered");
    }
  }

 private:
  using Sessions = detail::ReplicaSessions<typename M::wait_type, typename M::ledger_type>;

  struct Shared {
    Shared(M m, detail::Resolved resolved, ReplicaRecord me, HeartbeatOptions o)
        : migrator{std::move(m)},
          registry{migrator.settings(), migrator.wait(), migrator.ledger(), std::move(resolved), std::move(me)},
          options{o} {}
    M migrator;  // used by the beat thread only
    Sessions registry;  // on `migrator`'s settings, wait policy and ledger
    HeartbeatOptions options;
    std::mutex mutex;  // guards stopping, settle and state
    std::condition_variable wake;
    bool stopping = false;
    // False once a background run was refused for a reason a retry cannot
    // change (a lock-safety finding, a recorded failure): the contracts are
    // left to the next deploy's boot instead of failing at every beat.
    bool settle = true;
    std::map<std::int64_t, std::int64_t> jobs_required;  // contract version -> the background job it requires
    HeartbeatState state;
  };

  static void beat_until_stopped(Shared& s, std::chrono::steady_clock::time_point registered) noexcept {
    // Replicas that started together would beat together: every interval, a
    // whole deploy's connections in the same instant (200 of them on a
    // 2-core server took longer than a beat may, and every lease lapsed).
    // The first beat comes at a random point of the interval after the
    // registration started and each next one 0.9-1.1 intervals after the
    // last one started (heartbeat_schedule.hpp: why from its start).
    const auto interval = s.options.interval;
    detail::Jitter jitter;
    auto next = detail::next_beat_start(registered, std::chrono::steady_clock::now(),
                                        jitter.between(interval / 2, interval));
    for (;;) {
      {
        std::unique_lock lock{s.mutex};
        if (s.wake.wait_until(lock, next, [&] { return s.stopping; })) break;
        if (!s.state.compatible) {  // nothing more to keep alive; stop() ends it
          next = std::chrono::steady_clock::now() + interval;
          continue;
        }
      }
      const auto began = std::chrono::steady_clock::now();
      const auto ended = beat(s);
      next = detail::next_beat_start(
          began, ended, jitter.between(detail::shortest_beat_wait(interval), detail::longest_beat_wait(interval)));
    }
    // As long as a beat may take: when a whole deploy stops at once, 200
    // replicas connecting together on a small server needed more than 5 s
    // (benchmarks/bench.cpp, registry), and a row left behind holds a
    // waiting contract back until its lease runs out.
    s.registry.withdraw(detail::beat_budget(s.options));
  }

  // One beat, then, when a contract this image waits on is clear, the
  // background run that applies it. Returns when the beat's registry
  // session ended: the anchor the schedule needs is the beat, not the run.
  static std::chrono::steady_clock::time_point beat(Shared& s) noexcept {
    std::int64_t lowest = 0;
    std::int64_t job = 0;
    std::int64_t failed_before = 0;
    {
      std::lock_guard lock{s.mutex};
      if (s.settle && !s.state.contracts_waiting.empty()) lowest = s.state.contracts_waiting.front();
      if (const auto j = s.jobs_required.find(lowest); j != s.jobs_required.end()) job = j->second;
      failed_before = s.state.failed_beats;
    }
    auto renewal = s.registry.renew(s.options, lowest, failed_before, job);
    const auto ended = std::chrono::steady_clock::now();
    {
      std::lock_guard lock{s.mutex};
      ++s.state.beats;
      if (!renewal) {
        ++s.state.failed_beats;
        s.state.registered = false;
        s.state.last_error = renewal.error().message;
        if (renewal.error().code == errc::schema_contracted) s.state.compatible = false;
        return ended;
      }
      s.state.failed_beats = 0;
      s.state.registered = true;
      s.state.last_error.clear();
      if (!renewal.value().changes.empty()) {
        s.state.schema_version = renewal.value().changes.back().version;
        s.state.schema_changes += static_cast<std::int64_t>(renewal.value().changes.size());
      }
    }
    tell_schema_changes(s, renewal.value().changes);
    if (lowest == 0 || renewal.value().blockers > 0) return ended;
    // The replicas contract `lowest` waited for are gone: run again, which
    // applies what is now clear under the lock (or finds it done), after
    // the same pre-flight as any boot.
    auto ran = s.migrator.run_in_background();
    std::lock_guard lock{s.mutex};
    if (ran) {
      s.state.contracts_waiting.clear();
      for (const auto& w : ran.value().contracts_waiting) s.state.contracts_waiting.push_back(w.version);
      s.jobs_required = detail::jobs_required(ran.value().contracts_waiting);
    } else {
      const auto code = ran.error().code;
      s.settle = code == errc::connection_failed || code == errc::deadline_exceeded || code == errc::lock_failed;
      s.state.last_error = ran.error().message;
    }
    return ended;
  }

  // The application's hook, on this thread, outside the beat's session (its
  // time is not the beat's budget) and outside the state's mutex (it may
  // call state()). A hook that throws is reported in the state
  // (schema_hook_error); the change counts as told, and is not told again.
  static void tell_schema_changes(Shared& s, const std::vector<SchemaChange>& changes) noexcept {
    if (!s.options.on_schema_change) return;
    for (const auto& c : changes) tell_schema_change(s, c);
  }

  static void tell_schema_change(Shared& s, const SchemaChange& c) noexcept {
    try {
      std::string failed;
      try {
        s.options.on_schema_change(c);
      } catch (const std::exception& e) {
        failed = e.what();
      } catch (...) {
        failed = "an exception that is not a std::exception";
      }
      if (failed.empty()) {
        std::lock_guard lock{s.mutex};
        s.state.schema_hook_error.clear();
        return;
      }
      try {
        auto shown = s.registry.redact("on_schema_change threw for migration " + std::to_string(c.version) + ": " +
                                       failed);
        std::lock_guard lock{s.mutex};
        s.state.schema_hook_error = std::move(shown);
      } catch (...) {  // out of memory: the state keeps its last error
      }
    } catch (...) {  // the message itself could not be made: nothing more to say
    }
  }

  std::unique_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace lockstep
