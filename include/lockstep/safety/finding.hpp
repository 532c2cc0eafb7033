// One lock-safety finding: what safety/judge.hpp makes of a hazard, and what
// events, dry-run reports and the lint command show.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "lockstep/safety/config.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep::safety {

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

}  // namespace lockstep::safety
