// reindex_not_concurrent: REINDEX without CONCURRENTLY (an index, a table, or a schema, database or the catalogs).
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::reindex), which
// tracks what the run creates so a new table never counts as live.
// Sized by: the table's size; of a schema, the database or the catalogs, the largest table (Catalog::size_of).
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::reindex_not_concurrent {

inline constexpr Rule rule{"reindex_not_concurrent", Rule::Kind::lock, true,
  "blocks writes, and reads that use the index, for the whole rebuild",
  "use REINDEX INDEX/TABLE ... CONCURRENTLY (PostgreSQL 12+) in a `-- lockstep:no-transaction` migration, "
  "naming what needs it; reindex a whole schema, database or the system catalogs outside deploys"};

}  // namespace lockstep::checks::rules::reindex_not_concurrent
