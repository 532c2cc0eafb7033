// INVALID indexes around a no-transaction migration. Before it runs: an
// invalid index under a name its own CREATE INDEX CONCURRENTLY builds is
// the leftover of an earlier attempt that failed or was interrupted, and is
// dropped (concurrently), so the build is done again instead of failing on
// "already exists" or, with IF NOT EXISTS, being skipped while queries
// ignore the index. After it ran: an index it left invalid on a table it
// builds on fails the migration instead of being recorded as applied.
// Other invalid indexes (another table, another name) are never touched.
#pragma once

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/detail/outcome_shim.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/sql/index_builds.hpp"

namespace lockstep::detail {

inline constexpr const char* invalid_index_sql =
    "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relname FROM pg_index i "
    "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE NOT i.indisvalid AND i.indrelid = to_regclass($1)";

template <class Timeout>
class IndexChecks {
 public:
  IndexChecks(Context<Timeout>& ctx, const Migration& m, std::vector<sql::IndexBuild> builds)
      : ctx_{ctx}, m_{m}, builds_{std::move(builds)} {
    for (const auto& b : builds_) {
      if (std::find(tables_.begin(), tables_.end(), b.table) == tables_.end()) tables_.push_back(b.table);
    }
  }

  // Drops this migration's own leftovers, and notes what else is invalid on
  // its tables, so that after() blames it only for what it left.
  [[nodiscard]] result<void> before(Connection& conn) {
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
        ctx_.emit("invalid_index_dropped", [&](JsonObject& o) {
          o.add("version", m_.version).add("name", m_.name).add("file", m_.origin).add("index", qualified);
          o.add("table", table).add("line", static_cast<std::int64_t>(own->position.line));
        });
      }
    }
    return outcome::success();
  }

  [[nodiscard]] result<void> after(Connection& conn) const {
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
  // The build of `index` on `table` (written as in the file); with an empty
  // `index`, the first build on `table`, named or not.
  [[nodiscard]] const sql::IndexBuild* build_of(const std::string& table, const std::string& index) const {
    for (const auto& b : builds_) {
      if (b.table == table && (index.empty() || b.index == index)) return &b;
    }
    return nullptr;
  }

  Context<Timeout>& ctx_;
  const Migration& m_;
  std::vector<sql::IndexBuild> builds_;
  std::vector<std::string> tables_;  // distinct, in order: one query each
  std::set<std::string> known_;      // invalid before the migration ran, and not its own
};

}  // namespace lockstep::detail
