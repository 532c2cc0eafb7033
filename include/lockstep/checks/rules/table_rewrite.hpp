// table_rewrite: VACUUM FULL, CLUSTER, SET TABLESPACE / LOGGED / UNLOGGED of a live table.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::vacuum, Analyzer::cluster, Analyzer::action), which
// tracks what the run creates so a new table never counts as live.
// Sized by: Question::persistence / Question::tablespace: is the table so already? (Catalog::persistence_is, Catalog::in_tablespace); then the table's size.
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::table_rewrite {

inline constexpr Rule rule{"table_rewrite", Rule::Kind::lock, true,
  "rewrites the whole table under ACCESS EXCLUSIVE",
  "avoid it at deploy time; pg_repack or a maintenance window does this without blocking the application"};

}  // namespace lockstep::checks::rules::table_rewrite
