// One failure cannot wedge a rollout: a migration the server rejected in
// this deploy is not run again by its other replicas (each would hold the
// same locks for as long, then fail the same way). A changed file, a new
// deploy version or `lockstep resolve` allows a new attempt; failures that
// may pass on another try (FailureRecord::retryable) never stop it, nor do
// the keys a background runner skipped (FailureRecord::skipped): its job
// went on.
#pragma once

#include <string>
#include <vector>

#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/prepare.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/settings.hpp"
#include "lockstep/source/checksum.hpp"

namespace lockstep::detail {

// Whether a recorded failure can stop a pending migration (else the leader
// need not read them).
[[nodiscard]] inline bool failures_matter(const Settings& s) noexcept {
  return s.on_failure == FailurePolicy::stop_deploy || s.on_partial == PartialPolicy::refuse;
}

[[nodiscard]] inline result<void> refuse_unresolved_partial(const Migration& m,
                                                            const std::vector<FailureRecord>& failures) {
  for (const auto& f : failures) {
    if (f.version == m.version && f.partial) {
      return at_migration(
          make_error(errc::migration_failed,
                     "it stopped part-way at " + f.failed_at + " (" + std::to_string(f.statements_completed) +
                         " of " + std::to_string(f.statements_total) +
                         " statements committed) and the partial policy is refuse: check the schema by hand, "
                         "then run `lockstep resolve " + std::to_string(m.version) + "` and deploy again"),
          m);
    }
  }
  return outcome::success();
}

[[nodiscard]] inline Error already_failed(const Migration& m, const FailureRecord& f, const std::string& deploy) {
  // A `-- lockstep:check` that was false (or failed) stopped it: none of it
  // ran, and the condition is the database's, so the way out differs.
  if (f.cause == "check") {
    auto e = at_migration(
        make_error(errc::migration_failed,
                   "its check already failed in this deploy (" + deploy + ") on " + f.host + " at " + f.failed_at +
                       ": " + (f.position.empty() ? m.origin : f.position) + ": " +
                       (f.sqlstate.empty() ? std::string{} : "[" + f.sqlstate + "] ") + f.message +
                       ". Nothing of it ran; lockstep does not evaluate the check again in the same deploy. Make "
                       "the check true (fix the data), then run `lockstep resolve " + std::to_string(m.version) +
                       "` or deploy a new version; or change the check (a changed file is a new attempt) "
                       "(docs/operations.md)"),
        m);
    e.sqlstate = f.sqlstate;
    e.server_message = f.message;
    e.line = f.line;
    return e;
  }
  auto e = at_migration(
      make_error(errc::migration_failed,
                 "it already failed in this deploy (" + deploy + ") on " + f.host + " at " + f.failed_at + ": " +
                     (f.position.empty() ? m.origin : f.position) + ": [" + f.sqlstate + "] " + f.message +
                     ". The server rejected it, so it would fail the same way here: lockstep does not run "
                     "it again in the same deploy. Fix the file and deploy again (a changed file is a new "
                     "attempt), or fix the cause outside it (a privilege, an extension, the data), then run "
                     "`lockstep resolve " + std::to_string(m.version) + "` (docs/operations.md)"),
      m);
  e.sqlstate = f.sqlstate;
  e.server_message = f.message;
  e.line = f.line;
  e.column = f.column;
  return e;
}

[[nodiscard]] inline result<void> refuse_recorded_failure(const Settings& s, const std::string& deploy_version,
                                                          const Migration& m,
                                                          const std::vector<FailureRecord>& failures) {
  if (s.on_partial == PartialPolicy::refuse) LOCKSTEP_TRYV(refuse_unresolved_partial(m, failures));
  if (s.on_failure != FailurePolicy::stop_deploy) return outcome::success();
  for (auto f = failures.rbegin(); f != failures.rend(); ++f) {
    if (f->version == m.version && checksum_matches(m, f->checksum) && f->deploy_version == deploy_version &&
        !f->retryable() && !f->skipped()) {
      return already_failed(m, *f, deploy_version);
    }
  }
  return outcome::success();
}

}  // namespace lockstep::detail
