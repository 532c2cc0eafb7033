// MIGRATE_ON_BOOT=dry-run: what the leader would apply, linted, and with
// Settings::rehearse every pending transactional migration run in one
// transaction that is rolled back, to measure it and see the locks it takes.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/detail/outcome_shim.hpp"
#include "lockstep/detail/plan.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/execute.hpp"
#include "lockstep/detail/run/preflight.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/detail/session_sql.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/report.hpp"
#include "lockstep/settings.hpp"

namespace lockstep::detail {

template <class Timeout>
void emit_plan(const Context<Timeout>& ctx, const PlannedMigration& step) {
  ctx.emit("plan", [&](JsonObject& o) {
    o.add("version", step.version).add("name", step.name).add("file", step.origin);
    o.add("transaction", step.transaction).add("statements", static_cast<std::int64_t>(step.statements));
    o.add("warnings", static_cast<std::int64_t>(step.warnings)).add("rehearsed", step.rehearsed);
    if (!step.rehearsed) return;
    o.add("duration_ms", static_cast<std::int64_t>(step.rehearsal_duration.count()));
    std::string locks = "[";
    for (const auto& l : step.locks) {
      if (locks.size() > 1) locks += ',';
      JsonObject j;
      j.add("relation", l.relation).add("mode", l.mode);
      locks += j.str();
    }
    o.add_raw("locks", locks + "]");
  });
}

// Every pending transactional migration, in order, in one transaction that
// is rolled back: later ones see earlier ones' effects, nothing persists.
// A no-transaction migration cannot be rehearsed, and what follows it may
// depend on it, so rehearsal stops there.
template <class Timeout>
[[nodiscard]] result<void> rehearse(Context<Timeout>& ctx, const Settings& settings, Connection& conn,
                                    const std::vector<const Migration*>& pending,
                                    std::vector<PlannedMigration>& plan) {
  ctx.phase = "rehearsing";
  // The rehearsal takes the migrations' real locks (ACCESS EXCLUSIVE on live
  // tables, often), so it gets the leader's bounds: a process that froze or
  // vanished in the middle must not hold them until someone kills it.
  LOCKSTEP_TRYV(conn.execute(
      leader_session_sql(conn.server_version(), settings.stall_timeout) + "; BEGIN; " +
      timeout_sql(settings.lock_timeout, std::max(std::chrono::milliseconds{1}, ctx.remaining()), true)));
  std::set<std::pair<std::string, std::string>> seen;
  for (std::size_t i = 0; i < pending.size() && plan[i].transaction; ++i) {
    const Migration& m = *pending[i];
    const auto t0 = ctx.now();
    auto ran = conn.execute(m.sql);
    if (!ran) {
      if (ran.error().code == errc::connection_failed) return std::move(ran).error();  // not the file's fault
      (void)conn.execute("ROLLBACK");
      auto e = migration_error(std::move(ran).error(), m, sql::Position{});
      e.message = "rehearsal of migration " + std::to_string(m.version) + " (" + m.origin +
                  ") failed: " + e.server_message + "; it was rolled back, nothing was changed";
      return e;
    }
    plan[i].rehearsal_duration = std::chrono::duration_cast<std::chrono::milliseconds>(ctx.now() - t0);
    auto locks = conn.query(own_relation_locks_sql);
    if (!locks) {
      (void)conn.execute("ROLLBACK");
      return std::move(locks).error();
    }
    for (const auto& row : locks.value()) {
      auto entry = std::make_pair(row[0].value_or(""), row[1].value_or(""));
      if (seen.insert(entry).second) plan[i].locks.push_back(RelationLock{entry.first, entry.second});
    }
    plan[i].rehearsed = true;
  }
  return conn.execute("ROLLBACK");
}

template <class Timeout, class Ledger>
[[nodiscard]] result<Report> dry_run(Context<Timeout>& ctx, const Settings& settings, Ledger& ledger,
                                     Connection& conn, const Target& target, const LedgerState& state) {
  ctx.phase = "planning";
  LOCKSTEP_TRY(applied, ledger.read_applied(conn));
  LOCKSTEP_TRY(p, plan(target.migrations, applied, target.bound));
  Prepared prepared;
  std::vector<PlannedMigration> steps;
  for (const Migration* m : p.pending) {
    LOCKSTEP_TRY(pm, prepared.get(conn, *m));
    emit_lint(ctx, *m, *pm);
    steps.push_back(PlannedMigration{m->version, m->name, m->origin, !pm->directives.no_transaction,
                                     pm->statements.size(), pm->warnings.size(), false, std::chrono::milliseconds{0},
                                     {}});
  }
  std::vector<Planned> run;
  for (const Migration* m : p.pending) run.push_back(Planned{m, prepared.find(m->version)});
  // Reported before the rehearsal, which takes the real locks: a finding
  // that stops the deploy fails the dry run too, so CI can gate on it.
  auto safe = check_lock_safety(ctx, settings.lock_safety, conn, run);
  if (!safe && safe.error().code != errc::lock_unsafe) return std::move(safe).error();
  if (safe && settings.rehearse) LOCKSTEP_TRYV(rehearse(ctx, settings, conn, p.pending, steps));
  for (const auto& step : steps) emit_plan(ctx, step);
  if (!safe) return std::move(safe).error();
  Report rep;
  rep.role = Role::dry_run;
  rep.schema_version = state.version;
  rep.expected_version = target.expected;
  rep.unknown_versions = std::move(p.unknown_versions);
  rep.duration = std::chrono::milliseconds{ctx.elapsed_ms()};
  rep.plan = std::move(steps);
  ctx.emit("ready", [&](JsonObject& o) {
    o.add("role", to_string(rep.role)).add("schema_version", rep.schema_version);
    o.add("expected_version", rep.expected_version).add("pending", static_cast<std::int64_t>(rep.plan.size()));
    o.add("duration_ms", static_cast<std::int64_t>(rep.duration.count()));
  });
  return rep;
}

}  // namespace lockstep::detail
