// reindex_not_concurrent: REINDEX without CONCURRENTLY (an index, a table, or a schema, database or the catalogs).
//
// Detection: detect() below; the shared statement reader (safety/analyze.hpp)
// says which tables were there before the run.
// Sized by: the table's size; of a schema, the database or the catalogs, the largest table (Catalog::size_of).
#pragma once

#include <string>

#include "lockstep/checks/rule.hpp"
#include "lockstep/safety/scan.hpp"
#include "lockstep/sql/lexer.hpp"

namespace lockstep::checks::rules::reindex_not_concurrent {

inline constexpr Rule rule{"reindex_not_concurrent", Rule::Kind::lock, true,
  "blocks writes, and reads that use the index, for the whole rebuild",
  "use REINDEX INDEX/TABLE ... CONCURRENTLY (PostgreSQL 12+) in a `-- lockstep:no-transaction` migration, "
  "naming what needs it; reindex a whole schema, database or the system catalogs outside deploys"};

// REINDEX [(options)] {INDEX|TABLE|SCHEMA|DATABASE|SYSTEM} [CONCURRENTLY] name.
// A schema, database or the catalogs in a migration run at deploy like
// anything else: each table in turn, sized by the largest.
inline void detect(safety::Scan& s) {
  const auto& r = s.r;
  std::size_t i = 1;
  bool concurrently = false;
  if (r.punct(i, '(')) {
    const auto o = r.options(i);
    concurrently = o.on("concurrently");
    i = o.next;
  }
  const bool index = r.is(i, "index"), table = r.is(i, "table"), schema = r.is(i, "schema"),
             system = r.is(i, "system");
  if (!index && !table && !schema && !system && !r.is(i, "database")) return;
  const std::string kind = sql::detail::upper(r.at(i)->text);
  ++i;
  if (r.is(i, "concurrently")) {
    concurrently = true;
    ++i;
  }
  if (concurrently) return;
  const auto name = r.name(i);
  if (index || table) {
    const std::string live = s.existing(name);
    if (!live.empty()) s.add(0, rule.id, live, "REINDEX " + kind + " " + live);
    return;
  }
  auto& h = s.add(0, rule.id, name.text, "REINDEX " + kind + (name.text.empty() ? "" : " " + name.text),
                  "every index, each table in turn");
  h.object = schema ? safety::Object::schema : system ? safety::Object::catalogs : safety::Object::database;
}

}  // namespace lockstep::checks::rules::reindex_not_concurrent
