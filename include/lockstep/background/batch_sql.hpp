// A background migration's batch file, read and filled in: where its `:lo`
// and `:hi` stand, what a batch file may contain, and the SQL of one batch
// (docs/background.md). Pure text work: no connection.
//
// `:lo` and `:hi` are the first and the last key of the batch, both inside
// it: a batch is `key BETWEEN :lo AND :hi` (or `(a, b) >= :lo AND (a, b) <=
// :hi` for a composite key). Both are keys read from the table (a keyset
// probe), so no value "below every key" is ever needed, whatever the key's
// type. Each is sent as a typed literal ('42'::integer; a composite key as
// ROW(...)), never as text spliced into the statement.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/ledger_fields.hpp"
#include "lockstep/error.hpp"
#include "lockstep/checks/words.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/sql/directives.hpp"
#include "lockstep/sql/lexer.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep::background {

// One `:lo` or `:hi` in the file: the offset of its ':' in the file.
struct Placeholder {
  std::size_t offset = 0;
  bool hi = false;
};

// Every `:lo` / `:hi` outside literals, quoted names and comments. A cast
// to a type named lo (`x::lo`) is not one: the lexer reads `::` as one token.
[[nodiscard]] inline std::vector<Placeholder> placeholders(std::string_view sql,
                                                           const std::vector<sql::Statement>& statements) {
  std::vector<Placeholder> out;
  for (const auto& st : statements) {
    const auto text = st.text(sql);
    const auto tokens = sql::lex(text);
    for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
      const auto& colon = tokens[i];
      const auto& name = tokens[i + 1];
      if (!colon.is_punct(':') || name.kind != sql::Token::Kind::word) continue;
      if (name.offset != colon.offset + 1 || (name.text != "lo" && name.text != "hi")) continue;
      out.push_back(Placeholder{st.begin + colon.offset, name.text == "hi"});
    }
  }
  return out;
}

// Keys travel as text (the frozen bound, the cursor, the probe's ends), so
// their text form must not depend on the session: a timestamptz printed in
// a DateStyle and TimeZone that read it back hours away (IST is India's on
// output, Israel's on input), a float printed with 15 digits (0.3 and
// 0.30000000000000004 alike) skipped rows or ran them twice (found by the
// review). Every transaction that writes or reads a key as text sets these
// first: ISO dates in UTC, floats that read back exactly.
inline constexpr std::string_view key_text_settings_sql =
    "SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL TimeZone = 'UTC'; SET LOCAL IntervalStyle = 'postgres'; "
    "SET LOCAL extra_float_digits = 3; SET LOCAL bytea_output = 'hex'";

// The file's own statements run under the session's settings again (its
// `now()::date` is the database's day, not UTC's): sent on the line of the
// file's first statement, so the server's line numbers stay the file's.
inline constexpr std::string_view key_text_settings_reset_sql =
    "SET LOCAL DateStyle TO DEFAULT; SET LOCAL TimeZone TO DEFAULT; SET LOCAL IntervalStyle TO DEFAULT; "
    "SET LOCAL extra_float_digits TO DEFAULT; SET LOCAL bytea_output TO DEFAULT; ";

// The most keys a job's first batch takes, whatever its batch-size: sizing
// grows it from there toward the target duration (detail/background/runner.hpp).
inline constexpr std::int64_t first_batch_size = 1000;

// A key as a typed SQL literal: '42'::integer, or ROW(E'7'::bigint, E'x'::text).
[[nodiscard]] inline std::string key_literal(const std::vector<std::string>& values,
                                             const std::vector<std::string>& types) {
  std::string out = values.size() == 1 ? std::string{} : std::string{"ROW("};
  for (std::size_t i = 0; i < values.size() && i < types.size(); ++i) {
    if (i > 0) out += ", ";
    out += "(" + lockstep::detail::quote_literal(values[i]) + "::" + types[i] + ")";
  }
  if (values.size() != 1) out += ")";
  return out;
}

// The file with each `:lo` / `:hi` replaced. No placeholder spans a line,
// and none is replaced by text with a newline, so a server error's line in
// the batch is the file's line.
[[nodiscard]] inline std::string fill(std::string_view sql, const std::vector<Placeholder>& at, const std::string& lo,
                                      const std::string& hi) {
  std::string out;
  out.reserve(sql.size() + at.size() * 32);
  std::size_t from = 0;
  for (const auto& p : at) {
    out.append(sql.substr(from, p.offset - from));
    out += p.hi ? hi : lo;
    from = p.offset + 3;
  }
  out.append(sql.substr(from));
  return out;
}

