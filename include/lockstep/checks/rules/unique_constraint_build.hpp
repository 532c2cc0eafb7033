// unique_constraint_build: ADD UNIQUE / PRIMARY KEY / EXCLUDE without USING INDEX on a live table.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::action, Analyzer::add_column), which
// tracks what the run creates so a new table never counts as live.
// Sized by: the table's size.
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::unique_constraint_build {

inline constexpr Rule rule{"unique_constraint_build", Rule::Kind::lock, true,
  "builds its index under ACCESS EXCLUSIVE (no reads, no writes)",
  "CREATE UNIQUE INDEX CONCURRENTLY first (no-transaction migration), then ADD CONSTRAINT ... "
  "UNIQUE/PRIMARY KEY USING INDEX, which is instant"};

}  // namespace lockstep::checks::rules::unique_constraint_build
