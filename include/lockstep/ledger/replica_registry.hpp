// The replica registry: which app images are running, so a contract
// migration can wait for the older ones to leave. One table next to the
// ledger; each replica keeps its row's lease alive with a heartbeat (one
// short connection and one UPDATE per beat), and a replica that vanishes
// stops counting when its lease expires.
//
// What makes it safe is one table lock: a contract migration's transaction
// takes SHARE ROW EXCLUSIVE on the registry while it checks that no older
// replica is alive and until it commits, and a registration takes ROW
// EXCLUSIVE before it checks the ledger for a contract it does not know. So
// an old image either registers first (and the contract waits for it) or
// sees the contract and refuses to start; never both miss each other.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/ledger_fields.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"

namespace lockstep {

class ReplicaRegistry {
 public:
  ReplicaRegistry() = default;
  ReplicaRegistry(std::string qualified_table, std::string qualified_ledger)
      : table_{std::move(qualified_table)}, ledger_{std::move(qualified_ledger)} {}

  [[nodiscard]] const std::string& qualified_table() const noexcept { return table_; }

  [[nodiscard]] std::string create_sql() const {
    return "CREATE TABLE IF NOT EXISTS " + table_ + " (\n"
           "  replica_id text PRIMARY KEY,\n"
           "  deploy_version text NOT NULL,\n"
           "  knows_version bigint NOT NULL,\n"
           "  expected_version bigint NOT NULL,\n"
           "  host text NOT NULL,\n"
           "  pid integer NOT NULL,\n"
           "  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),\n"
           "  last_seen timestamptz NOT NULL DEFAULT clock_timestamp(),\n"
           "  expires_at timestamptz NOT NULL)";
  }

  // Registers `r` for `lease`, unless the ledger has a contract migration
  // newer than anything `r`'s image knows: then nothing is written and that
  // migration is returned, for the caller to refuse to start.
  //
  // One round trip (enroll_sql): the server runs it as one implicit
  // transaction, which ends with the message, committed or rolled back,
  // whatever the client does meanwhile. Across round trips, a client frozen
  // in between (SIGSTOP, a paused VM, a lost network) kept the registry
  // locked until the server noticed, and an idle bound armed with SET LOCAL
  // did not help once a statement failed (a DBA's lock_timeout, a cancel):
  // PostgreSQL takes a SET LOCAL back at the abort, and the session sat
  // "idle in transaction (aborted)" for as long as the client slept. No
  // registry table yet (a ledger from before it, or the table dropped): the
  // LOCK fails, the whole message is rolled back, and the caller's next
  // statement (creating the table) runs outside any transaction.
  [[nodiscard]] result<std::optional<AppliedMigration>> enroll(Connection& conn, const ReplicaRecord& r,
                                                               std::chrono::milliseconds lease) {
    LOCKSTEP_TRY(contracted, conn.query(enroll_sql(r, lease)));
    if (contracted.empty()) return std::optional<AppliedMigration>{};
    return std::optional<AppliedMigration>{contract_from(contracted[0], 0)};
  }

  // One heartbeat, one statement: move the lease forward (only while it
  // holds: an expired replica must enroll again, which checks the ledger),
  // and count the live replicas older than `contract_version` (0: none asked).
  // No registry table (dropped, or the schema recreated): the row is gone
  // with it, so not renewed; enrolling again creates the table.
  [[nodiscard]] result<Renewal> renew(Connection& conn, const std::string& replica_id, std::chrono::milliseconds lease,
                                      std::int64_t contract_version) {
    auto renewed = renew_row(conn, replica_id, lease, contract_version);
    if (!renewed && detail::no_ledger_yet(renewed.error())) return Renewal{};
    return renewed;
  }

  [[nodiscard]] result<void> withdraw(Connection& conn, const std::string& replica_id) {
    auto gone = conn.query("DELETE FROM " + table_ + " WHERE replica_id = $1", replica_id);
    if (!gone && !detail::no_ledger_yet(gone.error())) return std::move(gone).error();
    return outcome::success();
  }

