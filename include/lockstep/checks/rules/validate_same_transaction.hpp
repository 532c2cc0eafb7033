// validate_same_transaction: VALIDATE CONSTRAINT in the transaction that added a constraint NOT VALID to the same table.
//
// Detection: detect() below, for each VALIDATE action the shared statement
// reader (safety/analyze.hpp) finds in an ALTER TABLE; it notes each ADD ...
// NOT VALID of the migration here (added_not_valid()).
// Sized by: the table's size.
#pragma once

#include <cstddef>
#include <set>
#include <string>

#include "lockstep/checks/rule.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::validate_same_transaction {

inline constexpr Rule rule{"validate_same_transaction", Rule::Kind::lock, true,
  "scans the table while the same transaction still holds the lock of its ADD ... NOT VALID (ACCESS "
  "EXCLUSIVE for a CHECK; SHARE ROW EXCLUSIVE on both tables, no writes, for a FOREIGN KEY)",
  "VALIDATE CONSTRAINT in a later migration, so the scan runs under SHARE UPDATE EXCLUSIVE only"};

// Existing tables given a constraint NOT VALID in this migration's transaction.
using NotValid = std::set<std::string>;

inline void added_not_valid(NotValid& tables, const std::string& live) {
  if (!live.empty()) tables.insert(live);
}

// The action VALIDATE CONSTRAINT name at token `a`; `live`: the table when
// it existed before the run, else "". Any ADD ... NOT VALID on this table
// earlier in the transaction (this constraint's or another's, named or not)
// still holds its lock; the finding says so, so `e` notes it (no
// lock_held_across_statements finding besides).
inline void detect(safety::Scan& s, const NotValid& tables, safety::Effect& e, const std::string& live,
                   std::size_t a) {
  if (s.no_transaction || live.empty() || tables.count(live) == 0) return;
  s.add(a, rule.id, live, "VALIDATE CONSTRAINT " + s.r.name(a + 2).text + " on " + live);
  e.held_reported = live;
}

}  // namespace lockstep::checks::rules::validate_same_transaction
