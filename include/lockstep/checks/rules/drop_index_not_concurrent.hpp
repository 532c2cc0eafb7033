// drop_index_not_concurrent: DROP INDEX without CONCURRENTLY of an index that existed before the run.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::drop), which
// tracks what the run creates so a new table never counts as live.
// Sized by: the table's size.
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::drop_index_not_concurrent {

inline constexpr Rule rule{"drop_index_not_concurrent", Rule::Kind::lock, false,
  "takes ACCESS EXCLUSIVE on the table, queueing every query behind it",
  "use DROP INDEX CONCURRENTLY IF EXISTS in a `-- lockstep:no-transaction` migration"};

}  // namespace lockstep::checks::rules::drop_index_not_concurrent
