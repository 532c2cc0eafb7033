// Applying one migration as the leader: open its transaction under the lock,
// send it (execute.hpp) with its ledger row and COMMIT in the same round trip
// when the ledger can write rows as SQL (record.hpp), retry after
// lock_timeout with backoff, and record a failure for the replicas after it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/begin.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/contract.hpp"
#include "lockstep/detail/run/execute.hpp"
#include "lockstep/detail/run/gate.hpp"
#include "lockstep/detail/run/prechecks.hpp"
#include "lockstep/detail/run/preflight.hpp"
#include "lockstep/detail/run/record.hpp"
#include "lockstep/detail/run/row_types.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/report.hpp"
#include "lockstep/settings.hpp"

namespace lockstep::detail {

// What one attempt at a migration came to. `deferred`: a contract migration
// that older replicas still stand in the way of; nothing of it ran.
enum class Attempt { applied, lock_busy, deferred };

template <class Lock, class Wait, class Timeout, class Ledger>
class Applier {
 public:
  Applier(Context<Timeout>& ctx, const Settings& settings, Wait& wait, Opener<Lock, Timeout, Ledger>& opener,
          Recorder<Timeout, Ledger>& recorder, Prepared& prepared, Progress& progress)
      : ctx_{ctx},
        settings_{settings},
        wait_{wait},
        opener_{opener},
        recorder_{recorder},
        executor_{ctx, settings, wait, !TransactionScopedLock<Lock>},
        prepared_{prepared},
        progress_{progress} {}

  // Runs `m`. With a transaction-scoped lock (`in_transaction`), the caller
  // has already opened the transaction and taken the lock; a retry must take
  // it again, and may find it busy.
  [[nodiscard]] result<Attempt> apply(Connection& conn, const Migration& m, bool in_transaction) {
    ctx_.phase = "applying migration " + std::to_string(m.version) + " (" + m.origin + ")";
    LOCKSTEP_TRY(prepared, prepared_.get(m));
    const PreparedMigration& p = *prepared;
    if (m.contract) {
      LOCKSTEP_TRY(clear, contract_clear(conn, m, p, in_transaction));
      if (!clear) return Attempt::deferred;
    }
    ctx_.emit(events::MigrationStarted{.version = m.version, .name_ = m.name, .file = m.origin,
                                       .transaction = p.directives.boot_in_transaction(),
                                       .statements = static_cast<std::int64_t>(p.statements.size())});
    const auto t0 = ctx_.now();
    // The row types before the file, for the schema change it makes (row_types.hpp).
    const auto before = !settings_.schema_changes ? std::nullopt
                         : row_types_before(conn, in_transaction, [&](const std::string& why) {
      ctx_.emit(events::Warning{.message = "migration " + std::to_string(m.version) + " (" + m.origin +
                                           "): could not read the row types before it, so no schema change is "
                                           "recorded or broadcast for it: " + why});
    });
    for (unsigned retries = 0;;) {
      LOCKSTEP_TRYV(open(conn, m, p, in_transaction));
      if (m.contract) {
        LOCKSTEP_TRY(still_clear, blockers_gone(conn, m, p));
        if (!still_clear) return Attempt::deferred;
      }
      // Its checks, under the lock, where it is about to run; a failed one
      // is this migration's failure (nothing of it ran), retried like its
      // own statements when the server's error may pass on another try.
      if (auto checked = checks_pass(conn, m, p, in_transaction); !checked) {
        auto e = std::move(checked).error();
        if (!conn.is_open()) return connection_lost(m, std::move(e));
        if (!retried_on(e.sqlstate) || retries >= settings_.lock_retries || ctx_.expired()) {
          return failed(conn, m, p, std::move(e), 0, retries, "check");
        }
        ++retries;
        LOCKSTEP_TRY(settled, back_off(conn, m, e, retries, in_transaction));
        if (settled) return *settled;
        continue;
      }
      std::int64_t completed = 0;
      auto ran = run(conn, m, p, completed, before);
      if (ran && ran.value().commit_failed) return std::move(*ran.value().commit_failed);
      if (ran) return committed(conn, m, p, t0, retries, ran.value().recorded, before);
      auto e = std::move(ran).error();
      if (!conn.is_open()) return connection_lost(m, std::move(e));
      if (!retried_on(e.sqlstate) || retries >= settings_.lock_retries || ctx_.expired()) {
        return failed(conn, m, p, std::move(e), completed, retries);
      }
      ++retries;
      LOCKSTEP_TRY(settled, back_off(conn, m, e, retries, in_transaction));
      if (settled) return *settled;
    }
  }

