// The default ledger: two tables in a dedicated schema (names configurable,
// always quoted).
//
//   <schema>.<table>          one row per applied migration
//   <schema>.<deploys_table>  which deploy version booted against which schema version
//   <schema>.<failures_table> failed attempts, until a human resolves them
//   <schema>.<replicas_table> the running replicas and their leases (replica_registry.hpp)
//   <schema>.<table>_head     one row the every-boot query reads (ledger_head.hpp)
//   <schema>.<jobs_table>     background migrations and their cursors (background_jobs.hpp)
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/digest.hpp"
#include "lockstep/detail/base/ledger_fields.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/base/sha256.hpp"
#include "lockstep/error.hpp"
#include "lockstep/ledger/background_jobs.hpp"
#include "lockstep/ledger/ledger_head.hpp"
#include "lockstep/ledger/replica_registry.hpp"
#include "lockstep/ledger/service_catalog.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/schema_change.hpp"

namespace lockstep {

class TableLedger {
 public:
  TableLedger() : TableLedger{"lockstep", "migrations"} {}
  // Two ledgers in one schema (one per service) must not share their deploy
  // and failure records: by default those tables are named after the ledger
  // table ("svc_a_deploys", "svc_a_failures"), except for the default
  // ledger table "migrations", whose companions are "deploys" and "failures".
  TableLedger(std::string schema, std::string table, std::string deploys_table = {},
              std::string failures_table = {}, std::string replicas_table = {})
      : schema_{std::move(schema)},
        table_{std::move(table)},
        deploys_{deploys_table.empty() ? companion(table_, "deploys") : std::move(deploys_table)},
        failures_{failures_table.empty() ? companion(table_, "failures") : std::move(failures_table)},
        registry_{detail::quote_ident(schema_) + "." +
                      detail::quote_ident(replicas_table.empty() ? companion(table_, "replicas") : replicas_table),
                  qualified_table()},
        head_{detail::quote_ident(schema_), companion(table_, "head"), qualified_table(), qualified_deploys()},
        jobs_{detail::quote_ident(schema_) + "." + detail::quote_ident(companion(table_, "jobs")), identity()},
        catalog_{schema_} {}

  // A service's ledger (docs/services.md): the table named after it, its
  // companions after that ("billing_deploys", ...), in the shared schema.
  [[nodiscard]] static TableLedger for_service(const std::string& service) { return TableLedger{"lockstep", service}; }

  // The service this ledger belongs to, as the catalog names it: the ledger table's name.
  [[nodiscard]] const std::string& service() const noexcept { return table_; }

  // Where every service's ledger stands (service_catalog.hpp).
  [[nodiscard]] const ServiceCatalog& catalog() const noexcept { return catalog_; }

  // The catalog row of this service after a migration committed, for that
  // migration's transaction; empty where the catalog is missing (a DBA's
  // schema this role may not create it in).
  [[nodiscard]] std::string record_service_sql(std::int64_t version, bool contract) const {
    return catalog_present_ ? catalog_.record_sql(table_, identity(), version, contract) : std::string{};
  }

  // Which replicas run which image (the heartbeat and contract migrations).
  [[nodiscard]] ReplicaRegistry& registry() noexcept { return registry_; }

  // Background migrations: their jobs, cursors and progress (background.hpp).
  [[nodiscard]] BackgroundJobs& jobs() noexcept { return jobs_; }

  [[nodiscard]] std::string identity() const { return schema_ + "." + table_; }
  [[nodiscard]] const std::string& schema() const noexcept { return schema_; }
  [[nodiscard]] std::string qualified_table() const {
    return detail::quote_ident(schema_) + "." + detail::quote_ident(table_);
  }
  [[nodiscard]] std::string qualified_deploys() const {
    return detail::quote_ident(schema_) + "." + detail::quote_ident(deploys_);
  }
  [[nodiscard]] const LedgerHead& head() const noexcept { return head_; }
  [[nodiscard]] std::string qualified_failures() const {
    return detail::quote_ident(schema_) + "." + detail::quote_ident(failures_);
  }

  // The every-boot query: the head's one row (ledger_head.hpp), or the
  // ledger itself where there is no usable head. Outside a transaction only:
  // a failed read of the head would abort one.
  [[nodiscard]] result<LedgerState> read_state(Connection& conn, std::string_view deploy_version) {
    LOCKSTEP_TRY(head, head_.read(conn, deploy_version));
    if (head) return std::move(*head);
    return read_confirmed_state(conn, deploy_version);
  }

