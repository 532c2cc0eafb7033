// Session advisory locks need a real session. Behind a transaction-pooling
// proxy (PgBouncer pool_mode=transaction) a lock stays on whichever server
// connection ran the lock query, is stranded there after the client leaves,
// and every client later multiplexed onto that connection is told it holds
// the lock too. PgBouncer (like other poolers) hands clients its own backend
// key data, so the pid libpq reports differs from pg_backend_pid() on the
// server: that is how the session-lock policies refuse a pooled connection in
// the same statement that would take the lock, before anything is stranded.
#pragma once

#include <cstdint>
#include <string>

#include "lockstep/error.hpp"

namespace lockstep::detail {

[[nodiscard]] inline Error pooled_connection_error(const std::string& server_pid, int client_pid) {
  return make_error(
      errc::lock_lost,
      "the migration connection goes through a connection pooler (the server's backend pid is " + server_pid +
          ", the connection reports " + std::to_string(client_pid) +
          "): under transaction pooling a session advisory lock is stranded on a pooled server connection and "
          "other clients multiplexed onto it are told they hold it too, so lockstep will not take it. Point "
          "DATABASE_URL_MIGRATION at PostgreSQL directly (not through PgBouncer), or use lockstep::TransactionLock "
          "(--lock transaction), which is safe through transaction pooling");
}

// SQL yielding true while this backend holds the session-level advisory lock
// `key` (pg_locks splits a bigint key into classid = high half, objid = low).
[[nodiscard]] inline std::string session_lock_held_sql(std::int64_t key) {
  const auto u = static_cast<std::uint64_t>(key);
  return "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
         " AND objsubid = 1 AND classid::bigint = " + std::to_string(u >> 32) +
         " AND objid::bigint = " + std::to_string(u & 0xffffffffULL) +
         " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))";
}

}  // namespace lockstep::detail
