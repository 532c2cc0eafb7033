// A migration that changed row types, as running replicas learn it.
//
// A prepared `SELECT *` or `... RETURNING *` whose table gained, lost or
// retyped a column fails with SQLSTATE 0A000 ("cached plan must not change
// result type") on every connection that prepared it, until the statement
// is deallocated. The leader records which relations' row types each
// migration changed (in its ledger row, in the migration's transaction) and
// sends a NOTIFY when it commits; every heartbeat learns it at its next beat
// and calls HeartbeatOptions::on_schema_change (docs/schema-changes.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lockstep {

// NOTIFY channel the leader sends a SchemaChange's JSON on, at COMMIT:
// {"ledger", "version", "phase" ("expand" | "contract"), "relations"
// (schema-qualified, quoted as the server quotes names; null when the list
// did not fit the 8000-byte payload: read it from the ledger), "count"}.
inline constexpr const char* schema_change_channel = "lockstep_schema_change";

struct SchemaChange {
  std::string ledger;          // schema.table of the ledger that recorded it
  std::int64_t version = 0;    // the migration
  std::string name;            // its name
  bool contract = false;       // applied as a contract migration
  // Relations whose row type (column names, types, typmods, numbers,
  // dropped columns) changed, or that were dropped: "schema"."table" as
  // quote_ident() spells each part. Partitions are reported as their root.
  std::vector<std::string> relations;
};

}  // namespace lockstep