  // The ledger itself, one round trip: every applied (version, checksum)
  // plus the schema versions this deploy has booted against. The digest and
  // the newest version are computed here rather than on the server: on a
  // fresh backend, sha256() costs function lookups (~1.3 ms) and
  // max(version) the planner's index lookups (~1.2 ms, measured against
  // the same query without it), both more than sending a few hundred short
  // rows. NULL::bigint keeps a foreign ledger with text versions a type
  // error, reported as the wrong shape.
  [[nodiscard]] result<LedgerState> read_confirmed_state(Connection& conn, std::string_view deploy_version) {
    const std::string sql = "SELECT version, checksum FROM " + qualified_table() +
                            " UNION ALL SELECT NULL::bigint, schema_version::text FROM " + qualified_deploys() +
                            " WHERE deploy_version = $1";
    auto rows = conn.query(sql, std::string{deploy_version});
    if (!rows) {
      if (detail::no_ledger_yet(rows.error())) return LedgerState{};
      return shape_error(std::move(rows).error());
    }
    LedgerState s;
    s.exists = true;
    std::vector<std::pair<std::int64_t, std::string>> applied;
    std::vector<std::int64_t> booted;  // schema versions this deploy booted against
    applied.reserve(rows.value().size());
    for (auto& r : rows.value()) {
      if (!r[0]) {
        booted.push_back(detail::to_int64(r[1]));
        continue;
      }
      applied.emplace_back(detail::to_int64(r[0]), detail::to_text(r[1]));
    }
    std::sort(applied.begin(), applied.end());
    s.count = static_cast<std::int64_t>(applied.size());
    s.version = applied.empty() ? 0 : applied.back().first;
    s.digest = detail::ledger_digest(applied);
    s.deploy_recorded = std::find(booted.begin(), booted.end(), s.version) != booted.end();
    return s;
  }

  // The DDL that creates the ledger: what a DBA runs in advance for a
  // migration role without CREATE on the database (`lockstep ledger-sql`,
  // docs/operations.md). Re-runnable: it adds only what is missing.
  [[nodiscard]] std::string create_sql() const {
    return "CREATE SCHEMA IF NOT EXISTS " + detail::quote_ident(schema_) + ";\n" + tables_sql() + ";\n" +
           registry_.create_sql() + ";\n" + upgrade_sql() + ";\n" + positions_sql(false) + ";\n" +
           row_types_sql(false) + ";\n" + jobs_.create_sql() + ";\n" + catalog_.create_sql() + ";\n" + head_.create_sql();
  }

  // What a migration role needs on a ledger that a DBA created with
  // create_sql(), and nothing more: no CREATE on the database or schema.
  [[nodiscard]] std::string grant_sql(std::string_view role) const {
    const std::string r = detail::quote_ident(role);
    return "GRANT USAGE ON SCHEMA " + detail::quote_ident(schema_) + " TO " + r + ";\n" +
           "GRANT SELECT, INSERT ON " + qualified_table() + ", " + qualified_deploys() + " TO " + r + ";\n" +
           "GRANT SELECT, INSERT, UPDATE ON " + qualified_failures() + " TO " + r + ";\n" +
           "GRANT SELECT, INSERT, UPDATE, DELETE ON " + registry_.qualified_table() + " TO " + r + ";\n" +
           head_.grant_sql(r) + ";\n" + jobs_.grant_sql(r) + ";\n" +
           "GRANT USAGE ON ALL SEQUENCES IN SCHEMA " + detail::quote_ident(schema_) + " TO " + r;
  }

  // Creates what is missing, and only then: PostgreSQL checks the CREATE
  // privilege before IF NOT EXISTS, so a role that may only use a ledger a
  // DBA created must never send the DDL, and one that may create tables in
  // the ledger's schema (not the database) must not send CREATE SCHEMA.
  // Creation is serialised under one advisory lock that every ledger shares
  // (two services' ledgers in one schema race at CREATE SCHEMA, 23505), and
  // what is missing is read again under it; a race with a process that does
  // not take the lock (an older release) is retried.
  [[nodiscard]] result<void> ensure(Connection& conn) {
    LOCKSTEP_TRY(found, presence(conn));
    // Whether the rows this ledger writes can say which row types their
    // migration changed: where the column is, or this role adds it now.
    row_types_column_ = found.row_types || !found.core || found.owns_ledger;
    catalog_present_ = found.catalog || found.create_on_schema || !found.schema;
    if (found.complete()) return outcome::success();
    LOCKSTEP_TRY(in_transaction, inside_transaction(conn));
    for (int attempt = 1;; ++attempt) {
      auto created = create_missing(conn, in_transaction);
      if (created) return outcome::success();
      auto e = std::move(created).error();
      if (e.code == errc::connection_failed || !conn.is_open()) return e;
      if (!in_transaction && attempt < kCreateAttempts && creation_race(e.sqlstate)) continue;
      return creation_error(std::move(e), found);
    }
  }

