// row_type_change: a column added, dropped, renamed or retyped on a live table.
//
// Detection: detect() below, for ALTER TABLE ... ADD / DROP / RENAME COLUMN
// and ALTER COLUMN ... TYPE of a table that existed before the run (the
// shared statement reader, safety/analyze.hpp, tells it from a new one).
// A contract migration included: that is where the drop that stales the
// serving replicas' plans is applied while they serve.
// Level: info by default, never more (checks/rule.hpp, Rule::info): it
// names a consequence to plan for, not a reason to stop a deploy; a team
// may raise it with `--lock-rule row_type_change=warning`.
// Not sized: any traffic with a prepared `SELECT *` is enough. The leader
// measures the exact change at apply time (docs/schema-changes.md).
#pragma once

#include <cstddef>
#include <string>

#include "lockstep/checks/rule.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::row_type_change {

inline constexpr Rule rule{"row_type_change", Rule::Kind::lock, false,
  "changes its row type: prepared `SELECT *` and `RETURNING *` statements on it then fail with SQLSTATE 0A000 "
  "(cached plan must not change result type) on the replicas serving, until they are prepared again",
  "name the columns in prepared statements instead of `*`, or re-prepare them in "
  "HeartbeatOptions::on_schema_change (docs/schema-changes.md)",
  false, true};

// The action at token `a` (`what`: "ADD COLUMN c", ...) on `live`, the
// table when it existed before the run, else "".
// Never sized: a table's size says nothing about it, and sizing takes a lock
// on the table (pg_relation_size), which would hold pre-flight behind a
// session that has it locked, for a finding that never blocks.
inline void detect(safety::Scan& s, const std::string& live, std::size_t a, const std::string& what) {
  if (!live.empty()) s.add(a, rule.id, live, what + " on " + live).ask_size = false;
}

}  // namespace lockstep::checks::rules::row_type_change
