// One finding of any rule (checks/rules.hpp): what events, dry-run reports
// and `lockstep lint` show. The lock rules fill table and size from the
// catalog; the statement rules leave them empty.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "lockstep/checks/level.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep::checks {

struct TableSize {
  bool exists = false;
  double rows = -1;  // pg_class.reltuples: -1 when never analyzed or vacuumed
  std::int64_t bytes = 0;
  // Partitions (or inheritance children) summed into rows and bytes: a
  // partitioned parent has no heap of its own, and most DDL on it does its
  // work in every partition.
  int parts = 0;
  // A finding about more than one table (a domain's columns, a schema's
  // tables): which ones, for the message; empty when none exists, so there
  // is nothing to scan.
  std::string of;
};

struct Finding {
  std::string rule;
  Level level = Level::warning;
  std::string message;
  sql::Position position;
  std::string table;
  std::optional<TableSize> size;  // when the catalog was asked
  bool needs_database = false;    // offline: the catalog could dismiss it or make it an error
  std::string allowed;            // the reason of a `-- lockstep:allow=<rule>` that accepts it; empty: not accepted

  // Stops the deploy before anything runs.
  [[nodiscard]] bool blocks() const noexcept { return level == Level::error && allowed.empty(); }
};

}  // namespace lockstep::checks

// The lock rules' engine (safety/: analyze, judge, catalog) names them so.
namespace lockstep::safety {
using checks::Finding;
using checks::Level;
using checks::TableSize;
using checks::to_string;
}  // namespace lockstep::safety

namespace lockstep {
using checks::Finding;
}  // namespace lockstep
