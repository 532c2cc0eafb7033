// Run-time settings: what the deploy decides (URLs, versions, names). What the
// build decides (how to lock, wait, time out, find and record migrations) is
// in the Migrator's policy parameters instead.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include <string_view>

#include "lockstep/error.hpp"
#include "lockstep/events.hpp"
#include "lockstep/checks/config.hpp"

namespace lockstep {

// MIGRATE_ON_BOOT: what this process does about pending migrations.
enum class BootMode {
  migrate,  // "true": lead if it wins the lock, else wait (the default)
  wait,     // "false": never migrate; wait for another process, then apply the gate
  dry_run,  // "dry-run": change nothing; report the plan (and rehearse it if asked)
};

[[nodiscard]] constexpr std::string_view to_string(BootMode m) noexcept {
  switch (m) {
    case BootMode::migrate: return "migrate";
    case BootMode::wait: return "wait";
    case BootMode::dry_run: return "dry-run";
  }
  return "unknown";
}

// Accepts the MIGRATE_ON_BOOT spellings (true/false/dry-run) and the mode names.
[[nodiscard]] inline result<BootMode> parse_boot_mode(std::string_view v) {
  if (v == "true" || v == "migrate") return BootMode::migrate;
  if (v == "false" || v == "wait") return BootMode::wait;
  if (v == "dry-run" || v == "dry_run") return BootMode::dry_run;
  return make_error(errc::invalid_argument, "MIGRATE_ON_BOOT='" + std::string{v} +
                                                "' is not a boot mode: use true (migrate), false (wait for another "
                                                "process to migrate) or dry-run");
}

// After a no-transaction migration failed part-way: run it again from the
// top on the next boot (it must be idempotent), or refuse until a human has
// looked (`lockstep resolve VERSION`).
enum class PartialPolicy { rerun, refuse };

// After the server rejected a migration: stop the deploy (the default: the
// other replicas of the same deploy do not run the same file again, since it
// would fail the same way after holding its locks again; a new deploy
// version, a changed file or `lockstep resolve VERSION` allows a new
// attempt), or let every replica try again. Failures that may pass on
// another try (lock_timeout retries exhausted, the deadline, a lost
// connection) never stop the deploy.
enum class FailurePolicy { stop_deploy, retry };

struct Settings {
  // Connection string (URI or key=value) of a *direct* session to the primary.
  // Empty: DATABASE_URL_MIGRATION, then DATABASE_URL.
  std::string database_url;

  // The schema version this binary needs. It is the leader's target and the
  // gate's threshold. Empty: the newest version in the source.
  std::optional<std::int64_t> expected_version;

  // Recorded with every migration and boot. Empty: LOCKSTEP_DEPLOY_VERSION, else "unknown".
  std::string deploy_version;

  // Advisory-lock name; the 64-bit key is derived from it (see lock/lock_key.hpp).
  // Empty: "lockstep:<database>:<ledger identity>".
  std::string lock_name;

  // Who applies: recorded in the ledger. Empty: HOSTNAME, else gethostname().
  std::string host;

  // Per connection attempt; further bounded by the run's deadline.
  std::chrono::seconds connect_timeout{10};

  std::string application_name = "lockstep";

  // Empty: MIGRATE_ON_BOOT (true | false | dry-run), else migrate. An invalid value is an error.
  std::optional<BootMode> mode;

  // dry-run only: run each pending transactional migration in a transaction
  // that is rolled back, reporting its duration and the locks it took.
  bool rehearse = false;

  // Every migration runs with this lock_timeout, so DDL waiting for a lock
  // never queues the application's queries behind it for long; on
  // lock_not_available (55P03) or deadlock_detected (40P01) the migration is
  // retried with backoff, up to lock_retries times. 0 disables. A migration's lock-timeout directive wins.
  std::chrono::milliseconds lock_timeout{2000};
  unsigned lock_retries = 10;

  // Empty: whatever is left of the run's deadline. A directive wins.
  std::optional<std::chrono::milliseconds> statement_timeout;

  PartialPolicy on_partial = PartialPolicy::rerun;
  FailurePolicy on_failure = FailurePolicy::stop_deploy;

