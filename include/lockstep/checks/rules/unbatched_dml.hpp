// unbatched_dml: an UPDATE or DELETE (also inside WITH) of a live table in a boot migration, in one transaction.
//
// Detection: detect() below, called by the shared statement reader
// (safety/analyze.hpp) for every statement; never in a background file
// (`-- lockstep:background`), whose statements already run batch by batch.
// Question: is the table empty, or does the WHERE pin one row, an equality
// with a constant on every key column of a unique index? Then no finding
// (ask() below: the table's size, which the judge reuses, and one catalog
// query, which also reads the key the suggested background file walks by);
// otherwise the table's size sets the level.
//
// Why the catalog and not the planner: the planner's estimate (EXPLAIN) would
// catch more selective WHEREs, but EXPLAIN of an UPDATE takes the table's ROW
// EXCLUSIVE lock to plan it, so it queues behind any DDL in flight (breaking
// pre-flight's promise that no user table is locked), and it fails on a
// column or table an earlier statement of the same run creates, which the
// text reader follows. A unique index read from pg_index needs no lock and
// says for sure that at most one row matches. So: no WHERE (every row) is
// certain, an error on a big table like every sized rule; a WHERE that is
// not such a pin may match few rows or all of them (`possibly`: a warning,
// whatever the size); a pin is no finding.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/checks/rule.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/safety/catalog.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::unbatched_dml {

inline constexpr Rule rule{"unbatched_dml", Rule::Kind::lock, true,
  "writes every row it matches in the boot's one transaction: each stays locked against the application's "
  "writes until the migration commits, and the deploy waits for all of them",
  "a background migration (docs/background.md), run batch by batch after the app serves, each batch its own "
  "short transaction"};

// The suggested file: the four lines of a background migration over
// `table`, walked by `key` (its columns, comma-separated; empty: unknown).
[[nodiscard]] inline std::string example(const std::string& table, const std::string& key, bool is_delete) {
  const std::string k = key.empty() ? "<key>" : key;
  const std::string range = key.find(',') == std::string::npos ? k : "(" + k + ")";
  return std::string{rule.instead} + "; in a file of its own:\n    -- lockstep:background\n    -- lockstep:batch-over=" +
         table + "(" + k + ")\n    -- lockstep:batch-size=1000\n    " +
         (is_delete ? "DELETE FROM " + table + " WHERE " : "UPDATE " + table + " SET ... WHERE ") + range +
         " BETWEEN :lo AND :hi" + (key.empty() ? " (<key>: its primary key)" : "");
}

namespace detail {

// A constant: literals, numbers, $n parameters, a sign, and casts (`'x'::uuid`).
[[nodiscard]] inline bool constant(const sql::Reader& r, std::size_t from, std::size_t to) {
  if (from >= to) return false;
  for (std::size_t i = from; i < to; ++i) {
    const auto* t = r.at(i);
    if (t == nullptr) return false;
    using K = sql::Token::Kind;
    if (t->kind == K::literal || t->kind == K::number || r.punct(i, '-') || r.punct(i, '+') || r.punct(i, '$')) continue;
    if (t->kind == K::punct && t->text == "::" && i + 1 < to && r.at(i + 1)->is_name()) {
      ++i;  // the type's name
      continue;
    }
    return false;
  }
  return true;
}

// `col`, `alias.col` or `table.col`: the column as the catalog spells it, or "".
[[nodiscard]] inline std::string column(const sql::Reader& r, std::size_t from, std::size_t to,
                                        const std::vector<std::string>& qualifiers) {
  const auto n = r.name(from);
  if (n.text.empty() || n.next != to) return {};
  if (!n.schema.empty()) {
    bool ours = false;
    for (const auto& q : qualifiers) ours = ours || q == n.schema;
    if (!ours) return {};
  }
  return n.folded;
}

// The columns a WHERE clause [from, to) holds equal to a constant in every
// row it matches: its terms joined by AND at depth 0 (an OR anywhere at depth
// 0: none), each `col = constant` or `constant = col`.
[[nodiscard]] inline std::vector<std::string> pinned(const sql::Reader& r, std::size_t from, std::size_t to,
                                                     const std::vector<std::string>& qualifiers) {
  std::vector<std::string> out;
  std::vector<std::pair<std::size_t, std::size_t>> terms;
  int depth = 0;
  std::size_t term = from;
  bool between = false;  // BETWEEN x AND y: that AND is the BETWEEN's
  for (std::size_t i = from; i < to; ++i) {
    if (r.punct(i, '(') || r.punct(i, '[')) ++depth;
    else if (r.punct(i, ')') || r.punct(i, ']')) --depth;
    else if (depth == 0 && r.is(i, "or")) return {};
    else if (depth == 0 && r.is(i, "between")) between = true;
    else if (depth == 0 && r.is(i, "and")) {
      if (between) {
        between = false;
        continue;
      }
      terms.emplace_back(term, i);
      term = i + 1;
    }
  }
  terms.emplace_back(term, to);
  for (const auto& [a, b] : terms) {
    const std::size_t eq = r.find(a, b, [](const sql::Token& t, std::size_t) { return t.is_punct('='); });
    if (eq >= b) continue;
    std::string col = column(r, a, eq, qualifiers);
    if (!col.empty() && constant(r, eq + 1, b)) {
      out.push_back(std::move(col));
      continue;
    }
    col = column(r, eq + 1, b, qualifiers);
    if (!col.empty() && constant(r, a, eq)) out.push_back(std::move(col));
  }
  return out;
}

// The end of the DML that starts at `at`: its closing parenthesis when it is
// a WITH query's `( ... )`, else the statement's end.
[[nodiscard]] inline std::size_t end_of(const sql::Reader& r, std::size_t at) {
  int depth = 0;
  for (std::size_t i = at; i < r.size(); ++i) {
    if (r.punct(i, '(') || r.punct(i, '[')) ++depth;
    else if ((r.punct(i, ')') || r.punct(i, ']')) && --depth < 0) return i;
  }
  return r.size();
}

}  // namespace detail

