// Turns a migration's text into what the Migrator runs: its statements, its
// directives, and the lint verdict. Any error names the file and position.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/sql/directives.hpp"
#include "lockstep/sql/lint.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep::detail {

struct PreparedMigration {
  std::vector<sql::Statement> statements;
  sql::Directives directives;
  std::vector<sql::Finding> warnings;
};

[[nodiscard]] inline Error at_migration(Error e, const Migration& m) {
  e.version = m.version;
  e.migration_name = m.name;
  e.file = m.origin;
  e.message = "migration " + std::to_string(m.version) + " (" + m.origin + "): " + e.message;
  return e;
}

[[nodiscard]] inline result<PreparedMigration> prepare_migration(const Migration& m, int server_version) {
  PreparedMigration p;
  auto statements = sql::split(m.sql);
  if (!statements) return at_migration(std::move(statements).error(), m);
  p.statements = std::move(statements).value();
  const std::size_t prefix_end = p.statements.empty() ? m.sql.size() : p.statements.front().begin;
  auto directives = sql::parse_directives(m.sql, prefix_end);
  if (!directives) return at_migration(std::move(directives).error(), m);
  p.directives = directives.value();
  for (auto& f : sql::lint(p.statements, p.directives, server_version)) {
    if (f.severity == sql::Finding::Severity::error) {
      auto e = make_error(errc::source_invalid, f.message);
      e.line = f.position.line;
      e.column = f.position.column;
      return at_migration(std::move(e), m);
    }
    p.warnings.push_back(std::move(f));
  }
  return p;
}

}  // namespace lockstep::detail
