// The ledger's head: one row, in a table without an index, that says what
// the every-boot query needs (newest version, how many applied, the digest of
// every (version, checksum), which deploy versions booted against the newest
// version). A new backend's first touch of a relation is most of a no-op
// boot's server time, and the planner opens every index of a table it reads:
// the ledger and deploys tables with their primary keys cost 6.1 ms, this
// row 3.1 ms, `SELECT 1` 1.6 ms (first statement on a fresh backend, median
// of 150, PostgreSQL 15).
//
// Triggers keep it in step with the two tables it summarises, in the same
// transaction as each change, whoever makes it (lockstep, or a DBA by hand).
// It is only ever trusted to say "nothing to do", and only when its version,
// count and digest agree with the source (detail::matches_prefix): on any
// mismatch every value of it is dropped for the ledger's own
// (detail::reconcile). A leader under the lock reads the ledger itself
// (TableLedger::read_confirmed_state), and anything unexpected (no head, not
// one row, a malformed value) falls back to the ledger too.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/ledger_fields.hpp"
#include "lockstep/detail/base/pg_array.hpp"
#include "lockstep/migration.hpp"

namespace lockstep {

class LedgerHead {
 public:
  // `schema` quoted; `name` unquoted (the functions are named after it).
  LedgerHead(const std::string& schema, const std::string& name, std::string ledger, std::string deploys)
      : table_{schema + "." + detail::quote_ident(name)},
        refresh_{schema + "." + detail::quote_ident(name + "_refresh")},
        on_change_{schema + "." + detail::quote_ident(name + "_on_change")},
        on_insert_{schema + "." + detail::quote_ident(name + "_on_insert")},
        on_deploy_{schema + "." + detail::quote_ident(name + "_on_deploy")},
        ledger_{std::move(ledger)},
        deploys_{std::move(deploys)} {}

  [[nodiscard]] const std::string& qualified_table() const noexcept { return table_; }

  // Creates or replaces the head, its triggers, and fills it from the ledger.
  // Needs ownership of the ledger and deploys tables (for the triggers).
  [[nodiscard]] std::string create_sql() const {
    // The digest is digest.hpp's chain. A row inserted past the head extends
    // it in place (every migration lockstep applies); any other change to
    // either table recomputes it, under a lock that makes recomputations and
    // updates take turns (readers never wait).
    const std::string step = "encode(sha256(convert_to(%s || %v::text || ':' || %c || E'\\n', 'UTF8')), 'hex')";
    auto chain = [&](const std::string& prev, const std::string& v, const std::string& c) {
      std::string out = step;
      out.replace(out.find("%s"), 2, prev);
      out.replace(out.find("%v"), 2, v);
      out.replace(out.find("%c"), 2, c);
      return out;
    };
    // No SET search_path: every name is qualified, pg_catalog is searched
    // first anyway, and the functions run with the caller's rights; the SET
    // cost each migration's insert ~0.03 ms and the first one ~2 ms.
    const std::string plpgsql = " LANGUAGE plpgsql AS $lockstep$\n";
    // Without its table (dropped by hand) the head is simply absent: boots
    // read the ledger, and the next leader that may recreates it. Ledger
    // writes must not fail for it.
    const std::string absent = "  IF to_regclass(" + detail::quote_literal(table_) + ") IS NULL THEN RETURN";
    return "CREATE TABLE IF NOT EXISTS " + table_ + " (\n"
           "  version bigint NOT NULL,\n"
           "  count bigint NOT NULL,\n"
           "  digest text NOT NULL,\n"
           "  booted text[] NOT NULL);\n"
           "CREATE OR REPLACE FUNCTION " + refresh_ + "() RETURNS void" + plpgsql +
           "DECLARE v bigint := 0; n bigint := 0; d text := ''; r record; b text[];\n"
           "BEGIN\n" + absent + "; END IF;\n"
           "  LOCK TABLE " + table_ + " IN EXCLUSIVE MODE;\n"
           "  FOR r IN SELECT version, checksum FROM " + ledger_ + " ORDER BY version LOOP\n"
           "    d := " + chain("d", "r.version", "r.checksum") + ";\n"
           "    v := r.version;\n"
           "    n := n + 1;\n"
           "  END LOOP;\n"
           "  b := ARRAY(SELECT deploy_version FROM " + deploys_ + " WHERE schema_version = v ORDER BY 1);\n"
           "  UPDATE " + table_ + " SET version = v, count = n, digest = d, booted = b;\n"
           "  IF NOT FOUND THEN INSERT INTO " + table_ + " VALUES (v, n, d, b); END IF;\n"
           "END $lockstep$;\n"
           "CREATE OR REPLACE FUNCTION " + on_change_ + "() RETURNS trigger" + plpgsql +
           "BEGIN PERFORM " + refresh_ + "(); RETURN NULL; END $lockstep$;\n"
           "CREATE OR REPLACE FUNCTION " + on_insert_ + "() RETURNS trigger" + plpgsql +
           "BEGIN\n" + absent + " NULL; END IF;\n"
           "  UPDATE " + table_ + " h SET version = NEW.version, count = h.count + 1,\n"
           "         digest = " + chain("h.digest", "NEW.version", "NEW.checksum") + ",\n"
           "         booted = ARRAY(SELECT deploy_version FROM " + deploys_ +
           " WHERE schema_version = NEW.version ORDER BY 1)\n"
           "   WHERE h.version < NEW.version;\n"
           "  IF NOT FOUND THEN PERFORM " + refresh_ + "(); END IF;\n"
           "  RETURN NULL;\n"
           "END $lockstep$;\n"
           // A herd records one deploy: only the row inserted fires (ON
           // CONFLICT DO NOTHING fires no row trigger), and it appends.
           "CREATE OR REPLACE FUNCTION " + on_deploy_ + "() RETURNS trigger" + plpgsql +
           "BEGIN\n" + absent + " NULL; END IF;\n"
           "  UPDATE " + table_ + " SET booted = booted || NEW.deploy_version\n"
           "   WHERE version = NEW.schema_version AND NOT NEW.deploy_version = ANY (booted);\n"
           "  RETURN NULL;\n"
           "END $lockstep$;\n" +
           trigger("lockstep_head", "AFTER UPDATE OR DELETE OR TRUNCATE", ledger_, "STATEMENT", on_change_) +
           trigger("lockstep_head_insert", "AFTER INSERT", ledger_, "ROW", on_insert_) +
           trigger("lockstep_head", "AFTER UPDATE OR DELETE OR TRUNCATE", deploys_, "STATEMENT", on_change_) +
           trigger("lockstep_head_insert", "AFTER INSERT", deploys_, "ROW", on_deploy_) +
           "SELECT " + refresh_ + "()";
  }

