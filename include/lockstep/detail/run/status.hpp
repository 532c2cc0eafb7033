// lockstep status: what is applied, pending, drifted or failed. Read-only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/contract.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/report.hpp"
#include "lockstep/source/checksum.hpp"

namespace lockstep::detail {

template <class Timeout, class Ledger>
[[nodiscard]] result<Status> status_report(Context<Timeout>& ctx, Ledger& ledger, Connection& conn,
                                           const Target& target) {
  ctx.phase = "reading the ledger";
  LOCKSTEP_TRY(state, confirmed_state(ledger, conn, ctx.deploy_version()));
  LOCKSTEP_TRY(applied, ledger.read_applied(conn));
  LOCKSTEP_TRY(deploys, ledger.read_deploys(conn));
  LOCKSTEP_TRY(failures, ledger.read_failures(conn));
  Status s;
  s.ledger_exists = state.exists;
  s.schema_version = state.version;
  s.expected_version = target.expected;
  // As the gate judges it (gate.hpp): the schema may stand at a contract
  // migration of this image, above the expected version, without being ahead.
  s.schema_ahead = state.version > std::max(target.expected, target.newest_contract());
  s.deploys = std::move(deploys);
  s.failures = std::move(failures);
  // Written by any replica, with whatever URL it had: printed by status, so
  // redacted like every other output.
  for (auto& f : s.failures) f.message = ctx.redact()(f.message);
  std::unordered_map<std::int64_t, const Migration*> by_version;
  for (const auto& m : target.migrations) by_version.emplace(m.version, &m);
  std::set<std::int64_t> done;
  for (const auto& a : applied) {
    done.insert(a.version);
    const auto it = by_version.find(a.version);
    if (it == by_version.end()) {
      s.unknown_versions.push_back(a.version);
    } else if (!checksum_matches(*it->second, a.checksum)) {
      s.drifted.push_back(a.version);
    }
  }
  std::vector<const Migration*> contracts;
  for (const auto& m : target.migrations) {
    if (done.count(m.version) != 0) continue;
    s.pending.push_back(PendingMigration{m.version, m.name, m.origin, m.contract});
    if (m.contract) contracts.push_back(&m);
  }
  s.applied = std::move(applied);
  if constexpr (RegistryLedger<Ledger>) {
    LOCKSTEP_TRY(replicas, ledger.registry().recent(conn));
    s.replicas = std::move(replicas);
    for (const Migration* m : contracts) {
      WaitingContract w{m->version, m->name, m->origin, {}, {}};
      for (const auto& r : s.replicas) {
        if (r.alive && r.knows_version < m->version) w.waiting_for.push_back(r);
      }
      LOCKSTEP_TRY(job, unfinished_requirement(conn, ledger, *m));
      w.background = std::move(job);
      s.contracts_waiting.push_back(std::move(w));
    }
  }
  if constexpr (BackgroundLedger<Ledger>) {
    LOCKSTEP_TRY(jobs, ledger.jobs().list(conn));
    for (auto& j : jobs) j.last_error = ctx.redact()(j.last_error);  // written by any runner: redacted like failures
    s.jobs = std::move(jobs);
  }
  if constexpr (requires { ledger.catalog(); }) {
    LOCKSTEP_TRY(services, ledger.catalog().read(conn));
    s.services = std::move(services);
  }
  return s;
}

}  // namespace lockstep::detail
