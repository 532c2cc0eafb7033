// What the text of a migration says it will do to a live table, before the
// catalog is asked how big the table is or what its column's type is now.
#pragma once

#include <string>
#include <vector>

#include "lockstep/sql/splitter.hpp"

namespace lockstep::safety {

// What only the database can settle (safety/catalog.hpp answers it).
enum class Question {
  none,             // the text is enough
  default_volatile, // are the functions the default calls volatile?
  type_rewrite,     // is the new type binary-coercible from the column's current one?
  not_null_check,   // is there a validated CHECK (col IS NOT NULL)?
};

struct Hazard {
  std::string rule;       // an id from safety/rules.hpp
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
};

}  // namespace lockstep::safety
