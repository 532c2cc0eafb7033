// pg_advisory_lock, but never unbounded: each attempt waits at most one slice
// (lock_timeout), so the run's deadline and the follower loop stay in charge.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

#include "lockstep/connection.hpp"
#include "lockstep/error.hpp"

namespace lockstep {

struct BlockingLock {
  std::chrono::milliseconds slice{2000};

  [[nodiscard]] result<bool> try_acquire(Connection& conn, std::int64_t key, std::chrono::milliseconds budget) {
    const auto wait = std::max<std::chrono::milliseconds::rep>(1, std::min(slice, budget).count());
    // The key is an integer we produced, so inlining it is safe; the simple
    // protocol lets SET, lock and RESET travel in one round trip.
    const std::string sql = "SET lock_timeout = " + std::to_string(wait) + "; SELECT pg_advisory_lock(" +
                            std::to_string(key) + "); RESET lock_timeout";
    auto r = conn.query(sql);
    if (r) return true;
    if (r.error().sqlstate == "55P03") {  // lock_not_available: the slice ran out
      LOCKSTEP_TRYV(conn.execute("RESET lock_timeout"));
      return false;
    }
    return std::move(r).error();
  }

  [[nodiscard]] result<void> release(Connection& conn, std::int64_t key) {
    LOCKSTEP_TRYV(conn.query("SELECT pg_advisory_unlock($1)", std::to_string(key)));
    return outcome::success();
  }
};

}  // namespace lockstep
