// Which relations' row types a migration changed, measured exactly: the
// catalog's row types before the migration's file and after it, in its
// transaction. A row type here is what a prepared statement's result
// depends on (pg_attribute: number, name, type, typmod, dropped), hashed per
// relation. Not derived from the SQL text: a function, a DO block or a
// cascading DROP changes row types no parser sees.
//
// The snapshot before the file travels to the client and back as a literal
// in the file's own round trip: the file runs RESET ALL after itself
// (session_sql.hpp), which would take back a value kept in a setting, and a
// temporary table needs a privilege the migration role may not have. The
// comparison then runs after the file, sets `lockstep.row_types_changed`
// (read by the ledger row's INSERT: TableLedger::record_applied_sql) and
// NOTIFYs schema_change_channel, which PostgreSQL delivers at COMMIT and
// never for a transaction that rolls back.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/ledger_fields.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/schema_change.hpp"

namespace lockstep::detail {

// The setting the ledger's INSERT reads: a JSON array of relation names, or
// '' when nothing was measured (the column is then NULL).
inline constexpr const char* row_types_setting = "lockstep.row_types_changed";

// Every user relation's row type, one row per relation: (oid, name, hash),
// the hash a 64-bit one of the columns' text (hashtextextended: a tenth of
// SHA-256's time over a catalog of thousands of tables, found by review;
// a collision would need 2^32 changed relations to be likely). System
// schemas (pg_*, information_schema) and partitions (their root carries
// the change) are left out. `only`: a condition on c.oid, to measure some.
[[nodiscard]] inline std::string row_types_select(const std::string& only = {}) {
  return "SELECT c.oid::bigint AS oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name, "
         "hashtextextended(coalesce((SELECT string_agg(a.attnum || ' ' || quote_ident(a.attname) || ' ' || "
         "a.atttypid || ' ' || a.atttypmod || ' ' || a.attisdropped, ',' ORDER BY a.attnum) "
         "FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0), ''), 0)::text AS h "
         "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
         "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND NOT c.relispartition "
         "AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'" + (only.empty() ? "" : " AND " + only);
}

// The snapshot as one JSON text: [[oid, name, hash], ...].
[[nodiscard]] inline std::string row_types_snapshot_sql() {
  return "SELECT coalesce(jsonb_agg(jsonb_build_array(s.oid, s.name, s.h)), '[]')::text FROM (" + row_types_select() +
         ") s";
}

// Sets row_types_setting from `before` (a snapshot) and now; with no
// snapshot, to '' (not measured). `local`: for the transaction (the file's
// own), else for the session (a no-transaction file's, cleared by
// clear_row_types_sql once its row is written).
//
// After the file, only the relations whose columns it may have touched are
// measured again: those with a pg_attribute row written by this
// transaction or a later one (age(xmin) <= 0: this transaction's xid, its
// subtransactions' and newer ones are at or after the one age() counts
// from), plus the ones that are gone. This part runs while the file's locks
// are held, so it must not cost a scan of every relation's columns. (After
// a no-transaction file, every relation: its statements committed before.)
[[nodiscard]] inline std::string row_types_changed_sql(const std::optional<std::string>& before, bool local) {
  const std::string scope = local ? "true" : "false";
  if (!before) return "SELECT set_config('" + std::string{row_types_setting} + "', '', " + scope + ")";
  return "WITH b AS (SELECT (e->>0)::oid AS oid, e->>1 AS name, e->>2 AS h FROM jsonb_array_elements(" +
         quote_literal(*before) + "::jsonb) e), a AS (" +
         // A no-transaction file's statements committed each in its own
         // transaction, older than this one: there every relation is
         // measured again (no lock of the file's is held any more).
         row_types_select(local ? "c.oid IN (SELECT DISTINCT t.attrelid FROM pg_catalog.pg_attribute t WHERE "
                                  "t.attnum > 0 AND age(t.xmin) <= 0)"
                                : "") +
         "), changed AS (SELECT a.name FROM b JOIN a ON a.oid = b.oid WHERE a.h <> b.h UNION ALL SELECT b.name FROM b "
         "WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = b.oid)) SELECT set_config('" +
         row_types_setting + "', coalesce((SELECT jsonb_agg(name ORDER BY name) FROM changed), '[]')::text, " +
         scope + ")";
}

[[nodiscard]] inline std::string clear_row_types_sql(bool local) {
  return row_types_changed_sql(std::nullopt, local);
}

// The broadcast: a NOTIFY only when row types changed. Inside the
// migration's transaction it is delivered at COMMIT, exactly when the
// change becomes visible. Above the payload limit (8000 bytes) the list is
// left out: listeners read it from the ledger.
[[nodiscard]] inline std::string schema_change_notify_sql(const std::string& ledger, std::int64_t version,
                                                          bool contract) {
  const std::string changed = "nullif(current_setting('" + std::string{row_types_setting} + "', true), '')::jsonb";
  return "SELECT pg_notify('" + std::string{schema_change_channel} +
         "', CASE WHEN octet_length(p::text) <= 7900 THEN p::text ELSE jsonb_set(p, '{relations}', 'null')::text END) "
         "FROM (SELECT jsonb_build_object('ledger', " + quote_literal(ledger) + ", 'version', " +
         std::to_string(version) + ", 'phase', '" + (contract ? "contract" : "expand") +
         "', 'relations', r, 'count', jsonb_array_length(r)) AS p FROM (SELECT " + changed +
         " AS r) x WHERE CASE WHEN jsonb_typeof(r) = 'array' THEN jsonb_array_length(r) > 0 ELSE false END) y";
}

// The same comparison on the client, for a rehearsal, which reads the
// catalog between statements anyway: oid -> (name, hash).
using RowTypes = std::map<std::int64_t, std::pair<std::string, std::string>>;

[[nodiscard]] inline result<RowTypes> read_row_types(Connection& conn) {
  LOCKSTEP_TRY(rows, conn.query(row_types_select()));
  RowTypes out;
  for (const auto& r : rows) out.emplace(to_int64(r[0]), std::make_pair(to_text(r[1]), to_text(r[2])));
  return out;
}

[[nodiscard]] inline std::vector<std::string> row_types_changed(const RowTypes& before, const RowTypes& after) {
  std::vector<std::string> out;
  for (const auto& [oid, was] : before) {
    const auto now = after.find(oid);
    if (now == after.end()) out.push_back(was.first);
    else if (now->second.second != was.second) out.push_back(now->second.first);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The snapshot before a migration's file, or nothing if it could not be
// taken (then nothing is measured or broadcast for it, and the ledger's
// column stays NULL: `warn` says so). In a transaction (a
// transaction-scoped lock's), under a savepoint, so that a failure cannot
// abort the transaction the migration runs in.
template <class Warn>
[[nodiscard]] std::optional<std::string> row_types_before(Connection& conn, bool in_transaction, Warn&& warn) {
  if (in_transaction && !conn.execute("SAVEPOINT lockstep_row_types")) return std::nullopt;
  auto rows = conn.query(row_types_snapshot_sql());
  if (rows && !rows.value().empty() && rows.value()[0][0]) {
    if (in_transaction) (void)conn.execute("RELEASE SAVEPOINT lockstep_row_types");
    return *rows.value()[0][0];
  }
  if (in_transaction && conn.is_open()) (void)conn.execute("ROLLBACK TO SAVEPOINT lockstep_row_types");
  warn(rows ? std::string{"no result"} : rows.error().message);
  return std::nullopt;
}

}  // namespace lockstep::detail