 private:
  // A migration's SQL that ran: `recorded` when its ledger row and COMMIT
  // went with it; `commit_failed` when that COMMIT failed, which ends the
  // attempt just as a failed COMMIT sent alone does.
  struct Ran {
    bool recorded = false;
    std::optional<Error> commit_failed;
  };

  // Every `-- lockstep:check` of `m`, in file order. On failure the
  // migration's transaction is rolled back (with a transaction-scoped lock,
  // the lock with it, as after a failed statement).
  [[nodiscard]] result<void> checks_pass(Connection& conn, const Migration& m, const PreparedMigration& p,
                                         bool in_transaction) {
    const bool transactional = in_transaction || p.directives.boot_in_transaction();
    for (const auto& c : p.directives.checks) {
      ctx_.phase = "evaluating the check at " + m.origin + ":" + std::to_string(c.line);
      auto verdict = evaluate_check(conn, m, c, transactional, executor_.timeouts_sql(p, true));
      if (verdict && verdict.value().passed()) continue;
      if (transactional && conn.is_open()) (void)conn.execute("ROLLBACK");
      if (!verdict) return std::move(verdict).error();
      return check_refused(m, c, verdict.value());
    }
    ctx_.phase = "applying migration " + std::to_string(m.version) + " (" + m.origin + ")";
    return outcome::success();
  }

  [[nodiscard]] result<Ran> run(Connection& conn, const Migration& m, const PreparedMigration& p,
                                std::int64_t& completed, const std::optional<std::string>& before) {
    // (A background file's boot queues its job in a transaction, long statements too.)
    if (!p.directives.boot_in_transaction()) {
      LOCKSTEP_TRYV(executor_.statements(conn, m, p, completed));
      return Ran{};
    }
    // A background migration sends its job in place of its file (queue.hpp).
    std::string text;
    if (p.directives.background) {
      auto queued = recorder_.queue_sql(conn, m, p);
      if (!queued) return queue_failed(conn, m, p, std::move(queued).error());
      text = std::move(queued).value();
    }
    const std::string tail = recorder_.commit_sql(m, p, before);
    if (tail.empty()) {
      auto ran = executor_.body(conn, m, text);
      if (!ran) return p.directives.background ? queue_failed(conn, m, p, std::move(ran).error()) : std::move(ran).error();
      return Ran{};
    }
    auto sent = executor_.send_body(conn, m, tail, text);
    if (sent) return Ran{true, std::nullopt};
    if (!conn.is_open()) return std::move(sent).error();
    switch (recorder_.locate_failure(conn)) {
      case Recorder<Timeout, Ledger>::Failed::in_record:
        return Ran{};  // the file ran; committed() writes the row alone and says what the ledger refused
      case Recorder<Timeout, Ledger>::Failed::at_commit:
        return Ran{true, recorder_.commit_failed(conn, m, std::move(sent).error())};
      case Recorder<Timeout, Ledger>::Failed::in_file:
        break;
    }
    if (p.directives.background) return queue_failed(conn, m, p, std::move(sent).error());
    return executor_.body_failed(conn, m, std::move(sent).error());
  }

