// constraint_scan: ADD CHECK (or ADD COLUMN ... CHECK) without NOT VALID on a live table.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::action, Analyzer::add_column), which
// tracks what the run creates so a new table never counts as live.
// Sized by: the table's size.
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::constraint_scan {

inline constexpr Rule rule{"constraint_scan", Rule::Kind::lock, true,
  "scans the table under ACCESS EXCLUSIVE to validate it",
  "add it NOT VALID, then VALIDATE CONSTRAINT in a later migration (it only takes SHARE UPDATE EXCLUSIVE)"};

}  // namespace lockstep::checks::rules::constraint_scan
