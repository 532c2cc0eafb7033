// Every event lockstep emits, one struct each: its name and its fields, in
// the order the JSON sink writes them. This file is the one list of events
// and fields: docs/schema/events.schema.json and the events table are
// checked against it (tests/support/event_catalog.cpp).
//
// Each struct has `name` and a static `fields(self, visit)` that calls
// `visit(key, member)` for each field in order. A member that is a
// std::optional or an `events::Flag` is written only when set; one passed
// with the `events::inlined` key (an optional struct) writes its own fields
// in place, when set. Sinks read the members directly (metrics.hpp);
// visitors.hpp walks the fields for writers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lockstep::events {

// A boolean written only when true ("background": true, "contract": true).
struct Flag {
  bool on = false;
  Flag() = default;
  Flag(bool b) : on{b} {}  // NOLINT: implicit, so `.background = ctx.background` reads plainly
  explicit operator bool() const noexcept { return on; }
};

// An optional text field from a text where "" means none.
[[nodiscard]] inline std::optional<std::string> unless_empty(const std::string& s) {
  return s.empty() ? std::nullopt : std::optional<std::string>{s};
}

// The key a nested optional struct is visited with: its fields go in place.
struct Inlined {};
inline constexpr Inlined inlined{};

// The backend a statement runs on, from pg_stat_activity and the progress views.
struct Activity {
  std::int64_t backend_pid = 0;
  std::string state{};
  std::int64_t statement_ms = 0;
  std::optional<std::string> wait_event{}, blocked_by{}, command{}, phase{};
  std::optional<std::int64_t> blocks_done{}, blocks_total{}, tuples_done{}, tuples_total{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("backend_pid", s.backend_pid), v("state", s.state), v("statement_ms", s.statement_ms);
    v("wait_event", s.wait_event), v("blocked_by", s.blocked_by), v("command", s.command), v("phase", s.phase);
    v("blocks_done", s.blocks_done), v("blocks_total", s.blocks_total);
    v("tuples_done", s.tuples_done), v("tuples_total", s.tuples_total);
  }
};

// A relation lock a rehearsed statement took (`plan`).
struct LockTaken {
  std::string relation{}, mode{}, blocks{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("relation", s.relation), v("mode", s.mode), v("blocks", s.blocks);
  }
};

// One rehearsed statement (`plan`).
struct RehearsedStep {
  std::int64_t line = 0;
  std::int64_t duration_ms = 0;
  std::vector<LockTaken> locks{};
  std::vector<std::string> rewritten{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("line", s.line), v("duration_ms", s.duration_ms), v("locks", s.locks), v("rewritten", s.rewritten);
  }
};

// What `plan` adds for a rehearsed migration.
// A migration's `-- lockstep:check` (`plan`): where, what, and what the
// rehearsal found it to be ("true", "false", "NULL", or the error).
struct PlanCheck {
  std::int64_t line = 0;
  std::string sql{};
  std::optional<std::string> result{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("line", s.line), v("sql", s.sql), v("result", s.result);
  }
};

struct Rehearsal {
  std::int64_t duration_ms = 0;
  std::vector<LockTaken> locks{};
  std::vector<RehearsedStep> rehearsal{};
  std::vector<std::string> left_invalid{};
  std::vector<std::string> row_types_changed{};
  // A background migration: its first batch, rehearsed as a runner runs it.
  std::optional<std::int64_t> batch_rows{}, rows_per_second{}, eta_ms{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("duration_ms", s.duration_ms), v("locks", s.locks), v("rehearsal", s.rehearsal);
    v("left_invalid", s.left_invalid), v("row_types_changed", s.row_types_changed), v("batch_rows", s.batch_rows);
    v("rows_per_second", s.rows_per_second);
    v("eta_ms", s.eta_ms);
  }
};

struct Boot {
  static constexpr std::string_view name = "boot";
  std::string mode{};
  std::int64_t expected_version = 0;
  std::string deploy_version{};
  std::int64_t migrations = 0, budget_ms = 0;
  Flag background{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("mode", s.mode), v("expected_version", s.expected_version), v("deploy_version", s.deploy_version);
    v("migrations", s.migrations), v("budget_ms", s.budget_ms), v("background", s.background);
  }
};

