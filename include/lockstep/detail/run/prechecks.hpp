// `-- lockstep:check SELECT ...` at run time: the leader evaluates each of a
// migration's checks under the lock, right before the migration, where the
// migration will run (its transaction, or for a no-transaction file its
// session), and read-only: a check that wrote would change the database
// under the lock without being a migration anyone recorded. A false or NULL
// check fails the migration like its own error would (recorded, so the
// deploy stops once: failure_gate.hpp), and nothing of the migration runs.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/sql/directives.hpp"

namespace lockstep::detail {

// The check, wrapped so that one evaluation also tells how many rows it
// returned, how many columns and the first one's type (the adapter returns
// text). The CTE is read twice, so the server materializes it: the check
// itself runs once. The newline ends a trailing `-- comment` of the check.
[[nodiscard]] inline std::string check_query(std::string_view check) {
  return "WITH lockstep_check(ok) AS (" + std::string{check} +
         "\n) SELECT (SELECT count(*) FROM lockstep_check)::text, pg_typeof(ok)::text, c.* FROM lockstep_check c "
         "LIMIT 1";
}

// What a check came to: "true", "false" or "NULL".
struct CheckVerdict {
  std::string value;
  [[nodiscard]] bool passed() const noexcept { return value == "true"; }
};

// Where a check's error points: its own line in the file (the server's
// position is in the wrapped text), its text, and that nothing ran.
[[nodiscard]] inline Error check_error(Error e, const Migration& m, const sql::PreCheck& c, const std::string& why) {
  e.code = errc::migration_failed;
  e.version = m.version;
  e.migration_name = m.name;
  e.file = m.origin;
  e.line = c.line;
  e.column.reset();
  e.message = "migration " + std::to_string(m.version) + " (" + m.origin + ":" + std::to_string(c.line) +
              "): its check `" + c.sql + "` " + why + "; nothing of the migration ran";
  return e;
}

// The check's rows -> its verdict, or why they are not one boolean.
[[nodiscard]] inline result<CheckVerdict> read_verdict(const Rows& rows, const Migration& m, const sql::PreCheck& c) {
  auto shape = [&](const std::string& seen) {
    auto e = check_error(Error{}, m, c,
                         "returned " + seen + ", but a check must return exactly one row of one boolean column "
                         "(such as `SELECT count(*) = 0 FROM t WHERE ...`)");
    e.server_message = "check `" + c.sql + "` returned " + seen;
    return e;
  };
  if (rows.empty()) return shape("no row");
  const Row& r = rows.front();
  if (r.size() < 3) return shape("no column");
  const std::string count = r[0].value_or("0");
  if (count != "1") return shape(count + " rows");
  if (r.size() != 3) return shape(std::to_string(r.size() - 2) + " columns");
  const std::string type = r[1].value_or("");
  if (type != "boolean") return shape("a value of type " + type + ", not a boolean");
  if (!r[2]) return CheckVerdict{"NULL"};
  return CheckVerdict{*r[2] == "t" ? "true" : "false"};
}

// Evaluates `c` on `conn`, read-only. `in_transaction`: inside the
// migration's open transaction (a savepoint made read-only for the check,
// then rolled back to, so the migration still writes); otherwise a read-only
// transaction of its own before the first statement, bounded by `timeouts`
// (SET LOCAL ... for this migration). The transaction is left as it was found,
// unless the connection broke.
[[nodiscard]] inline result<CheckVerdict> evaluate_check(Connection& conn, const Migration& m, const sql::PreCheck& c,
                                                         bool in_transaction, const std::string& timeouts) {
  const std::string before = in_transaction ? "SAVEPOINT lockstep_check; SET LOCAL transaction_read_only = on; "
                                            : "BEGIN READ ONLY; " + timeouts + "; ";
  auto rows = conn.query(before + check_query(c.sql));
  if (conn.is_open()) {
    (void)conn.execute(in_transaction ? "ROLLBACK TO SAVEPOINT lockstep_check; RELEASE SAVEPOINT lockstep_check"
                                      : "ROLLBACK");
  }
  if (!rows) {
    auto e = std::move(rows).error();
    if (e.code == errc::connection_failed || !conn.is_open()) return e;
    const std::string why = "failed: [" + e.sqlstate + "] " + e.server_message;
    e.server_message = "check `" + c.sql + "` failed: " + e.server_message;
    return check_error(std::move(e), m, c, why);
  }
  return read_verdict(rows.value(), m, c);
}

// A check that came to false or NULL, as the error that fails the migration
// (and the failure record's message: `server_message`).
[[nodiscard]] inline Error check_refused(const Migration& m, const sql::PreCheck& c, const CheckVerdict& v) {
  auto e = check_error(Error{}, m, c,
                       "is " + v.value + " (a check must be true for the migration to run). Make it true (fix "
                       "the data, then `lockstep resolve " + std::to_string(m.version) + "` or a new deploy "
                       "version tries again), or change the check (a changed file is a new attempt)");
  e.server_message = "check `" + c.sql + "` is " + v.value;
  return e;
}

}  // namespace lockstep::detail
