// json_column: A column of type json (CREATE TABLE, ADD COLUMN, ALTER COLUMN ... TYPE).
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::create, Analyzer::add_column, Analyzer::action), which
// tracks what the run creates so a new table never counts as live.
// Not sized: the text alone decides; the catalog only tells a new table from a live one.
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::json_column {

inline constexpr Rule rule{"json_column", Rule::Kind::lock, false,
  "uses json, which has no equality operator (DISTINCT, GROUP BY and UNION on it "
                        "fail) and is parsed again on every read; not a lock problem",
  "use jsonb"};

}  // namespace lockstep::checks::rules::json_column
