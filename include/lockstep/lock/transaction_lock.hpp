// pg_try_advisory_xact_lock, taken inside each migration's transaction and
// released by its COMMIT or ROLLBACK. Nothing outlives a transaction, so it
// is correct through PgBouncer's transaction pooling. The Migrator re-reads
// the ledger under the lock in every transaction. The price: a no-transaction
// migration has no transaction to hold the lock, so this policy refuses them.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "lockstep/connection.hpp"
#include "lockstep/error.hpp"

namespace lockstep {

struct TransactionLock {
  static constexpr bool transaction_scoped = true;

  // Must be called inside a transaction (the Migrator does).
  [[nodiscard]] result<bool> try_acquire(Connection& conn, std::int64_t key, std::chrono::milliseconds /*budget*/) {
    LOCKSTEP_TRY(rows, conn.query("SELECT pg_try_advisory_xact_lock($1)", std::to_string(key)));
    return !rows.empty() && rows[0][0] && *rows[0][0] == "t";
  }

  [[nodiscard]] result<void> release(Connection&, std::int64_t) { return outcome::success(); }  // at COMMIT/ROLLBACK
};

}  // namespace lockstep
