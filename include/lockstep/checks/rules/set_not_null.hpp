// set_not_null: ALTER COLUMN ... SET NOT NULL with no validated CHECK (col IS NOT NULL) to prove it.
//
// Detection: detect() below, for each SET NOT NULL action the shared
// statement reader (safety/analyze.hpp) finds in an ALTER TABLE of a live
// table. The proof this run builds (a CHECK (col IS NOT NULL) added, then
// validated) is kept across the run in Proofs below, which the reader feeds
// with every ADD CHECK, VALIDATE CONSTRAINT and DROP CONSTRAINT it walks.
// Question: does a validated check (or the column) prove it already, or one
// this run validates? (ask() below, one catalog query); then the table's size.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/checks/rule.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/safety/catalog.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::set_not_null {

inline constexpr Rule rule{"set_not_null", Rule::Kind::lock, true,
  "scans the table under ACCESS EXCLUSIVE to check for NULLs",
  "ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a later migration, then SET NOT NULL "
  "(PostgreSQL 12+ uses the validated check and skips the scan)"};

// SET NOT NULL's proof, across the run: CHECK (col IS NOT NULL)s added and
// the constraints validated, by table (keyed as safety/relations.hpp
// resolves it, "schema.name", like "created in this run").
class Proofs {
 public:
  // ADD [CONSTRAINT name] CHECK (col IS NOT NULL), with any parentheses
  // around it, tokens [from, end) after CHECK; `validated`: added without NOT
  // VALID. What makes a later SET NOT NULL skip its scan (PostgreSQL 12+).
  void added_check(const sql::Reader& r, const std::string& table, const std::string& name, std::size_t from,
                   std::size_t end, bool validated) {
    std::size_t open = 0;
    while (r.punct(from + open, '(')) ++open;
    const auto col = r.name(from + open);
    if (open == 0 || col.text.empty() || col.text.find('.') != std::string::npos || !r.is(col.next, "is") ||
        !r.is(col.next + 1, "not") || !r.is(col.next + 2, "null"))
      return;
    std::size_t k = col.next + 3;
    for (std::size_t c = 0; c < open; ++c, ++k) {
      if (!r.punct(k, ')')) return;
    }
    if (k < end && !r.is(k, "not") && !r.is(k, "no")) return;  // NOT VALID, NO INHERIT follow; anything else is more
    if (table.empty()) return;  // a table that is not there: nothing to prove
    // An unnamed one gets a key no constraint name has ("\x1f" first): it
    // cannot be named by a later VALIDATE, and it is never sent to the catalog.
    const std::string key = name.empty() ? "\x1f" + col.folded : name;
    checks_[table + '\x1f' + key] = col.folded;
    if (validated) validated_[table].insert(key);
  }

  // VALIDATE CONSTRAINT name of `table`.
  void validated(const std::string& table, const std::string& name) {
    if (!table.empty()) validated_[table].insert(name);
  }

  // DROP CONSTRAINT name of `table`: a check it drops proves nothing any more.
  void dropped(const std::string& table, const std::string& name) {
    validated_[table].erase(name);
    checks_.erase(table + '\x1f' + name);
  }

  // A check added in this run proves the column NOT NULL, and this run
  // validated it before the SET NOT NULL.
  [[nodiscard]] bool proven(const std::string& table, const std::string& column) const {
    const auto v = validated_.find(table);
    if (v == validated_.end()) return false;
    for (const auto& name : v->second) {
      const auto c = checks_.find(table + '\x1f' + name);
      if (c != checks_.end() && c->second == column) return true;
    }
    return false;
  }

  // The named constraints on `table` this run validated, for the catalog's question.
  [[nodiscard]] std::vector<std::string> validated_on(const std::string& table) const {
    std::vector<std::string> out;
    if (auto v = validated_.find(table); v != validated_.end()) {
      for (const auto& name : v->second) {
        if (name.rfind('\x1f', 0) != 0) out.push_back(name);
      }
    }
    return out;
  }

 private:
  std::map<std::string, std::string> checks_;                 // "table\x1fconstraint" -> column
  std::map<std::string, std::set<std::string>> validated_;  // table -> constraints (added valid, or VALIDATE)
};

// The action ALTER [COLUMN] c SET NOT NULL at token `a`; `key`: the table as
// safety/relations.hpp resolves it (what the proofs are keyed by), `live`:
// the table when it existed before the run, else "". Before PostgreSQL 12 no
// check spares the scan.
inline void detect(safety::Scan& s, const Proofs& proofs, const std::string& key, const std::string& live,
                   std::size_t a, const sql::Name& column) {
  if (live.empty() || proofs.proven(key, column.folded)) return;
  auto& h = s.add(a, rule.id, live, "ALTER COLUMN " + column.text + " SET NOT NULL on " + live);
  h.column = column.folded;
  if (s.server_version == 0 || s.server_version >= 120000) {
    h.question = safety::Question::not_null_check;
    h.certain = false;
    h.validated = proofs.validated_on(key);
  }
}

// A validated CHECK (col IS NOT NULL), or the column is NOT NULL already:
// SET NOT NULL then skips its scan (PostgreSQL 12+). `validated`: NOT
// VALID constraints that an earlier statement of this run validates, which
// count as validated by the time SET NOT NULL runs.
[[nodiscard]] inline result<bool> proves_not_null(safety::Catalog& catalog, const std::string& table,
                                                  const std::string& column,
                                                  const std::vector<std::string>& validated = {}) {
  auto rows = catalog.connection().query(
      "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND attnotnull)"
      " OR EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'c'"
      " AND (convalidated OR conname = ANY($3::text[]))"
      // (the definition of one not validated yet ends in " NOT VALID")
      " AND regexp_replace(pg_get_constraintdef(oid), ' NOT VALID$', '') = 'CHECK ((' || quote_ident($2) || ' IS NOT NULL))')",
      table, column, safety::detail::text_array(validated));
  if (!rows) return std::move(rows).error();
  return !rows.value().empty() && rows.value()[0][0].value_or("f") == "t";
}

// Proven already: the scan is skipped, no finding.
[[nodiscard]] inline result<safety::Answer> ask(safety::Catalog& catalog, const safety::Hazard& h) {
  LOCKSTEP_TRY(proven, proves_not_null(catalog, h.table, h.column, h.validated));
  safety::Answer a;
  a.dismissed = proven;
  a.certain = true;
  return a;
}

}  // namespace lockstep::checks::rules::set_not_null
