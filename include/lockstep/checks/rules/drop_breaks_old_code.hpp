// drop_breaks_old_code: DROP TABLE / DROP COLUMN of a live table outside a contract migration.
//
// Detection: table() and column() below, for DROP TABLE and ALTER TABLE
// ... DROP COLUMN of a table the shared statement reader
// (safety/analyze.hpp) resolved. Never in a contract migration: that is
// where drops belong.
// Not sized: the text alone decides; the catalog only tells a new table from a live one.
#pragma once

#include <cstddef>
#include <string>

#include "lockstep/checks/rule.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::drop_breaks_old_code {

inline constexpr Rule rule{"drop_breaks_old_code", Rule::Kind::lock, false,
  "breaks the replicas of the previous image that still use it",
  "drop it in a `-- lockstep:phase=contract` migration, which runs once no older replica is alive"};

// DROP TABLE ... of `live` (one of its names), when it existed before the run.
inline void table(safety::Scan& s, const std::string& live) {
  if (!live.empty() && !s.contract) s.add(0, rule.id, live, "DROP TABLE " + live);
}

// The action DROP [COLUMN] [IF EXISTS] c at token `a`; `column` its name.
inline void column(safety::Scan& s, const std::string& live, std::size_t a, const sql::Name& column) {
  if (!live.empty() && !s.contract) s.add(a, rule.id, live, "DROP COLUMN " + column.text + " of " + live);
}

}  // namespace lockstep::checks::rules::drop_breaks_old_code