  // Queuing a background job failed: rolled back, and said in the file's
  // terms (the SQL sent was lockstep's, so the server's position is not the
  // file's). The message names the jobs table when that is what is missing.
  [[nodiscard]] Error queue_failed(Connection& conn, const Migration& m, const PreparedMigration& p, Error e) {
    if (conn.is_open()) (void)conn.execute("ROLLBACK");
    if (e.message.find(") cannot be queued: ") != std::string::npos) return e;  // queue_error(): said already
    std::string why = e.server_message.empty() ? e.message : e.server_message;
    if (e.sqlstate == "42P01" && why.find("jobs") != std::string::npos) {
      why += " (the ledger has no background jobs table: its owner adds it with the SQL that `lockstep "
             "ledger-sql` prints)";
    }
    auto out = queue_error(m, p, why);
    out.sqlstate = e.sqlstate;
    return out;
  }

  // Before anything is sent: is any replica of an older image alive? (In
  // the transaction it will run in, when it has one: see blockers_gone.)
  [[nodiscard]] result<bool> contract_clear(Connection& conn, const Migration& m, const PreparedMigration& p,
                                            bool in_transaction) {
    if (in_transaction || p.directives.boot_in_transaction()) return true;  // checked inside its transaction
    return blockers_gone(conn, m, p);
  }

  [[nodiscard]] result<bool> blockers_gone(Connection& conn, const Migration& m, const PreparedMigration& p) {
    const bool transactional = p.directives.boot_in_transaction();
    auto blockers = opener_.contract_blockers(conn, m, transactional);
    // And the background job it requires, if any, must have succeeded.
    auto job = blockers ? opener_.unfinished_requirement(conn, m) : result<std::optional<BackgroundWait>>{std::nullopt};
    if (blockers && job && blockers.value().empty() && !job.value()) return true;
    if (transactional && conn.is_open()) (void)conn.execute("ROLLBACK");
    if (!blockers) return std::move(blockers).error();
    if (!job) return std::move(job).error();
    WaitingContract w{m.version, m.name, m.origin, std::move(blockers).value(), std::move(job).value()};
    emit_waiting(ctx_, {w});
    auto& waiting = progress_.contracts_waiting;
    std::erase_if(waiting, [&](const WaitingContract& c) { return c.version == m.version; });
    waiting.push_back(std::move(w));
    return false;
  }

  [[nodiscard]] result<void> open(Connection& conn, const Migration& m, const PreparedMigration& p,
                                  bool in_transaction) {
    if (in_transaction) return conn.execute(executor_.timeouts_sql(p, true));
    if (!p.directives.boot_in_transaction()) return outcome::success();
    return opener_.session_locked(conn, m, executor_.timeouts_sql(p, true));
  }

  [[nodiscard]] result<Attempt> committed(Connection& conn, const Migration& m, const PreparedMigration& p,
                                          std::chrono::steady_clock::time_point t0, unsigned retries,
                                          bool recorded, const std::optional<std::string>& before) {
    const auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(ctx_.now() - t0);
    if (!recorded) LOCKSTEP_TRYV(recorder_.commit(conn, m, p, duration, before));
    ctx_.emit(events::MigrationApplied{.version = m.version,
                                       .name_ = m.name,
                                       .file = m.origin,
                                       .statements = static_cast<std::int64_t>(p.statements.size()),
                                       .retries = static_cast<std::int64_t>(retries),
                                       .duration_ms = static_cast<std::int64_t>(duration.count())});
    if (p.directives.background) {
      ctx_.emit(events::BackgroundQueued{.version = m.version, .name_ = m.name, .file = m.origin,
                                         .table = p.directives.batch_over ? p.directives.batch_over->relation : "",
                                         .batch_size = p.directives.batch_size.value_or(1000),
                                         .after_old_replicas_gone = p.directives.after_old_replicas_gone});
    }
    progress_.applied.push_back(AppliedStep{m.version, m.name, duration});
    std::erase_if(progress_.contracts_waiting, [&](const WaitingContract& c) { return c.version == m.version; });
    return Attempt::applied;
  }