  [[nodiscard]] result<std::vector<AppliedMigration>> read_applied(Connection& conn) {
    auto rows = query_applied(conn, "contract, allowed::text");
    // A ledger from an older release, not yet upgraded by a leader: without
    // accepted findings, or from before contract migrations too.
    if (!rows && rows.error().sqlstate == "42703") rows = query_applied(conn, "contract, '{}'");
    if (!rows && rows.error().sqlstate == "42703") rows = query_applied(conn, "false, '{}'");
    if (!rows) {
      if (detail::no_ledger_yet(rows.error())) return std::vector<AppliedMigration>{};
      return shape_error(std::move(rows).error());
    }
    std::vector<AppliedMigration> out;
    out.reserve(rows.value().size());
    for (const auto& r : rows.value()) {
      out.push_back(AppliedMigration{detail::to_int64(r[0]), detail::to_text(r[1]), detail::to_text(r[2]),
                                     detail::to_text(r[3]), detail::to_int64(r[4]), detail::to_text(r[5]),
                                     detail::to_text(r[6]), detail::to_text(r[7]) == "t", detail::to_text(r[8])});
    }
    return out;
  }

  // The schema changes applied after `version`, oldest first: each
  // migration whose row says which row types it changed (schema_change.hpp).
  // A ledger without the column (a DBA's, not upgraded yet) has none.
  [[nodiscard]] result<std::vector<SchemaChange>> read_schema_changes(Connection& conn, std::int64_t version) {
    auto rows = conn.query("SELECT l.version, l.name, l.contract, r.rel FROM " + qualified_table() +
                               " l, jsonb_array_elements_text(CASE WHEN jsonb_typeof(l.row_types_changed) = 'array' "
                               "THEN l.row_types_changed ELSE '[]' END) r(rel) WHERE l.version > $1 ORDER BY "
                               "l.version, r.rel",
                           std::to_string(version));
    if (!rows) {
      if (rows.error().sqlstate == "42703" || detail::no_ledger_yet(rows.error())) return std::vector<SchemaChange>{};
      return shape_error(std::move(rows).error());
    }
    std::vector<SchemaChange> out;
    for (const auto& r : rows.value()) {
      const auto v = detail::to_int64(r[0]);
      if (out.empty() || out.back().version != v) {
        out.push_back(SchemaChange{identity(), v, detail::to_text(r[1]), detail::to_text(r[2]) == "t", {}});
      }
      out.back().relations.push_back(detail::to_text(r[3]));
    }
    return out;
  }

  // Runs inside the caller's migration transaction. The primary key makes a
  // double apply impossible even if two leaders ever raced.
  [[nodiscard]] result<void> record_applied(Connection& conn, const AppliedMigration& m) {
    auto r = conn.execute(record_applied_sql(m));
    if (!r) {
      auto e = std::move(r).error();
      if (e.sqlstate == "23505") {
        e.code = errc::ledger_invalid;
        e.message = "migration " + std::to_string(m.version) +
                    " is already recorded in the ledger by another process; two leaders ran at once, which "
                    "means the advisory lock was not exclusive (is the migration URL going through a "
                    "transaction-pooling proxy?). Its transaction was rolled back.";
      } else {
        e = shape_error(std::move(e));
      }
      e.version = m.version;
      return e;
    }
    return outcome::success();
  }

  // The row as SQL text: what record_applied() sends, and what ends the
  // migration's own round trip (see BatchingLedger). A negative duration_ms is taken from the server's clock:
  // the time since that round trip's query began, which is the file's.
  [[nodiscard]] std::string record_applied_sql(const AppliedMigration& m) const {
    using detail::quote_literal;
    const std::string duration =
        m.duration_ms >= 0 ? std::to_string(m.duration_ms)
                           : std::string{"(extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::bigint"};
    // The relations whose row types the migration changed, as its run
    // measured them just before this row (detail/run/row_types.hpp); NULL
    // where nothing was measured (a row written by hand, `lockstep resolve`).
    const std::string row_types = row_types_column_ ? ", row_types_changed" : "";
    const std::string changed =
        row_types_column_ ? ", nullif(current_setting('lockstep.row_types_changed', true), '')::jsonb" : "";
    return "INSERT INTO " + qualified_table() +
           " (version, name, checksum, duration_ms, deploy_version, applied_by, contract, allowed" + row_types +
           ") VALUES (" +
           std::to_string(m.version) + ", " + quote_literal(m.name) + ", " + quote_literal(m.checksum) + ", " +
           duration + ", " + quote_literal(m.deploy_version) + ", " + quote_literal(m.applied_by) + ", " +
           (m.contract ? "true" : "false") + ", " + quote_literal(m.allowed.empty() ? "{}" : m.allowed) + "::jsonb" +
           changed + ")";
  }

