// One step of a background runner: pick a job this replica's files can run
// and run one batch of it, in a session of its own (docs/background.md).
//
// A batch is one transaction:
//   BEGIN; SET LOCAL lock_timeout, statement_timeout, idle_in_transaction_session_timeout,
//          synchronous_commit = on
//   pg_try_advisory_xact_lock(job)     false: another runner has it; try the next job
//   the job's row, FOR UPDATE          re-read under the lock: its cursor now
//   the keyset probe                   the batch's first and last key (batch_sql.hpp)
//   the file over :lo..:hi, the new cursor and counts, COMMIT    one round trip
// The work and the cursor commit together or not at all, so a runner that
// is killed, frozen or cut off neither skips nor repeats a key range; only
// transaction-level locks and SET LOCAL are used, so it works through a
// transaction pooler. Each session has its own deadline (connect, the
// batch, the commit), enforced by the watchdog like any run's.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/background/batch_sql.hpp"
#include "lockstep/background/long_sql.hpp"
#include "lockstep/background/health.hpp"
#include "lockstep/detail/background/failed_range.hpp"
#include "lockstep/checks/check.hpp"
#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/background/files.hpp"
#include "lockstep/detail/background/job_failure.hpp"
#include "lockstep/detail/background/long_job.hpp"
#include "lockstep/detail/background/siblings.hpp"
#include "lockstep/detail/base/jitter.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/boundary.hpp"
#include "lockstep/detail/run/connect.hpp"
#include "lockstep/detail/run/contract.hpp"
#include "lockstep/detail/run/resolved.hpp"
#include "lockstep/detail/run/session_sql.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/error.hpp"
#include "lockstep/ledger/background_jobs.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/settings.hpp"
#include "lockstep/sql/directives.hpp"
#include "lockstep/sql/splitter.hpp"
#include "lockstep/timeout/deadline.hpp"
#include "lockstep/source/checksum.hpp"

namespace lockstep {

// How a runner paces itself (Migrator::background, `lockstep background run`).
struct BackgroundOptions {
  // Batches are sized toward this duration: a batch that took longer makes
  // the next one smaller, a quick one makes it larger (up to the file's
  // batch-size). Each batch's statement_timeout is 20 times this.
  std::chrono::milliseconds target_batch{500};
  std::chrono::milliseconds pause{50};          // between two batches
  std::chrono::milliseconds lock_timeout{2000};  // per batch; a timeout is retried with jitter
  std::chrono::milliseconds idle_poll{5000};    // no job to run: look again after this
  // A batch that hit its statement_timeout is halved; at one row, after this
  // many timeouts in a row, the job fails (its failure is recorded), or
  // that key is skipped (on_failed_range).
  unsigned timeouts_at_one_row = 3;
  // A range a batch cannot get through: the job stops (stop), or, with
  // skip, a batch whose rows raise a data or constraint error (SQLSTATE
  // class 22, 23 or P0) is halved down to the one failing key, and that key
  // is passed over, as is one that timed out timeouts_at_one_row times: the
  // cursor moves past it under the job's lock, with no row counted done;
  // the key and the error go to the failure log (cause "skipped"), the
  // count to the job's last_error, and background_skipped is emitted. Lock
  // timeouts, deadlocks and a lost connection are never skipped, nor an
  // error every row would raise (a privilege, a column, the server).
  FailedRange on_failed_range = FailedRange::stop;
  // Sessions that failed in a row (the database away, a wrong URL) for this
  // long end run_background() with the last error; 0: never (a replica's
  // runner, which lives as long as the app). `lockstep background run`
  // sets it to --timeout.
  std::chrono::milliseconds give_up_after{0};
  std::chrono::milliseconds connect_timeout{10000};  // each step's connecting, retries included
  // Each batch's statement_timeout; 0: 20 times target_batch (at least 1 s).
  std::chrono::milliseconds statement_timeout{0};
  HealthLimits health;  // read before each batch: past a limit, the job waits (background/health.hpp)
  // Long statements (background + no-transaction): each statement's bound
  // when its file gives no lockstep:statement-timeout. There is always one:
  // every session lockstep opens ends by a deadline.
  std::chrono::milliseconds long_statement_timeout{std::chrono::hours{24}};
  // Jobs one runner works on at once, each on a thread of its own, never two
  // on one table (detail/background/siblings.hpp). 1: one job after another.
  unsigned jobs_at_once = 1;
};

}  // namespace lockstep

