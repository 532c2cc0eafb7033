// The leader's writes to the ledger: a migration's row committed with it,
// the deploy recorded in the final commit, and the failure log.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "lockstep/connection.hpp"
#include "lockstep/detail/json.hpp"
#include "lockstep/detail/outcome_shim.hpp"
#include "lockstep/detail/prepare.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/execute.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/detail/session_sql.hpp"
#include "lockstep/migration.hpp"

namespace lockstep::detail {

template <class Timeout, class Ledger>
class Recorder {
 public:
  Recorder(Context<Timeout>& ctx, Ledger& ledger, std::int64_t key, std::int64_t final_version)
      : ctx_{ctx}, ledger_{ledger}, key_{key}, final_version_{final_version} {}

  // The ledger row, then COMMIT (a transactional migration's row is in its
  // transaction). The last migration of the run also wakes the waiters.
  [[nodiscard]] result<void> commit(Connection& conn, const Migration& m, const PreparedMigration& p,
                                    std::chrono::milliseconds duration) {
    const bool transactional = !p.directives.no_transaction;
    JsonObject allowed;
    for (const auto& [rule, reason] : p.directives.allow) allowed.add(rule, reason);
    const AppliedMigration row{m.version, m.name,         m.checksum, {},         duration.count(),
                               ctx_.deploy_version(), ctx_.host(), m.contract, allowed.str()};
    auto recorded = ledger_.record_applied(conn, row);
    if (!recorded) {
      if (transactional) (void)conn.execute("ROLLBACK");
      auto e = std::move(recorded).error();
      e.file = m.origin;
      return e;
    }
    // Waiting replicas wake on this (NotifyBackoff); NOTIFY is delivered at commit.
    const bool last = m.version == final_version_;
    if (!transactional) {
      if (last) (void)conn.execute(notify_sql(key_, std::to_string(m.version)));
      return outcome::success();
    }
    if (last) record_deploy_in_transaction(conn, m.version);
    auto committed =
        conn.execute(last ? notify_sql(key_, std::to_string(m.version)) + "; COMMIT" : std::string{"COMMIT"});
    if (committed) return outcome::success();
    auto e = std::move(committed).error();
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
    f.message = e.server_message.empty() ? e.message : e.server_message;
    if (e.line) f.position = m.origin + ":" + std::to_string(*e.line) + (e.column ? ":" + std::to_string(*e.column) : "");
    f.deploy_version = ctx_.deploy_version();
    f.host = ctx_.host();
    f.partial = p.directives.no_transaction && completed > 0;
    f.statements_completed = completed;
    f.statements_total = static_cast<std::int64_t>(p.statements.size());
    auto recorded = ledger_.record_failure(conn, f);
    if (!recorded) {
      ctx_.emit("warning", [&](JsonObject& o) {
        o.add("message", "could not record the failure in the ledger: " + recorded.error().message);
      });
    }
  }

 private:
  // The replicas the final commit wakes would otherwise each try to record
  // this deploy at once. Under a savepoint, so bookkeeping can never fail the
  // migration; if it does not stick, the gate records it as usual.
  void record_deploy_in_transaction(Connection& conn, std::int64_t version) {
    if (!conn.execute("SAVEPOINT lockstep_deploy")) return;
    auto recorded = ledger_.record_deploy(conn, DeployRecord{ctx_.deploy_version(), version, {}, ctx_.host()});
    (void)conn.execute(recorded ? "RELEASE SAVEPOINT lockstep_deploy" : "ROLLBACK TO SAVEPOINT lockstep_deploy");
  }

  Context<Timeout>& ctx_;
  Ledger& ledger_;
  std::int64_t key_;
  std::int64_t final_version_;
};

}  // namespace lockstep::detail
