// The background jobs: one row per background migration (docs/background.md),
// next to the ledger. A boot queues the row in the same transaction as the
// migration's ledger row; runners advance it one batch per transaction,
// each batch's work and its new cursor committed together, so a runner that
// dies, freezes or loses its connection neither skips nor repeats a range.
//
//   upper_bound  the greatest key when the job was queued: rows above it
//                are written by code that already fills them, and the job
//                ends even while the table grows
//   cursor       the last key done (NULL: none yet)
//   busy_ms      the time its batches' statements took, summed: with
//                rows_done, the rate an ETA is reckoned from (pauses and
//                throttling left out, so it is the rate of a finalize)
//
// A job of long statements (background + no-transaction) has no key
// (key_columns empty): batch_size and rows_estimated are its number of
// statements, rows_done and batches those that completed, cursor unused.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lockstep/background/batch_sql.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/detail/base/ledger_fields.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/base/pg_array.hpp"
#include "lockstep/detail/base/sha256.hpp"
#include "lockstep/error.hpp"

namespace lockstep {

class BackgroundJobs {
 public:
  BackgroundJobs() = default;
  BackgroundJobs(std::string qualified_table, std::string ledger_identity)
      : table_{std::move(qualified_table)}, ledger_identity_{std::move(ledger_identity)} {}

  [[nodiscard]] const std::string& qualified_table() const noexcept { return table_; }

  [[nodiscard]] std::string create_sql() const {
    return "CREATE TABLE IF NOT EXISTS " + table_ + " (\n"
           "  version bigint PRIMARY KEY,\n"
           "  name text NOT NULL,\n"
           "  checksum text NOT NULL,\n"
           "  relation text NOT NULL,\n"
           "  key_columns text[] NOT NULL,\n"
           "  key_types text[] NOT NULL,\n"
           "  batch_size integer NOT NULL CHECK (batch_size > 0),\n"
           "  upper_bound text[],\n"
           "  cursor text[],\n"
           "  rows_done bigint NOT NULL DEFAULT 0,\n"
           "  rows_estimated bigint NOT NULL DEFAULT 0,\n"
           "  batches bigint NOT NULL DEFAULT 0,\n"
           "  busy_ms bigint NOT NULL DEFAULT 0,\n"
           "  state text NOT NULL DEFAULT 'queued'\n"
           "    CHECK (state IN ('queued', 'running', 'paused', 'succeeded', 'failed', 'cancelled')),\n"
           "  runner text,\n"
           "  queued_by text NOT NULL,\n"
           "  queued_at timestamptz NOT NULL DEFAULT clock_timestamp(),\n"
           "  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),\n"
           "  finished_at timestamptz,\n"
           "  last_error text)";
  }

  [[nodiscard]] std::string grant_sql(const std::string& quoted_role) const {
    return "GRANT SELECT, INSERT, UPDATE ON " + table_ + " TO " + quoted_role;
  }

  // The advisory lock a runner takes, per transaction, for each batch of
  // job `version`: one runner at a time, and through a transaction pooler.
  [[nodiscard]] std::int64_t lock_key(std::int64_t version) const {
    const auto d = detail::Sha256{}.update("lockstep background " + ledger_identity_ + " " + std::to_string(version)).finish();
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | d[i];
    return static_cast<std::int64_t>(v);
  }

  // The row that queues a job, sent in the migration's own transaction (so
  // the job exists exactly when the migration is recorded). The upper bound
  // and the estimate are read by the server in that transaction.
  [[nodiscard]] std::string queue_sql(const BackgroundJob& j, const std::string& queued_by) const {
    using detail::quote_literal;
    if (j.long_statements()) {
      // Long statements: no key; batch_size and rows_estimated count the
      // statements, and the cursor (rows_done) those that completed.
      return "INSERT INTO " + table_ +
             " (version, name, checksum, relation, key_columns, key_types, batch_size, rows_estimated, queued_by)"
             " VALUES (" + std::to_string(j.version) + ", " + quote_literal(j.name) + ", " + quote_literal(j.checksum) +
             ", " + quote_literal(j.relation) + ", ARRAY[]::text[], ARRAY[]::text[], " + std::to_string(j.batch_size) +
             ", " + std::to_string(j.rows_estimated) + ", " + quote_literal(queued_by) + ")";
    }
    return std::string{background::key_text_settings_sql} + "; INSERT INTO " + table_ +
           " (version, name, checksum, relation, key_columns, key_types, batch_size, upper_bound, rows_estimated,"
           " queued_by) VALUES (" + std::to_string(j.version) + ", " + quote_literal(j.name) + ", " +
           quote_literal(j.checksum) + ", " + quote_literal(j.relation) + ", " + text_array(j.key_columns) + ", " +
           text_array(j.key_types) + ", " + std::to_string(j.batch_size) + ", (" +
           background::greatest_key_sql(j.relation, j.key_columns) + "), (SELECT GREATEST(reltuples, 0)::bigint FROM "
           "pg_class WHERE oid = " + quote_literal(j.relation) + "::regclass), " + quote_literal(queued_by) + ")";
  }

