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
#include "lockstep/sql/search_path.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep::sql {

struct IndexBuild {
  std::string index;   // as the catalog spells it (folded to lower case unless quoted); empty: unnamed
  std::string table;   // as written, for to_regclass(): quoting and schema kept
  std::string table_name;  // its last part, as the catalog spells it
  bool qualified = false;  // the table's schema is written
  // The search_path the statement runs under (the file's own SETs up to
  // it): an unqualified table is resolved under it, as the server does.
  SearchPath search_path;
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
  b.table_name = table.folded;
  b.qualified = table.next > i + 1;
  return b;
}

// Every concurrent index build among `statements` of `sql`, each with the
// search_path the file set before it. `in_transaction`: the file runs as one
// transaction (concurrent builds cannot, but SET LOCAL's reach depends on it).
[[nodiscard]] inline std::vector<IndexBuild> concurrent_index_builds(const std::vector<Statement>& statements,
                                                                    std::string_view sql,
                                                                    bool in_transaction = false) {
  std::vector<IndexBuild> out;
  SearchPathTracker path{in_transaction};
  for (const auto& st : statements) {
    if (auto b = concurrent_index_build(st.text(sql), st.position)) {
      b->search_path = path.current();
      out.push_back(std::move(*b));
    }
    path.statement(lex(st.text(sql)));
  }
  return out;
}

}  // namespace lockstep::sql
