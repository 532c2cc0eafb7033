// MIGRATE_ON_BOOT=dry-run: what the leader would apply, linted, and with
// Settings::rehearse every pending transactional migration run in one
// transaction that is rolled back, to measure it and see the locks it takes.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lockstep/background/batch_sql.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/base/pg_array.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/plan.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/contract.hpp"
#include "lockstep/detail/run/queue.hpp"
#include "lockstep/detail/run/execute.hpp"
#include "lockstep/detail/run/prechecks.hpp"
#include "lockstep/detail/run/preflight.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/detail/run/session_sql.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/detail/run/row_types.hpp"
#include "lockstep/report.hpp"
#include "lockstep/settings.hpp"

namespace lockstep::detail {

inline std::vector<events::LockTaken> locks_taken(const std::vector<RelationLock>& locks) {
  std::vector<events::LockTaken> out;
  out.reserve(locks.size());
  for (const auto& l : locks) out.push_back({l.relation, l.mode, std::string{lock_blocks(l.mode)}});
  return out;
}

template <class Timeout>
void emit_plan(const Context<Timeout>& ctx, const PlannedMigration& step) {
  events::Plan e{.version = step.version, .name_ = step.name, .file = step.origin,
                 .transaction = step.transaction, .statements = static_cast<std::int64_t>(step.statements),
                 .warnings = static_cast<std::int64_t>(step.warnings), .rehearsed = step.rehearsed,
                 .blocked = step.blocked(), .contract = step.contract,
                 .requires_background = step.requires_job ? std::optional<std::string>{background::describe(*step.requires_job)}
                                                          : std::nullopt};
  if (!step.checks.empty()) {
    auto& checks = e.checks.emplace();
    for (const auto& c : step.checks) {
      checks.push_back({.line = c.line, .sql = c.sql,
                        .result = c.result.empty() ? std::nullopt : std::optional<std::string>{c.result}});
    }
  }
  if (step.rehearsed) {
    auto& r = e.rehearsal.emplace(events::Rehearsal{
        .duration_ms = static_cast<std::int64_t>(step.rehearsal_duration.count()), .locks = locks_taken(step.locks)});
    for (const auto& s : step.rehearsal) {
      r.rehearsal.push_back({.line = s.line, .duration_ms = static_cast<std::int64_t>(s.duration.count()),
                             .locks = locks_taken(s.locks), .rewritten = s.rewritten});
    }
    r.left_invalid = step.left_invalid;
    r.row_types_changed = step.row_types_changed;
    r.batch_rows = step.batch_rows;
    r.eta_ms = step.eta_ms;
    if (step.batch_rows && step.rehearsal_duration.count() > 0) {
      r.rows_per_second = *step.batch_rows * 1000 / step.rehearsal_duration.count();
    }
  }
  ctx.emit(std::move(e));
}

// Relations of user schemas and the file each one's data lives in: a
// statement after which a relation has a new relfilenode rewrote it.
inline constexpr const char* relfilenodes_sql =
    "SELECT c.oid::text, c.relfilenode::text, c.oid::regclass::text FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'i', 'm', 'p') "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relfilenode <> 0";

inline constexpr const char* invalid_objects_sql =
    "SELECT 'index ' || indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid "
    "UNION ALL SELECT 'constraint ' || conname || ' on ' || conrelid::regclass::text FROM pg_constraint "
    "WHERE NOT convalidated AND conrelid <> 0 ORDER BY 1";

[[nodiscard]] inline result<std::map<std::string, std::pair<std::string, std::string>>> relfilenodes(Connection& conn) {
  LOCKSTEP_TRY(rows, conn.query(relfilenodes_sql));
  std::map<std::string, std::pair<std::string, std::string>> out;
  for (const auto& r : rows) out[r[0].value_or("")] = {r[1].value_or(""), r[2].value_or("")};
  return out;
}

[[nodiscard]] inline result<std::set<std::string>> invalid_objects(Connection& conn) {
  LOCKSTEP_TRY(rows, conn.query(invalid_objects_sql));
  std::set<std::string> out;
  for (const auto& r : rows) out.insert(r[0].value_or(""));
  return out;
}

// A background migration's first batch, as a runner would run it (the
// keyset probe, then the file over `:lo`..`:hi`), inside the rehearsal's
// transaction and rolled back with it: its keys, duration and locks, and
// the job's ETA at that rate over the rows the table has.
[[nodiscard]] inline result<void> rehearse_first_batch(Connection& conn, const Migration& m, const PreparedMigration& p,
                                                       const BackgroundJob& j, PlannedMigration& step,
                                                       std::set<std::pair<std::string, std::string>>& seen) {
  LOCKSTEP_TRYV(conn.execute(std::string{background::key_text_settings_sql}));
  LOCKSTEP_TRY(top, conn.query(background::greatest_key_sql(j.relation, j.key_columns)));
  LOCKSTEP_TRY(estimate, conn.query("SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = " +
                                    quote_literal(j.relation) + "::regclass"));
  const auto upper = top.empty() ? std::nullopt : parse_text_array(top[0][0].value_or(""));
  step.batch_rows = 0;
  if (!upper || upper->empty()) {  // an empty table: the job would end at once
    return conn.execute(std::string{background::key_text_settings_reset_sql});
  }
  LOCKSTEP_TRY(probed, conn.query(background::probe_sql(j.relation, j.key_columns, j.key_types, {}, *upper,
                                                        std::min(j.batch_size, background::first_batch_size))));
  if (probed.empty()) return conn.execute(std::string{background::key_text_settings_reset_sql});
  const auto batch = background::probed_batch(probed[0], j.key_columns.size());
  const std::int64_t rows = batch.rows;
  const auto at = background::placeholders(m.sql, p.statements);
  const auto t0 = std::chrono::steady_clock::now();
  auto ran = conn.execute(std::string{background::key_text_settings_reset_sql} +
                          background::fill(m.sql, at, background::key_literal(batch.lo, j.key_types),
                                           background::key_literal(batch.hi, j.key_types)));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  if (!ran) {
    if (ran.error().code == errc::connection_failed) return std::move(ran).error();
    auto e = migration_error(std::move(ran).error(), m, {});
    e.column.reset();  // :lo and :hi were replaced: the line is the file's, the column may not be
    e.message = "rehearsal of background migration " + std::to_string(m.version) + " (" + m.origin +
                (e.line ? ":" + std::to_string(*e.line) : std::string{}) + ") failed in its first batch: " +
                e.server_message + "; it was rolled back, nothing was changed";
    return e;
  }
  RehearsedStatement rs;
  rs.line = p.directives.background_line;
  rs.duration = took;
  LOCKSTEP_TRY(locks, conn.query(own_relation_locks_sql));
  for (const auto& row : locks) {
    auto entry = std::make_pair(row[0].value_or(""), row[1].value_or(""));
    if (seen.insert(entry).second) {
      rs.locks.push_back(RelationLock{entry.first, entry.second});
      step.locks.push_back(RelationLock{entry.first, entry.second});
    }
  }
  step.rehearsal.push_back(std::move(rs));
  step.rehearsal_duration = took;
  step.batch_rows = rows;
  const std::int64_t table_rows = estimate.empty() ? 0 : to_int64(estimate[0][0]);
  if (rows > 0) step.eta_ms = std::max<std::int64_t>(table_rows, rows) * std::max<std::int64_t>(1, took.count()) / rows;
  return outcome::success();
}

// Every pending transactional migration, in order, in one transaction that
// is rolled back: later ones see earlier ones' effects, nothing persists.
// Each statement is sent alone and measured: its duration, the relation
// locks it added, and the relations it rewrote. A no-transaction migration
// cannot be rehearsed (CONCURRENTLY refuses a transaction block), and what
// follows it may depend on it, so rehearsal stops there.
template <class Timeout>
[[nodiscard]] result<void> rehearse(Context<Timeout>& ctx, const Settings& settings, Connection& conn,
                                    const std::vector<const Migration*>& pending, Prepared& prepared,
                                    std::vector<PlannedMigration>& plan) {
  ctx.phase = "rehearsing";
  // The rehearsal takes the migrations' real locks (ACCESS EXCLUSIVE on live
  // tables, often), so it gets the leader's bounds: a process that froze or
  // vanished in the middle must not hold them until someone kills it.
  auto abandon = [&](Error e) {
    if (e.code != errc::connection_failed) (void)conn.execute("ROLLBACK");
    return e;
  };
  // A failure after the BEGIN in this query leaves the transaction aborted.
  if (auto begun = conn.execute(leader_session_sql(conn.server_version(), settings.stall_timeout) + "; BEGIN; " +
                                timeout_sql(settings.lock_timeout,
                                            std::max(std::chrono::milliseconds{1}, ctx.remaining()), true));
      !begun) {
    return abandon(std::move(begun).error());
  }
  std::set<std::pair<std::string, std::string>> seen;
  auto invalid_before = invalid_objects(conn);
  if (!invalid_before) return abandon(std::move(invalid_before).error());
  // Each statement's "after" is the next one's "before".
  auto files = relfilenodes(conn);
  if (!files) return abandon(std::move(files).error());
  for (std::size_t i = 0; i < pending.size() && plan[i].transaction; ++i) {
    const Migration& m = *pending[i];
    LOCKSTEP_TRY(p, prepared.get(m));
    // Its checks, where the deploy evaluates them: in its transaction, after
    // the migrations before it. What they come to is shown; a false one
    // would fail the deploy there (the rehearsal goes on, to measure).
    for (std::size_t k = 0; k < p->directives.checks.size() && k < plan[i].checks.size(); ++k) {
      auto verdict = evaluate_check(conn, m, p->directives.checks[k], true, {});
      if (!verdict && (verdict.error().code == errc::connection_failed || !conn.is_open())) {
        return std::move(verdict).error();
      }
      plan[i].checks[k].result =
          verdict ? verdict.value().value : ctx.redact()("error: [" + verdict.error().sqlstate + "] " + verdict.error().server_message);
    }
    // A background migration's boot only queues its job: its batches run
    // later, over `:lo`..`:hi` (docs/background.md). What the queuing
    // checks against the catalog (the table, its key) is rehearsed, so a
    // key the deploy would refuse fails here too (found by the review).
    if (p->directives.background) {
      auto job = queued_job(conn, m, *p);
      if (!job) {
        auto e = std::move(job).error();
        if (e.code == errc::connection_failed) return e;
        (void)conn.execute("ROLLBACK");
        e.message = "rehearsal of " + e.message;
        return e;
      }
      // Long statements (an index build concurrently) cannot run in the
      // rehearsal's transaction: only their queuing is rehearsed.
      if (job.value().long_statements()) continue;
      auto batch = rehearse_first_batch(conn, m, *p, job.value(), plan[i], seen);
      if (!batch) {
        auto e = std::move(batch).error();
        if (e.code == errc::connection_failed) return e;
        (void)conn.execute("ROLLBACK");
        return e;
      }
      files = relfilenodes(conn);  // the next migration's "before"
      if (!files) return abandon(std::move(files).error());
      plan[i].rehearsed = true;
      continue;
    }
    auto types_before = read_row_types(conn);
    if (!types_before) return abandon(std::move(types_before).error());
    const auto t0 = ctx.now();
    for (const auto& st : p->statements) {
      const auto s0 = ctx.now();
      auto ran = conn.execute(st.text(m.sql));
      if (!ran) {
        if (ran.error().code == errc::connection_failed) return std::move(ran).error();  // not the file's fault
        (void)conn.execute("ROLLBACK");
        auto e = migration_error(std::move(ran).error(), m, st.position);
        e.message = "rehearsal of migration " + std::to_string(m.version) + " (" + m.origin + ":" +
                    std::to_string(st.position.line) + ") failed: " + e.server_message +
                    "; it was rolled back, nothing was changed";
        return e;
      }
      RehearsedStatement r;
      r.line = st.position.line;
      r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(ctx.now() - s0);
      auto locks = conn.query(own_relation_locks_sql);
      if (!locks) return abandon(std::move(locks).error());
      for (const auto& row : locks.value()) {
        auto entry = std::make_pair(row[0].value_or(""), row[1].value_or(""));
        if (seen.insert(entry).second) {
          r.locks.push_back(RelationLock{entry.first, entry.second});
          plan[i].locks.push_back(RelationLock{entry.first, entry.second});
        }
      }
      auto after = relfilenodes(conn);
      if (!after) return abandon(std::move(after).error());
      for (const auto& [oid, now] : after.value()) {
        const auto was = files.value().find(oid);
        if (was != files.value().end() && was->second.first != now.first) r.rewritten.push_back(now.second);
      }
      files = std::move(after);
      plan[i].rehearsal.push_back(std::move(r));
    }
    plan[i].rehearsal_duration = std::chrono::duration_cast<std::chrono::milliseconds>(ctx.now() - t0);
    auto types_after = read_row_types(conn);
    if (!types_after) return abandon(std::move(types_after).error());
    plan[i].row_types_changed = row_types_changed(types_before.value(), types_after.value());
    auto invalid = invalid_objects(conn);
    if (!invalid) return abandon(std::move(invalid).error());
    for (const auto& o : invalid.value()) {
      if (invalid_before.value().insert(o).second) plan[i].left_invalid.push_back(o);
    }
    plan[i].rehearsed = true;
  }
  return conn.execute("ROLLBACK");
}

// Every pending migration, contract ones included (a leader or a heartbeat
// applies those once the older replicas are gone), through the same
// pre-flight as a real run (`rules`).
template <class Timeout, class Ledger>
[[nodiscard]] result<Report> dry_run(Context<Timeout>& ctx, const Settings& settings, const PreflightRules& rules,
                                     Ledger& ledger, Connection& conn, const Target& target,
                                     const LedgerState& state) {
  ctx.phase = "planning";
  LOCKSTEP_TRY(applied, ledger.read_applied(conn));
  LOCKSTEP_TRY(p, plan(target.migrations, applied, target.bound));
  // The same judgement as a leader's pre-flight. A dry run changes nothing,
  // so a finding that would stop the deploy is reported, not raised: the
  // program exits 16 on it (Report::plan[i].blocked()), for CI. The
  // rehearsal is then skipped: it would take the very lock at issue.
  Prepared prepared;
  std::map<std::int64_t, std::vector<Finding>> findings;
  auto safe = preflight(ctx, conn, p.pending, rules, prepared, &findings);
  if (!safe && safe.error().code != errc::lock_unsafe) return std::move(safe).error();
  ctx.phase = "planning";
  std::vector<PlannedMigration> steps;
  for (const Migration* m : p.pending) {
    LOCKSTEP_TRY(pm, prepared.get(*m));
    PlannedMigration step;
    step.version = m->version;
    step.name = m->name;
    step.origin = m->origin;
    step.transaction = pm->directives.boot_in_transaction();
    step.statements = pm->statements.size();
    step.warnings = pm->findings.size();
    step.contract = m->contract;
    step.findings = std::move(findings[step.version]);
    // The Report is printed and written to files as it is: its text passes
    // the redactor here (a finding may quote a statement, which may hold a
    // placeholder's value).
    for (auto& f : step.findings) {
      f.message = ctx.redact()(f.message);
      f.table = ctx.redact()(f.table);
      f.allowed = ctx.redact()(f.allowed);
    }
    for (const auto& c : pm->directives.checks) step.checks.push_back({c.line, ctx.redact()(c.sql), {}});
    // What a deploy would do about the job it requires: finish it in the
    // boot, or refuse (require.hpp); shown, not done.
    LOCKSTEP_TRY(job, unfinished_requirement(conn, ledger, *m));
    step.requires_job = std::move(job);
    steps.push_back(std::move(step));
  }
  if (safe && settings.rehearse) LOCKSTEP_TRYV(rehearse(ctx, settings, conn, p.pending, prepared, steps));
  for (const auto& step : steps) emit_plan(ctx, step);
  Report rep;
  rep.role = Role::dry_run;
  rep.schema_version = state.version;
  rep.expected_version = target.expected;
  rep.unknown_versions = std::move(p.unknown_versions);
  rep.duration = std::chrono::milliseconds{ctx.elapsed_ms()};
  rep.plan = std::move(steps);
  rep.resolved = ctx.resolved().settings;
  ctx.emit(events::Ready{.role = std::string{to_string(rep.role)}, .schema_version = rep.schema_version,
                         .expected_version = rep.expected_version, .pending = static_cast<std::int64_t>(rep.plan.size()),
                         .duration_ms = static_cast<std::int64_t>(rep.duration.count())});
  return rep;
}

}  // namespace lockstep::detail
