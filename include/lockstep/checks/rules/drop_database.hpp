// drop_database: DROP DATABASE.
//
// Detection: detect() below (the statement names no table, so it needs
// nothing of the shared statement reader, safety/analyze.hpp).
// Question: is it lockstep's own database, or has it sessions? (ask() below,
// one catalog query). Not sized: no table's size says anything about it.
#pragma once

#include <cstdlib>
#include <string>
#include <utility>

#include "lockstep/checks/rule.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/safety/catalog.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::drop_database {

inline constexpr Rule rule{"drop_database", Rule::Kind::lock, false,
  "drops a whole database during a deploy; it fails (55006) while any session is connected to it, and "
  "lockstep's own database cannot be dropped",
  "drop databases by hand, outside migrations, once nothing uses them"};

// DROP DATABASE [IF EXISTS] name [[WITH] (FORCE)]: `s.r` from its first token.
inline void detect(safety::Scan& s) {
  const auto& r = s.r;
  if (!r.is(0, "drop") || !r.is(1, "database")) return;
  const auto db = r.name(r.skip_if_exists(2));
  if (db.text.empty()) return;
  auto& h = s.add(0, rule.id, db.text, "DROP DATABASE " + db.text);
  h.object = safety::Object::database;
  h.question = safety::Question::database_use;
  h.ask_size = false;
  h.target = db.folded;
  std::size_t o = db.next;
  if (r.is(o, "with")) ++o;
  h.force = r.punct(o, '(') && r.options(o).on("force");
}

// DROP DATABASE's target, as the catalog sees it now.
struct DatabaseUse {
  bool exists = false;
  bool current = false;  // lockstep's own: it cannot be dropped at all
  long sessions = 0;     // other sessions connected to it now
};

// Sessions are counted from pg_stat_activity, whose datname every role sees.
[[nodiscard]] inline result<DatabaseUse> database_use(safety::Catalog& catalog, const std::string& name) {
  auto rows = catalog.connection().query(
      "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1), $1 = current_database(),"
      " (SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid())",
      name);
  if (!rows) return std::move(rows).error();
  DatabaseUse u;
  if (rows.value().empty()) return u;
  const auto& row = rows.value()[0];
  u.exists = row[0].value_or("f") == "t";
  u.current = row[1].value_or("f") == "t";
  u.sessions = std::atol(row[2].value_or("0").c_str());
  return u;
}

// Not there: nothing to drop. Lockstep's own: it fails. With sessions and
// no FORCE: it fails unless they are gone by then (a warning).
[[nodiscard]] inline result<safety::Answer> ask(safety::Catalog& catalog, const safety::Hazard& h) {
  LOCKSTEP_TRY(u, database_use(catalog, h.target));
  safety::Answer a;
  a.dismissed = !u.exists;
  if (u.current) {
    a.fails = true;
    a.why = "it is the database lockstep migrates: PostgreSQL refuses to drop the currently open database";
  } else if (u.sessions > 0 && !h.force) {
    a.why = std::to_string(u.sessions) + " other session(s) are connected to it now; it fails unless they are gone "
            "by then";
  }
  return a;
}

}  // namespace lockstep::checks::rules::drop_database
