// validate_same_transaction: VALIDATE CONSTRAINT in the transaction that added a constraint NOT VALID to the same table.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::action), which
// tracks what the run creates so a new table never counts as live.
// Sized by: the table's size.
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::validate_same_transaction {

inline constexpr Rule rule{"validate_same_transaction", Rule::Kind::lock, true,
  "scans the table while the same transaction still holds the lock of its ADD ... NOT VALID (ACCESS "
  "EXCLUSIVE for a CHECK; SHARE ROW EXCLUSIVE on both tables, no writes, for a FOREIGN KEY)",
  "VALIDATE CONSTRAINT in a later migration, so the scan runs under SHARE UPDATE EXCLUSIVE only"};

}  // namespace lockstep::checks::rules::validate_same_transaction