  // Every job, oldest version first (status, and what a runner may run).
  [[nodiscard]] result<std::vector<BackgroundJob>> list(Connection& conn) const {
    auto rows = conn.query(select_sql("") + " ORDER BY version");
    if (!rows) {
      if (detail::no_ledger_yet(rows.error())) return std::vector<BackgroundJob>{};
      return std::move(rows).error();
    }
    std::vector<BackgroundJob> out;
    for (const auto& r : rows.value()) out.push_back(from_row(r));
    return out;
  }

  // Inside a batch's transaction: the job's transaction-level try-lock, then
  // its row as it is now (another runner may have moved it since it was
  // listed). nullopt: another runner holds the lock (or the row is gone).
  [[nodiscard]] result<std::optional<BackgroundJob>> lock_and_read(Connection& conn, std::int64_t version) const {
    LOCKSTEP_TRY(locked, conn.query("SELECT pg_try_advisory_xact_lock(" + std::to_string(lock_key(version)) + ")"));
    if (locked.empty() || locked[0][0].value_or("f") != "t") return std::optional<BackgroundJob>{};
    LOCKSTEP_TRY(rows, conn.query(select_sql(" WHERE version = " + std::to_string(version)) + " FOR UPDATE"));
    if (rows.empty()) return std::optional<BackgroundJob>{};
    return std::optional<BackgroundJob>{from_row(rows[0])};
  }

  // Job `version` as it is now, without a lock: what a boot that requires
  // it reads (nullopt: no such job).
  [[nodiscard]] result<std::optional<BackgroundJob>> read(Connection& conn, std::int64_t version) const {
    auto rows = conn.query(select_sql(" WHERE version = " + std::to_string(version)));
    if (!rows) {
      if (detail::no_ledger_yet(rows.error())) return std::optional<BackgroundJob>{};
      return std::move(rows).error();
    }
    if (rows.value().empty()) return std::optional<BackgroundJob>{};
    return std::optional<BackgroundJob>{from_row(rows.value()[0])};
  }

  // A batch done: the new cursor and counts, in the batch's transaction, in
  // the same simple query as the batch's statements: statement_timestamp()
  // is when that query arrived, so the difference is the batch's own time.
  [[nodiscard]] std::string advance_sql(std::int64_t version, const std::vector<std::string>& cursor,
                                        std::int64_t rows, const std::string& runner) const {
    return "UPDATE " + table_ + " SET cursor = " + text_array(cursor) + ", rows_done = rows_done + " +
           std::to_string(rows) + ", batches = batches + 1, busy_ms = busy_ms + GREATEST(1, (1000 * extract(epoch "
           "FROM clock_timestamp() - statement_timestamp()))::bigint), state = 'running', runner = " +
           detail::quote_literal(runner) + ", updated_at = clock_timestamp() WHERE version = " +
           std::to_string(version);
  }

  // Long statement `done` (1-based) completed, in `took_ms`: its own
  // statement, after it. RETURNING the state: an operator's pause or cancel
  // meanwhile stops the runner before the next one.
  [[nodiscard]] std::string statement_done_sql(std::int64_t version, std::int64_t done, std::int64_t took_ms,
                                               const std::string& runner) const {
    return "UPDATE " + table_ + " SET rows_done = " + std::to_string(done) + ", batches = " + std::to_string(done) +
           ", busy_ms = busy_ms + " + std::to_string(std::max<std::int64_t>(1, took_ms)) +
           ", state = CASE WHEN state = 'queued' THEN 'running' ELSE state END, runner = " +
           detail::quote_literal(runner) + ", updated_at = clock_timestamp() WHERE version = " +
           std::to_string(version) + " RETURNING state";
  }

  // A runner starts long statements: the job is its, while its session
  // holds the job's session lock. No row back: paused, cancelled or done.
  [[nodiscard]] std::string claim_sql(std::int64_t version, const std::string& runner) const {
    return "UPDATE " + table_ + " SET state = 'running', runner = " + detail::quote_literal(runner) +
           ", updated_at = clock_timestamp() WHERE version = " + std::to_string(version) +
           " AND state IN ('queued', 'running') RETURNING 1";
  }

  // A job's end. Its count of skipped keys (skip()) stays in last_error:
  // `background status` of a succeeded job says what it passed over.
  [[nodiscard]] std::string finish_sql(std::int64_t version, const std::string& runner) const {
    return "UPDATE " + table_ + " SET state = 'succeeded', runner = " + detail::quote_literal(runner) +
           ", updated_at = clock_timestamp(), finished_at = clock_timestamp(), last_error = CASE WHEN last_error"
           " LIKE 'skipped %' THEN last_error END WHERE version = " + std::to_string(version);
  }

