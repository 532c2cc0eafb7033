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
         "use REINDEX INDEX/TABLE ... CONCURRENTLY (PostgreSQL 12+) in a `-- lockstep:no-transaction` migration, "
         "naming what needs it; reindex a whole schema, database or the system catalogs outside deploys"},
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
    // Sized: the scan it meant to avoid runs under the ADD's lock (ACCESS
    // EXCLUSIVE for a CHECK, SHARE ROW EXCLUSIVE on both tables for a
    // FOREIGN KEY), exactly as if NOT VALID had been left out.
    Rule{"validate_same_transaction", true,
         "scans the table while the same transaction still holds the lock of its ADD ... NOT VALID (ACCESS "
         "EXCLUSIVE for a CHECK; SHARE ROW EXCLUSIVE on both tables, no writes, for a FOREIGN KEY)",
         "VALIDATE CONSTRAINT in a later migration, so the scan runs under SHARE UPDATE EXCLUSIVE only"},
    Rule{"lock_held_across_statements", false,
         "runs while the ACCESS EXCLUSIVE lock of an earlier statement in the same transaction is still held",
         "put the statement that takes ACCESS EXCLUSIVE last, or in a migration of its own"},
    Rule{"detach_partition_not_concurrent", false,
         "takes ACCESS EXCLUSIVE on the partitioned table and the partition, queueing every query on the table "
         "behind it",
         "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY (PostgreSQL 14+; SHARE UPDATE EXCLUSIVE) in a "
         "`-- lockstep:no-transaction` migration"},
    // Sized by every table with a column of the domain (or of a domain over
    // it), summed: the statement holds SHARE on each until it commits.
    Rule{"domain_constraint_scan", true,
         "checks every column that uses the domain, holding SHARE (no writes) on each of their tables for the scan",
         "ADD the constraint NOT VALID (instant: new values are checked from then on); ALTER DOMAIN ... VALIDATE "
         "CONSTRAINT takes the same SHARE locks for its scan (PostgreSQL 15 to 18), so validate when those tables' "
         "writes can wait, or put NOT VALID CHECKs on the tables and VALIDATE those (SHARE UPDATE EXCLUSIVE)"},
    // Not a lock: the statement fails at deploy, after the migrations before
    // it ran. An error once the catalog shows the table has rows.
    Rule{"not_null_without_default", false,
         "fails (23502) on a table that has rows: every existing row would get NULL",
         "give it a DEFAULT (a constant one is instant on PostgreSQL 11+), or add it nullable, backfill it in "
         "batches, then SET NOT NULL the safe way (a validated CHECK (col IS NOT NULL) first)"},
    Rule{"truncate_cascade", false,
         "also empties every table whose foreign keys reference it (and theirs, recursively), under ACCESS "
         "EXCLUSIVE on each",
         "TRUNCATE the tables you mean by name, without CASCADE: it then fails instead of emptying a table you did "
         "not name"},
    Rule{"drop_database", false,
         "drops a whole database during a deploy; it fails (55006) while any session is connected to it, and "
         "lockstep's own database cannot be dropped",
         "drop databases by hand, outside migrations, once nothing uses them"},
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