namespace lockstep::detail {

// "04:07 UTC", for a window's throttling event.
[[nodiscard]] inline std::string utc_time_text(int minute_of_day) {
  return sql::TimeWindow::hhmm(minute_of_day) + " UTC";
}

template <class Wait, class Ledger>
class JobRunner {
 public:
  JobRunner(const Settings& settings, Wait& wait, Ledger& ledger, Resolved resolved, std::string runner,
            BackgroundOptions options, std::map<std::int64_t, RunnableFile> files)
      : settings_{settings},
        wait_{wait},
        ledger_{ledger},
        resolved_{std::move(resolved)},
        runner_{std::move(runner)},
        options_{options},
        files_{std::move(files)} {}

  // The failed and finished jobs this runner's files know, after the last step.
  [[nodiscard]] const std::vector<std::int64_t>& failed() const noexcept { return failed_; }

  // What ends a long statement in flight early (the runner is stopping): its
  // session is ended, the statement rolled back, and the next runner runs it
  // again. A batch is short and ends by its own bound instead.
  void stop_long_statements_when(std::function<bool()> stopped) { stopped_ = std::move(stopped); }

  // One of several runners of a process (BackgroundOptions::jobs_at_once):
  // it takes only jobs that `siblings` lets it, and keeps to one while it
  // works on it.
  void run_beside(Siblings& siblings, std::size_t self) {
    siblings_ = &siblings;
    self_ = self;
  }

  // Job `version`'s batches, back to back on `conn` (no transaction open on
  // it), for a boot that requires the job (lead.hpp): until it has
  // succeeded (true), `until` has passed or the run's deadline leaves no
  // room for another batch (false), or it failed (its error, recorded as a
  // runner's would be). Another runner's batches count as progress: its
  // lock busy, this one waits a moment and tries again.
  template <class Ctx>
  [[nodiscard]] result<bool> finalize(Ctx& ctx, Connection& conn, std::int64_t version,
                                      std::chrono::steady_clock::time_point until) {
    const auto f = files_.find(version);
    if (f == files_.end()) {
      return make_error(errc::internal_error, "background migration " + std::to_string(version) +
                                                  " is required but not among this image's background files (report this)");
    }
    if (f->second.directives.long_statements()) return finalize_long(ctx, conn, version, f->second, until);
    return finish_job(
        ctx, conn, version,
        [&] { return std::chrono::steady_clock::now() < until && ctx.remaining() > statement_timeout() + options_.lock_timeout; },
        [&] { return batch(ctx, conn, version, f->second, false); }, std::chrono::milliseconds{250});
  }

  // One batch of the first runnable job this replica has the file of, and
  // whose lock is free. `idle`: no runnable job it can run.
  [[nodiscard]] result<Step> step() noexcept {
    pending_long_.reset();
    auto out = pick();
    if (out && pending_long_) {
      const auto version = *pending_long_;
      pending_long_.reset();
      out = long_step(version);
    }
    // A sibling keeps its job while it works on it (a batch, another
    // runner's batch in its way, the database's health); otherwise it lets
    // the job, and its table, go to the others.
    if (siblings_ != nullptr && (!out || out.value() == Step::finished || out.value() == Step::failed ||
                                 out.value() == Step::held || out.value() == Step::idle)) {
      siblings_->release(self_);
    }
    return out;
  }

 private:
  // One batch, or the pick of a job of long statements (pending_long_),
  // within a batch's budget.
  [[nodiscard]] result<Step> pick() noexcept {
    Deadline<> deadline{budget()};
    return boundary<Step>(
        deadline, settings_, &resolved_,
        [&](Context<Deadline<>>& ctx) -> result<Step> {
          ctx.phase = "connecting for a background batch";
          LOCKSTEP_TRY(checked, check_settings(ctx, settings_));
          // Connecting has a bound of its own, shorter than the step's: the
          // runner's loop retries a step anyway, and a database that is away
          // must not hold a runner (or `background run --timeout`) for a
          // whole batch's budget.
          Deadline<> connect_deadline{std::min(options_.connect_timeout, budget())};
          Context<Deadline<>> connecting{connect_deadline, settings_, resolved_};
          Connector<Wait, Deadline<>> connector{connecting, settings_, wait_, checked.conninfo};
          LOCKSTEP_TRY(conn, connector.connect());
          Connector<Wait, Deadline<>> watcher{ctx, settings_, wait_, std::move(checked.conninfo)};
          return watcher.watched(conn, [&](Connection& c) { return pick_and_run(ctx, c); });
        },
        [&](const Context<Deadline<>>& ctx, const Error& e) {
          ctx.emit(events::BackgroundError{.while_ = ctx.phase, .class_ = std::string{to_string(e.code)},
                                           .message = e.message, .sqlstate = events::unless_empty(e.sqlstate)});
        });
  }

