// Null lock for single-process tools and tests: every caller leads.
#pragma once

#include <chrono>
#include <cstdint>

#include "lockstep/connection.hpp"
#include "lockstep/error.hpp"

namespace lockstep {

struct NoLock {
  [[nodiscard]] result<bool> try_acquire(Connection&, std::int64_t, std::chrono::milliseconds) { return true; }
  [[nodiscard]] result<void> release(Connection&, std::int64_t) { return outcome::success(); }
};

}  // namespace lockstep
