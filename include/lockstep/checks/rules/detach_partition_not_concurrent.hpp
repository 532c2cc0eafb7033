// detach_partition_not_concurrent: ALTER TABLE ... DETACH PARTITION without CONCURRENTLY or FINALIZE.
//
// Detection: detect() below, for each DETACH action the shared statement
// reader (safety/analyze.hpp) finds in an ALTER TABLE, with the table
// resolved (live, or created in this run).
// Not sized: the text alone decides; the catalog only tells a new table from a live one.
#pragma once

#include <cstddef>
#include <string>

#include "lockstep/checks/rule.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::detach_partition_not_concurrent {

inline constexpr Rule rule{"detach_partition_not_concurrent", Rule::Kind::lock, false,
  "takes ACCESS EXCLUSIVE on the partitioned table and the partition, queueing every query on the table "
  "behind it",
  "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY (PostgreSQL 14+; SHARE UPDATE EXCLUSIVE) in a "
  "`-- lockstep:no-transaction` migration"};

// The action DETACH PARTITION p [CONCURRENTLY | FINALIZE], tokens [a, end)
// of the statement; `live`: the table when it existed before the run, else "".
// Whether it takes ACCESS EXCLUSIVE (CONCURRENTLY, and FINALIZE, which
// completes one, take SHARE UPDATE EXCLUSIVE).
inline bool detect(safety::Scan& s, const std::string& live, std::size_t a, std::size_t end) {
  if (s.r.has(a, end, "concurrently") || s.r.has(a, end, "finalize")) return false;
  if (!live.empty()) s.add(a, rule.id, live, "DETACH PARTITION " + s.r.name(a + 2).text + " of " + live);
  return true;
}

}  // namespace lockstep::checks::rules::detach_partition_not_concurrent