  // The next long statement of job `version`, in a session of its own,
  // bounded by the statement's bound and margins. A stop of the runner ends
  // it early (the statement rolled back; nothing recorded, no error).
  [[nodiscard]] result<Step> long_step(std::int64_t version) noexcept {
    const RunnableFile& f = files_.at(version);
    const auto bound = long_statement_bound(f, options_.long_statement_timeout);
    Deadline<> deadline{bound + options_.connect_timeout + options_.lock_timeout * (settings_.lock_retries + 1) * 2 +
                        std::chrono::seconds{60}};
    auto out = boundary<Step>(
        deadline, settings_, &resolved_,
        [&](Context<Deadline<>>& ctx) -> result<Step> {
          ctx.phase = "connecting for background migration " + std::to_string(version) + "'s long statements";
          LOCKSTEP_TRY(checked, check_settings(ctx, settings_));
          Deadline<> connect_deadline{options_.connect_timeout};
          Context<Deadline<>> connecting{connect_deadline, settings_, resolved_};
          Connector<Wait, Deadline<>> connector{connecting, settings_, wait_, checked.conninfo};
          LOCKSTEP_TRY(conn, connector.connect());
          Connector<Wait, Deadline<>> watcher{ctx, settings_, wait_, std::move(checked.conninfo)};
          LongStatements<Wait, Ledger> runner{long_settings(bound), wait_, ledger_, runner_};
          auto ran = watcher.watched(conn, [&](Connection& c) { return runner.next(ctx, c, version, f); }, stopped_);
          if (!ran && stopped_ && stopped_()) return Step::busy;
          return ran;
        },
        [&](const Context<Deadline<>>& ctx, const Error& e) {
          ctx.emit(events::BackgroundError{.while_ = ctx.phase, .class_ = std::string{to_string(e.code)},
                                           .message = e.message, .sqlstate = events::unless_empty(e.sqlstate)});
        });
    if (out && out.value() == Step::failed) failed_.push_back(version);
    return out;
  }

  // Job `version`'s long statements on `conn`, one after another, until it
  // succeeded (true), `until` or the run's deadline (false), or it failed.
  template <class Ctx>
  [[nodiscard]] result<bool> finalize_long(Ctx& ctx, Connection& conn, std::int64_t version, const RunnableFile& f,
                                           std::chrono::steady_clock::time_point until) {
    return finish_job(
        ctx, conn, version, [&] { return std::chrono::steady_clock::now() < until && !ctx.expired(); },
        [&] {
          const auto left = std::min(
              std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()),
              ctx.remaining());
          LongStatements<Wait, Ledger> runner{
              long_settings(std::min(long_statement_bound(f, options_.long_statement_timeout), left)), wait_, ledger_,
              runner_};
          return runner.next(ctx, conn, version, f);
        },
        std::chrono::milliseconds{1000});
  }

  // Job `version` stepped on `conn` (`next`: a batch, or a long statement)
  // while `more()`: true once it succeeded, false when `more()` ends or it
  // is no longer runnable (paused, cancelled), its error when it failed.
  // Another runner's step in the way, or a lock timeout, is waited out with
  // a jittered pause of up to `pause`, while the job is still runnable.
  template <class Ctx, class More, class Next>
  [[nodiscard]] result<bool> finish_job(Ctx& ctx, Connection& conn, std::int64_t version, More&& more, Next&& next,
                                        std::chrono::milliseconds pause) {
    Jitter jitter;
    while (more()) {
      LOCKSTEP_TRY(step, next());
      switch (step) {
        case Step::finished:
          return true;
        case Step::failed:
          return make_error(errc::migration_failed, "background migration " + std::to_string(version) +
                                                        " failed while this process finished it; see its "
                                                        "background_failed event and `lockstep background status`");
        case Step::busy:
        case Step::retry: {
          LOCKSTEP_TRY(now, ledger_.jobs().read(conn, version));
          if (!now || now->state == "succeeded") return now.has_value();
          if (!now->runnable()) return false;
          ctx.sleep_for(jitter.between(pause / 10, pause));
          break;
        }
        default:
          break;
      }
    }
    return false;
  }

