// constraint_scan: ADD CHECK (or ADD COLUMN ... CHECK) without NOT VALID on a live table.
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

namespace lockstep::checks::rules::constraint_scan {

inline constexpr Rule rule{"constraint_scan", Rule::Kind::lock, true,
  "scans the table under ACCESS EXCLUSIVE to validate it",
  "add it NOT VALID, then VALIDATE CONSTRAINT in a later migration (it only takes SHARE UPDATE EXCLUSIVE)"};

// The action ADD [CONSTRAINT name] CHECK (...) [NOT VALID] at token `a`;
// `live`: the table when it existed before the run, else "".
inline void add_constraint(safety::Scan& s, const std::string& live, std::size_t a, bool not_valid) {
  if (!not_valid && !live.empty()) s.add(a, rule.id, live, "ADD CHECK on " + live);
}

// ADD COLUMN c type ... CHECK (...): a column constraint is never NOT VALID.
inline void column(safety::Scan& s, const std::string& live, const safety::ColumnDef& c) {
  const std::size_t k = s.r.find(c.type, c.end, [](const sql::Token& t, std::size_t) { return t.is("check"); });
  if (k < c.end) s.add(k, rule.id, live, "ADD COLUMN " + c.name.text + " CHECK on " + live);
}

}  // namespace lockstep::checks::rules::constraint_scan
