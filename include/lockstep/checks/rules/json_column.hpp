// json_column: A column of type json (CREATE TABLE, ADD COLUMN, ALTER COLUMN ... TYPE).
//
// Detection: column() and create_table() below, called by the shared
// statement reader (safety/analyze.hpp) for CREATE TABLE, ADD COLUMN and
// ALTER COLUMN ... TYPE (a new table too: it is about the type, not a lock).
// Not sized: the text alone decides; the catalog only tells a new table from a live one.
#pragma once

#include <cstddef>
#include <string>

#include "lockstep/checks/rule.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::json_column {

inline constexpr Rule rule{"json_column", Rule::Kind::lock, false,
  "uses json, which has no equality operator (DISTINCT, GROUP BY and UNION on it "
                        "fail) and is parsed again on every read; not a lock problem",
  "use jsonb"};

// A column `column` of `table` (both as written) whose type starts at token `type`.
inline void column(safety::Scan& s, std::size_t type, const std::string& column, const std::string& table) {
  if (s.r.is(type, "json")) s.add(type, rule.id, table, "column " + column + " of " + table);
}

// CREATE TABLE name (column type ..., ...): the columns in the definition.
inline void create_table(safety::Scan& s, const sql::Name& table) {
  const auto& r = s.r;
  if (!r.punct(table.next, '(')) return;
  std::size_t col = table.next + 1;
  while (col < r.size()) {
    const std::size_t end =
        r.find(col, r.size(), [](const sql::Token& t, std::size_t) { return t.is_punct(',') || t.is_punct(')'); });
    if (r.at(col)->is_name() && !r.is(col, "constraint") && !r.is(col, "like"))
      column(s, col + 1, r.at(col)->text, table.text);
    if (end >= r.size() || r.punct(end, ')')) break;
    col = end + 1;
  }
}

}  // namespace lockstep::checks::rules::json_column
