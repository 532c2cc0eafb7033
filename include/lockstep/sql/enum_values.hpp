// ALTER TYPE t ADD VALUE 'v' commits nothing until the transaction does, and
// PostgreSQL refuses to use the new value of THAT TYPE before then (55P04,
// "unsafe use of new value"): a later statement of the same transaction
// that does fails mid-deploy. Another ADD VALUE of the same label to another
// type, or any other ALTER TYPE, is not a use: a Prisma migration that adds
// 'BUILDING' to two enum types runs in one transaction without complaint
// (issue 31, case 16).
//
// What the text settles (an error, at lint time):
//   'v'::t, CAST('v' AS t), t 'v'    the literal cast to that type
//   a statement that names t and 'v' e.g. CREATE TABLE x (c t DEFAULT 'v')
//   'v' with a table this migration created with a column of type t
//   enum_range(...t), enum_last(...t) read every value, the new one included
// What only the catalog settles: 'v' in a statement that does not name the
// type, e.g. INSERT INTO orders (status) VALUES ('v'). It is a use when a
// relation the statement names has a column of type t (or an array of it).
// Offline that is a warning; at pre-flight the leader asks the catalog
// (checks/rules/enum_value_in_same_transaction.hpp) and makes it an error, or drops it when no such
// column exists. A literal cast to another type is never a use of t.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lockstep/sql/lexer.hpp"
#include "lockstep/sql/reader.hpp"

namespace lockstep::sql {

struct EnumValueAdded {
  std::string type;         // as written
  std::string type_folded;  // last part, as the catalog spells it
  std::string schema;       // folded; empty when not written
  std::string label;        // the value
};

// ALTER TYPE t ADD VALUE [IF NOT EXISTS] 'v' [BEFORE | AFTER 'w'].
[[nodiscard]] inline std::optional<EnumValueAdded> enum_value_added(const std::vector<Token>& t, std::string_view stmt) {
  const Reader r{t, stmt};
  if (!r.is(0, "alter") || !r.is(1, "type")) return std::nullopt;
  const auto name = r.name(2);
  std::size_t i = name.next;
  if (!r.is(i, "add") || !r.is(i + 1, "value")) return std::nullopt;
  i = r.skip_if_exists(i + 2);
  if (i >= t.size() || t[i].kind != Token::Kind::literal) return std::nullopt;
  return EnumValueAdded{name.text, name.folded, name.schema, t[i].folded};
}

struct EnumValueUse {
  std::size_t added = 0;  // index into the values added so far
  bool certain = false;
  std::vector<std::string> relations;  // names the statement mentions, for the catalog (when not certain)
};

namespace detail {

inline bool names_type(const Name& n, const EnumValueAdded& a) {
  return !n.folded.empty() && n.folded == a.type_folded && (n.schema.empty() || a.schema.empty() || n.schema == a.schema);
}

}  // namespace detail

// Tables created in the same migration with a column of an enum type whose
// value was just added: the catalog cannot know them yet.
struct EnumTables {
  std::vector<std::pair<std::string, std::size_t>> tables;  // folded table name, index of the added value
};

// The first use, by this statement, of a value that `added` added earlier
// in the same transaction; nullopt when there is none.
[[nodiscard]] inline std::optional<EnumValueUse> enum_value_use(const std::vector<Token>& t, std::string_view stmt,
                                                                const std::vector<EnumValueAdded>& added,
                                                                EnumTables& tables) {
  const Reader r{t, stmt};
  if (t.empty() || (r.is(0, "alter") && r.is(1, "type")) || r.is(0, "comment")) return std::nullopt;
  std::optional<EnumValueUse> possible;
  for (std::size_t ai = 0; ai < added.size(); ++ai) {
    const auto& a = added[ai];
    bool names = false, literal = false;
    for (std::size_t i = 0; i < t.size(); ++i) {
      if (t[i].is_name()) {
        const auto n = r.name(i);
        // enum_range / enum_last read every value of the type.
        if ((t[i].is("enum_range") || t[i].is("enum_last")) && r.punct(i + 1, '(')) {
          const std::size_t close = r.after_parens(i + 1);
          for (std::size_t k = i + 2; k < close; ++k)
            if (t[k].is_name() && detail::names_type(r.name(k), a)) return EnumValueUse{ai, true, {}};
        }
        if (detail::names_type(n, a)) names = true;
        for (const auto& [table, index] : tables.tables)
          if (index == ai && n.folded == table) names = true;
        i = n.next - 1;
        continue;
      }
      if (t[i].kind == Token::Kind::literal && !t[i].text.empty() && t[i].text[0] == '$') {
        // A DO block or function body: its statements are not read, but the
        // quoted label in it may be a use; the catalog settles it by the
        // names in the body too.
        if (t[i].folded.find("'" + a.label + "'") != std::string::npos) literal = true;
        continue;
      }
      if (t[i].kind != Token::Kind::literal || t[i].folded != a.label) continue;
      // 'v'::type
      if (i + 1 < t.size() && t[i + 1].kind == Token::Kind::punct && t[i + 1].text == "::") {
        if (detail::names_type(r.name(i + 2), a)) return EnumValueUse{ai, true, {}};
        continue;  // cast to another type
      }
      // CAST('v' AS type)
      if (i >= 2 && t[i - 1].is_punct('(') && t[i - 2].is("cast") && r.is(i + 1, "as")) {
        if (detail::names_type(r.name(i + 2), a)) return EnumValueUse{ai, true, {}};
        continue;
      }
      // type 'v'
      if (i >= 1 && t[i - 1].is_name()) {
        std::size_t b = i - 1;
        while (b >= 2 && t[b - 1].is_punct('.') && t[b - 2].is_name()) b -= 2;
        if (detail::names_type(r.name(b), a)) return EnumValueUse{ai, true, {}};
      }
      literal = true;
    }
    if (!literal) continue;
    if (names) return EnumValueUse{ai, true, {}};
    if (!possible) {
      possible = EnumValueUse{ai, false, {}};
      auto collect = [&](const std::vector<Token>& tokens, std::string_view text, auto& self) -> void {
        const Reader in{tokens, text};
        for (std::size_t i = 0; i < tokens.size(); ++i) {
          if (tokens[i].kind == Token::Kind::literal && !tokens[i].text.empty() && tokens[i].text[0] == '$') {
            self(lex(tokens[i].folded), tokens[i].folded, self);
            continue;
          }
          if (!tokens[i].is_name() || (i > 0 && tokens[i - 1].text == "::")) continue;
          const auto n = in.name(i);
          if (n.next - i <= 3) possible->relations.push_back(n.text);  // at most schema.name
          i = n.next - 1;
        }
      };
      collect(t, stmt, collect);
    }
  }
  return possible;
}

// After a statement: a CREATE TABLE whose columns use a type with a new value.
inline void note_enum_tables(const std::vector<Token>& t, std::string_view stmt, const std::vector<EnumValueAdded>& added,
                             EnumTables& tables) {
  const Reader r{t, stmt};
  if (!r.is(0, "create")) return;
  std::size_t i = 1;
  while (i < t.size() && !r.is(i, "table") && i < 6) ++i;
  if (!r.is(i, "table")) return;
  const auto name = r.name(r.skip_if_exists(i + 1));
  for (std::size_t ai = 0; ai < added.size(); ++ai) {
    for (std::size_t k = name.next; k < t.size(); ++k) {
      if (t[k].is_name() && detail::names_type(r.name(k), added[ai])) {
        tables.tables.emplace_back(name.folded, ai);
        break;
      }
    }
  }
}

}  // namespace lockstep::sql
