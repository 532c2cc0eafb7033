// What run() and status() return on success.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/ledger/service_catalog.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/checks/finding.hpp"
#include "lockstep/settings.hpp"

namespace lockstep {

enum class Role {
  current,   // fast path: the schema was already at the expected version
  leader,    // this process held the lock and applied migrations
  follower,  // another process applied them; this one waited
  dry_run,   // nothing was changed; Report::plan says what would run
};

[[nodiscard]] constexpr std::string_view to_string(Role r) noexcept {
  switch (r) {
    case Role::current: return "current";
    case Role::leader: return "leader";
    case Role::follower: return "follower";
    case Role::dry_run: return "dry-run";
  }
  return "unknown";
}

struct AppliedStep {
  std::int64_t version = 0;
  std::string name;
  std::chrono::milliseconds duration{0};
};

// What a relation lock mode stops the application doing while it is held.
[[nodiscard]] inline std::string_view lock_blocks(std::string_view mode) noexcept {
  if (mode == "AccessExclusiveLock") return "reads and writes";
  if (mode == "ExclusiveLock") return "writes and row locks (plain reads still run)";
  if (mode == "ShareRowExclusiveLock" || mode == "ShareLock") return "writes";
  if (mode == "ShareUpdateExclusiveLock") return "other DDL and VACUUM (not reads or writes)";
  return "nothing the application does";
}

// A relation lock a rehearsed migration took, from pg_locks before rollback.
struct RelationLock {
  std::string relation;
  std::string mode;  // e.g. AccessExclusiveLock
};

// What one statement of a rehearsed migration did, measured inside the
// rolled-back transaction.
struct RehearsedStatement {
  int line = 0;  // of the statement, in the file
  std::chrono::milliseconds duration{0};
  std::vector<RelationLock> locks;     // relation locks this statement added
  std::vector<std::string> rewritten;  // relations whose relfilenode changed: rewritten, with their indexes
};

// One pending migration in a dry run.
// A background migration's job that something waits for (a migration with
// `-- lockstep:requires-background=V`), as it stood when last read.
struct BackgroundWait {
  std::int64_t version = 0;
  std::string name;
  std::string state;  // queued | running | paused | failed | cancelled; "missing": not queued
  std::int64_t rows_done = 0;
  std::int64_t rows_estimated = 0;      // pg_class.reltuples when it was queued (0: unknown)
  std::optional<std::int64_t> percent;  // of the estimate, below 100 until it succeeds
  std::optional<std::int64_t> eta_ms;   // at the rate its batches have run so far
  bool long_statements = false;         // counts statements, not rows (no ETA)
};

// A `-- lockstep:check` of a pending migration, as a dry run shows it.
struct PlannedCheck {
  int line = 0;
  std::string sql;     // redacted, like any SQL shown
  std::string result;  // rehearsed: "true", "false", "NULL" or the error; empty: not evaluated
};

struct PlannedMigration {
  std::int64_t version = 0;
  std::string name;
  std::string origin;
  bool transaction = true;
  bool contract = false;  // applied once no replica of an older image is alive
  std::size_t statements = 0;
  std::size_t warnings = 0;
  bool rehearsed = false;  // ran in a rolled-back transaction
  std::chrono::milliseconds rehearsal_duration{0};
  std::vector<RelationLock> locks;  // locks it added
  std::vector<RehearsedStatement> rehearsal;  // per statement, when rehearsed
  std::vector<std::string> left_invalid;      // indexes or constraints it left invalid (rehearsed)
  // Relations whose row types it changed (rehearsed): a prepared SELECT *
  // on them fails on serving replicas until re-prepared (schema_change.hpp).
  std::vector<std::string> row_types_changed;
  std::vector<Finding> findings;      // lock safety, judged against the live catalog
  std::optional<BackgroundWait> requires_job;  // the unfinished background job it requires (requires-background)
  std::vector<PlannedCheck> checks;  // its -- lockstep:check lines, each evaluated when rehearsed
  // A background migration, rehearsed: its first batch as a runner runs it
  // (keys, then the job's ETA at that batch's rate over the table's estimate).
  std::optional<std::int64_t> batch_rows;
  std::optional<std::int64_t> eta_ms;
  // A finding here that blocks would stop a real deploy at pre-flight.
  [[nodiscard]] bool blocked() const noexcept {
    for (const auto& f : findings) {
      if (f.blocks()) return true;
    }
    return false;
  }
};

// A contract migration this image has, not yet applied because replicas of
// older images are alive. The gate does not wait for it: a later boot's
// leader or a running replica's heartbeat applies it once they are gone.
struct WaitingContract {
  std::int64_t version = 0;
  std::string name;
  std::string origin;
  std::vector<ReplicaRecord> waiting_for;  // the live replicas whose image does not have it
  std::optional<BackgroundWait> background;  // the unfinished job it requires (requires-background)

  [[nodiscard]] bool runnable() const noexcept { return waiting_for.empty() && !background; }
};

struct Report {
  Role role = Role::current;
  std::int64_t schema_version = 0;
  std::int64_t expected_version = 0;
  // The schema is newer than this binary (e.g. the app was rolled back):
  // allowed, and reported so operators see it.
  bool schema_ahead = false;
  std::vector<std::int64_t> unknown_versions;  // applied versions this binary has no migration for
  std::vector<AppliedStep> applied;            // what this process applied
  unsigned wait_attempts = 0;
  std::chrono::milliseconds duration{0};
  std::vector<PlannedMigration> plan;  // dry-run only
  std::vector<WaitingContract> contracts_waiting;
  // What this image knows, for the replica registry (heartbeat.hpp).
  std::int64_t knows_version = 0;
  // The host, deploy version and mode this run resolved from Settings and
  // the environment as it started; the heartbeat registers with them.
  ResolvedSettings resolved;
};

struct PendingMigration {
  std::int64_t version = 0;
  std::string name;
  std::string origin;
  bool contract = false;
};

struct Status {
  bool ledger_exists = false;
  std::int64_t schema_version = 0;
  std::int64_t expected_version = 0;
  // The schema has migrations newer than anything this binary has (a
  // contract migration it ships, applied, is not ahead of it).
  bool schema_ahead = false;
  std::vector<AppliedMigration> applied;
  std::vector<PendingMigration> pending;
  std::vector<std::int64_t> drifted;           // applied, but the file's checksum changed
  std::vector<std::int64_t> unknown_versions;  // applied, but not in this source
  std::vector<DeployRecord> deploys;           // newest first
  std::vector<FailureRecord> failures;         // unresolved failed attempts, oldest first
  std::vector<ReplicaRecord> replicas;         // live, and gone in the last hour
  std::vector<WaitingContract> contracts_waiting;
  std::vector<BackgroundJob> jobs;  // background migrations' jobs, oldest version first
  // Every service's row in the service catalog, this one's included, by
  // name (docs/services.md); empty for a ledger without a catalog.
  std::vector<ServiceHead> services;
};

}  // namespace lockstep