  // The runner's settings for long statements: their bound as the
  // statement_timeout, the runner's lock_timeout.
  [[nodiscard]] Settings long_settings(std::chrono::milliseconds bound) const {
    Settings s = settings_;
    s.statement_timeout = bound;
    s.lock_timeout = options_.lock_timeout;
    return s;
  }

  // Connect, the lock wait, the batch and the commit: the batch's own
  // statement_timeout plus margins. Nothing of a step outlives it.
  [[nodiscard]] std::chrono::milliseconds budget() const {
    return statement_timeout() + options_.lock_timeout * 2 + std::chrono::seconds{5} + options_.connect_timeout;
  }
  [[nodiscard]] std::chrono::milliseconds statement_timeout() const {
    if (options_.statement_timeout.count() > 0) return options_.statement_timeout;
    return std::max(std::chrono::milliseconds{1000}, options_.target_batch * 20);
  }

  // A batch's transaction (and the one that fails a job): its bounds, an
  // idle bound as long as a batch may run, durability, and the keys' text
  // settings. synchronous_commit = on: a server tuned with it off
  // acknowledges commits that a crash can still take back, and a runner
  // reports a batch (background_batch) or the job's end
  // (background_succeeded) once COMMIT returned; the chaos suite's
  // background rounds saw a reported batch lost in a crash and run again
  // under the same number (the ledger's commits are durable for the same
  // reason: session_sql.hpp).
  [[nodiscard]] std::string begin_sql() const {
    return "BEGIN; " + timeout_sql(options_.lock_timeout, statement_timeout(), true) +
           "; SET LOCAL idle_in_transaction_session_timeout = " + std::to_string(statement_timeout().count()) +
           "; SET LOCAL synchronous_commit = on; " + std::string{background::key_text_settings_sql};
  }

  template <class Ctx>
  [[nodiscard]] result<Step> pick_and_run(Ctx& ctx, Connection& conn) {
    ctx.phase = "listing background jobs";
    LOCKSTEP_TRY(jobs, ledger_.jobs().list(conn));
    bool any = false;
    std::size_t held_count = 0;
    std::size_t tried = 0;
    failed_.clear();
    for (const auto& j : jobs) {
      const auto f = files_.find(j.version);
      if (f == files_.end() || !checksum_matches(f->second.migration, j.checksum)) continue;  // another image's job
      if (j.state == "failed") failed_.push_back(j.version);
      if (!j.runnable()) continue;
      any = true;
      LOCKSTEP_TRY(held, held_back(ctx, conn, j, f->second));
      if (held) {
        ++held_count;
        continue;  // another job may run meanwhile
      }
      if (const auto& w = f->second.directives.window) {
        ctx.phase = "reading the server's clock for background migration " + std::to_string(j.version) + "'s window";
        LOCKSTEP_TRY(clock, conn.query(utc_minute_of_day_sql));
        const int minute = clock.empty() ? 0 : static_cast<int>(to_int64(clock[0][0]));
        if (!w->contains(minute)) {
          ctx.emit(events::BackgroundThrottled{.version = j.version, .name_ = j.name, .signal = "window",
                                               .value = utc_time_text(minute), .limit = w->text()});
          ++held_count;
          continue;  // another job may run meanwhile
        }
      }
      if (siblings_ != nullptr && !siblings_->take(self_, j.version, j.relation)) continue;  // a sibling's
      if (j.long_statements()) {
        // Another runner's statement in flight holds its session lock: pass
        // over it to the next job rather than ask again and again.
        ctx.phase = "looking whether background migration " + std::to_string(j.version) + "'s long statement runs";
        LOCKSTEP_TRY(locked, conn.query(long_job_locked_sql(ledger_.jobs().lock_key(j.version))));
        if (!locked.empty() && locked[0][0].value_or("f") == "t") continue;
      }
      ctx.phase = "reading the database's health before a batch of background migration " +
                  std::to_string(j.version);
      LOCKSTEP_TRY(stop, read_health(conn, j.relation, options_.health));
      if (stop) {
        ctx.emit(events::BackgroundThrottled{.version = j.version, .name_ = j.name, .signal = stop->signal,
                                             .value = stop->value, .limit = stop->limit});
        return Step::throttled;
      }
      ++tried;
      if (j.long_statements()) {
        pending_long_ = j.version;  // run by step(), in a session bounded by the statement's own bound
        return Step::busy;
      }
      LOCKSTEP_TRY(step, batch(ctx, conn, j.version, f->second));
      if (step != Step::busy) return step;
    }
    if (held_count > 0 && tried == 0) return Step::held;
    return any ? Step::busy : Step::idle;
  }