struct ConnectRetry {
  static constexpr std::string_view name = "connect_retry";
  std::int64_t attempt = 0;
  std::string message{};
  std::int64_t next_delay_ms = 0;
  std::optional<std::string> sqlstate{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("attempt", s.attempt), v("message", s.message), v("next_delay_ms", s.next_delay_ms);
    v("sqlstate", s.sqlstate);
  }
};

struct LockAcquired {
  static constexpr std::string_view name = "lock_acquired";
  std::string lock{};
  std::int64_t key = 0;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("lock", s.lock), v("key", s.key);
  }
};

// Another replica holds the lock: the fields of lock_acquired.
struct LockBusy : LockAcquired {
  static constexpr std::string_view name = "lock_busy";
};

struct Waiting {
  static constexpr std::string_view name = "waiting";
  std::int64_t attempt = 0, schema_version = 0, expected_version = 0, next_delay_ms = 0;
  bool listening = false;
  std::string lock{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("attempt", s.attempt), v("schema_version", s.schema_version), v("expected_version", s.expected_version);
    v("next_delay_ms", s.next_delay_ms), v("listening", s.listening), v("lock", s.lock);
  }
};

struct Reconnecting {
  static constexpr std::string_view name = "reconnecting";
  std::int64_t attempt = 0;
  std::string while_{};  // "while": what the run was doing
  std::string message{};
  std::int64_t next_delay_ms = 0;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("attempt", s.attempt), v("while", s.while_), v("message", s.message), v("next_delay_ms", s.next_delay_ms);
  }
};

// A lint or lock-safety finding. The splitter's lint rules write severity
// and rule before version and file (`rule_first`), the lock-safety rules
// after: kept as the lines always were until the two engines are one.
struct Lint {
  static constexpr std::string_view name = "lint";
  std::int64_t version = 0;
  std::string file{}, severity{}, rule{};
  std::int64_t line = 0, column = 0;
  std::string message{};
  std::optional<std::string> table{};
  std::optional<std::int64_t> rows{}, bytes{}, partitions{};
  Flag needs_database{};
  std::optional<std::string> allowed{};
  bool rule_first = false;  // not a field: the order above

  template <class S, class V>
  static void fields(S& s, V&& v) {
    if (s.rule_first) v("severity", s.severity), v("rule", s.rule);
    v("version", s.version), v("file", s.file);
    if (!s.rule_first) v("severity", s.severity), v("rule", s.rule);
    v("line", s.line), v("column", s.column), v("message", s.message), v("table", s.table);
    v("rows", s.rows), v("bytes", s.bytes), v("partitions", s.partitions);
    v("needs_database", s.needs_database), v("allowed", s.allowed);
  }
};

struct MigrationStarted {
  static constexpr std::string_view name = "migration_started";
  std::int64_t version = 0;
  std::string name_{}, file{};  // "name": the migration's
  bool transaction = true;
  std::int64_t statements = 0;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("file", s.file), v("transaction", s.transaction);
    v("statements", s.statements);
  }
};

// In a transaction: the server's `message`; in a no-transaction
// migration: the `statement` retried (its index).
struct MigrationRetry {
  static constexpr std::string_view name = "migration_retry";
  std::int64_t version = 0;
  std::string name_{};
  std::int64_t attempt = 0;
  std::optional<std::int64_t> statement{};
  std::string sqlstate{};
  std::optional<std::string> message{};
  std::int64_t next_delay_ms = 0;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("attempt", s.attempt), v("statement", s.statement);
    v("sqlstate", s.sqlstate), v("message", s.message), v("next_delay_ms", s.next_delay_ms);
  }
};

struct MigrationApplied {
  static constexpr std::string_view name = "migration_applied";
  std::int64_t version = 0;
  std::string name_{}, file{};
  std::int64_t statements = 0, retries = 0, duration_ms = 0;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("file", s.file), v("statements", s.statements);
    v("retries", s.retries), v("duration_ms", s.duration_ms);
  }
};

struct MigrationFailed {
  static constexpr std::string_view name = "migration_failed";
  std::int64_t version = 0;
  std::string name_{}, file{}, sqlstate{};
  std::optional<std::int64_t> line{};
  std::int64_t retries = 0;
  std::string message{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("file", s.file), v("sqlstate", s.sqlstate);
    v("line", s.line), v("retries", s.retries), v("message", s.message);
  }
};

