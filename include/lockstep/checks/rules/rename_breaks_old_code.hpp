// rename_breaks_old_code: RENAME of a live table or column in an expand migration.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::alter_table), which
// tracks what the run creates so a new table never counts as live.
// Not sized: the text alone decides; the catalog only tells a new table from a live one.
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::rename_breaks_old_code {

inline constexpr Rule rule{"rename_breaks_old_code", Rule::Kind::lock, false,
  "breaks the replicas of the previous image, which still use the old name",
  "add the new column or table (expand), copy and switch the code, then drop the old one in a "
  "`-- lockstep:phase=contract` migration; or a view under the old name"};

}  // namespace lockstep::checks::rules::rename_breaks_old_code