  // A job that may not start yet: it waits for the older images to leave
  // (`-- lockstep:after=old-replicas-gone`), or for the background job it
  // requires. Said with a background_throttled event naming the signal.
  template <class Ctx>
  [[nodiscard]] result<bool> held_back(Ctx& ctx, Connection& conn, const BackgroundJob& j, const RunnableFile& f) {
    if (f.migration.requires_background != 0) {
      ctx.phase = "reading background migration " + std::to_string(f.migration.requires_background) +
                  ", which background migration " + std::to_string(j.version) + " requires";
      LOCKSTEP_TRY(required, ledger_.jobs().read(conn, f.migration.requires_background));
      if (!required || required->state != "succeeded") {
        ctx.emit(events::BackgroundThrottled{
            .version = j.version, .name_ = j.name, .signal = "requires_background",
            .value = required ? std::to_string(required->version) + " " + required->state
                              : std::to_string(f.migration.requires_background) + " not queued",
            .limit = "succeeded"});
        return true;
      }
    }
    if (!f.after_old_replicas_gone) return false;
    if constexpr (RegistryLedger<Ledger>) {
      ctx.phase = "reading which replicas are alive before background migration " + std::to_string(j.version);
      auto old = ledger_.registry().older_than(conn, j.version, false);
      if (!old && !no_ledger_yet(old.error())) return std::move(old).error();
      if (!old || old.value().empty()) return false;
      ctx.emit(events::BackgroundThrottled{.version = j.version, .name_ = j.name, .signal = "old_replicas",
                                           .value = summarize(old.value()), .limit = "none alive"});
      return true;
    } else {
      return false;  // no registry: pre-flight refuses the directive (preflight.hpp)
    }
  }

