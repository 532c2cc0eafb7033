// transaction_control: BEGIN, COMMIT, ROLLBACK, ... in a migration that runs
// in lockstep's transaction, and two-phase commit (PREPARE TRANSACTION,
// COMMIT/ROLLBACK PREPARED) in any migration. It guards a promise (nothing
// is reported applied that is not committed, exactly once): always an error,
// never allowed.
#pragma once

#include <string>

#include "lockstep/checks/rule.hpp"
#include "lockstep/checks/words.hpp"

namespace lockstep::checks::rules::transaction_control {

inline constexpr Rule rule{"transaction_control", Rule::Kind::statement, false,
                           "ends or starts a transaction that lockstep owns",
                           "remove it; a `-- lockstep:no-transaction` file may run its own BEGIN ... COMMIT blocks",
                           /*fixed=*/true};

// BEGIN/COMMIT/END/ABORT/START TRANSACTION/ROLLBACK (not ROLLBACK TO or PREPARED).
inline bool controls(const Words& t) {
  if (t.empty()) return false;
  const auto& w = t[0];
  if (w == "BEGIN" || w == "COMMIT" || w == "END" || w == "ABORT") return true;
  if (w == "START" && t.size() > 1 && t[1] == "TRANSACTION") return true;
  if (w == "ROLLBACK") return !(t.size() > 1 && (t[1] == "TO" || t[1] == "PREPARED"));
  return false;
}

// Two-phase commit: PREPARE TRANSACTION hands the work to a prepared
// transaction that outlives the session, uncommitted and holding its locks,
// while the session looks idle; COMMIT/ROLLBACK PREPARED finish someone's.
// Neither belongs in a migration, in a transaction or not: lockstep records
// a migration only when its work is committed.
inline bool two_phase_commit(const Words& t) {
  if (t.size() < 2) return false;
  if (t[0] == "PREPARE" && t[1] == "TRANSACTION") return true;
  return (t[0] == "COMMIT" || t[0] == "ROLLBACK") && t[1] == "PREPARED";
}

inline std::string two_phase_message(const Words& t) {
  return t[0] + " " + t[1] +
         " inside a migration: two-phase commit leaves the work in a prepared transaction that is not committed (it "
         "holds its locks until someone runs COMMIT PREPARED or ROLLBACK PREPARED), and lockstep records a "
         "migration only when its work is committed; remove it";
}

inline std::string message(const Words& t) {
  return t[0] + " inside a migration: lockstep runs each migration in its own transaction together with its ledger "
                "row; remove it (a file marked `-- lockstep:no-transaction` may run its own BEGIN ... COMMIT "
                "blocks, each closed by COMMIT or ROLLBACK in the same file: one left open fails the migration)";
}

}  // namespace lockstep::checks::rules::transaction_control
