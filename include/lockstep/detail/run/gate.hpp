// Phase 7, the gate: refuse a schema older than this image expects, record
// the deploy once per (deploy, schema version), and report.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/plan.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/report.hpp"

namespace lockstep::detail {

// Where a connection's part of the run left the schema.
struct Reached {
  LedgerState state;
  Role role = Role::current;
  std::vector<std::int64_t> unknown;  // applied versions this source does not have
};

// What this process did over the whole run, across reconnects.
struct Progress {
  std::vector<AppliedStep> applied;
  unsigned wait_attempts = 0;
  std::vector<WaitingContract> contracts_waiting;  // as last seen
};

template <class Timeout, class Ledger>
[[nodiscard]] result<Report> gate_and_report(Context<Timeout>& ctx, Ledger& ledger, Connection& conn, const Target& target,
                                             Reached reached, const Progress& progress) {
  const LedgerState& state = reached.state;
  if (target.mode != BootMode::dry_run) {
    LOCKSTEP_TRYV(gate(state.version, target.expected, newest_version(target.migrations)));
  }
  if (state.exists && !state.deploy_recorded && target.mode != BootMode::dry_run) {
    auto recorded = ledger.record_deploy(conn, ctx.deploy_record(state.version));
    if (!recorded) {
      // Not worth refusing to start over: the schema is right, only the
      // bookkeeping failed (e.g. a read-only user). Say so and go on.
      ctx.emit(events::Warning{.message = "could not record the deploy version: " + recorded.error().message});
    }
  }
  Report rep;
  rep.role = target.mode == BootMode::dry_run ? Role::dry_run : reached.role;
  rep.schema_version = state.version;
  rep.expected_version = target.expected;
  // A contract migration of this image, applied, is not "ahead" of it.
  rep.schema_ahead = state.version > std::max(target.expected, target.newest_contract());
  rep.unknown_versions = std::move(reached.unknown);
  rep.applied = progress.applied;
  rep.wait_attempts = progress.wait_attempts;
  rep.contracts_waiting = progress.contracts_waiting;
  rep.knows_version = newest_version(target.migrations);
  rep.duration = std::chrono::milliseconds{ctx.elapsed_ms()};
  rep.resolved = ctx.resolved().settings;
  ctx.emit(events::Ready{.role = std::string{to_string(rep.role)},
                         .schema_version = state.version,
                         .expected_version = target.expected,
                         .schema_ahead = rep.schema_ahead,
                         .applied = static_cast<std::int64_t>(rep.applied.size()),
                         .wait_attempts = static_cast<std::int64_t>(rep.wait_attempts),
                         .contracts_waiting = static_cast<std::int64_t>(rep.contracts_waiting.size()),
                         .duration_ms = static_cast<std::int64_t>(rep.duration.count()),
                         .background = ctx.background});
  return rep;
}

}  // namespace lockstep::detail
