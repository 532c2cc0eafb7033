// lock_held_across_statements: Long work, or a lock on a second table, after a statement took ACCESS EXCLUSIVE in the same transaction.
//
// Detection: after() below, called by the shared statement reader
// (safety/analyze.hpp) after every statement with what that statement did
// (safety::Effect: which table it locked, whether it is long work).
// Not sized: dismissed with the sized finding it stands on (Hazard::depends_on).
#pragma once

#include <string>
#include <utility>

#include "lockstep/checks/rule.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::lock_held_across_statements {

inline constexpr Rule rule{"lock_held_across_statements", Rule::Kind::lock, false,
  "runs while the ACCESS EXCLUSIVE lock of an earlier statement in the same transaction is still held",
  "put the statement that takes ACCESS EXCLUSIVE last, or in a migration of its own"};

// Across one migration's transaction.
struct Held {
  std::string exclusive_on;  // an existing table this transaction holds ACCESS EXCLUSIVE on
  bool reported = false;     // one finding per migration
};

// A later statement of the same transaction extends an ACCESS EXCLUSIVE
// lock taken earlier: fine for another quick change to the same table,
// not for long work or for a lock on a second table.
inline void after(safety::Scan& s, Held& held, const safety::Effect& e) {
  if (s.no_transaction) return;  // each statement commits on its own
  const bool second_table = !e.exclusive_table.empty() && e.exclusive_table != held.exclusive_on;
  const bool long_work = e.long_work && e.held_reported != held.exclusive_on;
  if (!held.exclusive_on.empty() && !held.reported && (second_table || long_work)) {
    held.reported = true;
    auto& h = s.add(0, rule.id, held.exclusive_on, {}, "ACCESS EXCLUSIVE on " + held.exclusive_on);
    if (second_table) {
      h.what = "this " + e.kind + ", which locks " + e.exclusive_table + " too,";
    } else {
      h.what = "this " + e.kind + " (long-running work)";
      h.depends_on = e.sized_hazard;
    }
  }
  if (held.exclusive_on.empty() && !e.exclusive_table.empty()) held.exclusive_on = e.exclusive_table;
}

}  // namespace lockstep::checks::rules::lock_held_across_statements