  // For a ledger created before the head: the head is an optimisation, so a
  // role that may not create it (no CREATE on the schema, not the tables'
  // owner) goes on without it, inside a transaction too.
  [[nodiscard]] std::string upgrade_sql() const {
    return detail::unless_insufficient_privilege(create_sql(), "lockstep_head");
  }

  [[nodiscard]] std::string grant_sql(const std::string& quoted_role) const {
    return "GRANT SELECT, INSERT, UPDATE ON " + table_ + " TO " + quoted_role;
  }

  // The head as the fast path's state, or nullopt: no head (a ledger from
  // before it, or none at all: 42P01, 3F000), one this role may not read
  // (42501) or of another shape (class 42), not exactly one row, or a value
  // that does not parse. Anything else (a lost session, a cancel at the
  // deadline) is the caller's error.
  [[nodiscard]] result<std::optional<LedgerState>> read(Connection& conn, std::string_view deploy_version) const {
    auto rows = conn.query("SELECT version, count, digest, booted FROM " + table_);
    if (!rows) {
      const std::string& state = rows.error().sqlstate;
      if (state.rfind("42", 0) == 0 || state == "3F000") return std::optional<LedgerState>{};
      return std::move(rows).error();
    }
    if (rows.value().size() != 1) return std::optional<LedgerState>{};
    const auto& r = rows.value()[0];
    if (!r[0] || !r[1] || !r[2] || !r[3]) return std::optional<LedgerState>{};
    auto booted = detail::parse_text_array(*r[3]);
    if (!booted) return std::optional<LedgerState>{};
    LedgerState s;
    s.exists = true;
    s.version = detail::to_int64(r[0]);
    s.count = detail::to_int64(r[1]);
    s.digest = detail::to_text(r[2]);
    s.deploy_recorded = std::find(booted->begin(), booted->end(), deploy_version) != booted->end();
    return std::optional<LedgerState>{std::move(s)};
  }

 private:
  [[nodiscard]] static std::string trigger(const char* name, const char* when, const std::string& table,
                                           const char* each, const std::string& function) {
    return std::string{"DROP TRIGGER IF EXISTS "} + name + " ON " + table + ";\nCREATE TRIGGER " + name + " " + when +
           " ON " + table + " FOR EACH " + each + " EXECUTE FUNCTION " + function + "();\n";
  }

  std::string table_;
  std::string refresh_;
  std::string on_change_;
  std::string on_insert_;
  std::string on_deploy_;
  std::string ledger_;
  std::string deploys_;
};

}  // namespace lockstep
