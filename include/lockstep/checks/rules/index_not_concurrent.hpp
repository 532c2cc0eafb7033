// index_not_concurrent: CREATE INDEX without CONCURRENTLY on a table that existed before the run.
//
// Detection: detect() below, for each CREATE INDEX the shared statement
// reader (safety/analyze.hpp) reads (it resolves the table, and records the
// index as created in this run, so dropping it later blocks nobody).
// Sized by: the table's size.
#pragma once

#include <string>

#include "lockstep/checks/rule.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::index_not_concurrent {

inline constexpr Rule rule{"index_not_concurrent", Rule::Kind::lock, true,
  "blocks writes (SHARE lock) for the whole build",
  "use CREATE INDEX CONCURRENTLY in a `-- lockstep:no-transaction` migration"};

// CREATE [UNIQUE] INDEX [CONCURRENTLY] ... ON [ONLY] table: `live` the table
// when it existed before the run, else "". ON ONLY a partitioned parent
// builds an invalid shell, built per partition later: nothing waits on it.
inline void detect(safety::Scan& s, bool concurrently, bool only, const std::string& live) {
  if (only || concurrently || live.empty()) return;
  s.add(0, rule.id, live, "CREATE INDEX on " + live);
}

}  // namespace lockstep::checks::rules::index_not_concurrent
