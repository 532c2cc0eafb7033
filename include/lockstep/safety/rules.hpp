// The lock-safety rules: a stable id each, what the statement does to a live
// table, and the safe way to get the same schema. Ids are part of the API:
// settings, `-- lockstep:allow=<id>` and the ledger name them.
//
// `sized` rules block reads or writes for as long as the work takes, which
// grows with the table: the leader reads the table's size at pre-flight and
// they stop the deploy on a table at or above LockSafety::error_rows. The
// others are warnings unless configured otherwise (safety/config.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

namespace lockstep::safety {

struct Rule {
  std::string_view id;
  bool sized;                 // lock time grows with the table's size
  std::string_view blocks;    // what the lock blocks, for messages
  std::string_view instead;   // the safe alternative
};

inline constexpr std::array rules{
    Rule{"index_not_concurrent", true, "blocks writes (SHARE lock) for the whole build",
         "use CREATE INDEX CONCURRENTLY in a `-- lockstep:no-transaction` migration"},
    Rule{"drop_index_not_concurrent", false, "takes ACCESS EXCLUSIVE on the table, queueing every query behind it",
         "use DROP INDEX CONCURRENTLY IF EXISTS in a `-- lockstep:no-transaction` migration"},
    Rule{"reindex_not_concurrent", true, "blocks writes, and reads that use the index, for the whole rebuild",
         "use REINDEX ... CONCURRENTLY (PostgreSQL 12+) in a `-- lockstep:no-transaction` migration"},
    Rule{"constraint_scan", true, "scans the table under ACCESS EXCLUSIVE to validate it",
         "add it NOT VALID, then VALIDATE CONSTRAINT in a later migration (it only takes SHARE UPDATE EXCLUSIVE)"},
    Rule{"foreign_key_scan", true,
         "scans the table to validate it while both tables are locked against writes (SHARE ROW EXCLUSIVE)",
         "add it NOT VALID, then VALIDATE CONSTRAINT in a later migration"},
    Rule{"unique_constraint_build", true, "builds its index under ACCESS EXCLUSIVE (no reads, no writes)",
         "CREATE UNIQUE INDEX CONCURRENTLY first (no-transaction migration), then ADD CONSTRAINT ... "
         "UNIQUE/PRIMARY KEY USING INDEX, which is instant"},
    Rule{"volatile_default", true, "rewrites the table under ACCESS EXCLUSIVE (a volatile default is computed per row)",
         "add the column without a default (or with a constant one), SET DEFAULT afterwards, and backfill in batches"},
    Rule{"generated_column", true,
         "rewrites the table under ACCESS EXCLUSIVE (serial, identity and stored generated columns fill every row)",
         "add a plain column, backfill it in batches, then attach the sequence or default"},
    Rule{"type_change", true, "rewrites the table and its indexes under ACCESS EXCLUSIVE",
         "add a new column of the new type, backfill it, switch the code, then drop the old one (contract)"},
    Rule{"set_not_null", true, "scans the table under ACCESS EXCLUSIVE to check for NULLs",
         "ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a later migration, then SET NOT NULL "
         "(PostgreSQL 12+ uses the validated check and skips the scan)"},
    Rule{"table_rewrite", true, "rewrites the whole table under ACCESS EXCLUSIVE",
         "avoid it at deploy time; pg_repack or a maintenance window does this without blocking the application"},
    Rule{"rename_breaks_old_code", false, "breaks the replicas of the previous image, which still use the old name",
         "add the new column or table (expand), copy and switch the code, then drop the old one in a "
         "`-- lockstep:phase=contract` migration; or a view under the old name"},
    Rule{"drop_breaks_old_code", false, "breaks the replicas of the previous image that still use it",
         "drop it in a `-- lockstep:phase=contract` migration, which runs once no older replica is alive"},
    Rule{"validate_same_transaction", false,
         "keeps the ACCESS EXCLUSIVE lock of the ADD ... NOT VALID while VALIDATE scans the table",
         "VALIDATE CONSTRAINT in a later migration, so the scan runs under SHARE UPDATE EXCLUSIVE only"},
    Rule{"lock_held_across_statements", false,
         "runs while the ACCESS EXCLUSIVE lock of an earlier statement in the same transaction is still held",
         "put the statement that takes ACCESS EXCLUSIVE last, or in a migration of its own"},
    Rule{"json_column", false, "uses json, which has no equality operator (DISTINCT, GROUP BY and UNION on it "
                               "fail) and is parsed again on every read; not a lock problem",
         "use jsonb"},
};

// Every rule id, comma-separated: for messages that name the choices.
[[nodiscard]] inline std::string rule_ids() {
  std::string out;
  for (const auto& r : rules) out += (out.empty() ? "" : ", ") + std::string{r.id};
  return out;
}

[[nodiscard]] constexpr const Rule* find_rule(std::string_view id) {
  for (const auto& r : rules) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

}  // namespace lockstep::safety
