// detach_partition_not_concurrent: ALTER TABLE ... DETACH PARTITION without CONCURRENTLY or FINALIZE.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::action), which
// tracks what the run creates so a new table never counts as live.
// Not sized: the text alone decides; the catalog only tells a new table from a live one.
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::detach_partition_not_concurrent {

inline constexpr Rule rule{"detach_partition_not_concurrent", Rule::Kind::lock, false,
  "takes ACCESS EXCLUSIVE on the partitioned table and the partition, queueing every query on the table "
  "behind it",
  "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY (PostgreSQL 14+; SHARE UPDATE EXCLUSIVE) in a "
  "`-- lockstep:no-transaction` migration"};

}  // namespace lockstep::checks::rules::detach_partition_not_concurrent
