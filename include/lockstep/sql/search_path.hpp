// The search_path a migration's statement runs under, read from the file
// itself: an unqualified table name means whatever the server finds first
// on that path, so every check that names a table by what the file wrote
// (the index checks, the lock-safety rules) must resolve it under the same
// path the server will, not under the checker's own session.
//
// Tracked: SET [SESSION | LOCAL] search_path {TO | =} ... | DEFAULT,
// RESET search_path, RESET ALL, DISCARD ALL, and
// SELECT [pg_catalog.]set_config('search_path', '...', is_local). SET LOCAL
// (and set_config(..., true)) lasts until the transaction ends: the whole
// file in a transactional migration; in a no-transaction one, only inside
// an explicit BEGIN ... COMMIT, and nothing outside one (the server warns
// and ignores it). ROLLBACK takes back what the block set. Not tracked: a
// search_path changed inside a DO block or a function, or by SET ROLE ("$user"
// is resolved as the role lockstep connects as).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/sql/lexer.hpp"

namespace lockstep::sql {

// Schema names, in order, as the catalog spells them ("$user" and pg_temp
// kept as written). nullopt: the session's own search_path (the file did not
// set one, or set it back to the default).
using SearchPath = std::optional<std::vector<std::string>>;

// A search_path setting's text (`a, "My Schema", public`) as a list, the way
// the server splits it (SplitIdentifierString): unquoted names folded to
// lower case, quoted ones kept, "" inside quotes one quote.
[[nodiscard]] inline std::vector<std::string> split_search_path(std::string_view v) {
  std::vector<std::string> out;
  std::size_t i = 0;
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  while (i < v.size()) {
    while (i < v.size() && space(v[i])) ++i;
    if (i >= v.size()) break;
    std::string name;
    if (v[i] == '"') {
      for (++i; i < v.size(); ++i) {
        if (v[i] != '"') name += v[i];
        else if (i + 1 < v.size() && v[i + 1] == '"') name += '"', ++i;
        else break;
      }
      ++i;
    } else {
      for (; i < v.size() && v[i] != ',' && !space(v[i]); ++i)
        name += static_cast<char>(v[i] >= 'A' && v[i] <= 'Z' ? v[i] - 'A' + 'a' : v[i]);
    }
    while (i < v.size() && space(v[i])) ++i;
    if (i < v.size() && v[i] == ',') ++i;
    if (!name.empty()) out.push_back(std::move(name));
  }
  return out;
}

// The path as a PostgreSQL text[] literal, for a query parameter.
[[nodiscard]] inline std::string search_path_array(const std::vector<std::string>& path) {
  std::string a = "{";
  for (const auto& s : path) {
    if (a.size() > 1) a += ',';
    a += '"';
    for (char c : s) {
      if (c == '"' || c == '\\') a += '\\';
      a += c;
    }
    a += '"';
  }
  return a + "}";
}

// Follows one file's statements, in order.
class SearchPathTracker {
 public:
  // `in_transaction`: the whole file runs in one transaction (not a
  // `-- lockstep:no-transaction` file).
  explicit SearchPathTracker(bool in_transaction) : file_transaction_{in_transaction} {}

  // The path in effect for the next statement.
  [[nodiscard]] const SearchPath& current() const { return local_ ? *local_ : session_; }

  // Reads one statement (after it ran, the path is current()).
  void statement(const std::vector<Token>& t) {
    if (t.empty()) return;
    auto is = [&](std::size_t i, std::string_view w) { return i < t.size() && t[i].is(w); };
    const bool block_open = file_transaction_ || block_;
    if (is(0, "begin") || (is(0, "start") && is(1, "transaction"))) {
      if (!file_transaction_ && !block_) {
        block_ = true;
        saved_ = session_;
      }
    } else if (is(0, "commit") || is(0, "end")) {
      end_block(false);
    } else if (is(0, "rollback") || is(0, "abort")) {
      if (!is(1, "to") && !is(1, "prepared")) end_block(true);
    } else if (is(0, "set")) {
      std::size_t i = 1;
      bool local = false;
      if (is(i, "session") && !is(i + 1, "authorization") && !is(i + 1, "characteristics")) ++i;
      else if (is(i, "local")) local = true, ++i;
      if (!is(i, "search_path")) return;
      ++i;
      if (!is(i, "to") && !(i < t.size() && t[i].is_punct('='))) return;  // FROM CURRENT: only in functions
      ++i;
      SearchPath v;
      if (!is(i, "default")) {
        v.emplace();
        for (; i < t.size(); ++i) {
          if (t[i].is_punct(',')) continue;
          if (t[i].is_punct(';')) break;
          if (t[i].kind == Token::Kind::literal || t[i].is_name()) v->push_back(t[i].folded);
        }
      }
      set(std::move(v), local, block_open);
    } else if (is(0, "reset") && (is(1, "search_path") || is(1, "all"))) {
      set(std::nullopt, false, block_open);
    } else if (is(0, "discard") && is(1, "all")) {
      set(std::nullopt, false, block_open);
    } else if (is(0, "select")) {
      // set_config('search_path', '<value>', <is_local>) anywhere in the select list.
      for (std::size_t i = 1; i + 7 < t.size(); ++i) {
        if (!t[i].is("set_config") || !t[i + 1].is_punct('(')) continue;
        if (t[i + 2].kind != Token::Kind::literal || t[i + 2].folded != "search_path") continue;
        if (!t[i + 3].is_punct(',') || t[i + 4].kind != Token::Kind::literal || !t[i + 5].is_punct(',')) continue;
        const bool local = t[i + 6].is("true") || (t[i + 6].kind == Token::Kind::literal && t[i + 6].folded == "t");
        set(split_search_path(t[i + 4].folded), local, block_open);
      }
    }
  }

 private:
  void set(SearchPath v, bool local, bool in_transaction) {
    if (local) {
      if (in_transaction) local_ = std::move(v);  // outside a transaction the server ignores it
      return;
    }
    session_ = std::move(v);
    local_.reset();
  }
  void end_block(bool rollback) {
    if (file_transaction_ || !block_) return;
    block_ = false;
    if (rollback) session_ = saved_;
    local_.reset();
  }

  bool file_transaction_;
  bool block_ = false;  // inside an explicit BEGIN of a no-transaction file
  SearchPath session_, saved_;
  std::optional<SearchPath> local_;
};

// The SQL that finds the relation an unqualified name means under a path,
// as the server does (namespace.c): the session's temporary schema first and
// pg_catalog next unless the path lists them, "$user" as the current role,
// and only schemas that exist and the role may use. $1 the path (text[]),
// $2 the name as the catalog spells it. One row, the qualified name quoted
// for to_regclass(), or none.
inline constexpr const char* resolve_relation_sql =
    "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) "
    "FROM unnest((CASE WHEN 'pg_temp' = ANY($1::text[]) THEN '{}' ELSE '{pg_temp}' END)::text[] "
    "  || (CASE WHEN 'pg_catalog' = ANY($1::text[]) THEN '{}' ELSE '{pg_catalog}' END)::text[] "
    "  || $1::text[]) WITH ORDINALITY AS p(name, ord) "
    "JOIN pg_namespace n ON n.nspname = CASE p.name WHEN '$user' THEN current_user::text "
    "  WHEN 'pg_temp' THEN (SELECT t.nspname::text FROM pg_namespace t WHERE t.oid = pg_my_temp_schema()) "
    "  ELSE p.name END "
    "JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = $2 "
    "WHERE has_schema_privilege(n.oid, 'USAGE') ORDER BY p.ord LIMIT 1";

}  // namespace lockstep::sql
