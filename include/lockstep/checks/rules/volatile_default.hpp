// volatile_default: ADD COLUMN ... DEFAULT <volatile expression> (any default before PostgreSQL 11).
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::add_column), which
// tracks what the run creates so a new table never counts as live.
// Sized by: Question::default_volatile: are the functions the default calls volatile? (Catalog::any_volatile); then the table's size.
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::volatile_default {

inline constexpr Rule rule{"volatile_default", Rule::Kind::lock, true,
  "rewrites the table under ACCESS EXCLUSIVE (a volatile default is computed per row)",
  "add the column without a default (or with a constant one), SET DEFAULT afterwards, and backfill in batches"};

}  // namespace lockstep::checks::rules::volatile_default
