// generated_column: ADD COLUMN of a serial, identity or stored generated column on a live table.
//
// Detection: column() below, for each ADD COLUMN the shared statement reader
// (safety/analyze.hpp) finds in an ALTER TABLE of a live table.
// Sized by: the table's size.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "lockstep/checks/rule.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::generated_column {

inline constexpr Rule rule{"generated_column", Rule::Kind::lock, true,
  "rewrites the table under ACCESS EXCLUSIVE (serial, identity and stored generated columns fill every row)",
  "add a plain column, backfill it in batches, then attach the sequence or default"};

inline bool is_serial(std::string_view t) {
  return t == "serial" || t == "bigserial" || t == "smallserial" || t == "serial2" || t == "serial4" ||
         t == "serial8";
}

// Where GENERATED is in the column's definition, or c.end.
[[nodiscard]] inline std::size_t generated_at(const sql::Reader& r, const safety::ColumnDef& c) {
  return r.find(c.type, c.end, [](const sql::Token& t, std::size_t) { return t.is("generated"); });
}

// The column fills its existing rows itself (serial, identity, generated):
// they never get NULL (not_null_without_default reads it too).
[[nodiscard]] inline bool fills_rows(const sql::Reader& r, const safety::ColumnDef& c) {
  return is_serial(r.at(c.type)->folded) || generated_at(r, c) < c.end;
}

// ADD COLUMN c {serial | bigserial | ...}, or ... GENERATED {ALWAYS | BY
// DEFAULT} AS IDENTITY, or GENERATED ALWAYS AS (expr) STORED, on `live`.
inline void column(safety::Scan& s, const std::string& live, const safety::ColumnDef& c) {
  const auto& r = s.r;
  const sql::Token& type = *r.at(c.type);
  if (is_serial(type.folded))
    s.add(c.action, rule.id, live, "ADD COLUMN " + c.name.text + " " + type.text + " to " + live,
          type.text + " fills every row from a sequence");
  const std::size_t generated = generated_at(r, c);
  if (generated >= c.end) return;
  const bool identity = r.has(generated, c.end, "as", "identity");
  if (identity || r.has(generated, c.end, "stored"))
    s.add(c.action, rule.id, live, "ADD COLUMN " + c.name.text + " GENERATED to " + live,
          identity ? "an identity column fills every row from a sequence"
                   : "a stored generated column is computed for every row");
}

}  // namespace lockstep::checks::rules::generated_column
