// The leader's writes to the ledger: a migration's row committed with it,
// the deploy recorded in the final commit, and the failure log.
#pragma once

#include <chrono>
#include <optional>
#include <cstdint>
#include <string>
#include <utility>

#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/base/json.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/prepare.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/queue.hpp"
#include "lockstep/detail/run/row_types.hpp"
#include "lockstep/detail/run/execute.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/detail/run/session_sql.hpp"
#include "lockstep/migration.hpp"

namespace lockstep::detail {

template <class Timeout, class Ledger>
class Recorder {
 public:
  Recorder(Context<Timeout>& ctx, Ledger& ledger, std::int64_t key, std::int64_t final_version)
      : ctx_{ctx}, ledger_{ledger}, key_{key}, final_version_{final_version}, savepoint_{unguessable_savepoint(key)} {}

  // Where a round trip that ended with commit_sql() failed.
  enum class Failed { in_file, in_record, at_commit };

  // What follows a transactional migration's file in its own round trip, so
  // that the file, its ledger row and COMMIT cost one round trip instead of
  // three: a savepoint, the row (for the last migration of the run also the
  // deploy and the wake-up) and COMMIT. Empty when the ledger cannot write
  // its rows as SQL text.
  // The row types the file changed are measured after the savepoint (a
  // failure there is in_record, and commit() measures again or goes
  // without), and broadcast after the row (row_types.hpp).
  [[nodiscard]] std::string commit_sql(const Migration& m, const PreparedMigration& p,
                                       const std::optional<std::string>& before) const {
    if constexpr (BatchingLedger<Ledger>) {
      std::string sql = "; SAVEPOINT " + savepoint_ + "; " + row_types_changed_sql(before, true) + "; " +
                        ledger_.record_applied_sql(row(m, p, -1)) + "; " +
                        schema_change_notify_sql(ledger_identity(), m.version, m.contract);
      if (const std::string service = service_sql(m); !service.empty()) sql += "; " + service;
      if (m.version == final_version_) {
        sql += "; " + ledger_.record_deploy_sql(ctx_.deploy_record(m.version)) +
               "; " + notify_sql(key_, std::to_string(m.version));
      }
      return sql + "; COMMIT";
    } else {
      return {};
    }
  }

  // A background migration's job as SQL, for its own transaction (queue.hpp):
  // what is sent in place of its file.
  [[nodiscard]] result<std::string> queue_sql(Connection& conn, const Migration& m, const PreparedMigration& p) {
    if constexpr (BackgroundLedger<Ledger>) {
      LOCKSTEP_TRY(job, queued_job(conn, m, p));
      return ledger_.jobs().queue_sql(job, ctx_.deploy_version());
    } else {
      return queue_error(m, p, "this Ledger policy keeps no background jobs (see BackgroundLedger in concepts.hpp)");
    }
  }

  // After a commit_sql() round trip failed on an open connection: the
  // savepoint exists only if the file finished (a file cannot guess its
  // name), and no transaction is left only if COMMIT itself failed. After
  // `in_record` the transaction is open again at the savepoint, so commit()
  // writes the row alone and reports exactly what is wrong with the ledger.
  [[nodiscard]] Failed locate_failure(Connection& conn) const {
    auto back = conn.execute("ROLLBACK TO SAVEPOINT " + savepoint_);
    if (back) return Failed::in_record;
    return back.error().sqlstate == "25P01" ? Failed::at_commit : Failed::in_file;
  }