namespace detail {

[[nodiscard]] inline Error batch_error(const Migration& m, sql::Position at, std::string why) {
  auto e = make_error(errc::source_invalid, "migration " + std::to_string(m.version) + " (" + m.origin + ":" +
                                                std::to_string(at.line) + "): " + why);
  e.version = m.version;
  e.migration_name = m.name;
  e.file = m.origin;
  e.line = at.line;
  e.column = at.column;
  return e;
}

}  // namespace detail

// What pre-flight asks of a background file (the directives themselves are
// sql::parse_directives'): each batch is DML over one key range, so
//  - every statement is DML (UPDATE, DELETE, INSERT, MERGE, WITH, SELECT):
//    DDL would run once per batch; it belongs in a migration of its own;
//  - `:lo` and `:hi` both appear: without them every batch would do the
//    whole table (or none of it);
//  - neither is compared strictly (`> :lo`, `< :hi`): both keys are inside
//    the batch, so that would skip a row at each batch's edge.
[[nodiscard]] inline result<void> check_batch_file(const Migration& m, const std::vector<sql::Statement>& statements,
                                                   const sql::Directives& d) {
  if (!d.background || d.no_transaction) return outcome::success();  // long statements: long_sql.hpp
  const sql::LineIndex lines{m.sql};
  for (const auto& st : statements) {
    const auto head = checks::leading_words(sql::lex(st.text(m.sql), 2));
    if (head.empty()) continue;
    const auto& w = head[0];
    if (w != "UPDATE" && w != "DELETE" && w != "INSERT" && w != "MERGE" && w != "WITH" && w != "SELECT") {
      return detail::batch_error(m, st.position,
                                 "a background migration runs its statements once per batch, so each must be "
                                 "DML (UPDATE, DELETE, INSERT, MERGE, WITH or SELECT), not " + w +
                                 "; put the schema change in a migration of its own before this one");
    }
    // SELECT ... INTO creates a table: the second batch would fail on it.
    int depth = 0;
    for (const auto& t : sql::lex(st.text(m.sql))) {
      if (t.is_punct('(')) ++depth;
      if (t.is_punct(')')) --depth;
      if (depth != 0 || t.kind != sql::Token::Kind::word) continue;
      if (t.folded == "insert" || t.folded == "merge") break;
      if (t.folded == "into") {
        return detail::batch_error(m, st.position,
                                   "SELECT ... INTO creates a table, once per batch: create it in a migration of "
                                   "its own before this one and INSERT INTO it here");
      }
    }
  }
  const auto at = placeholders(m.sql, statements);
  bool lo = false;
  bool hi = false;
  for (const auto& p : at) (p.hi ? hi : lo) = true;
  if (!lo || !hi) {
    return detail::batch_error(m, sql::Position{d.background_line > 0 ? d.background_line : 1, 1},
                               std::string{"a background migration must name its batch's range with both :lo and "
                                           ":hi, the first and last key of each batch (e.g. `WHERE id BETWEEN :lo "
                                           "AND :hi`); "} + (lo ? ":hi" : ":lo") + " is missing");
  }
  // The comparison on either side of each placeholder, looking through
  // parentheses: `id > :lo`, `id > (:lo)` and `:lo < id` are strict;
  // `>= :lo`, `BETWEEN :lo`, `<>` and a named argument `=> :lo` are not.
  auto skip_back = [&](std::size_t i) {
    while (i > 0 && (sql::detail::space(static_cast<unsigned char>(m.sql[i - 1])) || m.sql[i - 1] == '(')) --i;
    return i;
  };
  auto skip_ahead = [&](std::size_t j) {
    while (j < m.sql.size() && (sql::detail::space(static_cast<unsigned char>(m.sql[j])) || m.sql[j] == ')')) ++j;
    return j;
  };
  for (const auto& p : at) {
    // Right after a name, a number or a subscript, `:hi` is an array
    // slice's bound (`arr[lo:hi]`) as much as a placeholder: refused, not guessed.
    if (p.offset > 0) {
      const auto c = static_cast<unsigned char>(m.sql[p.offset - 1]);
      if (sql::detail::ident_cont(c) || c == ']') {
        return detail::batch_error(m, lines.at(p.offset),
                                   std::string{p.hi ? ":hi" : ":lo"} + " right after a name or a number reads as "
                                   "an array slice's bound too (arr[lo:hi]); put a space before it, or name the "
                                   "slice's bounds otherwise");
      }
    }
    const std::size_t i = skip_back(p.offset);
    const char before = i > 0 ? m.sql[i - 1] : ' ';
    const char before2 = i > 1 ? m.sql[i - 2] : ' ';
    const std::size_t j = skip_ahead(p.offset + 3);
    const char after = j < m.sql.size() ? m.sql[j] : ' ';
    const char after2 = j + 1 < m.sql.size() ? m.sql[j + 1] : ' ';
    const char outward = p.hi ? '<' : '>';  // the operator that excludes the placeholder's own key
    const char inward = p.hi ? '>' : '<';
    const bool strict_before = before == outward && before2 != '<' && before2 != '>' && before2 != '=';
    const bool strict_after = after == inward && after2 != '=' && after2 != '>';
    if (!strict_before && !strict_after) continue;
    return detail::batch_error(
        m, lines.at(p.offset),
        std::string{p.hi ? ":hi is the last key of the batch and belongs to it: write `<= :hi`"
                         : ":lo is the first key of the batch and belongs to it: write `>= :lo`"} +
            " (or `BETWEEN :lo AND :hi`); a strict comparison would skip one row at the edge of every batch");
  }
  return outcome::success();
}

