// What the suites that run a Migrator over a MemorySource against the test
// server share (boot_modes_test, pgbouncer_test, apply_test, record_test):
// the Migrator, its settings (deploy v-prod), events by name, a scoped
// environment variable, and the session advisory locks a database holds.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "events.hpp"
#include "json.hpp"
#include "lockstep/lockstep.hpp"
#include "test_db.hpp"

namespace lockstep::test::prod {

using namespace std::chrono_literals;

template <class Lock = TryLock>
using Mem = Migrator<Lock, ExponentialBackoff, Deadline<>, MemorySource>;

inline Settings settings_for(const std::string& url, EventLog& log) {
  Settings s;
  s.database_url = url;
  s.deploy_version = "v-prod";
  s.on_event = log.sink();
  return s;
}

inline constexpr const char* kOwnAdvisoryLocks =
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database())";

inline long long settled_advisory_locks(const TestDatabase& db) {
  for (int i = 0; i < 100 && db.number(kOwnAdvisoryLocks) != 0; ++i) std::this_thread::sleep_for(50ms);
  return db.number(kOwnAdvisoryLocks);
}

inline std::vector<Json> events_named(const EventLog& log, const std::string& name) {
  std::vector<Json> out;
  for (const auto& e : log.all()) {
    if (e.name == name) out.push_back(parse_json(e.json));
  }
  return out;
}

inline std::string through_pgbouncer(const TestDatabase& db) {
  const std::string bouncer = pgbouncer_url();
  REQUIRE_MESSAGE(!bouncer.empty(), "no PgBouncer: run through ctest (fixture pgbouncer)");
  return url_for_database(bouncer, db.name());
}

// Scoped environment variable.
class EnvVar {
 public:
  EnvVar(const char* name, const char* value) : name_{name} { ::setenv(name, value, 1); }
  ~EnvVar() { ::unsetenv(name_); }
  EnvVar(const EnvVar&) = delete;
  EnvVar& operator=(const EnvVar&) = delete;

 private:
  const char* name_;
};

inline MemorySource two_tables() {
  return MemorySource{{1, "t", "CREATE TABLE t (id int PRIMARY KEY);\nINSERT INTO t VALUES (1), (2);"},
                      {2, "u", "CREATE TABLE u (id int);\nALTER TABLE t ADD COLUMN note text;"}};
}

}  // namespace lockstep::test::prod
