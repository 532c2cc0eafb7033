// One long statement of a background migration (`-- lockstep:background`
// with `-- lockstep:no-transaction`: CREATE INDEX CONCURRENTLY, VALIDATE
// CONSTRAINT, ...; docs/background.md, "Long statements"), run by a runner
// while every replica serves. Such a statement cannot run in a transaction,
// so the job's exclusion is a *session* advisory lock on a direct session
// (refused through a transaction pooler, where it would be stranded):
//
//   pg_try_advisory_lock(job)      false: another runner has it; try another job
//   the session's bounds           idle bounds and keepalives: a frozen or cut
//                                  runner's session ends, and the lock with it
//   the job's row                  the next statement: rows_done of them are done
//   the statement, alone           an INVALID index its earlier, interrupted
//                                  attempt left is dropped first (index_checks.hpp)
//   rows_done + 1, COMMIT          its own statement, after it
//   pg_advisory_unlock(job)
//
// A statement that completed is never run again. One interrupted (the runner
// killed, stopped or cut off; the server restarted) is run again from its
// start by the next runner: it must be safe to re-run (IF NOT EXISTS), as a
// no-transaction migration's statements must be. A statement that completed
// while its runner died before recording it is run again too: the same rule
// covers it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "lockstep/background/progress.hpp"
#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/background/files.hpp"
#include "lockstep/detail/background/job_failure.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/execute.hpp"
#include "lockstep/detail/run/session_sql.hpp"
#include "lockstep/error.hpp"
#include "lockstep/lock/try_lock.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/settings.hpp"
#include "lockstep/source/checksum.hpp"

namespace lockstep::detail {

// A long statement's bound: its file's statement-timeout, else `fallback`
// (BackgroundOptions::long_statement_timeout). Never none: every session
// lockstep opens ends by a deadline.
[[nodiscard]] inline std::chrono::milliseconds long_statement_bound(const RunnableFile& f,
                                                                    std::chrono::milliseconds fallback) {
  const auto given = f.directives.statement_timeout;
  return given && given->count() > 0 ? *given : fallback;
}

// True while some session holds job `key`'s session lock: a runner looking
// for work passes over a job whose long statement another runner is running
// (hours, maybe) instead of asking again and again. A hint only: the lock
// itself decides (LongStatements::next).
[[nodiscard]] inline std::string long_job_locked_sql(std::int64_t key) {
  const auto u = static_cast<std::uint64_t>(key);
  return "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
         " AND classid::bigint = " + std::to_string(u >> 32) + " AND objid::bigint = " +
         std::to_string(u & 0xffffffffULL) +
         " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))";
}

// The server's minute of the day, UTC: what a job's lockstep:window is read against.
inline constexpr const char* utc_minute_of_day_sql =
    "SELECT (extract(hour FROM now() AT TIME ZONE 'UTC') * 60 + extract(minute FROM now() AT TIME ZONE 'UTC'))::int";

template <class Wait, class Ledger>
class LongStatements {
 public:
  // `settings`: the runner's, with statement_timeout set to the bound and
  // lock_timeout to the runner's (see JobRunner::long_settings).
  LongStatements(Settings settings, Wait& wait, Ledger& ledger, std::string runner)
      : settings_{std::move(settings)}, wait_{wait}, ledger_{ledger}, runner_{std::move(runner)} {}

  // The job's next statement on `conn` (no transaction open on it). `busy`:
  // another runner has the job, or it is no longer runnable.
  template <class Timeout>
  [[nodiscard]] result<Step> next(Context<Timeout>& ctx, Connection& conn, std::int64_t version,
                                  const RunnableFile& f) {
    const Migration& m = f.migration;
    const std::int64_t key = ledger_.jobs().lock_key(version);
    ctx.phase = "taking background migration " + std::to_string(version) + "'s lock for its long statements";
    auto locked = TryLock{}.try_acquire(conn, key, std::chrono::milliseconds{0});
    if (!locked) return pooled(std::move(locked).error(), m);
    if (!locked.value()) return Step::busy;
    // Let go on every way out, a throwing event sink's too: a finalize's
    // connection outlives this call.
    struct Unlock {
      Connection& conn;
      std::int64_t key;
      ~Unlock() {
        try {
          if (conn.is_open()) (void)conn.execute("SELECT pg_advisory_unlock(" + std::to_string(key) + ")");
        } catch (...) {
          conn.close();  // out of memory: ending the session lets the lock go too
        }
      }
    } unlock{conn, key};
    return under_lock(ctx, conn, version, f);
  }

