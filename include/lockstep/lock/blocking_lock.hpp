// pg_advisory_lock, but never unbounded: each attempt waits at most one slice
// (lock_timeout), so the run's deadline and the follower loop stay in charge,
// and a CREATE INDEX CONCURRENTLY waiting for this session's snapshot gets
// past it when the slice ends.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

#include "lockstep/connection.hpp"
#include "lockstep/error.hpp"
#include "lockstep/lock/pooler_check.hpp"

namespace lockstep {

struct BlockingLock {
  std::chrono::milliseconds slice{2000};

  [[nodiscard]] result<bool> try_acquire(Connection& conn, std::int64_t key, std::chrono::milliseconds budget) {
    const auto wait = std::max<std::chrono::milliseconds::rep>(1, std::min(slice, budget).count());
    // The key and pid are integers we produced, so inlining them is safe.
    const std::string sql = "SET lock_timeout = " + std::to_string(wait) +
                            "; SELECT CASE WHEN pg_backend_pid() = " + std::to_string(conn.backend_pid()) +
                            " THEN pg_advisory_lock(" + std::to_string(key) + ")::text END IS NOT NULL, pg_backend_pid()";
    auto r = conn.query(sql);
    auto reset = conn.execute("RESET lock_timeout");
    if (!r) {
      if (r.error().sqlstate == "55P03") {  // lock_not_available: the slice ran out
        LOCKSTEP_TRYV(std::move(reset));
        return false;
      }
      return std::move(r).error();
    }
    LOCKSTEP_TRYV(std::move(reset));
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
