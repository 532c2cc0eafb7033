// The indexes a migration builds with CREATE INDEX CONCURRENTLY, by name and
// table, read from the statement text. A concurrent build that fails or is
// interrupted leaves an INVALID index behind under that name (hexpm#1817:
// queries went from 1.8 ms to 111 ms); knowing the names lets the leader
// drop its own leftovers before a re-run and refuse to record a migration
// whose build did not complete (detail/run/index_checks.hpp).
#pragma once

#include <cctype>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/sql/splitter.hpp"

namespace lockstep::sql {

struct IndexBuild {
  std::string index;   // as the catalog spells it (folded to lower case unless quoted); empty: unnamed
  std::string table;   // as written, for to_regclass(): quoting and schema kept
  Position position;   // of the statement
};

namespace detail {

// One identifier or keyword at `at` (after whitespace and comments):
// `text` as written, `folded` as the catalog stores it. Empty at the end or
// at anything else (punctuation, a literal).
struct Word {
  std::string text, folded;
  std::size_t end = 0;
};

inline std::size_t skip_space(std::string_view s, std::size_t i) {
  for (;;) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])) != 0) ++i;
    if (s.substr(i, 2) == "--") {
      while (i < s.size() && s[i] != '\n' && s[i] != '\r') ++i;
    } else if (s.substr(i, 2) == "/*") {
      int depth = 0;  // PostgreSQL's block comments nest
      do {
        if (s.substr(i, 2) == "/*") ++depth, i += 2;
        else if (s.substr(i, 2) == "*/") --depth, i += 2;
        else ++i;
      } while (depth > 0 && i < s.size());
    } else {
      return i;
    }
  }
}

inline Word word_at(std::string_view s, std::size_t i) {
  i = skip_space(s, i);
  Word w;
  if (i < s.size() && s[i] == '"') {
    std::size_t j = i + 1;
    for (; j < s.size(); ++j) {
      if (s[j] != '"') {
        w.folded += s[j];
      } else if (j + 1 < s.size() && s[j + 1] == '"') {
        w.folded += '"';
        ++j;
      } else {
        break;
      }
    }
    if (j >= s.size()) return {};
    w.text = std::string{s.substr(i, j + 1 - i)};
    w.end = j + 1;
    return w;
  }
  std::size_t j = i;
  while (j < s.size() && (ident_cont(static_cast<unsigned char>(s[j])))) ++j;
  if (j == i || !ident_start(static_cast<unsigned char>(s[i]))) return {};
  w.text = std::string{s.substr(i, j - i)};
  for (char c : w.text) w.folded += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  w.end = j;
  return w;
}

// A possibly qualified name (a.b, "A"."b"): text as written, last part folded.
inline std::optional<Word> name_at(std::string_view s, std::size_t i) {
  Word w = word_at(s, i);
  if (w.text.empty()) return std::nullopt;
  Word whole = w;
  for (;;) {
    const std::size_t dot = skip_space(s, whole.end);
    if (dot >= s.size() || s[dot] != '.') return whole;
    Word next = word_at(s, dot + 1);
    if (next.text.empty()) return std::nullopt;
    whole.text += "." + next.text;
    whole.folded = next.folded;
    whole.end = next.end;
  }
}

inline bool keyword(const Word& w, std::string_view k) { return !w.text.empty() && w.text[0] != '"' && w.folded == k; }

}  // namespace detail

// CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] [name] ON [ONLY] table ...
// nullopt for any other statement.
[[nodiscard]] inline std::optional<IndexBuild> concurrent_index_build(std::string_view stmt, Position at = {}) {
  using detail::keyword;
  using detail::word_at;
  std::size_t i = 0;
  auto next = [&] {
    auto w = word_at(stmt, i);
    i = w.end;
    return w;
  };
  auto w = next();
  if (!keyword(w, "create")) return std::nullopt;
  w = next();
  if (keyword(w, "unique")) w = next();
  if (!keyword(w, "index")) return std::nullopt;
  if (!keyword(next(), "concurrently")) return std::nullopt;
  IndexBuild b;
  b.position = at;
  std::size_t mark = i;
  w = next();
  if (keyword(w, "if")) {
    if (!keyword(next(), "not") || !keyword(next(), "exists")) return std::nullopt;
    mark = i;
    w = next();
  }
  if (w.text.empty()) return std::nullopt;
  if (!keyword(w, "on")) {
    auto name = detail::name_at(stmt, mark);
    if (!name) return std::nullopt;
    b.index = name->folded;  // an index lives in its table's schema: the name alone is enough
    i = name->end;
    w = next();
    if (!keyword(w, "on")) return std::nullopt;
  }
  mark = i;
  w = next();
  if (keyword(w, "only")) mark = i;
  auto table = detail::name_at(stmt, mark);
  if (!table) return std::nullopt;
  b.table = table->text;
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
