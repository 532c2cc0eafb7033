// Pre-flight, enum values: settles with the catalog what the text could not
// (sql/enum_values.hpp). A statement that may use the value an earlier ADD
// VALUE of the same transaction adds, without naming the type, uses it when
// a relation it names has a column of that type (or an array of it, or a
// domain over it): then PostgreSQL refuses it (55P04) and the deploy stops
// here, before anything runs. When none has, the warning is dropped. A
// catalog question that fails for another reason than a lost connection
// leaves the warning as it is.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/prepare.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/sql/lint.hpp"
#include "lockstep/sql/search_path.hpp"

namespace lockstep::detail {

inline constexpr const char* enum_column_sql =
    "WITH t AS (SELECT to_regtype($1) AS oid) "
    "SELECT a.attrelid::regclass::text || '.' || quote_ident(a.attname) FROM pg_attribute a "
    "JOIN pg_type ty ON ty.oid = a.atttypid, t "
    "WHERE a.attrelid IN (SELECT to_regclass(r) FROM unnest($2::text[]) AS r) AND a.attnum > 0 "
    "AND NOT a.attisdropped AND (a.atttypid = t.oid OR ty.typelem = t.oid OR ty.typbasetype = t.oid) LIMIT 1";

[[nodiscard]] inline result<void> settle_enum_uses(Connection& conn, const Migration& m, PreparedMigration& p) {
  std::vector<sql::Finding> kept;
  const auto uses = sql::enum_value_findings(p.statements, p.directives, m.sql);
  for (auto& w : p.warnings) {
    const auto* use = [&]() -> const sql::EnumValueFinding* {
      if (w.rule != "enum_value_in_same_transaction") return nullptr;
      for (const auto& u : uses)
        if (!u.type.empty() && u.finding.position.line == w.position.line && u.finding.position.column == w.position.column)
          return &u;
      return nullptr;
    }();
    if (use == nullptr) {
      kept.push_back(std::move(w));
      continue;
    }
    auto rows = conn.query(enum_column_sql, use->type, sql::search_path_array(use->relations));
    if (!rows) {
      if (rows.error().code == errc::connection_failed) return std::move(rows).error();
      kept.push_back(std::move(w));  // a name the catalog cannot read: stay unsure
      continue;
    }
    if (rows.value().empty()) continue;  // no column of that type: not a use
    auto e = make_error(errc::source_invalid,
                        "this statement uses a value that ALTER TYPE ... ADD VALUE adds earlier in the same "
                        "transaction: " + rows.value()[0][0].value_or("a column") + " is of enum type " +
                            use->type + ", and PostgreSQL refuses the new value there until the ADD VALUE "
                            "commits (55P04, unsafe use of new value); put the ADD VALUE in a migration of its "
                            "own, before this one");
    e.line = w.position.line;
    e.column = w.position.column;
    return at_migration(std::move(e), m);
  }
  p.warnings = std::move(kept);
  return outcome::success();
}

}  // namespace lockstep::detail