  // `throttle`: the sessions the job's last batch blocked may hold this
  // one (not in a finalize, which health signals never hold).
  template <class Ctx>
  [[nodiscard]] result<Step> batch(Ctx& ctx, Connection& conn, std::int64_t version, const RunnableFile& file,
                                   bool throttle = true) {
    const Migration& m = file.migration;
    // Counted by the last batch before its COMMIT; taken, so the next
    // batch measures again: the signal holds a job once per measurement.
    if (const auto b = blocked_.find(version); b != blocked_.end()) {
      const auto stop = throttle ? blocked_sessions_stop(b->second, options_.health) : std::nullopt;
      blocked_.erase(b);
      if (stop) {
        ctx.emit(events::BackgroundThrottled{.version = version, .name_ = m.name, .signal = stop->signal,
                                             .value = stop->value, .limit = stop->limit});
        return Step::throttled;
      }
    }
    ctx.phase = "running a batch of background migration " + std::to_string(version) + " (" + m.origin + ")";
    auto& jobs = ledger_.jobs();
    LOCKSTEP_TRYV(conn.execute(begin_sql()));
    auto rollback = [&] { (void)conn.execute("ROLLBACK"); };
    auto row = jobs.lock_and_read(conn, version);
    if (!row) return rollback(), std::move(row).error();
    if (!row.value() || !row.value()->runnable() || !checksum_matches(m, row.value()->checksum)) {
      return rollback(), Step::busy;
    }
    const BackgroundJob job = std::move(*row.value());
    // A job's first batch is small and grows toward the target: starting at
    // a batch-size of a million held every row until the statement timeout
    // (benchmarks/README.md, background backfill).
    auto& size = sizes_.try_emplace(version, std::min(job.batch_size, background::first_batch_size)).first->second;
    size = std::clamp<std::int64_t>(size, 1, job.batch_size);
    if (job.upper_bound.empty()) return finish(ctx, conn, job);  // the table was empty when queued
    auto probed = conn.query(background::probe_sql(job.relation, job.key_columns, job.key_types, job.cursor,
                                                   job.upper_bound, size));
    if (!probed) return rollback(), failed_batch(ctx, conn, job, m, std::move(probed).error(), {});
    if (probed.value().empty()) return finish(ctx, conn, job);
    const auto probe = background::probed_batch(probed.value()[0], job.key_columns.size());
    const std::int64_t rows = probe.rows;
    const std::vector<std::string>& hi = probe.hi;
    const std::string sql = background::fill(m.sql, file.at, background::key_literal(probe.lo, job.key_types),
                                             background::key_literal(hi, job.key_types));
    const auto t0 = std::chrono::steady_clock::now();
    // The sessions this batch blocks, counted last before its COMMIT and
    // read after it (health.hpp, blocked_sessions_sql): the next batch's
    // signal. 0 when the reading is missing (it cannot be after a COMMIT).
    auto ran = conn.query(std::string{background::key_text_settings_reset_sql} + sql + "\n;" +
                          jobs.advance_sql(version, hi, rows, runner_) + "; " + std::string{blocked_sessions_sql} +
                          "; COMMIT; " + std::string{blocked_sessions_read_sql});
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    if (!ran) {
      if (conn.is_open()) rollback();
      return failed_batch(ctx, conn, job, m, std::move(ran).error(), hi);
    }
    blocked_[version] = ran.value().empty() ? 0 : to_int64(ran.value()[0][0]);
    timeouts_.erase(version);
    const std::int64_t done = job.rows_done + rows;
    const auto rate = took.count() > 0 ? static_cast<double>(rows) * 1000.0 / static_cast<double>(took.count()) : 0.0;
    std::optional<std::int64_t> eta;
    if (rate > 0 && job.rows_estimated > done) {
      eta = static_cast<std::int64_t>(static_cast<double>(job.rows_estimated - done) * 1000.0 / rate);
    }
    if (job.batches == 0) {
      ctx.emit(events::BackgroundStarted{.version = version, .name_ = m.name, .kind = "batches", .runner = runner_,
                                         .rows_estimated = job.rows_estimated});
    }
    ctx.emit(events::BackgroundBatch{.version = version, .name_ = m.name, .batch = job.batches + 1, .rows = rows,
                                     .rows_done = done, .rows_estimated = job.rows_estimated, .batch_size = size,
                                     .duration_ms = static_cast<std::int64_t>(took.count()), .eta_ms = eta});
    // Toward the target duration, by at most a factor of two either way.
    const auto target = static_cast<double>(options_.target_batch.count());
    double factor = std::clamp(target / static_cast<double>(std::max<std::int64_t>(1, took.count())), 0.5, 2.0);
    // A batch whose time is mostly fixed (a round trip, a trigger, a slow
    // statement of the file that does not depend on the range) gets no
    // faster when it gets smaller: shrinking it toward the target took it
    // to one row, and the job to a crawl (found by the fresh-clone
    // rehearsal in a finalize). The last two batches of different sizes
    // tell the fixed part (a line through both); when it alone is most of
    // the target, the size holds.
    auto& pace = paces_[version];
    if (pace.rows > 0 && pace.rows != rows) {
      const double per_row = std::max(0.0, static_cast<double>(took.count() - pace.ms) /
                                               static_cast<double>(rows - pace.rows));
      pace.mostly_fixed = static_cast<double>(took.count()) - per_row * static_cast<double>(rows) >= 0.8 * target;
    }
    if (pace.rows != rows) pace = Pace{rows, static_cast<std::int64_t>(took.count()), pace.mostly_fixed};
    if (factor < 1.0 && pace.mostly_fixed) factor = 1.0;
    if (rows >= size || factor < 1.0) {
      const auto ceiling = ceilings_.count(version) != 0 ? ceilings_[version] : job.batch_size;
      size = std::clamp<std::int64_t>(static_cast<std::int64_t>(static_cast<double>(size) * factor), 1,
                                      std::min(ceiling, job.batch_size));
    }
    return Step::batch;
  }