  // The ledger row, then COMMIT (a transactional migration's row is in its
  // transaction). The last migration of the run also wakes the waiters.
  [[nodiscard]] result<void> commit(Connection& conn, const Migration& m, const PreparedMigration& p,
                                    std::chrono::milliseconds duration, const std::optional<std::string>& before) {
    const bool transactional = p.directives.boot_in_transaction();
    measure_row_types(conn, before, transactional);
    auto recorded = ledger_.record_applied(conn, row(m, p, duration.count()));
    if (!recorded) {
      if (transactional) (void)conn.execute("ROLLBACK");
      else (void)conn.execute(clear_row_types_sql(false));
      auto e = std::move(recorded).error();
      e.file = m.origin;
      return e;
    }
    broadcast_schema_change(conn, m, transactional);
    record_service(conn, m, transactional);
    // Waiting replicas wake on this (NotifyBackoff); NOTIFY is delivered at commit.
    const bool last = m.version == final_version_;
    if (!transactional) {
      (void)conn.execute(clear_row_types_sql(false));  // the session's next migration measures its own
      if (last) (void)conn.execute(notify_sql(key_, std::to_string(m.version)));
      return outcome::success();
    }
    if (last) record_deploy_in_transaction(conn, m.version);
    auto committed =
        conn.execute(last ? notify_sql(key_, std::to_string(m.version)) + "; COMMIT" : std::string{"COMMIT"});
    if (committed) return outcome::success();
    return commit_failed(conn, m, std::move(committed).error());
  }

  [[nodiscard]] Error commit_failed(const Connection& conn, const Migration& m, Error e) const {
    // Whether it committed is unknown; the ledger row is in the same
    // transaction, so the restart after reconnecting reads the answer.
    if (!conn.is_open()) return connection_lost(m, std::move(e));
    e.code = errc::migration_failed;
    e.version = m.version;
    e.file = m.origin;
    e.message = "committing migration " + std::to_string(m.version) + " (" + m.origin + ") failed: " + e.message +
                "; the ledger tells whether it committed (lockstep status)";
    return e;
  }

  // The failure log is written in its own statement after the rollback; if
  // even that fails (connection gone), the event stream still has it.
  void failure(Connection& conn, const Migration& m, const PreparedMigration& p, const Error& e,
               std::int64_t completed, std::string cause) {
    if (!conn.is_open()) return;
    FailureRecord f;
    f.checksum = m.checksum;
    f.cause = std::move(cause);
    f.version = m.version;
    f.name = m.name;
    f.sqlstate = e.sqlstate;
    // Stored, then printed by every `status`: redacted like any output.
    f.message = ctx_.redact()(e.server_message.empty() ? e.message : e.server_message);
    if (e.line) f.position = m.origin + ":" + std::to_string(*e.line) + (e.column ? ":" + std::to_string(*e.column) : "");
    f.line = e.line;
    f.column = e.column;
    f.deploy_version = ctx_.deploy_version();
    f.host = ctx_.host();
    f.partial = !p.directives.boot_in_transaction() && completed > 0;
    f.statements_completed = completed;
    f.statements_total = static_cast<std::int64_t>(p.statements.size());
    auto recorded = ledger_.record_failure(conn, f);
    if (!recorded) {
      ctx_.emit(events::Warning{.message = "could not record the failure in the ledger: " + recorded.error().message});
    }
  }

 private:
  // The ledger's name in a schema change's broadcast (a Ledger policy
  // without identity() is named by its type's role only).
  [[nodiscard]] std::string ledger_identity() const {
    if constexpr (requires { ledger_.identity(); }) {
      return ledger_.identity();
    } else {
      return "ledger";
    }
  }

  // Sets the setting the ledger row reads (row_types.hpp). Bookkeeping never
  // fails a migration: in its transaction under a savepoint, and on any
  // failure the setting says "not measured".
  void measure_row_types(Connection& conn, const std::optional<std::string>& before, bool transactional) {
    if (!bookkeeping(conn, "lockstep_row_types", row_types_changed_sql(before, transactional), transactional)) {
      (void)conn.execute(clear_row_types_sql(transactional));
    }
  }

  // A statement the migration's outcome must not depend on: in its
  // transaction under savepoint `name`, so that a failure leaves the
  // transaction as it was; without one, alone. Its result, for the caller to say.
  [[nodiscard]] static result<void> bookkeeping(Connection& conn, const char* name, const std::string& sql,
                                                bool transactional) {
    if (!transactional) return conn.execute(sql);
    LOCKSTEP_TRYV(conn.execute(std::string{"SAVEPOINT "} + name));
    auto done = conn.execute(sql);
    (void)conn.execute(std::string{done ? "RELEASE SAVEPOINT " : "ROLLBACK TO SAVEPOINT "} + name);
    return done;
  }

