// A Migrator over a MemorySource with the plainest settings: the test
// database's URL and an event log, nothing else (execute_test,
// preflight_test, embedded_source_test).
#pragma once

#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "test_db.hpp"

namespace lockstep::test::plain {

using MemMigrator = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>;

inline Settings settings_for(const TestDatabase& db, EventLog& log) {
  Settings s;
  s.database_url = db.url();
  s.on_event = log.sink();
  return s;
}

}  // namespace lockstep::test::plain