  [[nodiscard]] std::string record_deploy_sql(const DeployRecord& d) const {
    return "INSERT INTO " + qualified_deploys() + " (deploy_version, schema_version, booted_by) VALUES (" +
           detail::quote_literal(d.deploy_version) + ", " + std::to_string(d.schema_version) + ", " +
           detail::quote_literal(d.booted_by) + ") ON CONFLICT DO NOTHING";
  }

  [[nodiscard]] result<void> record_deploy(Connection& conn, const DeployRecord& d) {
    auto r = conn.execute(record_deploy_sql(d));
    if (!r) return shape_error(std::move(r).error());
    return outcome::success();
  }

  [[nodiscard]] result<std::vector<DeployRecord>> read_deploys(Connection& conn) {
    auto rows = conn.query(
        "SELECT deploy_version, schema_version, to_char(first_booted_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), booted_by FROM " +
        qualified_deploys() + " ORDER BY first_booted_at DESC, deploy_version LIMIT 20");
    if (!rows) {
      if (detail::no_ledger_yet(rows.error())) return std::vector<DeployRecord>{};
      return shape_error(std::move(rows).error());
    }
    std::vector<DeployRecord> out;
    for (const auto& r : rows.value()) {
      out.push_back(DeployRecord{detail::to_text(r[0]), detail::to_int64(r[1]), detail::to_text(r[2]),
                                 detail::to_text(r[3])});
    }
    return out;
  }

  // Its own statement (autocommit): the migration's transaction is already
  // rolled back, and the record must survive it.
  [[nodiscard]] result<void> record_failure(Connection& conn, const FailureRecord& f) {
    auto number = [](const std::optional<int>& n) { return n ? std::to_string(*n) : std::string{}; };
    const std::string columns = " (version, name, sqlstate, message, position, deploy_version, host, partial,"
                                " statements_completed, statements_total, checksum, cause";
    const std::string values = " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12";
    const std::string partial{f.partial ? "t" : "f"};
    auto r = conn.query("INSERT INTO " + qualified_failures() + columns + ", position_line, position_column)" +
                            values + ", NULLIF($13, '')::integer, NULLIF($14, '')::integer)",
                        std::to_string(f.version), f.name, f.sqlstate, f.message, f.position, f.deploy_version,
                        f.host, partial, std::to_string(f.statements_completed), std::to_string(f.statements_total),
                        f.checksum, f.cause, number(f.line), number(f.column));
    // A ledger without the position columns (one a DBA owns: positions_sql).
    if (!r && r.error().sqlstate == "42703") {
      r = conn.query("INSERT INTO " + qualified_failures() + columns + ")" + values + ")",
                     std::to_string(f.version), f.name, f.sqlstate, f.message, f.position, f.deploy_version, f.host,
                     partial, std::to_string(f.statements_completed), std::to_string(f.statements_total),
                     f.checksum, f.cause);
    }
    if (!r) return shape_error(std::move(r).error());
    return outcome::success();
  }

  [[nodiscard]] result<std::vector<FailureRecord>> read_failures(Connection& conn) {
    // The position columns are optional (positions_sql): read through the
    // row's JSON, so that a ledger without them is no error. An error here
    // would abort the transaction a transaction-scoped lock's leader reads
    // the failures in, and no fallback could run after it.
    const std::string positions = ", (to_jsonb(f) ->> 'position_line')::integer,"
                                  " (to_jsonb(f) ->> 'position_column')::integer";
    auto rows = query_failures(conn, "checksum, cause" + positions);
    // A ledger from before checksum and cause, not yet upgraded by a leader.
    if (!rows && rows.error().sqlstate == "42703") rows = query_failures(conn, "''::text, 'error'::text" + positions);
    if (!rows) {
      if (detail::no_ledger_yet(rows.error())) return std::vector<FailureRecord>{};
      return shape_error(std::move(rows).error());
    }
    return failures_from(rows.value());
  }

