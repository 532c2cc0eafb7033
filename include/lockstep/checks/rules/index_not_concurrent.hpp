// index_not_concurrent: CREATE INDEX without CONCURRENTLY on a table that existed before the run.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::create), which
// tracks what the run creates so a new table never counts as live.
// Sized by: the table's size.
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::index_not_concurrent {

inline constexpr Rule rule{"index_not_concurrent", Rule::Kind::lock, true,
  "blocks writes (SHARE lock) for the whole build",
  "use CREATE INDEX CONCURRENTLY in a `-- lockstep:no-transaction` migration"};

}  // namespace lockstep::checks::rules::index_not_concurrent
