// truncate_cascade: TRUNCATE ... CASCADE of a live table.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::truncate), which
// tracks what the run creates so a new table never counts as live.
// Sized by: Question::cascades: which other tables would it empty? (Catalog::cascades).
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::truncate_cascade {

inline constexpr Rule rule{"truncate_cascade", Rule::Kind::lock, false,
  "also empties every table whose foreign keys reference it (and theirs, recursively), under ACCESS "
  "EXCLUSIVE on each",
  "TRUNCATE the tables you mean by name, without CASCADE: it then fails instead of emptying a table you did "
  "not name"};

}  // namespace lockstep::checks::rules::truncate_cascade
