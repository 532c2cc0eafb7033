// rename_breaks_old_code: RENAME of a live table or column in an expand migration.
//
// Detection: detect() below, for ALTER TABLE ... RENAME (not RENAME
// CONSTRAINT) of a table the shared statement reader (safety/analyze.hpp)
// resolved; in a contract migration too (never safe in one step).
// Not sized: the text alone decides; the catalog only tells a new table from a live one.
#pragma once

#include <cstddef>
#include <string>

#include "lockstep/checks/rule.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::rename_breaks_old_code {

inline constexpr Rule rule{"rename_breaks_old_code", Rule::Kind::lock, false,
  "breaks the replicas of the previous image, which still use the old name",
  "add the new column or table (expand), copy and switch the code, then drop the old one in a "
  "`-- lockstep:phase=contract` migration; or a view under the old name"};

// ALTER TABLE t RENAME TO u / RENAME [COLUMN] c TO d, token `rename` at
// RENAME; `live`: the table when it existed before the run, else "".
inline void detect(safety::Scan& s, const std::string& live, std::size_t rename) {
  if (live.empty()) return;
  std::size_t j = rename + 1;
  if (s.r.is(j, "to")) {
    s.add(rename, rule.id, live, "RENAME of table " + live);
    return;
  }
  if (s.r.is(j, "column")) ++j;
  s.add(rename, rule.id, live, "RENAME of column " + s.r.name(j).text + " of " + live);
}

}  // namespace lockstep::checks::rules::rename_breaks_old_code