  template <class Ctx>
  [[nodiscard]] result<Step> finish(Ctx& ctx, Connection& conn, const BackgroundJob& job) {
    LOCKSTEP_TRYV(conn.execute(ledger_.jobs().finish_sql(job.version, runner_) + "; COMMIT"));
    ctx.emit(events::BackgroundSucceeded{.version = job.version, .name_ = job.name, .rows_done = job.rows_done,
                                         .batches = job.batches});
    sizes_.erase(job.version);
    return Step::finished;
  }

  // The batch rolled back. A lock or a deadlock is tried again later; a
  // statement timeout halves the batch; what is left fails the job,
  // recorded like any failed migration (the deploy's circuit breaker, status),
  // or, told to skip a failed range, is narrowed to one key and passed over
  // (failed_range.hpp decides which). `hi`: the batch's last key; empty
  // when the error is lockstep's probe of the job's table (renamed or
  // dropped since it was queued), not the file's.
  template <class Ctx>
  [[nodiscard]] result<Step> failed_batch(Ctx& ctx, Connection& conn, const BackgroundJob& job, const Migration& m,
                                          Error e, const std::vector<std::string>& hi) {
    if (!conn.is_open()) return e;  // the server rolled back; the next step starts over
    const bool in_file = !hi.empty();
    auto& size = sizes_[job.version];
    auto again = [&] {
      ctx.emit(events::BackgroundRetry{.version = job.version, .name_ = job.name, .sqlstate = e.sqlstate,
                                       .message = e.server_message, .batch_size = size});
      return Step::retry;
    };
    // The step's own deadline cancelled it: not the batch's statement timeout.
    if (e.sqlstate == "57014" && ctx.expired()) return e;
    const unsigned at_one_row = e.sqlstate == "57014" && size <= 1 ? ++timeouts_[job.version] : 0;
    const auto action = on_batch_error(e.sqlstate, in_file, size, at_one_row, options_.timeouts_at_one_row,
                                       options_.on_failed_range);
    switch (action) {
      case OnBatchError::retry:
        return again();
      case OnBatchError::halve:
        size = std::max<std::int64_t>(1, size / 2);
        ceilings_[job.version] = size;  // never grown back to a size that timed out
        return again();
      case OnBatchError::split:
        // Toward the one key that fails; once it is skipped, the size comes back.
        unsplit_.try_emplace(job.version, size);
        size = std::max<std::int64_t>(1, size / 2);
        return again();
      case OnBatchError::skip:
      case OnBatchError::fail:
        break;
    }
    if (ctx.expired()) return e;
    // Failed (or skipped) only under the job's lock, and only if no other
    // runner moved its cursor since this batch read it: a batch of another
    // runner that committed meanwhile is not failed by this one's error.
    LOCKSTEP_TRYV(conn.execute(begin_sql()));
    auto still = ledger_.jobs().lock_and_read(conn, job.version);
    if (!still || !still.value() || still.value()->cursor != job.cursor || !still.value()->runnable()) {
      (void)conn.execute("ROLLBACK");
      if (!still) return std::move(still).error();
      return Step::retry;  // another runner has it, or moved on: its batches decide
    }
    if (action == OnBatchError::skip) return skipped(ctx, conn, job, m, e, hi);
    const std::string why = (e.server_message.empty() ? e.message : e.server_message) +
                            (in_file ? std::string{} : " (reading " + job.relation + ", the job's table as it was "
                                                       "queued: renamed or dropped since?)");
    if (!in_file) e.line.reset();
    e.code = errc::migration_failed;
    e.version = job.version;
    e.migration_name = job.name;
    e.file = m.origin;
    e.column.reset();  // :lo and :hi were replaced: the line is the file's, the column may not be
    e.message = "background migration " + std::to_string(job.version) + " (" + m.origin + ") failed in a batch: " +
                why + "; that batch was rolled back, the batches before it stay committed, and the job stopped. "
                "Fix the cause and run `lockstep background retry " + std::to_string(job.version) + "`";
    // Stored for `background status` and the failure log: scrubbed first,
    // like every text that leaves a session (the boundary scrubs the Error).
    const std::string stored = ctx.redact()(e.message);
    auto marked = ledger_.jobs().fail(conn, job.version, stored, runner_);
    if (!marked) {
      (void)conn.execute("ROLLBACK");
      return std::move(marked).error();
    }
    LOCKSTEP_TRYV(conn.execute("COMMIT"));
    report_job_failure(ctx, conn, ledger_, job, m, e, stored, why);
    failed_.push_back(job.version);
    return Step::failed;
  }

