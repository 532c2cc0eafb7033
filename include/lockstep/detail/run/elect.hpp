// Phase 5, elect: which lock the replicas of this database and ledger compete
// for. Taking it is the lock policy's job; what a failure to take it means is
// said here.
#pragma once

#include <cstdint>
#include <string>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/error.hpp"
#include "lockstep/lock/lock_key.hpp"
#include "lockstep/settings.hpp"

namespace lockstep::detail {

struct LockIdentity {
  std::string name;
  std::int64_t key = 0;
};

template <class Ledger>
[[nodiscard]] result<LockIdentity> lock_identity(Connection& conn, const Settings& settings, const Ledger& ledger) {
  LockIdentity id;
  if (settings.lock_name.empty()) {
    // The server's name for the database, not the client's: a PgBouncer
    // alias and a direct URL must derive the same key.
    LOCKSTEP_TRY(db, conn.query("SELECT current_database()"));
    id.name = default_lock_name(db.empty() ? conn.database_name() : db[0][0].value_or(""), ledger.identity());
  } else {
    id.name = settings.lock_name;
  }
  id.key = lock_key(id.name);
  return id;
}

[[nodiscard]] inline Error lock_error(Error e) {
  if (e.code == errc::database_error) {
    e.code = errc::lock_failed;
    e.message = "taking the migration lock failed: " + e.server_message;
  }
  return e;
}

}  // namespace lockstep::detail
