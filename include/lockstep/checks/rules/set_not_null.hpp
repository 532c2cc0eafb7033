// set_not_null: ALTER COLUMN ... SET NOT NULL with no validated CHECK (col IS NOT NULL) to prove it.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::action, Analyzer::proven_not_null), which
// tracks what the run creates so a new table never counts as live.
// Sized by: Question::not_null_check: does a validated check (or the column) prove it already? (Catalog::proves_not_null); then the table's size.
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::set_not_null {

inline constexpr Rule rule{"set_not_null", Rule::Kind::lock, true,
  "scans the table under ACCESS EXCLUSIVE to check for NULLs",
  "ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a later migration, then SET NOT NULL "
  "(PostgreSQL 12+ uses the validated check and skips the scan)"};

}  // namespace lockstep::checks::rules::set_not_null