 private:
  [[nodiscard]] result<Renewal> renew_row(Connection& conn, const std::string& replica_id,
                                          std::chrono::milliseconds lease, std::int64_t contract_version) {
    LOCKSTEP_TRY(rows, conn.query("WITH r AS (UPDATE " + table_ +
                                      " SET last_seen = clock_timestamp(), expires_at = clock_timestamp() + $2 * "
                                      "interval '1 millisecond' WHERE replica_id = $1 AND expires_at > "
                                      "clock_timestamp() RETURNING 1) SELECT (SELECT count(*) FROM r), (SELECT "
                                      "count(*) FROM " + table_ +
                                      " WHERE replica_id <> $1 AND expires_at > clock_timestamp() AND knows_version < $3)",
                                  replica_id, std::to_string(lease.count()), std::to_string(contract_version)));
    Renewal out;
    if (!rows.empty()) {
      out.renewed = detail::to_int64(rows[0][0]) > 0;
      out.blockers = contract_version > 0 ? detail::to_int64(rows[0][1]) : 0;
    }
    if (!out.renewed) return out;  // enrolling again checks the ledger itself
    // A lease that held is renewed only for an image that knows every
    // contract migration in the ledger (its row's knows_version): one that
    // registered while a no-transaction contract ran (it cannot hold the
    // registry lock across its statements) is refused at its first beat
    // after the contract committed, not renewed for ever. A statement of its
    // own, after the renewal, so that a beat touches the ledger only once it
    // holds a lease (a locked ledger keeps the registration, not the beat,
    // waiting: the frozen-registration test relies on it).
    // The ledger's newest version comes with it (what a beat learns schema
    // changes from: detail/run/registry.hpp), never with the renewal: a
    // ledger locked by a DBA's ALTER must not cost a lease (found by review:
    // read inside the renewal, it let a contract commit under a live replica).
    LOCKSTEP_TRY(contracted, conn.query("SELECT coalesce((SELECT max(version) FROM " + ledger_ + "), 0), c.* FROM "
                                            "(SELECT 1) one LEFT JOIN LATERAL (SELECT " + contract_columns("l.") +
                                            " FROM " + ledger_ + " l JOIN " + table_ +
                                            " me ON me.replica_id = $1 WHERE l.contract AND l.version > "
                                            "me.knows_version ORDER BY l.version LIMIT 1) c ON true",
                                        replica_id));
    if (!contracted.empty()) out.head_version = detail::to_int64(contracted[0][0]);
    if (!contracted.empty() && contracted[0][1]) {
      // The renewal above committed: end the lease now, so that no later
      // contract waits on a replica that has stopped claiming compatibility.
      LOCKSTEP_TRYV(conn.query("UPDATE " + table_ + " SET expires_at = clock_timestamp() WHERE replica_id = $1",
                               replica_id));
      out.renewed = false;
      out.contracted = contract_from(contracted[0], 1);
    }
    return out;
  }

  // A registration, as one simple query (so its values are literals: a
  // message of several statements takes no parameters). The LOCK is a
  // statement of its own, so that the next one's snapshot, taken once the
  // lock is granted, sees any contract whose transaction held the registry
  // until it committed. That statement reads the ledger for a contract this
  // image lacks and, only if there is none, forgets the rows of replicas
  // gone for a day (they only make `status` longer) and stamps this
  // replica's lease; it returns the contract if there is one. Its own row is
  // never among those deleted (a row one part of a statement deletes,
  // another cannot update): when its lease ran out a day ago, the upsert
  // starts it afresh instead, as the delete and insert of two statements did
  // (its other columns are this process's own, the same under one replica_id).
  [[nodiscard]] std::string enroll_sql(const ReplicaRecord& r, std::chrono::milliseconds lease) const {
    using detail::quote_literal;
    const std::string id = quote_literal(r.replica_id);
    const std::string day_gone = "expires_at < clock_timestamp() - interval '1 day'";
    const std::string no_contract = " WHERE NOT EXISTS (SELECT 1 FROM contracted)";
    const std::string row = id + ", " + quote_literal(r.deploy_version) + ", " + std::to_string(r.knows_version) +
                            ", " + std::to_string(r.expected_version) + ", " + quote_literal(r.host) + ", " +
                            std::to_string(r.pid) + ", clock_timestamp() + " + std::to_string(lease.count()) +
                            " * interval '1 millisecond'";
    return "LOCK TABLE " + table_ + " IN ROW EXCLUSIVE MODE; " +
           "WITH contracted AS (SELECT " + contract_columns("") + " FROM " + ledger_ +
           " WHERE contract AND version > " + std::to_string(r.knows_version) + " ORDER BY version LIMIT 1), " +
           "gone AS (DELETE FROM " + table_ + no_contract + " AND " + day_gone + " AND replica_id <> " + id + "), " +
           "stamped AS (INSERT INTO " + table_ +
           " AS me (replica_id, deploy_version, knows_version, expected_version, host, pid, expires_at) SELECT " +
           row + no_contract + " ON CONFLICT (replica_id) DO UPDATE SET last_seen = clock_timestamp(), " +
           "expires_at = EXCLUDED.expires_at, started_at = CASE WHEN me." + day_gone +
           " THEN clock_timestamp() ELSE me.started_at END) SELECT * FROM contracted";
  }

