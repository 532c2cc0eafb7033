// Prepared statements that survive a row-type change, for applications
// that use libpqxx (docs/schema-changes.md, "A libpqxx helper").
//
// A prepared `SELECT *` or `... RETURNING *` remembers its result's row
// type. Once a migration added, dropped, renamed or retyped a column of the
// table it reads, its next execution fails with SQLSTATE 0A000, "cached
// plan must not change result type", and keeps failing on that connection.
// libpqxx does not recover from it; exec_prepared_fresh() does:
//
//   conn.prepare("orders", "SELECT * FROM orders WHERE id = $1");
//   auto rows = lockstep::exec_prepared_fresh(conn, "orders", "SELECT * FROM orders WHERE id = $1", id);
//   if (!rows) log(rows.error().to_string());          // never throws
//
// It runs the statement in autocommit (a pqxx::nontransaction of its own).
// There a statement that failed had no effect, so on a stale plan it
// deallocates the statement, prepares it again and runs it once more; any
// other failure is returned as it is, never retried. Inside a transaction
// a failed statement has aborted the transaction, so nothing may be run
// again: exec_prepared_once() runs it there once and returns the error;
// is_stale_plan() tells the caller to roll back, reprepare() and run the
// whole transaction again. All calls into libpqxx are in
// detail/base/pqxx_adapter.hpp.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "lockstep/connection.hpp"
#include "lockstep/error.hpp"

namespace lockstep {

// Whether `e` is a stale cached plan: SQLSTATE 0A000 from the server. The
// message text is never read (servers speak other languages). 0A000 is
// feature_not_supported in general; the statements this is asked about
// (a prepared statement that ran before) raise it for a stale plan. The
// libpqxx helpers below also check the server's source function when the
// message carries one (verbose errors: pqxx_adapter.hpp says how).
[[nodiscard]] inline bool is_stale_plan(const Error& e) noexcept {
  return e.code == errc::database_error && e.sqlstate == "0A000";
}

// Deallocates prepared statement `name` on `conn` and prepares `definition`
// under it again (after a stale plan inside a transaction, once rolled back).
[[nodiscard]] inline result<void> reprepare(pqxx::connection& conn, const std::string& name,
                                            const std::string& definition) noexcept {
  return detail::reprepare(conn, name, definition);
}

// Runs prepared statement `name` (prepared from `definition`) on `conn` in
// autocommit; on a stale plan re-prepares it and runs it once more. Fails,
// having run nothing, while a transaction is open on `conn` (libpqxx allows
// one at a time): use exec_prepared_once() inside it.
template <class... Params>
[[nodiscard]] result<pqxx::result> exec_prepared_fresh(pqxx::connection& conn, const std::string& name,
                                                       const std::string& definition,
                                                       const Params&... params) noexcept {
  auto first = detail::exec_prepared_autocommit(conn, name, params...);
  if (auto* ok = std::get_if<pqxx::result>(&first)) return std::move(*ok);
  auto& failed = std::get<detail::PreparedFailure>(first);
  if (!failed.stale) return std::move(failed.error);
  auto again = detail::reprepare(conn, name, definition);
  if (!again) return std::move(failed.error);  // the stale plan is what the caller needs to know about
  auto second = detail::exec_prepared_autocommit(conn, name, params...);
  if (auto* ok = std::get_if<pqxx::result>(&second)) return std::move(*ok);
  return std::move(std::get<detail::PreparedFailure>(second).error);
}

// Runs prepared statement `name` once inside the caller's transaction `tx`,
// never again: after any failure `tx` is aborted. On is_stale_plan(), abort
// `tx`, reprepare() and start the transaction over.
template <class... Params>
[[nodiscard]] result<pqxx::result> exec_prepared_once(pqxx::transaction_base& tx, const std::string& name,
                                                      const Params&... params) noexcept {
  auto out = detail::exec_prepared_in(tx, name, params...);
  if (auto* ok = std::get_if<pqxx::result>(&out)) return std::move(*ok);
  return std::move(std::get<detail::PreparedFailure>(out).error);
}

}  // namespace lockstep
