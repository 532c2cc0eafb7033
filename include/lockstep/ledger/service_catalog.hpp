// The service catalog: one row per service (per ledger) in the ledgers'
// schema, `lockstep.services` (`<schema>.lockstep_services` for a ledger in
// a schema of the application's, whose own `services` table it must never
// meet: found by review), so that every service can read where every other
// one stands without privileges on its ledger (docs/services.md).
//
//   service           the ledger table's name (TableLedger{"lockstep", "billing"}: "billing")
//   ledger            the ledger's identity, schema.table
//   version           the newest version its ledger holds
//   contract_version  the newest contract migration applied (0: none)
//   waiting_for       what its leader waits for now ("auth@7"), '' when nothing
//   waiting_since     since when (NULL when nothing): a leader killed while it
//                     waited leaves it set until its service's next migration
//   updated_at        when a leader last wrote the row
//
// A leader writes its own service's row in the transaction of every
// migration it commits (so the row never runs ahead of the ledger) and
// NOTIFYs `lockstep_services` with "<service>:<version>", which wakes a
// leader of another service that waits for it (`-- lockstep:requires=`).
// Every role may read the catalog and write rows: services run as roles of
// their own, and a row says only names and versions. A DBA who wants a
// service's row written by that service's role alone can narrow the grant.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/ledger_fields.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"

namespace lockstep {

inline constexpr const char* services_channel = "lockstep_services";

// One service's row.
struct ServiceHead {
  std::string service;
  std::string ledger;
  std::int64_t version = 0;
  std::int64_t contract_version = 0;
  std::string waiting_for;
  std::string waiting_since;  // ISO 8601, UTC; "" when not waiting
  std::string updated_at;     // ISO 8601, UTC
};

class ServiceCatalog {
 public:
  // `schema`: unquoted.
  explicit ServiceCatalog(const std::string& schema)
      : table_{detail::quote_ident(schema) + "." + detail::quote_ident(schema == "lockstep" ? "services"
                                                                                           : "lockstep_services")} {}

  [[nodiscard]] const std::string& qualified_table() const noexcept { return table_; }

  [[nodiscard]] std::string create_sql() const {
    return "CREATE TABLE IF NOT EXISTS " + table_ + " (\n"
           "  service text PRIMARY KEY,\n"
           "  ledger text NOT NULL,\n"
           "  version bigint NOT NULL DEFAULT 0,\n"
           "  contract_version bigint NOT NULL DEFAULT 0,\n"
           "  waiting_for text NOT NULL DEFAULT '',\n"
           "  waiting_since timestamptz,\n"
           "  updated_at timestamptz NOT NULL DEFAULT clock_timestamp());\n"
           "GRANT SELECT, INSERT, UPDATE ON " + table_ + " TO PUBLIC";
  }

  // The row of `service` after a migration of version `version` committed
  // in this transaction, and the wake-up of whoever waits for it.
  [[nodiscard]] std::string record_sql(const std::string& service, const std::string& ledger, std::int64_t version,
                                       bool contract) const {
    using detail::quote_literal;
    const std::string v = std::to_string(version);
    return "INSERT INTO " + table_ + " AS s (service, ledger, version, contract_version, updated_at) VALUES (" +
           quote_literal(service) + ", " + quote_literal(ledger) + ", " + v + ", " + (contract ? v : "0") +
           ", clock_timestamp()) ON CONFLICT (service) DO UPDATE SET ledger = EXCLUDED.ledger, version = "
           "greatest(s.version, EXCLUDED.version), contract_version = greatest(s.contract_version, "
           "EXCLUDED.contract_version), waiting_for = '', waiting_since = NULL, updated_at = EXCLUDED.updated_at; "
           "SELECT pg_notify('" +
           services_channel + "', " + quote_literal(service + ":" + v) + ")";
  }

  // What this service's leader waits for ("" when it no longer waits), in a
  // statement of its own, outside any migration's transaction. A service
  // without a row yet (a ledger from before the catalog) gets its ledger's
  // version with it, never 0 (found by review: a row at 0 hid the ledger's
  // version from services that wait for this one). `qualified_ledger`: quoted.
  [[nodiscard]] result<void> set_waiting(Connection& conn, const std::string& service, const std::string& ledger,
                                         const std::string& qualified_ledger, const std::string& waiting_for) const {
    auto done = conn.query("INSERT INTO " + table_ + " AS s (service, ledger, version, waiting_for, waiting_since) "
                           "VALUES ($1, $2, (SELECT coalesce(max(version), 0) FROM " + qualified_ledger +
                           "), $3, CASE WHEN $3 = '' THEN NULL ELSE clock_timestamp() END) ON CONFLICT (service) DO "
                           "UPDATE SET waiting_for = EXCLUDED.waiting_for, waiting_since = EXCLUDED.waiting_since, "
                           "version = greatest(s.version, EXCLUDED.version)",
                           service, ledger, waiting_for);
    if (!done) return std::move(done).error();
    return outcome::success();
  }

  // Every service's row, by name; none when there is no catalog yet.
  [[nodiscard]] result<std::vector<ServiceHead>> read(Connection& conn) const { return select(conn, ""); }

  [[nodiscard]] result<std::optional<ServiceHead>> read(Connection& conn, const std::string& service) const {
    LOCKSTEP_TRY(rows, select(conn, service));
    if (rows.empty()) return std::optional<ServiceHead>{};
    return std::optional<ServiceHead>{std::move(rows.front())};
  }

 private:
  [[nodiscard]] result<std::vector<ServiceHead>> select(Connection& conn, const std::string& service) const {
    const std::string iso = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'";
    const std::string sql = "SELECT service, ledger, version, contract_version, waiting_for, coalesce(to_char("
                            "waiting_since AT TIME ZONE 'UTC', " + iso + "), ''), to_char(updated_at AT TIME ZONE "
                            "'UTC', " + iso + ") FROM " + table_ +
                            " WHERE $1 = '' OR service = $1 ORDER BY service";
    auto rows = conn.query(sql, service);
    if (!rows) {
      if (detail::no_ledger_yet(rows.error())) return std::vector<ServiceHead>{};
      return std::move(rows).error();
    }
    std::vector<ServiceHead> out;
    for (const auto& r : rows.value()) {
      out.push_back(ServiceHead{detail::to_text(r[0]), detail::to_text(r[1]), detail::to_int64(r[2]),
                                detail::to_int64(r[3]), detail::to_text(r[4]), detail::to_text(r[5]),
                                detail::to_text(r[6])});
    }
    return out;
  }

  std::string table_;
};

}  // namespace lockstep