  // A contract migration's ledger row, as a registration and a renewal read
  // it: version, name, deploy_version, applied_at (ISO 8601), applied_by.
  [[nodiscard]] static std::string contract_columns(const std::string& table) {
    return table + "version, " + table + "name, " + table + "deploy_version, to_char(" + table +
           "applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS applied_at, " + table + "applied_by";
  }
  template <class Row>
  [[nodiscard]] static AppliedMigration contract_from(const Row& row, std::size_t at) {
    AppliedMigration m;
    m.version = detail::to_int64(row[at]);
    m.name = detail::to_text(row[at + 1]);
    m.deploy_version = detail::to_text(row[at + 2]);
    m.applied_at = detail::to_text(row[at + 3]);
    m.applied_by = detail::to_text(row[at + 4]);
    m.contract = true;
    return m;
  }

 public:
  // The live replicas whose image does not know `version`. Inside a
  // contract migration's transaction (`in_transaction`), the registry stays
  // locked against new registrations and renewals until it commits.
  [[nodiscard]] result<std::vector<ReplicaRecord>> older_than(Connection& conn, std::int64_t version,
                                                              bool in_transaction) {
    if (in_transaction) LOCKSTEP_TRYV(conn.execute("LOCK TABLE " + table_ + " IN SHARE ROW EXCLUSIVE MODE"));
    return read(conn, " WHERE expires_at > clock_timestamp() AND knows_version < " + std::to_string(version));
  }

  // Live replicas and those whose lease ran out in the last hour, for status.
  [[nodiscard]] result<std::vector<ReplicaRecord>> recent(Connection& conn) {
    auto rows = read(conn, " WHERE expires_at > clock_timestamp() - interval '1 hour'");
    if (!rows && detail::no_ledger_yet(rows.error())) return std::vector<ReplicaRecord>{};
    return rows;
  }

 private:
  [[nodiscard]] result<std::vector<ReplicaRecord>> read(Connection& conn, const std::string& where) {
    const char* ts = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'";
    LOCKSTEP_TRY(rows, conn.query(std::string{"SELECT replica_id, deploy_version, knows_version, expected_version, "
                                              "host, pid, to_char(started_at AT TIME ZONE 'UTC', "} + ts +
                                  "), to_char(last_seen AT TIME ZONE 'UTC', " + ts +
                                  "), to_char(expires_at AT TIME ZONE 'UTC', " + ts +
                                  "), expires_at > clock_timestamp() FROM " + table_ + where +
                                  " ORDER BY knows_version, deploy_version, started_at"));
    std::vector<ReplicaRecord> out;
    out.reserve(rows.size());
    for (const auto& r : rows) {
      ReplicaRecord rec;
      rec.replica_id = detail::to_text(r[0]);
      rec.deploy_version = detail::to_text(r[1]);
      rec.knows_version = detail::to_int64(r[2]);
      rec.expected_version = detail::to_int64(r[3]);
      rec.host = detail::to_text(r[4]);
      rec.pid = detail::to_int64(r[5]);
      rec.started_at = detail::to_text(r[6]);
      rec.last_seen = detail::to_text(r[7]);
      rec.expires_at = detail::to_text(r[8]);
      rec.alive = detail::to_text(r[9]) == "t";
      out.push_back(std::move(rec));
    }
    return out;
  }

  std::string table_ = "\"lockstep\".\"replicas\"";
  std::string ledger_ = "\"lockstep\".\"migrations\"";
};

}  // namespace lockstep
