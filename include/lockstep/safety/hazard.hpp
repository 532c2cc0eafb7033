// What the text of a migration says it will do to a live table, before the
// catalog is asked how big the table is or what its column's type is now.
#pragma once

#include <string>
#include <vector>

#include "lockstep/sql/splitter.hpp"

namespace lockstep::safety {

// What only the database can settle: each asked by its rule (checks/rules/<id>.hpp:
// ask(), one catalog query), sent there by safety/judge.hpp.
enum class Question {
  none,             // the text is enough
  default_volatile, // are the functions the default calls volatile?
  type_rewrite,     // is the new type binary-coercible from the column's current one?
  not_null_check,   // is there a validated CHECK (col IS NOT NULL)? (or one `validated` validates in this run)
  persistence,      // is the table already logged ("p") / unlogged ("u"), as `target` asks? Then nothing is rewritten
  tablespace,       // is the table already in tablespace `target`? Then nothing moves
  has_rows,         // does the table have rows that a NOT NULL column without a default (of type `new_type`) fails on?
  cascades,         // which tables would TRUNCATE ... CASCADE empty beyond the ones `named`?
  database_use,     // is database `target` lockstep's own, or has it sessions? (DROP DATABASE then fails)
  unique_pin,       // does a unique index of the table have its key among the columns `named` (the WHERE pins them)?
};

// What Hazard::table names, and so what the finding is sized by.
enum class Object {
  table,     // that table, with its partitions or children unless `only`
  domain,    // every table with a column of the domain (or of a domain over it), summed
  schema,    // the largest table in it (REINDEX SCHEMA works one table at a time)
  database,  // the largest table of the current database; DROP DATABASE: not sized
  catalogs,  // the largest system catalog (REINDEX SYSTEM)
};

struct Hazard {
  std::string rule;       // an id from checks/rules.hpp
  sql::Position position; // in the file
  std::string table;      // as written (quoting and schema kept), for to_regclass(); may be empty
  std::string what;       // the part of the statement at fault, e.g. "CREATE INDEX ON orders"
  std::string note;       // why, when the rule has several causes (e.g. "serial")
  Question question = Question::none;
  std::string column;                  // type_rewrite, not_null_check (as the catalog spells it)
  std::string new_type;                // type_rewrite, as written
  std::vector<std::string> functions;  // default_volatile (folded names)
  // Index (in the same migration's hazards) of a finding this one stands on:
  // dismissed with it when the catalog dismisses that one. -1: none.
  int depends_on = -1;
  bool certain = true;  // false: the text alone cannot tell (offline: the finding needs a database)
  // ONLY was written: the statement touches the table alone, not its
  // partitions or inheritance children, so they are not counted in its size.
  bool only = false;
  Object object = Object::table;
  std::string target;                  // persistence, tablespace, database_use; unique_pin: "update" or "delete"
  std::vector<std::string> validated;  // not_null_check: constraints on `table` validated earlier in this run
  std::vector<std::string> named;      // cascades: every table the statement names, as written; unique_pin: the columns
  bool force = false;                  // database_use: DROP DATABASE ... WITH (FORCE) ends the sessions first
  bool ask_size = true;                // false: no table's size says anything about it (DROP DATABASE)
  std::string instead;                 // replaces the rule's safe alternative in the message when not empty
};

}  // namespace lockstep::safety
