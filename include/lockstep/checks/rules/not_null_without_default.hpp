// not_null_without_default: ADD COLUMN ... NOT NULL (or PRIMARY KEY) without a DEFAULT on a live table.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::add_column), which
// tracks what the run creates so a new table never counts as live.
// Sized by: Question::has_rows: is the type a domain with a default (Catalog::type_has_default), and has the table rows? Rows make it an error.
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::not_null_without_default {

inline constexpr Rule rule{"not_null_without_default", Rule::Kind::lock, false,
  "fails (23502) on a table that has rows: every existing row would get NULL",
  "give it a DEFAULT (a constant one is instant on PostgreSQL 11+), or add it nullable, backfill it in "
  "batches, then SET NOT NULL the safe way (a validated CHECK (col IS NOT NULL) first)"};

}  // namespace lockstep::checks::rules::not_null_without_default
