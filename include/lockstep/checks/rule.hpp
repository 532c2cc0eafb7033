// What every rule declares in its file (checks/rules/<id>.hpp): a stable id
// (settings, `-- lockstep:allow=<id>`, `--lock-rule <id>=<level>` and the
// ledger name it), what the statement does, and the safe alternative.
#pragma once

#include <string_view>

namespace lockstep::checks {

struct Rule {
  enum class Kind {
    statement,  // the text alone decides (a blocking finding: source_invalid, exit 65)
    lock,       // what it does to a live table, sized against the catalog (blocking: lock_unsafe, exit 16)
  };
  std::string_view id;
  Kind kind = Kind::lock;
  bool sized = false;         // lock time grows with the table's size
  std::string_view blocks;    // what the statement does, for messages
  std::string_view instead;   // the safe alternative
  // Guards a promise (docs/promises.md): always an error, never allowed.
  bool fixed = false;
  // Informs, never blocks: its findings are `info` unless configured
  // otherwise (row_type_change: a consequence to plan for, on every
  // column change of a live table).
  bool info = false;
};

}  // namespace lockstep::checks
