// A background migration at boot: the leader does not run its batches, it
// queues its job (ledger/background_jobs.hpp) in the migration's own
// transaction, under the migration lock, with the migration's ledger row.
// So the job exists exactly when the migration is recorded, and the boot
// never waits for the work (docs/background.md).
//
// What the file's `batch-over` names is checked here, against the catalog,
// in that transaction: the table exists, and the key is its primary key or
// a unique index over exactly those columns, all NOT NULL, so that walking
// it in key order visits each row once.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/base/ledger_fields.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/prepare.hpp"
#include "lockstep/error.hpp"
#include "lockstep/ledger/background_jobs.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/sql/index_builds.hpp"

namespace lockstep::detail {

// An error in the file's batch-over directive, found at queue time.
[[nodiscard]] inline Error queue_error(const Migration& m, const PreparedMigration& p, std::string why) {
  auto e = make_error(errc::migration_failed,
                      "migration " + std::to_string(m.version) + " (" + m.origin + ") cannot be queued: " + why +
                          "; nothing of it ran or was recorded. Fix the file's lockstep:batch-over (it never ran, "
                          "so editing it is safe) and deploy again");
  e.version = m.version;
  e.migration_name = m.name;
  e.file = m.origin;
  e.line = p.directives.background_line > 0 ? p.directives.background_line : 1;
  e.column = 1;
  e.server_message = why;
  return e;
}

// The job's row for `m`, its key checked against the catalog. Runs in the
// migration's open transaction; an error leaves that transaction for the
// caller to roll back.
[[nodiscard]] inline result<BackgroundJob> queued_job(Connection& conn, const Migration& m,
                                                      const PreparedMigration& p) {
  if (p.directives.long_statements()) {
    // Long statements: no key to walk. The job counts statements where a
    // batch job counts rows (BackgroundJob::long_statements()); its table is
    // the first index build's, for the health signal on it, if any.
    BackgroundJob j;
    j.version = m.version;
    j.name = m.name;
    j.checksum = m.checksum;
    j.runs_statements = true;
    j.batch_size = static_cast<std::int64_t>(p.statements.size());
    j.rows_estimated = j.batch_size;
    const auto builds = sql::concurrent_index_builds(p.statements, m.sql);
    if (!builds.empty()) {
      auto rows = conn.query("SELECT COALESCE((SELECT format('%I.%I', s.nspname, c.relname) FROM pg_class c "
                             "JOIN pg_namespace s ON s.oid = c.relnamespace WHERE c.oid = to_regclass($1)), '')",
                             builds.front().table);
      if (!rows) return std::move(rows).error();
      if (!rows.value().empty()) j.relation = to_text(rows.value()[0][0]);
    }
    return j;
  }
  const auto& over = *p.directives.batch_over;
  std::string names = "ARRAY[";
  for (std::size_t i = 0; i < over.columns.size(); ++i) names += (i ? ", " : "") + quote_literal(over.columns[i]);
  names += "]::text[]";
  const std::string rel = "to_regclass(" + quote_literal(over.relation) + ")";
  auto rows = conn.query(
      "WITH k AS (SELECT k.n, k.i, a.attnum, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull"
      " FROM unnest(" + names + ") WITH ORDINALITY k(n, i) LEFT JOIN pg_attribute a ON a.attrelid = " + rel +
      " AND a.attname = k.n AND a.attnum > 0 AND NOT a.attisdropped)"
      " SELECT " + rel + " IS NOT NULL,"
      " (SELECT format('%I.%I', s.nspname, c.relname) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace"
      " WHERE c.oid = " + rel + "), k.n, k.type, k.attnotnull,"
      " EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = " + rel + " AND x.indisunique AND x.indisvalid"
      " AND x.indpred IS NULL AND x.indexprs IS NULL"
      " AND (SELECT array_agg(c ORDER BY c) FROM unnest(x.indkey::int2[]) c) ="
      " (SELECT array_agg(attnum ORDER BY attnum) FROM k))"
      " FROM k ORDER BY k.i");
  if (!rows) return std::move(rows).error();
  const auto& r = rows.value();
  if (r.empty() || r[0][0].value_or("f") != "t") {
    return queue_error(m, p, "its lockstep:batch-over names the table " + over.relation +
                                 ", which does not exist (a migration before it must create it)");
  }
  BackgroundJob j;
  j.version = m.version;
  j.name = m.name;
  j.checksum = m.checksum;
  j.relation = to_text(r[0][1]);
  j.batch_size = p.directives.batch_size.value_or(1000);
  for (const auto& row : r) {
    const std::string column = to_text(row[2]);
    if (!row[3]) {
      return queue_error(m, p, "its lockstep:batch-over names the column " + column + ", which " + j.relation +
                                   " does not have");
    }
    if (row[4].value_or("f") != "t") {
      return queue_error(m, p, "its batch key column " + j.relation + "." + column + " may be NULL, and a NULL "
                                   "key is never in a batch: walk a primary key or a unique NOT NULL key");
    }
    j.key_columns.push_back(column);
    j.key_types.push_back(to_text(row[3]));
  }
  if (r[0][5].value_or("f") != "t") {
    std::string key;
    for (const auto& c : j.key_columns) key += (key.empty() ? "" : ", ") + c;
    return queue_error(m, p, "its batch key (" + key + ") is not unique in " + j.relation +
                                 ": walk the primary key, or a unique index over exactly these columns, so that "
                                 "each row is in exactly one batch");
  }
  return j;
}

}  // namespace lockstep::detail
