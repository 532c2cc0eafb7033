// not_null_without_default: ADD COLUMN ... NOT NULL (or PRIMARY KEY) without a DEFAULT on a live table.
//
// Detection: column() below, for each ADD COLUMN the shared statement reader
// (safety/analyze.hpp) finds in an ALTER TABLE of a live table.
// Question: is the type a domain with a default, which fills the rows? (ask()
// below, one catalog query); then has the table rows (sized() below): rows
// make it an error, whatever their number.
#pragma once

#include <string>
#include <utility>

#include "lockstep/checks/finding.hpp"
#include "lockstep/checks/rule.hpp"
#include "lockstep/checks/rules/generated_column.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/safety/catalog.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::not_null_without_default {

inline constexpr Rule rule{"not_null_without_default", Rule::Kind::lock, false,
  "fails (23502) on a table that has rows: every existing row would get NULL",
  "give it a DEFAULT (a constant one is instant on PostgreSQL 11+), or add it nullable, backfill it in "
  "batches, then SET NOT NULL the safe way (a validated CHECK (col IS NOT NULL) first)"};

// Existing rows get the default, or NULL: NOT NULL (or PRIMARY KEY) without
// one fails on a table with rows, unless the column fills itself (serial,
// identity, generated) or its type is a domain with a default (the catalog's
// question).
inline void column(safety::Scan& s, const std::string& live, const safety::ColumnDef& c) {
  const auto& r = s.r;
  if (!c.no_default || generated_column::fills_rows(r, c)) return;
  if (!r.has(c.type, c.end, "not", "null") && !r.has(c.type, c.end, "primary", "key")) return;
  auto& h = s.add(c.action, rule.id, live, "ADD COLUMN " + c.name.text + " NOT NULL without a DEFAULT to " + live);
  h.question = safety::Question::has_rows;
  h.new_type = r.text(c.type, c.type_end);
  h.certain = false;
}

// Whether `type` is a domain with a default, which a new column's existing
// rows get instead of NULL.
[[nodiscard]] inline result<bool> type_has_default(safety::Catalog& catalog, const std::string& type) {
  auto rows = catalog.connection().query("SELECT typdefault IS NOT NULL OR typdefaultbin IS NOT NULL FROM pg_type "
                                         "WHERE oid = to_regtype($1)",
                                         type);
  if (!rows) return std::move(rows).error();
  return !rows.value().empty() && rows.value()[0][0].value_or("f") == "t";
}

// A domain's default fills the existing rows: no finding. Otherwise the
// table's size settles it (sized()).
[[nodiscard]] inline result<safety::Answer> ask(safety::Catalog& catalog, const safety::Hazard& h) {
  LOCKSTEP_TRY(filled, type_has_default(catalog, h.new_type));
  safety::Answer a;
  a.dismissed = filled;
  return a;
}

// What the table's size says: reltuples counts rows as of the last VACUUM
// or ANALYZE; no pages at all is certainly empty (no finding), counted rows
// make the statement fail, pages without counted rows may be either.
[[nodiscard]] inline safety::Answer sized(const TableSize& size) {
  safety::Answer a;
  if (size.bytes == 0) {
    a.dismissed = true;
  } else if (size.rows > 0) {
    a.fails = true;
    a.certain = true;
  } else {
    a.why = "the catalog counts no rows, but the table has pages: the count may be stale";
  }
  return a;
}

}  // namespace lockstep::checks::rules::not_null_without_default