// The greatest key of `relation`, each column as text, as a one-row SELECT:
// a job's upper bound when it is queued (ledger/background_jobs.hpp), and
// the one a rehearsal of its first batch works below (detail/run/dry_run.hpp).
[[nodiscard]] inline std::string greatest_key_sql(const std::string& relation, const std::vector<std::string>& columns) {
  std::string greatest;
  std::string order;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const std::string c = lockstep::detail::quote_ident(columns[i]);
    greatest += (i ? ", " : "") + c + "::text";
    order += (i ? ", " : "") + c + " DESC";
  }
  return "SELECT ARRAY[" + greatest + "] FROM " + relation + " ORDER BY " + order + " LIMIT 1";
}

// A probe's row (probe_sql below): how many keys the batch has, and its
// first and last key, each column as text.
struct ProbedBatch {
  std::int64_t rows = 0;
  std::vector<std::string> lo;
  std::vector<std::string> hi;
};

[[nodiscard]] inline ProbedBatch probed_batch(const Row& r, std::size_t key_columns) {
  ProbedBatch b;
  b.rows = lockstep::detail::to_int64(r[0]);
  for (std::size_t i = 0; i < key_columns; ++i) {
    b.lo.push_back(lockstep::detail::to_text(r[1 + i]));
    b.hi.push_back(lockstep::detail::to_text(r[1 + key_columns + i]));
  }
  return b;
}

// The keyset probe: the first and last key of the next batch (at most
// `size` keys after `cursor`, none above `upper`) and how many keys it has.
// No row: nothing is left. `cursor` empty: the job has not started.
// Columns: count, then the first key's columns as text, then the last's.
[[nodiscard]] inline std::string probe_sql(const std::string& relation, const std::vector<std::string>& columns,
                                           const std::vector<std::string>& types,
                                           const std::vector<std::string>& cursor,
                                           const std::vector<std::string>& upper, std::int64_t size) {
  std::string key;
  std::string asc;
  std::string desc;
  std::string text;
  // Ordered by b's own columns: an output column `id::text` keeps the
  // name id, and ORDER BY id would then sort the keys as text.
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const std::string c = lockstep::detail::quote_ident(columns[i]);
    key += (i ? ", " : "") + c;
    asc += (i ? ", b." : "b.") + c;
    desc += (i ? ", b." : "b.") + c + " DESC";
    text += (i ? ", b." : "b.") + c + "::text AS k" + std::to_string(i);
  }
  const std::string row = columns.size() == 1 ? key : "(" + key + ")";
  std::string where = row + " <= " + key_literal(upper, types);
  if (!cursor.empty()) where += " AND " + row + " > " + key_literal(cursor, types);
  return "WITH b AS MATERIALIZED (SELECT " + key + " FROM " + relation + " WHERE " + where + " ORDER BY " + key +
         " LIMIT " + std::to_string(size) + "), f AS (SELECT " + text + " FROM b ORDER BY " + asc +
         " LIMIT 1), l AS (SELECT " + text + " FROM b ORDER BY " + desc +
         " LIMIT 1) SELECT (SELECT count(*) FROM b), f.*, l.* FROM f, l";
}

}  // namespace lockstep::background
