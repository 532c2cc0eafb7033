// INVALID indexes around a no-transaction migration. Before it runs: an
// invalid index under a name its own CREATE INDEX CONCURRENTLY builds is
// the leftover of an earlier attempt that failed or was interrupted, and is
// dropped (concurrently), so the build is done again instead of failing on
// "already exists" or, with IF NOT EXISTS, being skipped while queries
// ignore the index. After it ran: an index it left invalid on a table it
// builds on fails the migration instead of being recorded as applied.
// Other invalid indexes (another table, another name) are never touched.
//
// A build's table is resolved the way the server resolves it when the
// statement runs: under the search_path the file set before it (SET
// search_path, set_config, SET LOCAL; sql/search_path.hpp), else the
// session's own. Resolving it under this session's path instead missed the
// leftover of `SET search_path = app; CREATE UNIQUE INDEX CONCURRENTLY IF NOT
// EXISTS k ON t (v)` before the run (to_regclass('t') found nothing) and found
// it after, so every redeploy failed on its own leftover (issue 31, case 9).
#pragma once

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/sql/index_builds.hpp"
#include "lockstep/sql/search_path.hpp"

namespace lockstep::detail {

inline constexpr const char* invalid_index_sql =
    "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relname FROM pg_index i "
    "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE NOT i.indisvalid AND i.indrelid = to_regclass($1)";

// A written, schema-qualified name spelled as resolve_relation_sql spells
// what it finds, so both forms of one table compare equal.
inline constexpr const char* qualified_relation_sql =
    "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)";

template <class Timeout>
class IndexChecks {
 public:
  IndexChecks(Context<Timeout>& ctx, const Migration& m, std::vector<sql::IndexBuild> builds)
      : ctx_{ctx}, m_{m}, builds_{std::move(builds)} {}

  // Drops this migration's own leftovers, and notes what else is invalid on
  // its tables, so that after() blames it only for what it left.
  [[nodiscard]] result<void> before(Connection& conn) {
    if (builds_.empty()) return outcome::success();
    // The session's own path, for builds the file sets none for; read now,
    // before the file's SETs change it.
    LOCKSTEP_TRY(path, conn.query("SELECT current_setting('search_path')"));
    session_path_ = sql::split_search_path(path.empty() ? std::string{} : path[0][0].value_or(""));
    LOCKSTEP_TRYV(resolve(conn));
    for (const auto& table : tables_) {
      LOCKSTEP_TRY(rows, conn.query(invalid_index_sql, table));
      for (const auto& r : rows) {
        const std::string qualified = r[0].value_or("");
        const sql::IndexBuild* own = build_of(table, r[1].value_or(""));
        if (own == nullptr) {
          known_.insert(qualified);
          continue;
        }
        LOCKSTEP_TRYV(conn.execute("DROP INDEX CONCURRENTLY IF EXISTS " + qualified));
        ctx_.emit(events::InvalidIndexDropped{.version = m_.version, .name_ = m_.name, .file = m_.origin,
                                              .index = qualified, .table = table, .line = own->position.line});
      }
    }
    return outcome::success();
  }

  [[nodiscard]] result<void> after(Connection& conn) {
    if (builds_.empty()) return outcome::success();
    LOCKSTEP_TRYV(resolve(conn));  // the migration may have created its tables
    for (const auto& table : tables_) {
      LOCKSTEP_TRY(rows, conn.query(invalid_index_sql, table));
      for (const auto& r : rows) {
        const std::string qualified = r[0].value_or("");
        if (known_.count(qualified) != 0) continue;
        const sql::IndexBuild* own = build_of(table, r[1].value_or(""));
        if (own == nullptr) own = build_of(table, {});  // an unnamed build on that table
        Error e = make_error(
            errc::migration_failed,
            "migration " + std::to_string(m_.version) + " (" + m_.origin + ", no transaction) left index " +
                qualified + " on " + table +
                " INVALID: its build did not complete, and the planner ignores an invalid index while every write "
                "still maintains it. The migration is not recorded as applied. Find out why the build did not "
                "finish (a UNIQUE index over duplicate keys, a cancelled or timed-out build), then deploy again: "
                "the next run drops the invalid index first and builds it again");
        e.version = m_.version;
        e.migration_name = m_.name;
        e.file = m_.origin;
        if (own != nullptr) {
          e.line = own->position.line;
          e.column = own->position.column;
        }
        return e;
      }
    }
    return outcome::success();
  }

 private:
  // Each build's table as the server resolves it now (resolved_, quoted and
  // schema-qualified; empty when there is no such table yet), and the
  // distinct ones (tables_), one query each.
  [[nodiscard]] result<void> resolve(Connection& conn) {
    resolved_.clear();
    tables_.clear();
    for (const auto& b : builds_) {
      std::string table;
      if (b.qualified) {
        LOCKSTEP_TRY(rows, conn.query(qualified_relation_sql, b.table));
        if (!rows.empty()) table = rows[0][0].value_or("");
      } else {
        const auto& path = b.search_path ? *b.search_path : session_path_;
        LOCKSTEP_TRY(rows, conn.query(sql::resolve_relation_sql, sql::search_path_array(path), b.table_name));
        if (!rows.empty()) table = rows[0][0].value_or("");
      }
      if (!table.empty() && std::find(tables_.begin(), tables_.end(), table) == tables_.end()) tables_.push_back(table);
      resolved_.push_back(std::move(table));
    }
    return outcome::success();
  }

  // The build of `index` on `table` (as resolved); with an empty `index`,
  // the first build on `table`, named or not.
  [[nodiscard]] const sql::IndexBuild* build_of(const std::string& table, const std::string& index) const {
    for (std::size_t k = 0; k < builds_.size(); ++k) {
      const auto& b = builds_[k];
      if (resolved_[k] == table && (index.empty() || b.index == index)) return &b;
    }
    return nullptr;
  }

  Context<Timeout>& ctx_;
  const Migration& m_;
  std::vector<sql::IndexBuild> builds_;
  std::vector<std::string> session_path_;
  std::vector<std::string> resolved_;  // per build
  std::vector<std::string> tables_;    // distinct, in order: one query each
  std::set<std::string> known_;      // invalid before the migration ran, and not its own
};

}  // namespace lockstep::detail
