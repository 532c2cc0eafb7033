// drop_database: DROP DATABASE.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::drop), which
// tracks what the run creates so a new table never counts as live.
// Sized by: Question::database_use: is it lockstep's own database, or in use? (Catalog::database_use).
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::drop_database {

inline constexpr Rule rule{"drop_database", Rule::Kind::lock, false,
  "drops a whole database during a deploy; it fails (55006) while any session is connected to it, and "
  "lockstep's own database cannot be dropped",
  "drop databases by hand, outside migrations, once nothing uses them"};

}  // namespace lockstep::checks::rules::drop_database
