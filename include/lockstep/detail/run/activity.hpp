// What a backend is doing, as the server reports it: for the leader's
// `progress` events during a long statement, and for a follower's
// `leader_activity` events while it waits. Never the query text (a
// migration may hold a password); the statement is named by its position
// in the file instead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/json.hpp"
#include "lockstep/detail/base/ledger_fields.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/events/types.hpp"

namespace lockstep::detail {

struct Activity {
  std::int64_t pid = 0;
  std::string state;       // pg_stat_activity.state: active, idle in transaction, ...
  std::string wait_event;  // "Lock:relation", "IO:DataFileRead", ... ("" when running)
  std::int64_t statement_ms = 0;  // since the current statement started
  std::string blocked_by;  // pg_blocking_pids(), e.g. "{4242}" ("" when none)
  // pg_stat_progress_create_index / _cluster / _copy, when one reports on it.
  std::string command;
  std::string phase;
  std::optional<std::int64_t> blocks_done, blocks_total, tuples_done, tuples_total;

};

// The backend fields of `progress` and `leader_activity`: the empty ones
// left out, a pair of counts only with its total.
[[nodiscard]] inline std::optional<events::Activity> fields_of(const std::optional<Activity>& a) {
  if (!a) return std::nullopt;
  events::Activity e{.backend_pid = a->pid, .state = a->state, .statement_ms = a->statement_ms,
                     .wait_event = events::unless_empty(a->wait_event), .blocked_by = events::unless_empty(a->blocked_by), .command = events::unless_empty(a->command)};
  if (e.command) e.phase = a->phase;
  if (a->blocks_total) e.blocks_done = a->blocks_done.value_or(0), e.blocks_total = a->blocks_total;
  if (a->tuples_total) e.tuples_done = a->tuples_done.value_or(0), e.tuples_total = a->tuples_total;
  return e;
}

// `which`: a SQL expression for the backend's pid. One query, joining the
// progress views PostgreSQL has (COPY's from 14).
[[nodiscard]] inline std::string activity_sql(const std::string& which, int server_version) {
  const bool copy = server_version >= 140000;
  return "SELECT a.pid, coalesce(a.state, ''), coalesce(a.wait_event_type || ':' || a.wait_event, ''), "
         "coalesce((extract(epoch FROM clock_timestamp() - a.query_start) * 1000)::bigint, 0), "
         "CASE WHEN cardinality(pg_blocking_pids(a.pid)) > 0 THEN pg_blocking_pids(a.pid)::text ELSE '' END, "
         "coalesce(ci.command, cl.command" + std::string{copy ? ", cp.command" : ""} + ", ''), "
         "coalesce(ci.phase, cl.phase, ''), coalesce(ci.blocks_done, cl.heap_blks_scanned" +
         (copy ? ", cp.bytes_processed / 8192" : "") + "), coalesce(ci.blocks_total, cl.heap_blks_total" +
         (copy ? ", nullif(cp.bytes_total, 0) / 8192" : "") + "), coalesce(ci.tuples_done, cl.heap_tuples_scanned" +
         (copy ? ", cp.tuples_processed" : "") + "), ci.tuples_total "
         "FROM pg_stat_activity a "
         "LEFT JOIN pg_stat_progress_create_index ci ON ci.pid = a.pid "
         "LEFT JOIN pg_stat_progress_cluster cl ON cl.pid = a.pid " +
         (copy ? "LEFT JOIN pg_stat_progress_copy cp ON cp.pid = a.pid " : "") + "WHERE a.pid = " + which;
}

[[nodiscard]] inline std::optional<std::int64_t> optional_int(const Field& f) {
  if (!f) return std::nullopt;
  return to_int64(f);
}

// nullopt: no such backend (it ended, or the lock is free).
[[nodiscard]] inline result<std::optional<Activity>> read_activity(Connection& conn, const std::string& which) {
  LOCKSTEP_TRY(rows, conn.query(activity_sql(which, conn.server_version())));
  if (rows.empty()) return std::optional<Activity>{};
  const auto& r = rows[0];
  Activity a;
  a.pid = to_int64(r[0]);
  a.state = to_text(r[1]);
  a.wait_event = to_text(r[2]);
  a.statement_ms = to_int64(r[3]);
  a.blocked_by = to_text(r[4]);
  a.command = to_text(r[5]);
  a.phase = to_text(r[6]);
  a.blocks_done = optional_int(r[7]);
  a.blocks_total = optional_int(r[8]);
  a.tuples_done = optional_int(r[9]);
  a.tuples_total = optional_int(r[10]);
  return std::optional<Activity>{std::move(a)};
}

// The backend holding the session advisory lock `key` in this database.
[[nodiscard]] inline std::string lock_holder_sql(std::int64_t key) {
  const auto u = static_cast<std::uint64_t>(key);
  return "(SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND classid::bigint = " +
         std::to_string(u >> 32) + " AND objid::bigint = " + std::to_string(u & 0xffffffffULL) +
         " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1)";
}

}  // namespace lockstep::detail
