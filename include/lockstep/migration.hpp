// What a source yields and what a ledger records.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lockstep {

// One forward-only migration as the source holds it.
struct Migration {
  std::int64_t version = 0;  // positive; unique within a source
  std::string name;          // the part of the file name after "<version>_"
  std::string sql;           // the file's bytes, unmodified but for a leading UTF-8 BOM (removed)
  std::string origin;        // where it came from: a file path, or "memory:<version>"
  // SHA-256 of the file's canonical text (migration_checksum: no leading
  // BOM, LF line endings), lowercase hex: the same for the file checked out
  // with LF or CRLF (source/checksum.hpp).
  std::string checksum;
  // SHA-256 of the raw bytes, which lockstep recorded before checksums were
  // canonical, when it differs from `checksum` (a CRLF or BOM file), else
  // empty. A ledger row, failure or job with it is this file's.
  std::string legacy_checksum{};
  // `-- lockstep:phase=contract`: it removes what older app code still uses
  // (a column, a table), so it runs only once no replica of an older image
  // is alive, and the gate does not wait for it. Set when the source is
  // loaded (sql::declares_contract); sources leave it false.
  bool contract = false;
  // `-- lockstep:background`: the boot only queues its job (docs/background.md).
  bool background = false;
  // `-- lockstep:requires-background=V`: runs only once background migration
  // V's job has succeeded (0: none). Both set when the source is loaded.
  std::int64_t requires_background = 0;
};

// One row of the ledger: a migration that was applied and committed.
struct AppliedMigration {
  std::int64_t version = 0;
  std::string name;
  std::string checksum;
  std::string applied_at;  // server timestamp, ISO 8601
  std::int64_t duration_ms = 0;
  std::string deploy_version;
  std::string applied_by;
  bool contract = false;  // applied as a contract migration: images without it must not start
  // Lock-safety findings accepted on purpose (-- lockstep:allow=<rule> <reason>),
  // as a JSON object of rule id -> reason; "{}" for none.
  std::string allowed = "{}";
};

// A background migration's job, as its row holds it (ledger/background_jobs.hpp).
struct BackgroundJob {
  std::int64_t version = 0;
  std::string name;
  std::string checksum;  // of the file that queued it: only a runner with the same file runs it
  std::string relation;  // schema-qualified, quoted as the server prints it
  std::vector<std::string> key_columns;
  std::vector<std::string> key_types;  // format_type() of each, for typed literals
  std::int64_t batch_size = 0;
  std::vector<std::string> upper_bound;  // empty: the table was empty when queued
  std::vector<std::string> cursor;       // empty: not started
  std::int64_t rows_done = 0;
  std::int64_t rows_estimated = 0;  // pg_class.reltuples when queued
  std::int64_t batches = 0;
  std::int64_t busy_ms = 0;  // its batches' statements, summed
  std::string state;  // queued | running | paused | succeeded | failed | cancelled
  std::string runner;
  std::string queued_at;
  std::string updated_at;
  std::string last_error;

  [[nodiscard]] bool runnable() const noexcept { return state == "queued" || state == "running"; }
  // Long statements (background + no-transaction): no key to walk; the
  // counts are statements (ledger/background_jobs.hpp). Stored as a job
  // without key columns.
  bool runs_statements = false;
  [[nodiscard]] bool long_statements() const noexcept { return runs_statements; }
};

// Which deploy (application) version booted against which schema version.
struct DeployRecord {
  std::string deploy_version;
  std::int64_t schema_version = 0;
  std::string first_booted_at;
  std::string booted_by;
};

// A running replica, as the registry knows it (TableLedger's `replicas`
// table). It counts as alive until `expires_at`, which each heartbeat moves
// forward by the lease; a replica that vanishes without unregistering stops
// counting one lease after its last heartbeat.
struct ReplicaRecord {
  std::string replica_id;          // host:pid:start, unique per process
  std::string deploy_version;
  std::int64_t knows_version = 0;  // the newest migration in its image
  std::int64_t expected_version = 0;  // the oldest schema it runs on (its gate)
  std::string host;
  std::int64_t pid = 0;
  std::string started_at;          // server timestamps, ISO 8601
  std::string last_seen;
  std::string expires_at;
  bool alive = true;               // the lease had not expired when read
};

// What one heartbeat learned.
struct Renewal {
  bool renewed = false;     // false: the lease had expired (or the row is gone): register again
  std::int64_t blockers = 0;  // live replicas older than the contract asked about
  std::int64_t head_version = 0;  // the ledger's newest version, read with the renewal
  // A contract migration newer than anything this replica's image knows is
  // in the ledger: the lease was not renewed, and the replica must stop
  // claiming compatibility (schema_contracted). It registered before the
  // contract committed: a no-transaction contract cannot hold the registry
  // lock across its statements, so one may register while it runs.
  std::optional<AppliedMigration> contracted;
};

}  // namespace lockstep

namespace lockstep {

// A failed attempt, kept in the ledger's failure log (written in its own
// transaction, after the migration's was rolled back).
struct FailureRecord {
  std::int64_t id = 0;
  std::int64_t version = 0;
  std::string name;
  std::string sqlstate;
  std::string message;
  std::string position;            // "file:line:column" when known, for people (status)
  std::optional<int> line;         // the same position as numbers, for the Error of a later
  std::optional<int> column;       // refusal (a ledger that cannot store them reads them as empty)
  std::string deploy_version;
  std::string host;
  std::string failed_at;           // server timestamp, ISO 8601
  bool partial = false;            // no-transaction migration that stopped part-way
  std::int64_t statements_completed = 0;
  std::int64_t statements_total = 0;
  std::string checksum;            // of the file that failed: a changed file is a new attempt
  // Why it failed: "error" (the server rejected it: every replica of the
  // deploy would fail the same way, so none tries again), or a cause that
  // may pass on another try: "lock_timeout" (retries exhausted behind
  // another session's lock), "deadline" (the run's budget ran out),
  // "deadlock" (40P01, retries exhausted) or "resources" (class 53).
  std::string cause = "error";
  // "deadlock" (40P01, after the same bounded retries as lock_timeout) and
  // "resources" (class 53: disk full, out of memory, too many connections)
  // say nothing about the file: the next attempt may pass.
  [[nodiscard]] bool retryable() const noexcept {
    return cause == "lock_timeout" || cause == "deadline" || cause == "deadlock" || cause == "resources";
  }
  // "skipped": a key a background runner passed over (on_failed_range =
  // skip) while its job went on: a record for people, never a failure that
  // stops a deploy.
  [[nodiscard]] bool skipped() const noexcept { return cause == "skipped"; }
};

// What the every-boot fast path reads from the ledger in one round trip.
struct LedgerState {
  bool exists = false;          // false: no ledger yet (fresh database)
  std::int64_t version = 0;     // highest applied version, 0 if none
  std::int64_t count = 0;       // applied migrations
  std::string digest;           // ledger_digest() of every applied (version, checksum)
  bool deploy_recorded = false; // this deploy version already booted against `version`
};

}  // namespace lockstep
