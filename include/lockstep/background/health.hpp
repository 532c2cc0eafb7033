// The database's health, read before each background batch: a batch is
// extra write load, and the moments it hurts most are the ones the server
// can tell about (docs/background.md, "Throttling").
//
// Each signal is normal, stop or unknown. Unknown (a role that may not see
// the value: pg_monitor is not granted) never stops a job: the runner cannot
// tell, and a job that never runs is no safer than one that is throttled
// where it can be. A stop holds the job (background_throttled names the
// signal, its value and the limit) and the runner backs off exponentially.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/ledger_fields.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/error.hpp"

namespace lockstep {

// The limits past which a batch waits. 0 (or false) turns a signal off.
struct HealthLimits {
  // WAL that any replication slot still needs (a CDC consumer or a standby
  // that fell behind): each batch adds to it, and a full disk stops the server.
  std::int64_t slot_lag_bytes = std::int64_t{1} << 30;  // 1 GiB
  // A streaming standby's replay lag (pg_stat_replication.replay_lag).
  std::chrono::milliseconds replay_lag{std::chrono::seconds{30}};
  // WAL segments waiting for archive_command (GitLab's limit: 42). Needs
  // pg_monitor (pg_ls_archive_statusdir); unknown without it.
  std::int64_t archive_backlog = 42;
  // Autovacuum (or a VACUUM) running on the job's table: a batch would
  // make it start over on the pages it dirties, or wait behind it.
  bool vacuum_on_table = true;
  // Sessions waiting on a lock that the job's last batch held, counted in
  // that batch's transaction right before its COMMIT: at this many, the
  // job's next batch waits. A session or two behind a batch's row locks for
  // a moment is what batching is for; five at once means the batches hit
  // rows the application is writing now. Measured again by every batch, so
  // it holds a job once per measurement, never for good. 0: off.
  std::int64_t blocked_sessions = 5;
  // Your own signal (a queue's depth, a p99 from your metrics): return a
  // reason to hold the job, or nullopt. Called on the runner's thread before
  // each batch, inside no deadline of lockstep's: it must return promptly
  // (read a value your app keeps, do not call out), or stop() waits for it.
  std::function<std::optional<std::string>()> hold;
};

// One signal that said stop: what, how much, and the limit.
struct HealthStop {
  // replication_slot_lag | replay_lag | archive_backlog | vacuum_on_table |
  // blocked_sessions | callback
  std::string signal;
  std::string value;
  std::string limit;
};

namespace detail {

// One query for every signal a role can read; NULL where it cannot (a
// standby's lag without pg_monitor). The archive status directory is
// listed in a second query, and only when archiving is on and the role may
// list it: a function the role may not execute fails the whole query when
// the query is planned, even in a CASE branch never taken (found by the
// least-privilege test).
// `relation` empty: a job on no one table (long statements that build no
// index): no vacuum signal, instead of to_regclass('')'s syntax error.
[[nodiscard]] inline std::string health_sql(const std::string& relation) {
  return "SELECT"
         " (SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), COALESCE(confirmed_flush_lsn, restart_lsn)))::bigint"
         "  FROM pg_replication_slots WHERE restart_lsn IS NOT NULL),"
         " (SELECT max(extract(epoch FROM replay_lag) * 1000)::bigint FROM pg_stat_replication),"
         " current_setting('archive_mode') <> 'off'"
         "  AND has_function_privilege('pg_catalog.pg_ls_archive_statusdir()', 'EXECUTE'),"
         " EXISTS (SELECT 1 FROM pg_stat_progress_vacuum v WHERE v.datid = (SELECT oid FROM pg_database WHERE"
         "  datname = current_database()) AND v.relid = to_regclass(NULLIF(" + quote_literal(relation) + ", '')))";
}

inline constexpr std::string_view archive_backlog_sql =
    "SELECT count(*) FROM pg_catalog.pg_ls_archive_statusdir() WHERE name LIKE '%.ready'";

// The sessions waiting on a lock this transaction holds, sent as the last
// statement of a batch before its COMMIT (detail/background/runner.hpp).
// pg_locks and pg_blocking_pids() need no privilege (pg_stat_activity hides
// another role's wait events without pg_read_all_stats), and
// pg_blocking_pids() is asked only for the sessions that wait: it takes the
// lock manager's locks. The count is kept in a session setting because the
// last result of the batch's one round trip is its COMMIT's:
// blocked_sessions_read_sql, after the COMMIT, returns it.
inline constexpr std::string_view blocked_sessions_sql =
    "SELECT set_config('lockstep.blocked_sessions', (SELECT count(*) FROM (SELECT DISTINCT pid FROM pg_locks"
    " WHERE NOT granted AND pid IS NOT NULL) w WHERE pg_backend_pid() = ANY (pg_blocking_pids(w.pid)))::text, false)";
inline constexpr std::string_view blocked_sessions_read_sql =
    "SELECT current_setting('lockstep.blocked_sessions', true)";

// A count of blocked sessions (blocked_sessions_sql) at or past its limit.
[[nodiscard]] inline std::optional<HealthStop> blocked_sessions_stop(std::int64_t blocked, const HealthLimits& limits) {
  if (limits.blocked_sessions <= 0 || blocked < limits.blocked_sessions) return std::nullopt;
  auto sessions = [](std::int64_t n) { return std::to_string(n) + (n == 1 ? " session" : " sessions"); };
  return HealthStop{"blocked_sessions", sessions(blocked),
                    sessions(limits.blocked_sessions)};
}

// The first signal past its limit, or nullopt when every one is normal or unknown.
[[nodiscard]] inline result<std::optional<HealthStop>> read_health(Connection& conn, const std::string& relation,
                                                                   const HealthLimits& limits) {
  LOCKSTEP_TRY(rows, conn.query(health_sql(relation)));
  if (rows.empty()) return std::optional<HealthStop>{};
  const auto& r = rows[0];
  auto number = [&](std::size_t i) -> std::optional<std::int64_t> {
    if (!r[i]) return std::nullopt;
    return to_int64(r[i]);
  };
  if (const auto lag = number(0); limits.slot_lag_bytes > 0 && lag && *lag > limits.slot_lag_bytes) {
    return std::optional<HealthStop>{
        HealthStop{"replication_slot_lag", std::to_string(*lag) + " bytes", std::to_string(limits.slot_lag_bytes) + " bytes"}};
  }
  if (const auto lag = number(1); limits.replay_lag.count() > 0 && lag && *lag > limits.replay_lag.count()) {
    return std::optional<HealthStop>{HealthStop{"replay_lag", std::to_string(*lag) + " ms",
                                                std::to_string(limits.replay_lag.count()) + " ms"}};
  }
  if (limits.archive_backlog > 0 && r[2].value_or("f") == "t") {
    LOCKSTEP_TRY(listed, conn.query(archive_backlog_sql));
    const auto ready = listed.empty() ? 0 : to_int64(listed[0][0]);
    if (ready > limits.archive_backlog) {
      return std::optional<HealthStop>{HealthStop{"archive_backlog", std::to_string(ready) + " segments",
                                                  std::to_string(limits.archive_backlog) + " segments"}};
    }
  }
  if (limits.vacuum_on_table && r[3].value_or("f") == "t") {
    return std::optional<HealthStop>{HealthStop{"vacuum_on_table", relation, "none while a batch runs"}};
  }
  if (limits.hold) {
    if (auto why = limits.hold(); why) return std::optional<HealthStop>{HealthStop{"callback", *why, "none"}};
  }
  return std::optional<HealthStop>{};
}

}  // namespace detail
}  // namespace lockstep