  // A leader whose session sits idle this long (in or out of a transaction)
  // is presumed stalled (paused process, CPU-starved container, hung client)
  // and the server ends its session, freeing the lock for a follower. A
  // healthy leader is idle only for a round trip between statements.
  std::chrono::milliseconds stall_timeout{15000};
  // While one statement runs longer than this, the leader emits a `progress`
  // event per interval (pg_stat_progress_* and lock waits, read over a second
  // connection), and a waiting follower a `leader_activity` event. 0: none.
  std::chrono::milliseconds progress_interval{5000};
  // Measure which relations' row types each migration changes, record them
  // in its ledger row and broadcast them (docs/schema-changes.md). It reads
  // every user relation's columns once before each migration; on a catalog
  // of many thousands of tables that is most of a small migration's time,
  // and false turns it off (the ledger's column stays NULL, nothing is broadcast).
  bool schema_changes = true;

  // A migration with `-- lockstep:requires-background=V` runs only once
  // background migration V's job has succeeded. An unfinished one is
  // finished by the boot that reaches it, batch by batch, if what is left
  // fits this long at the rate its batches have run (and the run's
  // deadline allows); otherwise that boot refuses to start, with the job's
  // progress and ETA, and nothing of the migration runs. 0: never inline.
  std::chrono::milliseconds finalize_budget{20000};

  // Which lock-safety findings stop the deploy at pre-flight, before any
  // migration runs (docs/lock-safety.md). Default: work that blocks a live
  // table of 100,000 rows or more for as long as it takes.
  LockSafety lock_safety;

  // PgBouncer admin consoles (postgresql://user:password@host:6432/pgbouncer).
  // After a run in which this process committed a migration that changed
  // row types, it sends `RECONNECT <database>` to each, so that PgBouncer
  // replaces the server connections that hold stale prepared statements
  // (PgBouncer 1.21+ with max_prepared_statements; docs/schema-changes.md).
  // <database>: the migration URL's; `?reconnect=NAME` in an admin URL
  // names PgBouncer's database instead (an alias in its [databases]). A
  // failure is a warning: the migrations are committed. Bounded by the
  // run's deadline and connect_timeout.
  std::vector<std::string> pooler_admin_urls;
  // Opt-in `${NAME}` placeholders in migration files
  // (docs/migrations.md#placeholders): replaced after each file's checksum
  // is taken over the file as written; `$${NAME}` is the text `${NAME}`. An
  // unset name fails the run before anything runs, naming the file, line
  // and placeholder. A value may be a secret: no event, error, plan or
  // ledger row shows it (each value used is redacted like a password).
  struct Placeholders {
    bool enabled = false;                       // off: `${...}` is sent as written
    std::map<std::string, std::string> values;  // NAME -> value; wins over the environment
    bool from_environment = false;              // a name not in `values`: the environment variable NAME
  };
  Placeholders placeholders;

  // Where events go. Empty: JSON lines on stderr.
  EventSink on_event;
};

// What a run resolved from Settings and the environment, once, when it
// started (Report::resolved): the heartbeat registers with these, so a
// replica's registry row names the deploy and host its gate ran as.
struct ResolvedSettings {
  std::string host;            // Settings::host, else HOSTNAME, else gethostname()
  std::string deploy_version;  // Settings::deploy_version, else LOCKSTEP_DEPLOY_VERSION, else "unknown"
  BootMode mode = BootMode::migrate;  // Settings::mode, else MIGRATE_ON_BOOT
};

namespace detail {

[[nodiscard]] inline std::string env_or(const char* name, std::string fallback = {}) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string{v} : fallback;
}

[[nodiscard]] inline std::string resolve_url(const Settings& s) {
  if (!s.database_url.empty()) return s.database_url;
  return env_or("DATABASE_URL_MIGRATION", env_or("DATABASE_URL"));
}

[[nodiscard]] inline std::string resolve_deploy_version(const Settings& s) {
  if (!s.deploy_version.empty()) return s.deploy_version;
  return env_or("LOCKSTEP_DEPLOY_VERSION", "unknown");
}

[[nodiscard]] inline result<BootMode> resolve_mode(const Settings& s) {
  if (s.mode) return *s.mode;
  const std::string v = env_or("MIGRATE_ON_BOOT");
  if (v.empty()) return BootMode::migrate;
  return parse_boot_mode(v);
}

[[nodiscard]] inline std::string resolve_host(const Settings& s) {
  if (!s.host.empty()) return s.host;
  std::string h = env_or("HOSTNAME");
  if (!h.empty()) return h;
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) == 0 && buf[0] != '\0') return buf;
  return "unknown";
}

}  // namespace detail
}  // namespace lockstep
