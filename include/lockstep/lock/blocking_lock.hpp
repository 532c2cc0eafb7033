// pg_advisory_lock, but never unbounded: each attempt waits at most one slice
// (lock_timeout), so the run's deadline and the follower loop stay in charge.
//
// A waiting follower holds a snapshot, and the leader's CREATE INDEX
// CONCURRENTLY waits for every older snapshot to end: the leader waits for
// the follower, which waits for the leader's lock. PostgreSQL calls that a
// deadlock once a wait passes deadlock_timeout (1 s by default), and aborts
// the process that detects it, which is the one that has waited longest: the
// follower. So the slice stays under deadlock_timeout (the follower steps
// aside before anyone is aborted) and a deadlock report (40P01) counts as
// "not acquired this time", never as a failure. The chaos suite found this.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/durations.hpp"
#include "lockstep/error.hpp"
#include "lockstep/lock/pooler_check.hpp"

namespace lockstep {

struct BlockingLock {
  std::chrono::milliseconds slice{500};

  [[nodiscard]] result<bool> try_acquire(Connection& conn, std::int64_t key, std::chrono::milliseconds budget) {
    // Sent as lock_timeout: at least 1 ms (0 would wait for ever), at most
    // what the server accepts (durations.hpp).
    const auto wait = detail::pg_ms(std::max(std::chrono::milliseconds{1}, std::min(slice, budget)));
    // The key and pid are integers we produced, so inlining them is safe.
    // SET LOCAL inside the query's implicit transaction: the timeout ends
    // with it, so no session (not even a pooled one, handed to other
    // clients next) keeps it.
    const std::string sql = "SET LOCAL lock_timeout = " + wait +
                            "; SELECT CASE WHEN pg_backend_pid() = " + std::to_string(conn.backend_pid()) +
                            " THEN pg_advisory_lock(" + std::to_string(key) + ")::text END IS NOT NULL, pg_backend_pid()";
    auto r = conn.query(sql);
    if (!r) {
      // lock_not_available: the slice ran out; deadlock_detected: we stepped aside.
      if (r.error().sqlstate == "55P03" || r.error().sqlstate == "40P01") return false;
      return std::move(r).error();
    }
    const auto& row = r.value().at(0);
    if (row[0].value_or("f") != "t") return detail::pooled_connection_error(row[1].value_or("?"), conn.backend_pid());
    return true;
  }

  [[nodiscard]] result<void> release(Connection& conn, std::int64_t key) {
    LOCKSTEP_TRYV(conn.query("SELECT pg_advisory_unlock($1)", std::to_string(key)));
    return outcome::success();
  }

  [[nodiscard]] static std::string held_check_sql(std::int64_t key) { return detail::session_lock_held_sql(key); }
};

}  // namespace lockstep