// dry-run: one per pending migration.
struct Plan {
  static constexpr std::string_view name = "plan";
  std::int64_t version = 0;
  std::string name_{}, file{};
  bool transaction = true;
  std::int64_t statements = 0, warnings = 0;
  bool rehearsed = false, blocked = false;
  Flag contract{};
  // The unfinished background job it requires (requires-background), described.
  std::optional<std::string> requires_background{};
  std::optional<std::vector<PlanCheck>> checks{};  // its -- lockstep:check lines, when it has any
  std::optional<Rehearsal> rehearsal{};  // when rehearsed

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("file", s.file), v("transaction", s.transaction);
    v("statements", s.statements), v("warnings", s.warnings), v("rehearsed", s.rehearsed);
    v("blocked", s.blocked), v("contract", s.contract), v("requires_background", s.requires_background);
    v("checks", s.checks);
    v(inlined, s.rehearsal);
  }
};

struct InvalidIndexDropped {
  static constexpr std::string_view name = "invalid_index_dropped";
  std::int64_t version = 0;
  std::string name_{}, file{}, index{}, table{};
  std::int64_t line = 0;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("file", s.file), v("index", s.index), v("table", s.table);
    v("line", s.line);
  }
};

struct Resolved {
  static constexpr std::string_view name = "resolved";
  std::int64_t version = 0, failures = 0;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("failures", s.failures);
  }
};

struct LockReleased {
  static constexpr std::string_view name = "lock_released";
  std::string lock{};
  std::int64_t held_ms = 0;
  bool clean = false;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("lock", s.lock), v("held_ms", s.held_ms), v("clean", s.clean);
  }
};

struct Warning {
  static constexpr std::string_view name = "warning";
  std::string message{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("message", s.message);
  }
};

struct Progress {
  static constexpr std::string_view name = "progress";
  std::int64_t version = 0;
  std::string name_{}, file{}, statement{};
  std::int64_t line = 0, running_ms = 0;
  std::optional<Activity> activity{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("file", s.file), v("statement", s.statement);
    v("line", s.line), v("running_ms", s.running_ms), v(inlined, s.activity);
  }
};

struct LeaderActivity {
  static constexpr std::string_view name = "leader_activity";
  std::string lock{};
  bool held = false;
  std::optional<Activity> activity{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("lock", s.lock), v("held", s.held), v(inlined, s.activity);
  }
};

struct ContractWaiting {
  static constexpr std::string_view name = "contract_waiting";
  std::int64_t version = 0;
  std::string name_{}, file{};
  std::int64_t replicas = 0;
  std::string deploys{};
  // The unfinished background job it requires (requires-background), if any.
  std::optional<std::string> background{};
  std::optional<std::int64_t> background_version{}, background_percent{}, background_eta_ms{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("file", s.file), v("replicas", s.replicas);
    v("deploys", s.deploys), v("background", s.background), v("background_version", s.background_version);
    v("background_percent", s.background_percent), v("background_eta_ms", s.background_eta_ms);
  }
};

struct ReplicaRegistered {
  static constexpr std::string_view name = "replica_registered";
  std::string replica_id{}, deploy_version{};
  std::int64_t knows_version = 0, lease_ms = 0;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("replica_id", s.replica_id), v("deploy_version", s.deploy_version), v("knows_version", s.knows_version);
    v("lease_ms", s.lease_ms);
  }
};

// A lapsed lease, registered again by a beat: the fields of a registration.
struct ReplicaReregistered : ReplicaRegistered {
  static constexpr std::string_view name = "replica_reregistered";
};

struct ReplicaWithdrawn {
  static constexpr std::string_view name = "replica_withdrawn";
  std::string replica_id{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("replica_id", s.replica_id);
  }
};

struct Beat {
  static constexpr std::string_view name = "beat";
  std::string replica_id{};
  std::int64_t lease_ms = 0;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("replica_id", s.replica_id), v("lease_ms", s.lease_ms);
  }
};

struct BeatFailed {
  static constexpr std::string_view name = "beat_failed";
  std::string replica_id{}, while_{};
  std::int64_t failed_beats = 0;
  std::string class_{}, message{};  // "class": the errc name
  std::optional<std::string> sqlstate{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("replica_id", s.replica_id), v("while", s.while_), v("failed_beats", s.failed_beats);
    v("class", s.class_), v("message", s.message), v("sqlstate", s.sqlstate);
  }
};

