// type_change: ALTER COLUMN ... TYPE on a live table.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::action), which
// tracks what the run creates so a new table never counts as live.
// Sized by: Question::type_rewrite: is the new type binary-coercible from the current one? (Catalog::type_change); then the table's size.
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::type_change {

inline constexpr Rule rule{"type_change", Rule::Kind::lock, true,
  "rewrites the table and its indexes under ACCESS EXCLUSIVE",
  "add a new column of the new type, backfill it, switch the code, then drop the old one (contract)"};

}  // namespace lockstep::checks::rules::type_change