// One UPDATE or DELETE at token `at`, ending before token `end`.
inline void dml(safety::Scan& s, std::size_t at, std::size_t end) {
  const auto& r = s.r;
  const bool is_delete = r.is(at, "delete");
  std::size_t i = at + (is_delete ? 2 : 1);
  const bool only = r.is(i, "only");
  if (only) ++i;
  const auto table = r.name(i);
  const std::string live = s.existing(table);
  if (live.empty()) return;  // created in this run: nobody waits on it
  std::vector<std::string> qualifiers{table.folded};
  std::size_t j = table.next;
  if (r.punct(j, '*')) ++j;
  if (r.is(j, "as")) ++j;
  if (j < end && r.at(j)->is_name() && !r.is(j, "set") && !r.is(j, "where") && !r.is(j, "using") &&
      !r.is(j, "returning"))
    qualifiers.push_back(r.at(j)->folded);
  const std::size_t where = r.find(j, end, [](const sql::Token& t, std::size_t) { return t.is("where"); });
  if (where < end && r.is(where + 1, "current") && r.is(where + 2, "of")) return;  // the cursor's one row
  const std::string verb = is_delete ? "DELETE FROM " : "UPDATE ";
  if (where >= end) {
    auto& h = s.add(at, rule.id, live, verb + live + " without a WHERE");
    h.only = only;
    h.question = safety::Question::unique_pin;
    h.target = is_delete ? "delete" : "update";
    h.instead = example(live, "", is_delete);  // the catalog names the key
    return;
  }
  const std::size_t stop = r.find(where + 1, end, [](const sql::Token& t, std::size_t) { return t.is("returning"); });
  auto& h = s.add(at, rule.id, live, verb + live);
  h.only = only;
  h.certain = false;  // the WHERE may match a few rows or all of them
  h.note = "its WHERE does not pin one row by a unique key";
  h.question = safety::Question::unique_pin;
  h.target = is_delete ? "delete" : "update";
  h.named = detail::pinned(r, where + 1, stop, qualifiers);
  h.instead = example(live, "", is_delete);
}

// UPDATE / DELETE FROM as the statement, or as a query of its WITH (a CTE's
// body or the main statement).
inline void detect(safety::Scan& s) {
  if (s.background) return;  // batched already: that is the safe form
  const auto& r = s.r;
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (i > 0 && !(r.is(0, "with") && (r.punct(i - 1, '(') || r.punct(i - 1, ')')))) continue;
    const bool update = r.is(i, "update");
    const bool del = r.is(i, "delete") && r.is(i + 1, "from");
    if (update || del) dml(s, i, i == 0 ? r.size() : detail::end_of(r, i));
  }
}

// One query: is there a valid unique index (not partial, no expression key)
// whose key columns are all among the pinned ones? Then at most one row
// matches: no finding. Else the key for the example: the primary key, or the
// narrowest unique index whose columns are all NOT NULL (what batch-over takes).
// An empty table (no pages at all, like not_null_without_default's) has
// nothing to lock: no finding. (The size is cached for the judge.)
[[nodiscard]] inline result<safety::Answer> ask(safety::Catalog& catalog, const safety::Hazard& h) {
  safety::Answer a;
  LOCKSTEP_TRY(size, catalog.size(h.table, !h.only));
  if (size.exists && size.bytes == 0) {
    a.dismissed = true;
    return a;
  }
  auto rows = catalog.connection().query(
      "WITH idx AS ("
      "  SELECT i.indisprimary AS primary_key, array_agg(a.attname::text ORDER BY k.n) AS cols,"
      "   bool_and(a.attnotnull) AS not_null"
      "  FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)"
      "  LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0"
      "  WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indisvalid AND i.indpred IS NULL"
      "   AND k.n <= i.indnkeyatts"
      "  GROUP BY i.indexrelid, i.indisprimary HAVING bool_and(a.attnum IS NOT NULL)) "
      "SELECT coalesce(bool_or(cols <@ $2::text[]), false),"
      " (SELECT array_to_string(array(SELECT quote_ident(c) FROM unnest(k.cols) c), ', ') FROM idx k"
      "  WHERE k.not_null ORDER BY k.primary_key DESC, cardinality(k.cols) LIMIT 1) FROM idx",
      h.table, safety::detail::text_array(h.named));
  if (!rows) return std::move(rows).error();
  if (rows.value().empty()) return a;
  const auto& row = rows.value()[0];
  a.dismissed = row[0].value_or("f") == "t";
  a.instead = example(h.table, row[1].value_or(""), h.target == "delete");
  return a;
}

}  // namespace lockstep::checks::rules::unbatched_dml
