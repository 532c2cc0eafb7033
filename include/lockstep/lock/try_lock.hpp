// The recommended lock: pg_try_advisory_lock never blocks, so followers keep
// polling the cheap version query and never sit in a lock queue where they
// would hold a snapshot (which stalls CREATE INDEX CONCURRENTLY).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "lockstep/connection.hpp"
#include "lockstep/error.hpp"

namespace lockstep {

struct TryLock {
  [[nodiscard]] result<bool> try_acquire(Connection& conn, std::int64_t key, std::chrono::milliseconds /*budget*/) {
    LOCKSTEP_TRY(rows, conn.query("SELECT pg_try_advisory_lock($1)", std::to_string(key)));
    return !rows.empty() && rows[0][0] && *rows[0][0] == "t";
  }

  [[nodiscard]] result<void> release(Connection& conn, std::int64_t key) {
    LOCKSTEP_TRYV(conn.query("SELECT pg_advisory_unlock($1)", std::to_string(key)));
    return outcome::success();
  }
};

}  // namespace lockstep
