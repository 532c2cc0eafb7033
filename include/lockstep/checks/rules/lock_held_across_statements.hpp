// lock_held_across_statements: Long work, or a lock on a second table, after a statement took ACCESS EXCLUSIVE in the same transaction.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::across), which
// tracks what the run creates so a new table never counts as live.
// Sized by: dismissed with the finding it stands on (Hazard::depends_on).
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::lock_held_across_statements {

inline constexpr Rule rule{"lock_held_across_statements", Rule::Kind::lock, false,
  "runs while the ACCESS EXCLUSIVE lock of an earlier statement in the same transaction is still held",
  "put the statement that takes ACCESS EXCLUSIVE last, or in a migration of its own"};

}  // namespace lockstep::checks::rules::lock_held_across_statements
