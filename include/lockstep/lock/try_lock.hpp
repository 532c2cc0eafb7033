// The recommended lock: pg_try_advisory_lock never blocks, so followers keep
// polling the cheap version query and never sit in a lock queue where they
// would hold a snapshot (which stalls CREATE INDEX CONCURRENTLY).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "lockstep/connection.hpp"
#include "lockstep/error.hpp"
#include "lockstep/lock/pooler_check.hpp"

namespace lockstep {

struct TryLock {
  // The lock is only attempted when this is a real session (see pooler_check.hpp),
  // in the same round trip.
  [[nodiscard]] result<bool> try_acquire(Connection& conn, std::int64_t key, std::chrono::milliseconds /*budget*/) {
    LOCKSTEP_TRY(rows, conn.query("SELECT CASE WHEN pg_backend_pid() = $2 THEN pg_try_advisory_lock($1) END, "
                                  "pg_backend_pid()",
                                  std::to_string(key), std::to_string(conn.backend_pid())));
    const auto& row = rows.at(0);
    if (!row[0]) return detail::pooled_connection_error(row[1].value_or("?"), conn.backend_pid());
    return *row[0] == "t";
  }

  [[nodiscard]] result<void> release(Connection& conn, std::int64_t key) {
    LOCKSTEP_TRYV(conn.query("SELECT pg_advisory_unlock($1)", std::to_string(key)));
    return outcome::success();
  }

  // Checked inside every migration transaction: this session still holds it.
  [[nodiscard]] static std::string held_check_sql(std::int64_t key) { return detail::session_lock_held_sql(key); }
};

}  // namespace lockstep