  [[nodiscard]] result<std::int64_t> resolve_failures(Connection& conn, std::int64_t version) {
    auto rows = conn.query("WITH done AS (UPDATE " + qualified_failures() +
                               " SET resolved_at = clock_timestamp() WHERE version = $1 AND resolved_at IS NULL"
                               " RETURNING 1) SELECT count(*) FROM done",
                           std::to_string(version));
    if (!rows) {
      if (detail::no_ledger_yet(rows.error())) return std::int64_t{0};
      return shape_error(std::move(rows).error());
    }
    return detail::to_int64(rows.value().at(0)[0]);
  }

 private:
  [[nodiscard]] result<Rows> query_applied(Connection& conn, const char* newer_columns) {
    return conn.query(
        "SELECT version, name, checksum, to_char(applied_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), duration_ms, deploy_version, applied_by, " +
        std::string{newer_columns} + " FROM " + qualified_table() + " ORDER BY version");
  }

  [[nodiscard]] result<Rows> query_failures(Connection& conn, const std::string& newer_columns) {
    return conn.query(
        "SELECT id, version, name, sqlstate, message, position, deploy_version, host, "
        "to_char(failed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), partial, "
        "statements_completed, statements_total, " + newer_columns + " FROM " +
        qualified_failures() + " f WHERE resolved_at IS NULL ORDER BY id");
  }

  [[nodiscard]] static std::vector<FailureRecord> failures_from(const Rows& rows) {
    std::vector<FailureRecord> out;
    for (const auto& r : rows) {
      FailureRecord f;
      f.id = detail::to_int64(r[0]);
      f.version = detail::to_int64(r[1]);
      f.name = detail::to_text(r[2]);
      f.sqlstate = detail::to_text(r[3]);
      f.message = detail::to_text(r[4]);
      f.position = detail::to_text(r[5]);
      f.deploy_version = detail::to_text(r[6]);
      f.host = detail::to_text(r[7]);
      f.failed_at = detail::to_text(r[8]);
      f.partial = detail::to_text(r[9]) == "t";
      f.statements_completed = detail::to_int64(r[10]);
      f.statements_total = detail::to_int64(r[11]);
      f.checksum = detail::to_text(r[12]);
      f.cause = detail::to_text(r[13]);
      if (r[14]) {
        f.line = static_cast<int>(detail::to_int64(r[14]));
        if (r[15]) f.column = static_cast<int>(detail::to_int64(r[15]));
      } else {
        detail::read_position(f.position, f.line, f.column);  // a row without the numbers
      }
      out.push_back(std::move(f));
    }
    return out;
  }

  // Undefined column / wrong type: someone else's table, or an older layout.
  [[nodiscard]] Error shape_error(Error e) const {
    if (e.sqlstate == "42703" || e.sqlstate == "42804" || e.sqlstate == "42883") {
      e.code = errc::ledger_invalid;
      e.message = "the ledger table " + identity() + " does not have lockstep's layout (" + e.server_message +
                  "); point lockstep at its own ledger (a different schema or table name) or fix the table";
    }
    return e;
  }

  // What ensure() found. `schema` is read from pg_namespace itself (a fresh
  // snapshot), which also makes the server take in other sessions' catalog
  // changes before to_regclass() looks: under the creation lock, what
  // another process just created is seen as there.
  struct Presence {
    bool schema = false;
    bool core = false;      // ledger, deploys and failures tables
    bool columns = false;   // the columns later releases added
    bool positions = false;  // the failure log's position columns (optional: positions_sql)
    bool row_types = false;  // the ledger's row_types_changed column (optional: row_types_sql)
    bool owns_failures = true;  // this role may add them (it owns the failure log, or is a superuser)
    bool owns_ledger = true;    // this role may add the head (its triggers need the ledger's tables)
    bool registry = false;
    bool head = false;
    bool jobs = false;  // the background jobs table (optional: created where this role may create tables)
    bool catalog = false;  // the service catalog (optional, like jobs)
    bool create_on_database = false;
    bool create_on_schema = false;  // false too when there is no schema
    std::string user;
    std::string database;

