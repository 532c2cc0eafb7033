// foreign_key_scan: ADD FOREIGN KEY (or ADD COLUMN ... REFERENCES) without NOT VALID on a live table.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::action, Analyzer::add_column), which
// tracks what the run creates so a new table never counts as live.
// Sized by: the table's size.
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::foreign_key_scan {

inline constexpr Rule rule{"foreign_key_scan", Rule::Kind::lock, true,
  "scans the table to validate it while both tables are locked against writes (SHARE ROW EXCLUSIVE)",
  "add it NOT VALID, then VALIDATE CONSTRAINT in a later migration"};

}  // namespace lockstep::checks::rules::foreign_key_scan
