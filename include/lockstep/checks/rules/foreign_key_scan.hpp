// foreign_key_scan: ADD FOREIGN KEY (or ADD COLUMN ... REFERENCES) without NOT VALID on a live table.
//
// Detection: add_constraint() and column() below, for each ADD action the
// shared statement reader (safety/analyze.hpp) finds in an ALTER TABLE, with
// the table resolved (live, or created in this run).
// Sized by: the table's size.
#pragma once

#include <cstddef>
#include <string>

#include "lockstep/checks/rule.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::foreign_key_scan {

inline constexpr Rule rule{"foreign_key_scan", Rule::Kind::lock, true,
  "scans the table to validate it while both tables are locked against writes (SHARE ROW EXCLUSIVE)",
  "add it NOT VALID, then VALIDATE CONSTRAINT in a later migration"};

// The action ADD [CONSTRAINT name] FOREIGN KEY (...) REFERENCES t ... [NOT
// VALID] at token `a`, FOREIGN at `i`, ending at `end`; `live`: the table
// when it existed before the run, else "".
inline void add_constraint(safety::Scan& s, const std::string& live, std::size_t a, std::size_t i, std::size_t end,
                           bool not_valid) {
  if (not_valid || live.empty()) return;
  const auto& r = s.r;
  const std::size_t ref = r.find(i, end, [](const sql::Token& t, std::size_t) { return t.is("references"); });
  s.add(a, rule.id, live, "ADD FOREIGN KEY on " + live, ref < end ? "references " + r.name(ref + 1).text : std::string{});
}

// ADD COLUMN c type ... REFERENCES t: a column constraint is never NOT VALID.
inline void column(safety::Scan& s, const std::string& live, const safety::ColumnDef& c) {
  const std::size_t k = s.r.find(c.type, c.end, [](const sql::Token& t, std::size_t) { return t.is("references"); });
  if (k < c.end)
    s.add(k, rule.id, live, "ADD COLUMN " + c.name.text + " REFERENCES on " + live, "references " + s.r.name(k + 1).text);
}

}  // namespace lockstep::checks::rules::foreign_key_scan