// A leader reached a migration that requires another service's schema
// (`-- lockstep:requires=billing@42`) before that service got there: it
// waits (docs/services.md). Once, then every progress_interval.
struct ServiceWaiting {
  static constexpr std::string_view name = "service_waiting";
  std::int64_t version = 0;
  std::string name_{}, file{}, service{};
  std::int64_t requires_version = 0, service_version = 0, line = 0;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("file", s.file), v("service", s.service);
    v("requires_version", s.requires_version), v("service_version", s.service_version), v("line", s.line);
  }
};

// A beat learned that a migration changed row types after this replica's
// gate (schema_change.hpp): its prepared statements on those relations are
// stale. Once per migration per replica.
struct SchemaChanged {
  static constexpr std::string_view name = "schema_changed";
  std::string replica_id{}, ledger{};
  std::int64_t version = 0;
  std::string name_{}, phase{};
  std::vector<std::string> relations{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("replica_id", s.replica_id), v("ledger", s.ledger), v("version", s.version), v("name", s.name_);
    v("phase", s.phase), v("relations", s.relations);
  }
};

// After a run in which this process committed a migration that changed row
// types, the leader sent `RECONNECT <database>` to a PgBouncer admin console
// (Settings::pooler_admin_urls): its server connections, and the prepared
// statements on them, are replaced. One per console; `ok` false: it failed
// (a `warning` says why; the migrations are committed either way).
struct PoolerReconnected {
  static constexpr std::string_view name = "pooler_reconnected";
  std::string pooler{}, database{};
  bool ok = false;
  std::optional<std::string> message{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("pooler", s.pooler), v("database", s.database), v("ok", s.ok), v("message", s.message);
  }
};

struct BeatRecovered {
  static constexpr std::string_view name = "beat_recovered";
  std::string replica_id{};
  std::int64_t failed_beats = 0, lease_ms = 0;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("replica_id", s.replica_id), v("failed_beats", s.failed_beats), v("lease_ms", s.lease_ms);
  }
};

// A background runner's batch committed (docs/background.md): its keys,
// the job's progress and, when the table's estimate allows, the time left.
struct BackgroundBatch {
  static constexpr std::string_view name = "background_batch";
  std::int64_t version = 0;
  std::string name_{};
  std::int64_t batch = 0, rows = 0, rows_done = 0, rows_estimated = 0, batch_size = 0, duration_ms = 0;
  std::optional<std::int64_t> eta_ms{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("batch", s.batch), v("rows", s.rows);
    v("rows_done", s.rows_done), v("rows_estimated", s.rows_estimated), v("batch_size", s.batch_size);
    v("duration_ms", s.duration_ms), v("eta_ms", s.eta_ms);
  }
};

// A runner completed one long statement of a background migration
// (background + no-transaction: CREATE INDEX CONCURRENTLY, VALIDATE
// CONSTRAINT, ...), and recorded it: the next runner starts after it.
struct BackgroundStatement {
  static constexpr std::string_view name = "background_statement";
  std::int64_t version = 0;
  std::string name_{};
  std::int64_t statement = 0, statements = 0, line = 0, duration_ms = 0;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("statement", s.statement), v("statements", s.statements);
    v("line", s.line), v("duration_ms", s.duration_ms);
  }
};

// A batch rolled back for a reason another try may pass (a lock timeout, a
// deadlock, a statement timeout: then the next batch is smaller).
struct BackgroundRetry {
  static constexpr std::string_view name = "background_retry";
  std::int64_t version = 0;
  std::string name_{}, sqlstate{}, message{};
  std::int64_t batch_size = 0;  // of the next try

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("sqlstate", s.sqlstate), v("message", s.message);
    v("batch_size", s.batch_size);
  }
};

// The database's health said wait (background/health.hpp): the job holds,
// and the runner looks again after an exponential backoff.
struct BackgroundThrottled {
  static constexpr std::string_view name = "background_throttled";
  std::int64_t version = 0;
  std::string name_{}, signal{}, value{}, limit{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("signal", s.signal), v("value", s.value), v("limit", s.limit);
  }
};

