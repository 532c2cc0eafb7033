// Phase 3, the fast path: the ledger's state in one query, checked against
// the source. The common case costs that one query; only a digest mismatch
// reads the whole ledger, to say exactly what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/detail/outcome_shim.hpp"
#include "lockstep/detail/plan.hpp"
#include "lockstep/detail/run/contract.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/migration.hpp"

namespace lockstep::detail {

// The applied versions this source has no migration for (a schema ahead
// after a rollback); an error for drift, a migration out of order, or a
// contract migration this image does not have (contract.hpp).
template <class Ledger>
[[nodiscard]] result<std::vector<std::int64_t>> unknown_versions(Connection& conn, Ledger& ledger,
                                                                 const Target& target, const LedgerState& state,
                                                                 const std::string& deploy_version) {
  if (matches_prefix(state, target.chain)) return std::vector<std::int64_t>{};
  LOCKSTEP_TRY(applied, ledger.read_applied(conn));
  LOCKSTEP_TRY(p, plan(target.migrations, applied, target.bound));
  if (!p.unknown_versions.empty()) LOCKSTEP_TRYV(refuse_contracted(applied, target, deploy_version));
  return std::move(p.unknown_versions);
}

}  // namespace lockstep::detail