  // This service's row in the service catalog (ledger/service_catalog.hpp),
  // in the migration's transaction; empty for a ledger without one.
  [[nodiscard]] std::string service_sql(const Migration& m) const {
    if constexpr (requires { ledger_.record_service_sql(m.version, m.contract); }) {
      return ledger_.record_service_sql(m.version, m.contract);
    } else {
      return {};
    }
  }

  // The same when the row is written alone (commit()): bookkeeping that
  // never fails the migration.
  // A failure is said (found by review: silent, it left the catalog behind
  // the ledger with the missing grant never named).
  void record_service(Connection& conn, const Migration& m, bool transactional) {
    const std::string sql = service_sql(m);
    if (sql.empty()) return;
    auto written = bookkeeping(conn, "lockstep_service", sql, transactional);
    if (written) return;
    const auto& e = written.error();
    std::string where = "the service catalog";
    if constexpr (requires { ledger_.catalog().qualified_table(); }) where += " " + ledger_.catalog().qualified_table();
    ctx_.emit(events::Warning{
        .message = "migration " + std::to_string(m.version) + " is applied, but " + where +
                   " could not be updated (" + (e.sqlstate.empty() ? std::string{} : "[" + e.sqlstate + "] ") +
                   (e.server_message.empty() ? e.message : e.server_message) +
                   (e.sqlstate == "42501" ? "; grant this role INSERT and UPDATE on it" : std::string{}) +
                   "): services that require this one read its ledger instead, where their role may"});
  }

  // The NOTIFY that tells listening replicas; never fails the migration.
  void broadcast_schema_change(Connection& conn, const Migration& m, bool transactional) {
    (void)bookkeeping(conn, "lockstep_schema_change",
                      schema_change_notify_sql(ledger_identity(), m.version, m.contract), transactional);
  }

  [[nodiscard]] AppliedMigration row(const Migration& m, const PreparedMigration& p, std::int64_t duration_ms) const {
    JsonObject allowed;
    // A reason is the file's text, placeholders replaced: redacted like any output.
    for (const auto& [rule, reason] : p.directives.allow) allowed.add(rule, ctx_.redact()(reason));
    return AppliedMigration{m.version,   m.name,     m.checksum, {}, duration_ms, ctx_.deploy_version(),
                            ctx_.host(), m.contract, allowed.str()};
  }

  // A name no migration file can know: a file that made a savepoint of the
  // same name and failed after it would otherwise look finished.
  [[nodiscard]] static std::string unguessable_savepoint(std::int64_t key) {
    const auto t = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    std::uint64_t x = t ^ (static_cast<std::uint64_t>(key) * 0x9e3779b97f4a7c15ULL) ^
                      (reinterpret_cast<std::uintptr_t>(&t) << 17);
    static constexpr char hex[] = "0123456789abcdef";
    std::string name = "lockstep_recorded_";
    for (int i = 0; i < 16; ++i, x >>= 4) name += hex[x & 0xF];
    return name;
  }

  // The replicas the final commit wakes would otherwise each try to record
  // this deploy at once. Under a savepoint, so bookkeeping can never fail the
  // migration; if it does not stick, the gate records it as usual.
  void record_deploy_in_transaction(Connection& conn, std::int64_t version) {
    if (!conn.execute("SAVEPOINT lockstep_deploy")) return;
    auto recorded = ledger_.record_deploy(conn, ctx_.deploy_record(version));
    (void)conn.execute(recorded ? "RELEASE SAVEPOINT lockstep_deploy" : "ROLLBACK TO SAVEPOINT lockstep_deploy");
  }

  Context<Timeout>& ctx_;
  Ledger& ledger_;
  std::int64_t key_;
  std::int64_t final_version_;
  std::string savepoint_;
};

}  // namespace lockstep::detail
