// table_rewrite: VACUUM FULL, CLUSTER, SET TABLESPACE / LOGGED / UNLOGGED of a live table.
//
// Detection: vacuum(), cluster() and set_storage() below, called by the
// shared statement reader (safety/analyze.hpp), which says which tables were
// there before the run.
// Question: is the table logged / unlogged / in that tablespace already? Then
// nothing is rewritten (ask() below, one catalog query); then the table's size.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "lockstep/checks/rule.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/safety/catalog.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::table_rewrite {

inline constexpr Rule rule{"table_rewrite", Rule::Kind::lock, true,
  "rewrites the whole table under ACCESS EXCLUSIVE",
  "avoid it at deploy time; pg_repack or a maintenance window does this without blocking the application"};

// VACUUM FULL and CLUSTER: of one table (which they lock), or (no name) of many.
inline void rewrite(safety::Scan& s, safety::Effect& e, const sql::Name& table, const std::string& verb,
                    const std::string& of_all) {
  if (table.text.empty()) {
    s.add(0, rule.id, "", of_all);
    return;
  }
  const std::string live = s.existing(table);
  if (live.empty()) return;
  e.exclusive_table = live;
  s.add(0, rule.id, live, verb + " " + live);
}

// VACUUM [FULL] [FREEZE] [VERBOSE] [ANALYZE] name, or VACUUM (options) name.
inline void vacuum(safety::Scan& s, safety::Effect& e) {
  const auto& r = s.r;
  std::size_t i = 1;
  bool full = false;
  if (r.punct(i, '(')) {
    const auto o = r.options(i);
    full = o.on("full");
    i = o.next;
  } else {
    while (r.is(i, "full") || r.is(i, "freeze") || r.is(i, "verbose") || r.is(i, "analyze") || r.is(i, "analyse")) {
      full = full || r.is(i, "full");
      ++i;
    }
  }
  if (full) rewrite(s, e, r.name(i), "VACUUM FULL", "VACUUM FULL of every table in the database");
}

// CLUSTER [VERBOSE] [(options)] table [USING index], or the old spelling,
// which names the index first: CLUSTER index ON table.
inline void cluster(safety::Scan& s, safety::Effect& e) {
  const auto& r = s.r;
  std::size_t i = 1;
  if (r.is(i, "verbose")) ++i;
  if (r.punct(i, '(')) i = r.after_parens(i);
  auto table = r.name(i);
  if (r.is(table.next, "on")) table = r.name(table.next + 1);
  rewrite(s, e, table, "CLUSTER", "CLUSTER of every previously clustered table");
}

// The ALTER TABLE action SET TABLESPACE t / SET LOGGED / SET UNLOGGED at
// token `a`; `live`: the table when it existed before the run, else "".
// Rewritten only when it changes something: the catalog says whether the
// table is logged already, or in that tablespace.
inline void set_storage(safety::Scan& s, const std::string& live, std::size_t a) {
  const auto& r = s.r;
  if (live.empty()) return;
  const bool tablespace = r.is(a + 1, "tablespace");
  auto& h = s.add(a, rule.id, live,
                  "SET " + r.at(a + 1)->text + (tablespace ? " " + r.name(a + 2).text : "") + " on " + live);
  h.only = true;  // neither recurses to partitions or inheritance children
  h.certain = false;
  h.question = tablespace ? safety::Question::tablespace : safety::Question::persistence;
  h.target = tablespace ? r.name(a + 2).folded : r.is(a + 1, "logged") ? "p" : "u";
}

// SET LOGGED / SET UNLOGGED / SET TABLESPACE change nothing, and rewrite
// nothing, when the table is so already: `persistence` is "p" (logged) or
// "u" (unlogged); a tablespace is named as the catalog spells it.
[[nodiscard]] inline result<bool> persistence_is(safety::Catalog& catalog, const std::string& table,
                                                 const std::string& persistence) {
  auto rows = catalog.connection().query(
      "SELECT relpersistence::text = $2 FROM pg_class WHERE oid = to_regclass($1)", table, persistence);
  if (!rows) return std::move(rows).error();
  return !rows.value().empty() && rows.value()[0][0].value_or("f") == "t";
}
[[nodiscard]] inline result<bool> in_tablespace(safety::Catalog& catalog, const std::string& table,
                                                const std::string& tablespace) {
  auto rows = catalog.connection().query(
      "SELECT t.spcname = $2 FROM pg_class c JOIN pg_tablespace t ON t.oid = coalesce(nullif(c.reltablespace, 0),"
      " (SELECT dattablespace FROM pg_database WHERE datname = current_database())) WHERE c.oid = to_regclass($1)",
      table, tablespace);
  if (!rows) return std::move(rows).error();
  return !rows.value().empty() && rows.value()[0][0].value_or("f") == "t";
}

// So already: nothing is rewritten, no finding.
[[nodiscard]] inline result<safety::Answer> ask(safety::Catalog& catalog, const safety::Hazard& h) {
  LOCKSTEP_TRY(already, h.question == safety::Question::persistence ? persistence_is(catalog, h.table, h.target)
                                                                    : in_tablespace(catalog, h.table, h.target));
  safety::Answer a;
  a.dismissed = already;
  a.certain = true;
  return a;
}

}  // namespace lockstep::checks::rules::table_rewrite
