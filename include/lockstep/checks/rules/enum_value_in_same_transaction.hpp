// enum_value_in_same_transaction: a statement that uses (an error) or may use
// (a warning until the catalog settles it) a value that ALTER TYPE ... ADD
// VALUE adds earlier in the same transaction: PostgreSQL refuses that
// (55P04). Detection reads literals (sql/enum_values.hpp); when the
// statement does not name the type, the question is whether a relation it
// names has a column of that type (or an array of it, or a domain over it).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lockstep/checks/finding.hpp"
#include "lockstep/checks/rule.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/sql/enum_values.hpp"
#include "lockstep/sql/lexer.hpp"
#include "lockstep/sql/search_path.hpp"

namespace lockstep::checks::rules::enum_value_in_same_transaction {

inline constexpr Rule rule{"enum_value_in_same_transaction", Rule::Kind::statement, false,
                           "uses an enum value before the ALTER TYPE ... ADD VALUE that adds it commits (55P04)",
                           "put the ADD VALUE in a migration of its own, before this one"};

// One use, per statement. When only the catalog can tell: the enum type (as
// written) and the names the statement mentions; a relation among them with
// a column of that type makes it an error (settle() below).
struct Use {
  Finding finding;
  std::string type;
  std::vector<std::string> relations;
};

// `no_transaction`: each statement commits on its own, so no use is unsafe.
[[nodiscard]] inline std::vector<Use> uses(const std::vector<sql::Statement>& statements, bool no_transaction,
                                           std::string_view sql) {
  std::vector<Use> out;
  if (no_transaction || sql.empty()) return out;  // each statement commits on its own
  std::vector<sql::EnumValueAdded> added;
  sql::EnumTables tables;
  for (const auto& s : statements) {
    const std::string_view text = s.text(sql);
    const auto tokens = sql::lex(text);
    if (auto use = sql::enum_value_use(tokens, text, added, tables)) {
      const auto& v = added[use->added];
      Use f;
      f.finding.level = use->certain ? Level::error : Level::warning;
      f.finding.rule = std::string{rule.id};
      f.finding.message = std::string{use->certain ? "this statement uses" : "this statement may use"} +
                          " the value '" + v.label + "' of enum type " + v.type +
                          ", which ALTER TYPE ... ADD VALUE adds earlier in the same transaction; PostgreSQL "
                          "refuses that (55P04, unsafe use of new value)" +
                          (use->certain ? "" : " if the value is stored in or compared with a column of that "
                                               "type, which needs a database to tell: the leader asks the catalog "
                                               "at pre-flight") +
                          "; put the ADD VALUE in a migration of its own, before this one";
      f.finding.position = s.position;
      if (!use->certain) {
        f.type = v.type;
        f.relations = std::move(use->relations);
      }
      out.push_back(std::move(f));
    }
    sql::note_enum_tables(tokens, text, added, tables);
    if (auto v = sql::enum_value_added(tokens, text)) added.push_back(std::move(*v));
  }
  return out;
}

// The question: a column of the type among the relations the statement names.
inline constexpr const char* column_of_type_sql =
    "WITH t AS (SELECT to_regtype($1) AS oid) "
    "SELECT a.attrelid::regclass::text || '.' || quote_ident(a.attname) FROM pg_attribute a "
    "JOIN pg_type ty ON ty.oid = a.atttypid, t "
    "WHERE a.attrelid IN (SELECT to_regclass(r) FROM unnest($2::text[]) AS r) AND a.attnum > 0 "
    "AND NOT a.attisdropped AND (a.atttypid = t.oid OR ty.typelem = t.oid OR ty.typbasetype = t.oid) LIMIT 1";

// The catalog's answer for an unsure use: the column that makes it a use
// (an error), nullopt when none does (the warning goes), or the warning as
// it is when the catalog cannot read the names. A lost connection is the error.
struct Answer {
  bool dismissed = false;
  std::optional<std::string> column;  // makes it a use
};
[[nodiscard]] inline result<Answer> ask(Connection& conn, const Use& use) {
  auto rows = conn.query(column_of_type_sql, use.type, sql::search_path_array(use.relations));
  if (!rows) {
    if (rows.error().code == errc::connection_failed) return std::move(rows).error();
    return Answer{};  // a name the catalog cannot read: stay unsure
  }
  if (rows.value().empty()) return Answer{true, std::nullopt};  // no column of that type: not a use
  return Answer{false, rows.value()[0][0].value_or("a column")};
}

inline std::string certain_message(const std::string& column, const std::string& type) {
  return "this statement uses a value that ALTER TYPE ... ADD VALUE adds earlier in the same transaction: " + column +
         " is of enum type " + type +
         ", and PostgreSQL refuses the new value there until the ADD VALUE commits (55P04, unsafe use of new "
         "value); put the ADD VALUE in a migration of its own, before this one";
}

}  // namespace lockstep::checks::rules::enum_value_in_same_transaction
