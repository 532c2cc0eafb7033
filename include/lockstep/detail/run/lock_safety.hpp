// Pre-flight, lock safety: every migration this run may apply is read in
// order (safety/analyze.hpp) and what the text cannot settle is asked of the
// live catalog (safety/catalog.hpp). A finding at level error that no
// `-- lockstep:allow` accepts stops the deploy here, before anything runs.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/prepare.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/safety/analyze.hpp"
#include "lockstep/safety/catalog.hpp"
#include "lockstep/safety/judge.hpp"

namespace lockstep::detail {

// A finding's fields, the same in `lint` events, `lockstep lint --json` and
// dry-run reports.
inline events::Lint lint_event(const Migration& m, const safety::Finding& f) {
  events::Lint e{.version = m.version, .file = m.origin, .severity = std::string{safety::to_string(f.level)},
                 .rule = f.rule, .line = f.position.line, .column = f.position.column, .message = f.message,
                 .table = events::unless_empty(f.table), .needs_database = f.needs_database, .allowed = events::unless_empty(f.allowed)};
  if (f.size) e.rows = static_cast<std::int64_t>(f.size->rows), e.bytes = f.size->bytes;
  if (f.size && f.size->parts > 0) e.partitions = f.size->parts;
  return e;
}

inline void add_finding(JsonObject& o, const safety::Finding& f) {
  o.add("severity", safety::to_string(f.level)).add("rule", f.rule);
  o.add("line", f.position.line).add("column", f.position.column).add("message", f.message);
  if (!f.table.empty()) o.add("table", f.table);
  if (f.size) o.add("rows", static_cast<std::int64_t>(f.size->rows)).add("bytes", f.size->bytes);
  if (f.size && f.size->parts > 0) o.add("partitions", f.size->parts);
  if (f.needs_database) o.add("needs_database", true);
  if (!f.allowed.empty()) o.add("allowed", f.allowed);
}

template <class Timeout>
void emit_finding(const Context<Timeout>& ctx, const Migration& m, const safety::Finding& f) {
  ctx.emit(lint_event(m, f));
}

// One migration of the run, in order.
struct Planned {
  const Migration* migration;
  const PreparedMigration* prepared;
};

// Every finding is emitted as a `lint` event, and kept in `found` by
// version when asked; the blocking ones also make the error.
template <class Timeout>
[[nodiscard]] result<void> check_lock_safety(const Context<Timeout>& ctx, const LockSafety& config,
                                             Connection& conn, const std::vector<Planned>& run,
                                             std::map<std::int64_t, std::vector<safety::Finding>>* found = nullptr) {
  if (!config.enabled || run.empty()) return outcome::success();
  // With the connection: which tables exist, to tell a new one (nobody waits
  // on it) from one a CREATE ... IF NOT EXISTS finds, or one in another schema.
  safety::Analyzer analyzer{conn.server_version(), &conn};
  safety::Catalog catalog{conn};
  std::string listed;
  std::size_t blocking = 0;
  std::optional<Error> first;
  for (const auto& [m, p] : run) {
    const auto hazards = analyzer.migration(p->statements, m->sql, p->directives);
    if (analyzer.error()) return *analyzer.error();
    LOCKSTEP_TRY(findings, safety::judge(hazards, config, &catalog, p->directives.allow));
    if (found != nullptr) (*found)[m->version] = findings;
    for (const auto& f : findings) {
      emit_finding(ctx, *m, f);
      if (!f.blocks()) continue;
      if (++blocking <= 10) listed += "\n  " + m->origin + ":" + std::to_string(f.position.line) + ":" +
                                      std::to_string(f.position.column) + ": [" + f.rule + "] " + f.message;
      if (!first) {
        Error e = make_error(errc::lock_unsafe, "");
        e.version = m->version;
        e.migration_name = m->name;
        e.file = m->origin;
        e.line = f.position.line;
        e.column = f.position.column;
        first = std::move(e);
      }
    }
  }
  if (!first) return outcome::success();
  if (blocking > 10) listed += "\n  ... and " + std::to_string(blocking - 10) + " more (the lint events list all)";
  first->message = "lock safety: " + std::to_string(blocking) + (blocking == 1 ? " finding blocks" : " findings block") +
                   " a live table for longer than a deploy should (Settings::lock_safety, README \"Lock "
                   "safety\"); nothing was applied:" + listed +
                   "\nFix the migration, or accept a finding on purpose with `-- lockstep:allow=<rule> <reason>` "
                   "among its first comment lines";
  return std::move(*first);
}

}  // namespace lockstep::detail