    [[nodiscard]] bool complete() const noexcept {
      // Optional parts this role may not add do not count: a DBA's ledger
      // without them is complete, or every leader boot would take the
      // creation lock that all ledgers share, and a transaction-scoped
      // leader would hold it through its first migration.
      return schema && core && columns && (positions || !owns_failures) && (row_types || !owns_ledger) && registry &&
             (head || !owns_ledger) &&
             (jobs || !create_on_schema) && (catalog || !create_on_schema);
    }
    [[nodiscard]] std::string missing(const TableLedger& l) const {
      std::string out;
      auto add = [&](const std::string& what) { out += (out.empty() ? "" : ", ") + what; };
      if (!schema) add("the schema " + detail::quote_ident(l.schema_));
      if (!core) add("its tables " + l.qualified_table() + ", " + l.qualified_deploys() + ", " + l.qualified_failures());
      if (core && !columns) add("the columns a newer release added to " + l.qualified_table() + " and " + l.qualified_failures());
      if (!registry) add("the replica registry " + l.registry_.qualified_table());
      if (!head && (!core || owns_ledger)) add("the head " + l.head_.qualified_table());
      if (core && !positions && owns_failures) add("the position columns of " + l.qualified_failures());
      if (core && !row_types && owns_ledger) add("the row_types_changed column of " + l.qualified_table());
      if (!jobs && (create_on_schema || !schema)) add("the background jobs table " + l.jobs_.qualified_table());
      if (!catalog && (create_on_schema || !schema)) add("the service catalog " + l.catalog_.qualified_table());
      return out;
    }
  };

  static constexpr int kCreateAttempts = 4;

  // Every ledger in every database takes this one lock to create its
  // objects (a transaction lock: it ends with the creation, whatever happens).
  [[nodiscard]] static std::int64_t creation_lock_key() noexcept {
    const auto d = detail::Sha256{}.update("lockstep ledger create").finish();
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | d[i];
    return static_cast<std::int64_t>(v);
  }

  // What concurrent CREATE ... IF NOT EXISTS, CREATE OR REPLACE FUNCTION and
  // CREATE TRIGGER raise when another session creates the same object at
  // the same moment: another attempt sees it there.
  [[nodiscard]] static bool creation_race(const std::string& sqlstate) noexcept {
    return sqlstate == "23505" || sqlstate == "42P06" || sqlstate == "42P07" || sqlstate == "42710" ||
           sqlstate == "40P01" || sqlstate == "XX000";
  }

  [[nodiscard]] result<Presence> presence(Connection& conn) const {
    auto rows = conn.query(
        "SELECT n.oid IS NOT NULL, to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL"
        " AND to_regclass($3) IS NOT NULL,"
        " (SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($3)"
        " AND attname IN ('checksum', 'cause') AND NOT attisdropped) = 2"
        " AND (SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1)"
        " AND attname IN ('contract', 'allowed') AND NOT attisdropped) = 2,"
        " to_regclass($4) IS NOT NULL, to_regclass($5) IS NOT NULL,"
        " has_database_privilege(current_database(), 'CREATE'),"
        " COALESCE(has_schema_privilege(n.oid, 'CREATE'), false), current_user, current_database(),"
        " (SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($3)"
        " AND attname IN ('position_line', 'position_column') AND NOT attisdropped) = 2,"
        " COALESCE((SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = to_regclass($3)), true),"
        " COALESCE((SELECT bool_and(pg_has_role(c.relowner, 'USAGE')) FROM pg_class c"
        " WHERE c.oid IN (to_regclass($1), to_regclass($2))), true),"
        " to_regclass($7) IS NOT NULL,"
        " EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'row_types_changed'"
        " AND NOT attisdropped),"
        " to_regclass($8) IS NOT NULL"
        " FROM (SELECT NULL) one LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = $6",
        qualified_table(), qualified_deploys(), qualified_failures(), registry_.qualified_table(),
        head_.qualified_table(), schema_, jobs_.qualified_table(), catalog_.qualified_table());
    if (!rows) return std::move(rows).error();
    Presence p;
    if (rows.value().empty()) return p;
    const auto& r = rows.value()[0];
    auto yes = [&](std::size_t i) { return r[i].value_or("f") == "t"; };
    p.schema = yes(0);
    p.core = yes(1);
    p.columns = yes(2);
    p.registry = yes(3);
    p.head = yes(4);
    p.create_on_database = yes(5);
    p.create_on_schema = yes(6);
    p.user = detail::to_text(r[7]);
    p.database = detail::to_text(r[8]);
    p.positions = yes(9);
    p.owns_failures = yes(10);
    p.owns_ledger = yes(11);
    p.jobs = yes(12);
    p.row_types = yes(13);
    p.catalog = yes(14);
    return p;
  }

  // In the caller's transaction (a transaction-scoped lock's), or not: in
  // an implicit transaction the statement and the transaction start together.
  [[nodiscard]] static result<bool> inside_transaction(Connection& conn) {
    LOCKSTEP_TRY(rows, conn.query("SELECT statement_timestamp() <> transaction_timestamp()"));
    return !rows.empty() && rows[0][0].value_or("f") == "t";
  }

