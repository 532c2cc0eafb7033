// An expand migration that requires a background job
// (`-- lockstep:requires-background=V`): the leader reaches it, and the job
// has not succeeded. Typically the image's code needs what the job fills,
// so it must not start before the job is done. If what is left fits
// Settings::finalize_budget at the rate its batches have run, this boot
// finishes it, batch by batch, on the leader's connection (each batch
// exactly once, as a runner's: detail/background/runner.hpp); otherwise the
// boot refuses, with the job's progress and ETA, before any of the
// migration runs. Nothing is recorded as failed: the job moves on, and a
// later boot of the same image may find it done. (A contract migration
// waits for its job instead: contract.hpp.)
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/background/progress.hpp"
#include "lockstep/detail/background/runner.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/contract.hpp"
#include "lockstep/detail/run/registry.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/settings.hpp"

namespace lockstep::detail {

// Why job `w` cannot be finished now, whoever asks (a boot that requires it,
// `lockstep background finalize`); nullopt: its batches may run.
template <class Ledger>
[[nodiscard]] result<std::optional<std::string>> cannot_finish(Connection& conn, Ledger& ledger, const Target& target,
                                                               const BackgroundWait& w) {
  using Why = std::optional<std::string>;
  const std::string v = std::to_string(w.version);
  if (w.state == "missing") return Why{"its migration is not applied, so it was never queued"};
  if (w.state == "failed") return Why{"it failed; fix the cause and run `lockstep background retry " + v + "`"};
  if (w.state == "cancelled") {
    return Why{"it was cancelled, so it never finishes; an image that needs its rows must ship them in a new "
               "background migration, and require that one instead"};
  }
  if (w.state == "paused") return Why{"an operator paused it; `lockstep background resume " + v + "` lets it run"};
  const Migration* file = target.find(w.version);
  if (file == nullptr || !file->background) {
    return Why{"this image has no background migration " + v + " to run its batches with"};
  }
  if (file->requires_background != 0) {
    LOCKSTEP_TRY(before, ledger.jobs().read(conn, file->requires_background));
    if (!before || before->state != "succeeded") {
      return Why{"it requires background migration " + std::to_string(file->requires_background) +
                 " to succeed first (lockstep:requires-background)"};
    }
  }
  if constexpr (RegistryLedger<Ledger>) {
    if (sql::leading_directive(file->sql, "after")) {
      auto old = ledger.registry().older_than(conn, w.version, false);
      if (!old && !no_ledger_yet(old.error())) return std::move(old).error();
      if (old && !old.value().empty()) {
        return Why{"it starts only once old replicas are gone (lockstep:after=old-replicas-gone), and " +
                   std::to_string(old.value().size()) + " still run (" + summarize(old.value()) + ")"};
      }
    }
  }
  return Why{};
}

// Job `version`'s batches, back to back on `conn`, until it succeeded (true)
// or `until` (false); each batch exactly once, as a runner's.
template <class Timeout, class Wait, class Ledger>
[[nodiscard]] result<bool> run_batches(Context<Timeout>& ctx, const Settings& settings, Wait& wait, Ledger& ledger,
                                       const Target& target, Connection& conn, std::int64_t version,
                                       std::chrono::steady_clock::time_point until) {
  LOCKSTEP_TRY(files, runnable_files(target.migrations));
    // A batch's statement_timeout and lock_timeout take at most half and a
  // tenth of the time given: JobRunner::finalize starts a batch only while
  // both fit in what is left of the deadline. The batches are sized toward
  // the runners' target as before: a smaller target shrank a batch whose
  // time is mostly fixed (a round trip, a sleep) to one row, and the
  // finalize to a crawl (the fresh-clone rehearsal found it).
  BackgroundOptions options;
  const auto span = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
  options.statement_timeout = std::clamp(span / 2, std::chrono::milliseconds{1000}, std::chrono::milliseconds{10000});
  options.lock_timeout = std::clamp(span / 10, std::chrono::milliseconds{100}, options.lock_timeout);
  JobRunner<Wait, Ledger> runner{settings, wait, ledger, ctx.resolved(), replica_id(ctx.host()), options,
                                 std::move(files)};
  return runner.finalize(ctx, conn, version, until);
}

// `lockstep background finalize V`: job `version` run to its end in this
// process, within the run's deadline (leaving a little for the last read).
template <class Timeout, class Wait, class Ledger>
[[nodiscard]] result<BackgroundJob> finalize_job(Context<Timeout>& ctx, const Settings& settings, Wait& wait,
                                                 Ledger& ledger, const Target& target, Connection& conn,
                                                 std::int64_t version) {
  ctx.phase = "reading background job " + std::to_string(version);
  LOCKSTEP_TRY(job, ledger.jobs().read(conn, version));
  auto unfinished = [&](const BackgroundWait& w, const std::string& why) {
    auto e = make_error(errc::background_unfinished, background::describe(w) + " is not finished: " + why);
    e.version = version;
    return e;
  };
  if (!job) {
    return make_error(errc::invalid_argument, "there is no background job " + std::to_string(version) +
                                                  " (see lockstep background status)");
  }
  if (job->state == "succeeded") return std::move(*job);
  LOCKSTEP_TRY(cannot, cannot_finish(conn, ledger, target, background::progress(*job)));
  if (cannot) return unfinished(background::progress(*job), *cannot);
  ctx.phase = "finishing background migration " + std::to_string(version);
  const auto until = std::chrono::steady_clock::now() + ctx.remaining() - std::chrono::milliseconds{500};
  LOCKSTEP_TRY(done, run_batches(ctx, settings, wait, ledger, target, conn, version, until));
  LOCKSTEP_TRY(now, ledger.jobs().read(conn, version));
  if (now && (done || now->state == "succeeded")) return std::move(*now);
  const auto at = background::progress(now ? *now : *job);
  LOCKSTEP_TRY(stopped, cannot_finish(conn, ledger, target, at));
  if (stopped) return unfinished(at, *stopped);
  return unfinished(at, "the deadline (--timeout) came first; run it again, or leave the rest to the runners");
}

template <class Wait, class Timeout, class Ledger>
class Requirements {
 public:
  Requirements(Context<Timeout>& ctx, const Settings& settings, Wait& wait, Ledger& ledger, const Target& target)
      : ctx_{ctx}, settings_{settings}, wait_{wait}, ledger_{ledger}, target_{target} {}

