// generated_column: ADD COLUMN of a serial, identity or stored generated column on a live table.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::add_column), which
// tracks what the run creates so a new table never counts as live.
// Sized by: the table's size.
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::generated_column {

inline constexpr Rule rule{"generated_column", Rule::Kind::lock, true,
  "rewrites the table under ACCESS EXCLUSIVE (serial, identity and stored generated columns fill every row)",
  "add a plain column, backfill it in batches, then attach the sequence or default"};

}  // namespace lockstep::checks::rules::generated_column
