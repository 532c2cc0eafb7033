// The indexes a migration builds with CREATE INDEX CONCURRENTLY, by name and
// table, read from the statement text. A concurrent build that fails or is
// interrupted leaves an INVALID index behind under that name (hexpm#1817:
// queries went from 1.8 ms to 111 ms); knowing the names lets the leader
// drop its own leftovers before a re-run and refuse to record a migration
// whose build did not complete (detail/run/index_checks.hpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/sql/lexer.hpp"
#include "lockstep/sql/reader.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep::sql {

struct IndexBuild {
  std::string index;   // as the catalog spells it (folded to lower case unless quoted); empty: unnamed
  std::string table;   // as written, for to_regclass(): quoting and schema kept
  Position position;   // of the statement
};

// CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] [name] ON [ONLY] table ...
// nullopt for any other statement.
[[nodiscard]] inline std::optional<IndexBuild> concurrent_index_build(std::string_view stmt, Position at = {}) {
  // The head is enough: CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS a.b ON ONLY a.b is 15 tokens.
  const auto tokens = lex(stmt, 32);
  const Reader r{tokens, stmt};
  std::size_t i = 1;
  if (!r.is(0, "create")) return std::nullopt;
  if (r.is(i, "unique")) ++i;
  if (!r.is(i, "index") || !r.is(i + 1, "concurrently")) return std::nullopt;
  i += 2;
  if (r.is(i, "if")) {
    if (!r.is(i + 1, "not") || !r.is(i + 2, "exists")) return std::nullopt;  // only IF NOT EXISTS is valid here
    i += 3;
  }
  IndexBuild b;
  b.position = at;
  if (!r.is(i, "on")) {
    const auto index = r.name(i);
    if (index.text.empty()) return std::nullopt;
    b.index = index.folded;  // an index lives in its table's schema: the name alone is enough
    i = index.next;
    if (!r.is(i, "on")) return std::nullopt;
  }
  ++i;
  if (r.is(i, "only")) ++i;
  const auto table = r.name(i);
  if (table.text.empty()) return std::nullopt;
  b.table = table.text;
  return b;
}

// Every concurrent index build among `statements` of `sql`.
[[nodiscard]] inline std::vector<IndexBuild> concurrent_index_builds(const std::vector<Statement>& statements,
                                                                    std::string_view sql) {
  std::vector<IndexBuild> out;
  for (const auto& st : statements) {
    if (auto b = concurrent_index_build(st.text(sql), st.position)) out.push_back(std::move(*b));
  }
  return out;
}

}  // namespace lockstep::sql