  // One attempt: the creation lock, what is missing read again under it,
  // and only that created. Outside a transaction it opens and ends its own.
  [[nodiscard]] result<void> create_missing(Connection& conn, bool in_transaction) {
    const std::string lock = "SET LOCAL lock_timeout = 10000; SELECT pg_advisory_xact_lock(" +
                             std::to_string(creation_lock_key()) + ")";
    auto attempt = [&]() -> result<void> {
      LOCKSTEP_TRYV(conn.execute(in_transaction ? lock : "BEGIN; " + lock));
      LOCKSTEP_TRY(found, presence(conn));
      if (!found.complete()) LOCKSTEP_TRYV(conn.execute(missing_sql(found)));
      if (!in_transaction) LOCKSTEP_TRYV(conn.execute("COMMIT"));
      return outcome::success();
    };
    auto done = attempt();
    if (!done && !in_transaction && conn.is_open()) (void)conn.execute("ROLLBACK");
    return done;
  }

  // The DDL for exactly what `found` lacks.
  [[nodiscard]] std::string missing_sql(const Presence& found) const {
    std::string sql;
    if (!found.schema) sql += "CREATE SCHEMA IF NOT EXISTS " + detail::quote_ident(schema_) + ";\n";
    if (!found.core) sql += tables_sql() + ";\n";
    if (!found.core || !found.columns) sql += upgrade_sql() + ";\n";
    if (found.core && !found.positions && found.owns_failures) sql += positions_sql(true) + ";\n";
    if (!found.core || (!found.row_types && found.owns_ledger)) sql += row_types_sql(true) + ";\n";
    if (!found.registry) sql += registry_.create_sql() + ";\n";
    // Optional like the head: a DBA's schema without CREATE for this role
    // keeps working until a background migration needs the table.
    if (!found.jobs && (found.create_on_schema || !found.schema)) sql += jobs_.create_sql() + ";\n";
    if (!found.catalog && (found.create_on_schema || !found.schema)) sql += catalog_.create_sql() + ";\n";
    // New tables are this role's (it may add the triggers); an existing
    // ledger may be a DBA's, or from before the head: the head is added
    // where this role may (LedgerHead::upgrade_sql), else left out.
    if (!found.core) sql += head_.create_sql() + ";\n";
    else if (!found.head && found.owns_ledger) sql += head_.upgrade_sql() + ";\n";
    return sql;
  }

  // What really stopped the creation: a missing privilege (42501) names the
  // grant; anything else says what the server said, not "needs CREATE".
  [[nodiscard]] Error creation_error(Error e, const Presence& found) const {
    if (e.sqlstate == "42703" || e.sqlstate == "42804" || e.sqlstate == "42883") return shape_error(std::move(e));
    e.code = errc::ledger_invalid;
    const std::string role = detail::quote_ident(found.user);
    const std::string dba = "; or a DBA creates the ledger in advance with the SQL that `lockstep ledger-sql --role " +
                            found.user + "` prints (it adds only what is missing) and nothing more is needed "
                            "(docs/operations.md)";
    const std::string missing = found.missing(*this);
    if (e.sqlstate == "42501") {
      if (!found.schema && !found.create_on_database) {
        e.message = "cannot create the ledger " + identity() + ": it lacks " + missing + ", and the role " +
                    found.user + " needs CREATE on the database " + found.database + " to create the schema (GRANT "
                    "CREATE ON DATABASE " + detail::quote_ident(found.database) + " TO " + role + ")" + dba;
      } else if (found.schema && !found.create_on_schema) {
        e.message = "cannot create the ledger " + identity() + ": it lacks " + missing + ", and the role " +
                    found.user + " needs CREATE on the schema " + schema_ + " to create it (GRANT CREATE ON SCHEMA " +
                    detail::quote_ident(schema_) + " TO " + role + ")" + dba;
      } else {
        e.message = "cannot create the ledger " + identity() + ": it lacks " + missing + ", and the role " +
                    found.user + " may not add it (" + e.server_message +
                    "; the ledger's tables belong to another role)" + dba;
      }
    } else if (e.sqlstate == "55P03") {
      e.message = "cannot create the ledger " + identity() + ": another session held lockstep's ledger-creation "
                  "lock (advisory lock " + std::to_string(creation_lock_key()) + ") for more than 10 s; look in "
                  "pg_locks and pg_stat_activity for it";
    } else {
      e.message = "cannot create the ledger " + identity() + " (it lacks " + missing + "): " + e.server_message +
                  (e.sqlstate.empty() ? std::string{} : " [" + e.sqlstate + "]");
    }
    return e;
  }