 private:
  template <class Timeout>
  [[nodiscard]] result<Step> under_lock(Context<Timeout>& ctx, Connection& conn, std::int64_t version,
                                        const RunnableFile& f) {
    const Migration& m = f.migration;
    // A runner frozen or cut off mid-statement must not keep the lock
    // beyond its stall bound: the session's idle bounds and keepalives.
    LOCKSTEP_TRYV(conn.execute(leader_session_sql(conn.server_version(), settings_.stall_timeout)));
    auto& jobs = ledger_.jobs();
    LOCKSTEP_TRY(row, jobs.read(conn, version));
    if (!row || !row->runnable() || !checksum_matches(m, row->checksum) || !row->long_statements()) {
      return Step::busy;
    }
    const BackgroundJob job = std::move(*row);
    LOCKSTEP_TRY(claimed, conn.query(jobs.claim_sql(version, runner_)));
    if (claimed.empty()) return Step::busy;  // paused or cancelled since it was listed
    const auto n = static_cast<std::int64_t>(f.statements.size());
    const std::int64_t k = std::clamp<std::int64_t>(job.rows_done, 0, n);
    if (k >= n) return finish(ctx, conn, job);  // the last one recorded, the job's end not yet
    const auto& st = f.statements[static_cast<std::size_t>(k)];
    ctx.phase = "running statement " + std::to_string(k + 1) + " of " + std::to_string(n) +
                " of background migration " + std::to_string(version) + " (" + m.origin + ":" +
                std::to_string(st.position.line) + ")";
    // The file's statement alone, with its directives: the executor's
    // no-transaction path drops what an interrupted attempt of it left
    // INVALID, retries a lock timeout, reports progress while it runs, and
    // fails it if it leaves its index INVALID.
    PreparedMigration one;
    one.statements = {st};
    one.directives = f.directives;
    Executor<Wait, Timeout> executor{ctx, settings_, wait_, true};
    std::int64_t completed = 0;
    const auto t0 = std::chrono::steady_clock::now();
    auto ran = executor.statements(conn, m, one, completed);
    const auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    if (!ran) return failed(ctx, conn, job, f, k, std::move(ran).error());
    LOCKSTEP_TRY(state, conn.query(jobs.statement_done_sql(version, k + 1, took, runner_)));
    if (k == 0) {
      ctx.emit(events::BackgroundStarted{.version = version, .name_ = m.name, .kind = "statements", .runner = runner_,
                                         .rows_estimated = n});
    }
    ctx.emit(events::BackgroundStatement{.version = version, .name_ = m.name, .statement = k + 1, .statements = n,
                                         .line = st.position.line, .duration_ms = took});
    if (k + 1 == n) {
      BackgroundJob done = job;
      done.rows_done = n;
      done.batches = n;
      return finish(ctx, conn, done);
    }
    // An operator's pause or cancel meanwhile: stop before the next one.
    const bool running = !state.empty() && state[0][0].value_or("") == "running";
    return running ? Step::batch : Step::busy;
  }

  template <class Timeout>
  [[nodiscard]] result<Step> finish(Context<Timeout>& ctx, Connection& conn, const BackgroundJob& job) {
    LOCKSTEP_TRYV(conn.execute(ledger_.jobs().finish_sql(job.version, runner_)));
    ctx.emit(events::BackgroundSucceeded{.version = job.version, .name_ = job.name, .rows_done = 0,
                                         .batches = job.rows_done});
    return Step::finished;
  }

  // Statement k failed. A lost session is not the file's fault (the next
  // runner runs it again); a lock timeout the executor already retried is
  // tried again later; anything else fails the job, recorded like any
  // failed migration (the deploy's circuit breaker, status).
  template <class Timeout>
  [[nodiscard]] result<Step> failed(Context<Timeout>& ctx, Connection& conn, const BackgroundJob& job,
                                    const RunnableFile& f, std::int64_t k, Error e) {
    const Migration& m = f.migration;
    if (!conn.is_open() || ctx.expired()) return e;
    if (retried_on(e.sqlstate)) {
      ctx.emit(events::BackgroundRetry{.version = job.version, .name_ = job.name, .sqlstate = e.sqlstate,
                                       .message = e.server_message, .batch_size = 1});
      return Step::retry;
    }
    const auto n = f.statements.size();
    const auto& st = f.statements[static_cast<std::size_t>(k)];
    std::string why = e.server_message.empty() ? e.message : e.server_message;
    if (e.sqlstate == "57014") {
      why += " (it ran past its bound, " + background::human_duration(settings_.statement_timeout->count()) +
             ": the file's lockstep:statement-timeout, else BackgroundOptions::long_statement_timeout)";
    }
    e.code = errc::migration_failed;
    e.version = job.version;
    e.migration_name = job.name;
    e.file = m.origin;
    if (!e.line) e.line = st.position.line;
    e.message = "background migration " + std::to_string(job.version) + " (" + m.origin + ", long statements) "
                "failed at statement " + std::to_string(k + 1) + " of " + std::to_string(n) + " (line " +
                std::to_string(st.position.line) + "): " + why + "; the " + std::to_string(k) +
                " statement(s) before it stay done, an index it left INVALID is dropped and built again on the "
                "next attempt, and the job stopped. Fix the cause and run `lockstep background retry " +
                std::to_string(job.version) + "`";
    const std::string stored = ctx.redact()(e.message);
    LOCKSTEP_TRYV(ledger_.jobs().fail(conn, job.version, stored, runner_));
    report_job_failure(ctx, conn, ledger_, job, m, e, stored, why);
    return Step::failed;
  }

  // The session lock refused through a pooler: said in the runner's terms.
  [[nodiscard]] static Error pooled(Error e, const Migration& m) {
    if (e.code != errc::lock_lost) return e;
    e.message = "background migration " + std::to_string(m.version) + " (" + m.origin + ") runs long statements "
                "outside a transaction, under a session lock, and this runner's connection goes through a "
                "transaction pooler, where that lock would be stranded: point the runner's DATABASE_URL_MIGRATION "
                "(--database-url) at PostgreSQL directly. (" + e.message + ")";
    return e;
  }

  Settings settings_;
  Wait& wait_;
  Ledger& ledger_;
  std::string runner_;
};

}  // namespace lockstep::detail