  // One key passed over (on_failed_range = skip), in the transaction
  // failed_batch opened under the job's lock: the cursor moves past it as a
  // batch's would, with no row done, and the job goes on. The key and the
  // error are recorded in the failure log with cause "skipped" (status
  // lists it until `lockstep resolve` or `background retry`; the failure
  // gate never refuses a deploy for it: failure_gate.hpp), the count in the
  // job's last_error, and background_skipped says so.
  template <class Ctx>
  [[nodiscard]] result<Step> skipped(Ctx& ctx, Connection& conn, const BackgroundJob& job, const Migration& m,
                                     const Error& e, const std::vector<std::string>& key) {
    timeouts_.erase(job.version);
    const std::string why = e.server_message.empty() ? e.message : e.server_message;
    const std::string position = m.origin + (e.line ? ":" + std::to_string(*e.line) : std::string{});
    // Scrubbed before it is stored, like every text that leaves a session.
    const std::string what = ctx.redact()("key " + key_text(key) + " (" + position + "): [" + e.sqlstate + "] " + why);
    auto count = ledger_.jobs().skip(conn, job.version, key, what, runner_);
    if (!count) {
      (void)conn.execute("ROLLBACK");
      return std::move(count).error();
    }
    LOCKSTEP_TRYV(conn.execute("COMMIT"));
    FailureRecord f;
    f.version = job.version;
    f.name = job.name;
    f.sqlstate = e.sqlstate;
    f.message = "skipped " + what + "; the job went on past it (on_failed_range = skip)";
    f.position = position;
    f.line = e.line;
    f.deploy_version = resolved_.settings.deploy_version;
    f.host = resolved_.settings.host;
    f.checksum = m.checksum;
    f.cause = "skipped";
    if (auto recorded = ledger_.record_failure(conn, f); !recorded) {
      ctx.emit(events::Warning{.message = "could not record the key background migration " +
                                          std::to_string(job.version) + " skipped in the failure log: " +
                                          recorded.error().message});
    }
    ctx.emit(events::BackgroundSkipped{.version = job.version, .name_ = job.name, .key = key_text(key),
                                       .sqlstate = e.sqlstate, .message = why, .skipped = count.value()});
    if (const auto u = unsplit_.find(job.version); u != unsplit_.end()) {
      const auto ceiling = ceilings_.count(job.version) != 0 ? ceilings_[job.version] : job.batch_size;
      sizes_[job.version] = std::clamp<std::int64_t>(u->second, 1, std::min(ceiling, job.batch_size));
      unsplit_.erase(u);
    }
    return Step::retry;
  }

  const Settings& settings_;
  Wait& wait_;
  Ledger& ledger_;
  Resolved resolved_;
  std::string runner_;
  BackgroundOptions options_;
  std::map<std::int64_t, RunnableFile> files_;
  std::map<std::int64_t, std::int64_t> sizes_;      // each job's batch size now
  std::map<std::int64_t, std::int64_t> ceilings_;   // each job's largest size since a statement timeout
  std::map<std::int64_t, unsigned> timeouts_;       // statement timeouts in a row at one row
  // Each job's last batch of a new size (its rows and time), and whether
  // the line through it and the one before puts most of a batch's time in
  // the part that does not depend on its rows.
  struct Pace {
    std::int64_t rows = 0;
    std::int64_t ms = 0;
    bool mostly_fixed = false;
  };
  std::map<std::int64_t, Pace> paces_;
  std::map<std::int64_t, std::int64_t> unsplit_;    // each job's size before a failing row split it (skip)
  std::map<std::int64_t, std::int64_t> blocked_;    // sessions each job's last batch blocked (its next batch's signal)
  std::vector<std::int64_t> failed_;
  std::function<bool()> stopped_;              // stop_long_statements_when
  Siblings* siblings_ = nullptr;               // run_beside
  std::size_t self_ = 0;
  std::optional<std::int64_t> pending_long_;  // the job of long statements pick() chose
};


}  // namespace lockstep::detail