// A boot queued a background migration's job, with its ledger row: the
// runners take it from here (docs/background.md).
struct BackgroundQueued {
  static constexpr std::string_view name = "background_queued";
  std::int64_t version = 0;
  std::string name_{}, file{}, table{};
  std::int64_t batch_size = 0;
  Flag after_old_replicas_gone{};  // it starts once no replica of an older image is alive

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("file", s.file), v("table", s.table);
    v("batch_size", s.batch_size), v("after_old_replicas_gone", s.after_old_replicas_gone);
  }
};

// A background job's first batch (or first long statement) committed: a
// runner has begun it. Once per job: the first batch commits once.
struct BackgroundStarted {
  static constexpr std::string_view name = "background_started";
  std::int64_t version = 0;
  std::string name_{}, kind{}, runner{};  // kind: batches | statements
  std::int64_t rows_estimated = 0;         // statements, for long statements

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("kind", s.kind), v("runner", s.runner);
    v("rows_estimated", s.rows_estimated);
  }
};

// A background job found no key left below its upper bound: done.
struct BackgroundSucceeded {
  static constexpr std::string_view name = "background_succeeded";
  std::int64_t version = 0;
  std::string name_{};
  std::int64_t rows_done = 0, batches = 0;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("rows_done", s.rows_done), v("batches", s.batches);
  }
};

// A batch failed for a reason of the file's: the job stopped, and its
// failure is recorded in the ledger's failure log.
struct BackgroundFailed {
  static constexpr std::string_view name = "background_failed";
  std::int64_t version = 0;
  std::string name_{}, sqlstate{};
  std::optional<std::int64_t> line{};
  std::string message{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("sqlstate", s.sqlstate), v("line", s.line);
    v("message", s.message);
  }
};

// A key a batch could not get through, passed over because the runner was
// told to (BackgroundOptions::on_failed_range = skip): the job goes on past
// it; the key and the error are in the ledger's failure log. `skipped`:
// the job's keys skipped so far.
struct BackgroundSkipped {
  static constexpr std::string_view name = "background_skipped";
  std::int64_t version = 0;
  std::string name_{}, key{}, sqlstate{}, message{};
  std::int64_t skipped = 0;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("version", s.version), v("name", s.name_), v("key", s.key), v("sqlstate", s.sqlstate);
    v("message", s.message), v("skipped", s.skipped);
  }
};

// A runner's session failed (connecting, the deadline): nothing of the
// batch committed, and the next step starts over. Not a run's `error`.
struct BackgroundError {
  static constexpr std::string_view name = "background_error";
  std::string while_{}, class_{}, message{};
  std::optional<std::string> sqlstate{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("while", s.while_), v("class", s.class_), v("message", s.message), v("sqlstate", s.sqlstate);
  }
};

// A run ends ready. A real run has the optional fields up to
// `contracts_waiting`; a dry run has `pending` instead.
struct Ready {
  static constexpr std::string_view name = "ready";
  std::string role{};
  std::int64_t schema_version = 0, expected_version = 0;
  std::optional<bool> schema_ahead{};
  std::optional<std::int64_t> applied{}, wait_attempts{}, contracts_waiting{}, pending{};
  std::int64_t duration_ms = 0;
  Flag background{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("role", s.role), v("schema_version", s.schema_version), v("expected_version", s.expected_version);
    v("schema_ahead", s.schema_ahead), v("applied", s.applied), v("wait_attempts", s.wait_attempts);
    v("contracts_waiting", s.contracts_waiting), v("pending", s.pending), v("duration_ms", s.duration_ms);
    v("background", s.background);
  }
};

// A run failed (a lockstep::Error, as the boundary returns it).
struct Error {
  static constexpr std::string_view name = "error";
  std::string class_{}, message{};  // "class": the errc name
  std::optional<std::string> sqlstate{};
  std::optional<std::int64_t> version{};
  std::optional<std::string> file{};
  std::optional<std::int64_t> line{}, column{};
  std::optional<std::string> detail{}, hint{};
  Flag background{};

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v("class", s.class_), v("message", s.message), v("sqlstate", s.sqlstate), v("version", s.version);
    v("file", s.file), v("line", s.line), v("column", s.column), v("detail", s.detail), v("hint", s.hint);
    v("background", s.background);
  }
};

}  // namespace lockstep::events
