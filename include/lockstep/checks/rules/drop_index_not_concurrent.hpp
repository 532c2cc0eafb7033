// drop_index_not_concurrent: DROP INDEX without CONCURRENTLY of an index that existed before the run.
//
// Detection: detect() below, for the index the shared statement reader
// (safety/analyze.hpp) resolved (it tracks what the run creates and drops).
// Sized by: the table's size.
#pragma once

#include "lockstep/checks/rule.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::drop_index_not_concurrent {

inline constexpr Rule rule{"drop_index_not_concurrent", Rule::Kind::lock, false,
  "takes ACCESS EXCLUSIVE on the table, queueing every query behind it",
  "use DROP INDEX CONCURRENTLY IF EXISTS in a `-- lockstep:no-transaction` migration"};

// DROP INDEX [CONCURRENTLY] [IF EXISTS] name: true when the statement takes
// ACCESS EXCLUSIVE, so the reader resolves the index (and forgets it).
[[nodiscard]] inline bool locks(const safety::Scan& s) { return !s.r.is(2, "concurrently"); }

// `index`: as the reader resolved it; `live`: it existed before the run.
// Its table is not in the text, so it does not count for lock_held_across_statements.
inline void detect(safety::Scan& s, const std::string& index, bool live) {
  if (live) s.add(0, rule.id, index, "DROP INDEX " + index);
}

}  // namespace lockstep::checks::rules::drop_index_not_concurrent