  [[nodiscard]] std::string tables_sql() const {
    return "CREATE TABLE IF NOT EXISTS " + qualified_table() + " (\n"
           "  version bigint PRIMARY KEY CHECK (version > 0),\n"
           "  name text NOT NULL,\n"
           "  checksum text NOT NULL,\n"
           "  applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),\n"
           "  duration_ms bigint NOT NULL,\n"
           "  deploy_version text NOT NULL,\n"
           "  applied_by text NOT NULL);\n"
           "CREATE TABLE IF NOT EXISTS " + qualified_deploys() + " (\n"
           "  deploy_version text NOT NULL,\n"
           "  schema_version bigint NOT NULL,\n"
           "  first_booted_at timestamptz NOT NULL DEFAULT clock_timestamp(),\n"
           "  booted_by text NOT NULL,\n"
           "  PRIMARY KEY (deploy_version, schema_version));\n"
           "CREATE TABLE IF NOT EXISTS " + qualified_failures() + " (\n"
           "  id bigserial PRIMARY KEY,\n"
           "  version bigint NOT NULL,\n"
           "  name text NOT NULL,\n"
           "  sqlstate text NOT NULL,\n"
           "  message text NOT NULL,\n"
           "  position text NOT NULL,\n"
           "  deploy_version text NOT NULL,\n"
           "  host text NOT NULL,\n"
           "  failed_at timestamptz NOT NULL DEFAULT clock_timestamp(),\n"
           "  partial boolean NOT NULL,\n"
           "  statements_completed integer NOT NULL,\n"
           "  statements_total integer NOT NULL,\n"
           "  resolved_at timestamptz,\n"
           "  checksum text NOT NULL DEFAULT '',\n"
           "  cause text NOT NULL DEFAULT 'error',\n"
           "  position_line integer,\n"
           "  position_column integer)";
  }

  // The failure log's position as numbers (position_line, position_column),
  // added after checksum and cause. Optional, unlike those: a ledger a DBA
  // owns keeps working without them (a failure's position is then read as
  // text only), so upgrading lockstep never needs the DBA. `lenient`: where
  // this role may (a migration role's ensure()), else exactly (ledger-sql).
  [[nodiscard]] std::string positions_sql(bool lenient) const {
    const std::string alter = "ALTER TABLE " + qualified_failures() +
                              " ADD COLUMN IF NOT EXISTS position_line integer,"
                              " ADD COLUMN IF NOT EXISTS position_column integer";
    return lenient ? detail::unless_insufficient_privilege(alter, "lockstep_positions") : alter;
  }

  // Which relations' row types each migration changed (schema_change.hpp),
  // a JSON array; NULL where nothing was measured. Optional like the
  // positions: a DBA's ledger without it keeps working, and its replicas
  // learn of no schema change until the DBA adds it (ledger-sql).
  [[nodiscard]] std::string row_types_sql(bool lenient) const {
    const std::string alter = "ALTER TABLE " + qualified_table() + " ADD COLUMN IF NOT EXISTS row_types_changed jsonb";
    return lenient ? detail::unless_insufficient_privilege(alter, "lockstep_row_types") : alter;
  }

  // Columns added after the first release: ledgers created by it get them.
  [[nodiscard]] std::string upgrade_sql() const {
    return "ALTER TABLE " + qualified_failures() + " ADD COLUMN IF NOT EXISTS checksum text NOT NULL DEFAULT '', "
           "ADD COLUMN IF NOT EXISTS cause text NOT NULL DEFAULT 'error';\n"
           "ALTER TABLE " + qualified_table() + " ADD COLUMN IF NOT EXISTS contract boolean NOT NULL DEFAULT false, "
           "ADD COLUMN IF NOT EXISTS allowed jsonb NOT NULL DEFAULT '{}'";
  }

  [[nodiscard]] static std::string companion(const std::string& table, const char* what) {
    return table == "migrations" ? std::string{what} : table + "_" + what;
  }

  std::string schema_ = "lockstep";
  std::string table_ = "migrations";
  std::string deploys_ = "deploys";
  std::string failures_ = "failures";
  ReplicaRegistry registry_;
  LedgerHead head_;
  BackgroundJobs jobs_;
  ServiceCatalog catalog_;
  bool row_types_column_ = false;  // set by ensure(), which every leader calls before it writes a row
  bool catalog_present_ = false;   // likewise
};

}  // namespace lockstep