  // Waits before retry `retries`. A value ends the attempt: with a
  // transaction-scoped lock the rollback released the lock, so it is taken
  // again, and may be busy or show that another process applied `m`.
  [[nodiscard]] result<std::optional<Attempt>> back_off(Connection& conn, const Migration& m, const Error& e,
                                                        unsigned retries, bool in_transaction) {
    const auto delay = ctx_.backoff(wait_, retries);
    ctx_.emit(events::MigrationRetry{.version = m.version, .name_ = m.name, .attempt = static_cast<std::int64_t>(retries),
                                     .sqlstate = e.sqlstate, .message = e.server_message,
                                     .next_delay_ms = static_cast<std::int64_t>(delay.count())});
    ctx_.sleep_for(delay);
    if (!in_transaction) return std::optional<Attempt>{};
    LOCKSTEP_TRY(again, opener_.transaction_locked(conn, false));
    if (!again) return std::optional<Attempt>{Attempt::lock_busy};
    // Someone else applied it meanwhile? The head version says so for an
    // expand migration; a contract one may run below the head (out of
    // order), so only the applied list can tell.
    bool done = again->version >= m.version;
    if (m.contract) {
      LOCKSTEP_TRY(listed, opener_.has_applied(conn, m.version));
      done = listed;
    }
    if (done) {
      LOCKSTEP_TRYV(conn.execute("COMMIT"));
      return std::optional<Attempt>{Attempt::applied};
    }
    return std::optional<Attempt>{};
  }

  // `own_cause`: what failed when it is not the file's SQL ("check"), for
  // an error that is not one of the causes another attempt may pass.
  [[nodiscard]] Error failed(Connection& conn, const Migration& m, const PreparedMigration& p, Error e,
                             std::int64_t completed, unsigned retries, const char* own_cause = "error") {
    const bool lock_timeout = e.sqlstate == "55P03";
    // The deadline, lock_timeout and statement_timeout (which defaults to
    // what is left of the deadline) can expire together; then the deadline
    // is the reason, whichever error the server sent first.
    if ((lock_timeout || e.sqlstate == "57014") && ctx_.expired()) {
      recorder_.failure(conn, m, p, e, completed, "deadline");
      return ctx_.deadline_error();
    }
    if (lock_timeout) {
      e.message += "; gave up after " + std::to_string(retries) +
                   " retries: another session holds a conflicting lock (look in pg_locks / pg_stat_activity)";
    }
    const bool deadlock = e.sqlstate == "40P01";
    if (deadlock) {
      e.message += "; gave up after " + std::to_string(retries) +
                   " retries: it deadlocked with other sessions each time (the server's DETAIL names them)";
    }
    // Class 53 (disk full, out of memory, too many connections) is the
    // server's state, not the file's: recorded, but it blocks nothing, and
    // the next boot tries again.
    const bool resources = e.sqlstate.rfind("53", 0) == 0;
    recorder_.failure(conn, m, p, e, completed,
                      lock_timeout ? "lock_timeout" : deadlock ? "deadlock" : resources ? "resources" : own_cause);
    ctx_.emit(events::MigrationFailed{.version = m.version, .name_ = m.name, .file = m.origin, .sqlstate = e.sqlstate,
                                      .line = e.line ? std::optional<std::int64_t>{*e.line} : std::nullopt,
                                      .retries = static_cast<std::int64_t>(retries),
                                      .message = e.server_message.empty() ? e.message : e.server_message});
    return e;
  }

  Context<Timeout>& ctx_;
  const Settings& settings_;
  Wait& wait_;
  Opener<Lock, Timeout, Ledger>& opener_;
  Recorder<Timeout, Ledger>& recorder_;
  Executor<Wait, Timeout> executor_;
  Prepared& prepared_;
  Progress& progress_;
};

}  // namespace lockstep::detail