  // Before expand migration `m` runs, with no transaction open on `conn`:
  // success once the job it requires has succeeded (finished here if it
  // fits), else background_unfinished naming the job, its progress and ETA.
  [[nodiscard]] result<void> ensure(Connection& conn, const Migration& m) {
    // A contract waits for its job (contract.hpp); a background file that
    // requires one is queued and held by the runners until it succeeded.
    if (m.requires_background == 0 || m.contract || m.background) return outcome::success();
    ctx_.phase = "reading background migration " + std::to_string(m.requires_background) + ", which migration " +
                 std::to_string(m.version) + " requires";
    LOCKSTEP_TRY(unfinished, unfinished_requirement(conn, ledger_, m));
    if (!unfinished) return outcome::success();
    if constexpr (BackgroundLedger<Ledger>) {
      return finish(conn, m, std::move(*unfinished));
    } else {
      return refused(m, *unfinished, "this Ledger keeps no background jobs (see BackgroundLedger in concepts.hpp)");
    }
  }

 private:
  [[nodiscard]] result<void> finish(Connection& conn, const Migration& m, BackgroundWait w) {
    LOCKSTEP_TRY(cannot, cannot_finish(conn, ledger_, target_, w));
    if (cannot) return refused(m, w, *cannot);
    if (w.long_statements) {
      // An index build's time is not known before it ends, and a boot that
      // started one could not stop it inside its budget.
      return refused(m, w, "its long statements (an index build, a validation) are never run by a boot: no rate "
                           "tells how long they take");
    }
    const auto budget = std::min(settings_.finalize_budget, ctx_.remaining() / 2);
    if (budget <= std::chrono::milliseconds{0}) {
      return refused(m, w, "finishing it in the boot is off (Settings::finalize_budget, --finalize-budget is 0)");
    }
    if (w.eta_ms && std::chrono::milliseconds{*w.eta_ms} > budget) {
      return refused(m, w, "what is left takes longer than this boot may spend on it (" + background::human_duration(budget.count()) +
                           ": the finalize budget, Settings::finalize_budget / --finalize-budget, within half of "
                           "what is left of the deadline)");
    }
    const std::int64_t v = m.requires_background;
    ctx_.phase = "finishing background migration " + std::to_string(v) + ", which migration " +
                 std::to_string(m.version) + " requires";
    LOCKSTEP_TRY(done, run_batches(ctx_, settings_, wait_, ledger_, target_, conn, v,
                                   std::chrono::steady_clock::now() + budget));
    if (done) return outcome::success();
    LOCKSTEP_TRY(now, ledger_.jobs().read(conn, v));
    if (now && now->state == "succeeded") return outcome::success();
    const auto at = now ? background::progress(*now) : w;
    // Paused, failed or cancelled meanwhile (by an operator, or another
    // boot's or runner's batch): that is why, not the budget.
    LOCKSTEP_TRY(stopped, cannot_finish(conn, ledger_, target_, at));
    if (stopped) return refused(m, at, *stopped);
    return refused(m, at, "this boot ran its batches for " + background::human_duration(budget.count()) +
                              " (the finalize budget) and it is not done yet");
  }

  [[nodiscard]] Error refused(const Migration& m, BackgroundWait w, const std::string& why) const {
    if (w.name.empty()) {
      if (const Migration* file = target_.find(w.version)) w.name = file->name;
    }
    auto e = make_error(errc::background_unfinished,
                        "migration " + std::to_string(m.version) + " (" + m.origin + ") requires " + background::describe(w) +
                            " to have succeeded (lockstep:requires-background), and " + why +
                            ". Nothing of migration " + std::to_string(m.version) +
                            " ran, and nothing is recorded as failed: deploy an image without it until `lockstep "
                            "background status` shows " + std::to_string(w.version) +
                            " succeeded, or run `lockstep background finalize " + std::to_string(w.version) + "`");
    e.version = m.version;
    e.migration_name = m.name;
    e.file = m.origin;
    return e;
  }

  Context<Timeout>& ctx_;
  const Settings& settings_;
  Wait& wait_;
  Ledger& ledger_;
  const Target& target_;
};

}  // namespace lockstep::detail
