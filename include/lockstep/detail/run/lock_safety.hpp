// Pre-flight, lock safety: every migration this run may apply is read in
// order by the run's Checker (checks/check.hpp), which asks the live
// catalog what the text cannot settle. A finding at level error that no
// `-- lockstep:allow` accepts stops the deploy here, before anything runs.
// Every finding of any rule is a `lint` event, written here alone.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/checks/check.hpp"
#include "lockstep/checks/render.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/prepare.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/migration.hpp"

namespace lockstep::detail {

template <class Timeout>
void emit_finding(const Context<Timeout>& ctx, const Migration& m, const Finding& f) {
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
[[nodiscard]] result<void> check_lock_safety(const Context<Timeout>& ctx, Checker& checker,
                                             const std::vector<Planned>& run,
                                             std::map<std::int64_t, std::vector<Finding>>* found = nullptr) {
  if (!checker.options().rules.enabled || run.empty()) return outcome::success();
  std::string listed;
  std::size_t blocking = 0;
  std::optional<Error> first;
  for (const auto& [m, p] : run) {
    LOCKSTEP_TRY(findings, checker.lock_findings(*m, *p));
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
                   " a live table for longer than a deploy should (Settings::lock_safety, docs/lock-safety.md);"
                   " nothing was applied:" + listed +
                   "\nFix the migration, or accept a finding on purpose with `-- lockstep:allow=<rule> <reason>` "
                   "among its first comment lines";
  return std::move(*first);
}

}  // namespace lockstep::detail
