// drop_breaks_old_code: DROP TABLE / DROP COLUMN of a live table outside a contract migration.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::drop, Analyzer::action), which
// tracks what the run creates so a new table never counts as live.
// Not sized: the text alone decides; the catalog only tells a new table from a live one.
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::drop_breaks_old_code {

inline constexpr Rule rule{"drop_breaks_old_code", Rule::Kind::lock, false,
  "breaks the replicas of the previous image that still use it",
  "drop it in a `-- lockstep:phase=contract` migration, which runs once no older replica is alive"};

}  // namespace lockstep::checks::rules::drop_breaks_old_code
