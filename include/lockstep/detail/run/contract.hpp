// Contract migrations (`-- lockstep:phase=contract`): which are pending,
// which wait for which live replicas, and the compatibility floor that makes
// an image without one refuse a schema that has it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/base/ledger_fields.hpp"
#include "lockstep/background/progress.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/plan.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/report.hpp"

namespace lockstep::detail {

// The floor: a contract migration removed what code written before it may
// use, so an image that does not have it (a rollback) must not start,
// while a schema ahead by expand migrations only is fine.
[[nodiscard]] inline Error contracted_error(const AppliedMigration& c, std::int64_t knows_version,
                                            const std::string& deploy_version) {
  auto e = make_error(
      errc::schema_contracted,
      "the schema has contract migration " + std::to_string(c.version) + " (" + c.name + "), applied at " +
          c.applied_at + " by deploy " + c.deploy_version + " on " + c.applied_by +
          "; it removed what older code may still use, and this image (deploy " + deploy_version +
          ") has migrations only up to " + std::to_string(knows_version) +
          ", so it must not start. Roll forward to an image that has migration " + std::to_string(c.version) +
          " (deploy " + c.deploy_version + " or later); a schema ahead by expand migrations only is allowed");
  e.version = c.version;
  e.migration_name = c.name;
  return e;
}

[[nodiscard]] inline result<void> refuse_contracted(const std::vector<AppliedMigration>& applied,
                                                    const Target& target, const std::string& deploy_version) {
  const std::int64_t newest = newest_version(target.migrations);
  for (const auto& a : applied) {
    if (a.contract && a.version > newest) return contracted_error(a, newest, deploy_version);
  }
  return outcome::success();
}

// Contract migrations of this image that the ledger does not have. Without
// the applied list (`applied` null) the fast path's digest has proved that
// everything up to the schema version is applied.
[[nodiscard]] inline std::vector<const Migration*> pending_contracts(const Target& target, const LedgerState& state,
                                                                     const std::vector<AppliedMigration>* applied) {
  std::set<std::int64_t> done;
  if (applied != nullptr) {
    for (const auto& a : *applied) done.insert(a.version);
  }
  std::vector<const Migration*> out;
  for (const auto& m : target.migrations) {
    if (!m.contract || m.version > target.bound) continue;
    const bool is_applied = applied != nullptr ? done.count(m.version) != 0 : m.version <= state.version;
    if (!is_applied) out.push_back(&m);
  }
  return out;
}

// The job `m` requires (`-- lockstep:requires-background=V`) unless it has
// succeeded: nullopt when there is nothing to wait for. A succeeded job
// stays succeeded (no action leaves that state), so a "succeeded" read
// outside the lock holds under it too.
template <class Ledger>
[[nodiscard]] result<std::optional<BackgroundWait>> unfinished_requirement(Connection& conn, Ledger& ledger,
                                                                           const Migration& m) {
  if (m.requires_background == 0) return std::optional<BackgroundWait>{};
  if constexpr (BackgroundLedger<Ledger>) {
    LOCKSTEP_TRY(job, ledger.jobs().read(conn, m.requires_background));
    if (!job) return std::optional<BackgroundWait>{background::missing_job(m.requires_background, "")};
    if (job->state == "succeeded") return std::optional<BackgroundWait>{};
    return std::optional<BackgroundWait>{background::progress(*job)};
  } else {
    // No jobs are kept: the file it requires cannot be queued (record.hpp).
    return std::optional<BackgroundWait>{background::missing_job(m.requires_background, "")};
  }
}

// Which pending contract waits for which live replica (one query), and for
// which unfinished background job (one more per contract that requires one).
template <class Ledger>
[[nodiscard]] result<std::vector<WaitingContract>> who_blocks(Connection& conn, Ledger& ledger,
                                                              const std::vector<const Migration*>& pending) {
  std::vector<WaitingContract> out;
  if (pending.empty()) return out;
  std::vector<ReplicaRecord> live;
  if constexpr (RegistryLedger<Ledger>) {
    auto read = ledger.registry().older_than(conn, pending.back()->version, false);
    // No registry table yet: no replica has ever registered.
    if (!read && !no_ledger_yet(read.error())) return std::move(read).error();
    if (read) live = std::move(read).value();
  }
  for (const Migration* m : pending) {
    WaitingContract w{m->version, m->name, m->origin, {}, {}};
    for (const auto& r : live) {
      if (r.knows_version < m->version) w.waiting_for.push_back(r);
    }
    LOCKSTEP_TRY(job, unfinished_requirement(conn, ledger, *m));
    w.background = std::move(job);
    out.push_back(std::move(w));
  }
  return out;
}

[[nodiscard]] inline bool any_runnable(const std::vector<WaitingContract>& w) {
  return std::any_of(w.begin(), w.end(), [](const WaitingContract& c) { return c.runnable(); });
}

// "v1 x2, v2 x1": who a contract waits for, short enough for an event.
[[nodiscard]] inline std::string summarize(const std::vector<ReplicaRecord>& replicas) {
  std::vector<std::pair<std::string, int>> by_deploy;
  for (const auto& r : replicas) {
    auto it = std::find_if(by_deploy.begin(), by_deploy.end(), [&](const auto& p) { return p.first == r.deploy_version; });
    if (it == by_deploy.end()) by_deploy.emplace_back(r.deploy_version, 1);
    else ++it->second;
  }
  std::string out;
  for (const auto& [deploy, n] : by_deploy) {
    if (!out.empty()) out += ", ";
    out += deploy + " x" + std::to_string(n);
  }
  return out;
}

template <class Timeout>
void emit_waiting(const Context<Timeout>& ctx, const std::vector<WaitingContract>& waiting) {
  for (const auto& w : waiting) {
    if (w.runnable()) continue;
    const BackgroundWait* b = w.background ? &*w.background : nullptr;
    ctx.emit(events::ContractWaiting{.version = w.version, .name_ = w.name, .file = w.origin,
                                     .replicas = static_cast<std::int64_t>(w.waiting_for.size()),
                                     .deploys = summarize(w.waiting_for),
                                     .background = b ? std::optional<std::string>{background::describe(*b)} : std::nullopt,
                                     .background_version = b ? std::optional<std::int64_t>{b->version} : std::nullopt,
                                     .background_percent = b ? b->percent : std::nullopt,
                                     .background_eta_ms = b ? b->eta_ms : std::nullopt});
  }
}

}  // namespace lockstep::detail
