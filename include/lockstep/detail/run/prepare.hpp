// Turns a migration's text into what the Migrator runs: its statements, its
// directives, and the lint verdict. Any error names the file and position.
#pragma once

#include <optional>
#include <string_view>

#include <string>
#include <utility>
#include <vector>

#include "lockstep/detail/base/utf8.hpp"
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

// "file:line[:column]" as recorded in a failure row -> line and column.
inline void read_position(std::string_view position, Error& e) {
  auto number_after = [](std::string_view s, std::size_t colon) -> std::optional<int> {
    if (colon == std::string_view::npos || colon + 1 >= s.size()) return std::nullopt;
    int n = 0;
    for (char c : s.substr(colon + 1)) {
      if (c < '0' || c > '9' || n > 100000000) return std::nullopt;
      n = n * 10 + (c - '0');
    }
    return n;
  };
  const auto last = position.rfind(':');
  const auto last_n = number_after(position, last);
  if (!last_n) return;
  const auto before = position.substr(0, last);
  const auto prev = before.rfind(':');
  if (const auto line = number_after(before, prev)) {
    e.line = *line;
    e.column = *last_n;
  } else {
    e.line = *last_n;
  }
}

[[nodiscard]] inline Error at_migration(Error e, const Migration& m) {
  e.version = m.version;
  e.migration_name = m.name;
  e.file = m.origin;
  e.message = "migration " + std::to_string(m.version) + " (" + m.origin + "): " + e.message;
  return e;
}

// libpq sends SQL as a C string: a NUL byte would silently cut the migration
// short. And invalid UTF-8 would only fail at the server, after earlier
// migrations ran. Both are caught here, before anything runs.
[[nodiscard]] inline result<void> check_bytes(const Migration& m) {
  const sql::LineIndex lines{m.sql};
  auto bad = [&](std::size_t at, const std::string& why) {
    auto e = make_error(errc::source_invalid, why);
    const auto pos = lines.at(at);
    e.line = pos.line;
    e.column = pos.column;
    return at_migration(std::move(e), m);
  };
  const auto found = first_bad_byte(m.sql);
  if (!found) return outcome::success();
  if (found->nul) return bad(found->offset, "the file contains a NUL byte, which would silently cut the migration short");
  return bad(found->offset, "the file is not valid UTF-8 here; lockstep sends migrations as UTF-8, so re-save it as UTF-8");
}

[[nodiscard]] inline result<PreparedMigration> prepare_migration(const Migration& m, int server_version) {
  PreparedMigration p;
  LOCKSTEP_TRYV(check_bytes(m));
  auto statements = sql::split(m.sql);
  if (!statements) return at_migration(std::move(statements).error(), m);
  p.statements = std::move(statements).value();
  const std::size_t prefix_end = p.statements.empty() ? m.sql.size() : p.statements.front().begin;
  auto directives = sql::parse_directives(m.sql, prefix_end);
  if (!directives) return at_migration(std::move(directives).error(), m);
  p.directives = directives.value();
  // The source is loaded on every boot and reads the phase from the leading
  // comment lines alone (sql::declares_contract); both readings must agree.
  if (p.directives.contract != sql::declares_contract(m.sql)) {
    return at_migration(make_error(errc::source_invalid,
                                   "its lockstep:phase directive must be among the comment lines (-- ...) at the "
                                   "top of the file, before any block comment or statement"),
                        m);
  }
  for (auto& f : sql::lint(p.statements, p.directives, server_version, m.sql)) {
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
