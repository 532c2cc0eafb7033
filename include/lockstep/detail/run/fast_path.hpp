// Phase 3, the fast path: the ledger's state in one query, checked against
// the source. The common case costs that one query; only a digest mismatch
// reads the whole ledger, to say exactly what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/plan.hpp"
#include "lockstep/detail/run/contract.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/migration.hpp"

namespace lockstep::detail {

// The applied versions this source has no migration for (a schema ahead
// after a rollback); an error for drift, a migration out of order, or a
// contract migration this image does not have (contract.hpp).
// `ctx`: this replica's deploy version (the resolved settings).
template <class Timeout, class Ledger>
[[nodiscard]] result<std::vector<std::int64_t>> unknown_versions(const Context<Timeout>& ctx, Connection& conn,
                                                                 Ledger& ledger, const Target& target,
                                                                 const LedgerState& state) {
  if (matches_prefix(state, target.chain)) return std::vector<std::int64_t>{};
  LOCKSTEP_TRY(applied, ledger.read_applied(conn));
  LOCKSTEP_TRY(p, plan(target.migrations, applied, target.bound));
  if (!p.unknown_versions.empty()) LOCKSTEP_TRYV(refuse_contracted(applied, target, ctx.deploy_version()));
  return std::move(p.unknown_versions);
}

// A state every later decision may use (the version the gate checks and
// records, whether this deploy is recorded, which contracts are pending).
struct Reconciled {
  LedgerState state;
  std::vector<std::int64_t> unknown;
};

// What read_state said (the head, for TableLedger), checked against the
// source. When it matches, it is the whole truth. When it does not (drift, a
// schema ahead, or a head that contradicts the ledger: edited by hand, or
// its version claiming more than its digest), nothing of it is used: the
// version, the digest and the deploy list all come from the ledger itself,
// read again here, so a head saying 99 over a ledger at 2 cannot pass the
// gate or record a deploy at 99.
template <class Timeout, class Ledger>
[[nodiscard]] result<Reconciled> reconcile(const Context<Timeout>& ctx, Connection& conn, Ledger& ledger,
                                           const Target& target, LedgerState state) {
  if (matches_prefix(state, target.chain)) return Reconciled{std::move(state), {}};
  LOCKSTEP_TRY(confirmed, confirmed_state(ledger, conn, ctx.deploy_version()));
  LOCKSTEP_TRY(unknown, unknown_versions(ctx, conn, ledger, target, confirmed));
  return Reconciled{std::move(confirmed), std::move(unknown)};
}

}  // namespace lockstep::detail