  // A key passed over (BackgroundOptions::on_failed_range = skip), in the
  // transaction that holds the job's lock (lock_and_read): the cursor moves
  // past it as a batch's would, with no row done and no batch counted.
  // last_error counts the keys skipped so far ("skipped 3 key(s); the last:
  // <message>"), kept under the row's lock, so runners that take turns
  // count together. Returns that count.
  [[nodiscard]] result<std::int64_t> skip(Connection& conn, std::int64_t version, const std::vector<std::string>& key,
                                          const std::string& message, const std::string& runner) const {
    const std::string count = "substring(last_error FROM '^skipped ([0-9]+) key')::bigint";
    LOCKSTEP_TRY(rows, conn.query("UPDATE " + table_ + " SET cursor = " + text_array(key) +
                                  ", state = 'running', runner = " + detail::quote_literal(runner) +
                                  ", updated_at = clock_timestamp(), last_error = 'skipped ' || (COALESCE(" + count +
                                  ", 0) + 1) || ' key(s); the last: ' || " + detail::quote_literal(message) +
                                  " WHERE version = " + std::to_string(version) + " RETURNING " + count));
    if (rows.empty()) return make_error(errc::internal_error, "background job " + std::to_string(version) +
                                                                  " vanished while its lock was held (report this)");
    return detail::to_int64(rows[0][0]);
  }

  // A job that cannot go on: its own statement, after the batch rolled back.
  [[nodiscard]] result<void> fail(Connection& conn, std::int64_t version, const std::string& message,
                                  const std::string& runner) const {
    return conn.execute("UPDATE " + table_ + " SET state = 'failed', runner = " + detail::quote_literal(runner) +
                        ", updated_at = clock_timestamp(), last_error = " + detail::quote_literal(message) +
                        " WHERE version = " + std::to_string(version) + " AND state IN ('queued', 'running')");
  }

  // An operator's control of a job (`lockstep background pause|resume|cancel|retry`):
  // pause holds a queued or running job, resume and retry put a paused or
  // failed one back to work from its cursor, cancel ends one for good. A
  // batch in flight holds the job's row: the change waits for its COMMIT.
  // False: the job is not in a state the action applies to (or not there).
  [[nodiscard]] result<bool> control(Connection& conn, std::int64_t version, std::string_view action) const {
    std::string from;
    std::string to;
    if (action == "pause") {
      from = "'queued', 'running'";
      to = "'paused'";
    } else if (action == "resume") {
      from = "'paused'";
      to = "CASE WHEN cursor IS NULL THEN 'queued' ELSE 'running' END";
    } else if (action == "retry") {
      from = "'failed'";
      to = "CASE WHEN cursor IS NULL THEN 'queued' ELSE 'running' END";
    } else if (action == "cancel") {
      from = "'queued', 'running', 'paused', 'failed'";
      to = "'cancelled'";
    } else {
      return make_error(errc::invalid_argument, "unknown background job action '" + std::string{action} +
                                                    "' (pause, resume, retry or cancel)");
    }
    LOCKSTEP_TRY(rows, conn.query("UPDATE " + table_ + " SET state = " + to + ", updated_at = clock_timestamp()" +
                                  (action == "retry" ? std::string{", last_error = NULL"} : std::string{}) +
                                  (action == "cancel" ? std::string{", finished_at = clock_timestamp()"} : std::string{}) +
                                  " WHERE version = " + std::to_string(version) + " AND state IN (" + from +
                                  ") RETURNING 1"));
    return !rows.empty();
  }

 private:
  [[nodiscard]] static std::string text_array(const std::vector<std::string>& items) {
    std::string out = "ARRAY[";
    for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + detail::quote_literal(items[i]);
    return out + "]::text[]";
  }

  [[nodiscard]] std::string select_sql(const std::string& where) const {
    return "SELECT version, name, checksum, relation, key_columns, key_types, batch_size, upper_bound, cursor,"
           " rows_done, rows_estimated, batches, state, COALESCE(runner, ''),"
           " to_char(queued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
           " to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), COALESCE(last_error, ''),"
           " busy_ms"
           " FROM " + table_ + where;
  }

  [[nodiscard]] static std::vector<std::string> array(const Field& f) {
    if (!f) return {};
    return detail::parse_text_array(*f).value_or(std::vector<std::string>{});
  }

  [[nodiscard]] static BackgroundJob from_row(const Row& r) {
    BackgroundJob j;
    j.version = detail::to_int64(r[0]);
    j.name = detail::to_text(r[1]);
    j.checksum = detail::to_text(r[2]);
    j.relation = detail::to_text(r[3]);
    j.key_columns = array(r[4]);
    j.key_types = array(r[5]);
    j.batch_size = detail::to_int64(r[6]);
    j.upper_bound = array(r[7]);
    j.cursor = array(r[8]);
    j.rows_done = detail::to_int64(r[9]);
    j.rows_estimated = detail::to_int64(r[10]);
    j.batches = detail::to_int64(r[11]);
    j.state = detail::to_text(r[12]);
    j.runner = detail::to_text(r[13]);
    j.queued_at = detail::to_text(r[14]);
    j.updated_at = detail::to_text(r[15]);
    j.last_error = detail::to_text(r[16]);
    j.busy_ms = detail::to_int64(r[17]);
    j.runs_statements = j.key_columns.empty();
    return j;
  }

  std::string table_;
  std::string ledger_identity_;
};

}  // namespace lockstep
