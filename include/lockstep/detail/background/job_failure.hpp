// A background job that cannot go on, once its row is marked failed under
// the job's lock: its failure in the failure log, like any failed
// migration's (the deploy's circuit breaker and `lockstep status` see it),
// and the background_failed event. Shared by batches (runner.hpp) and long
// statements (long_job.hpp).
#pragma once

#include <optional>
#include <string>

#include "lockstep/connection.hpp"
#include "lockstep/error.hpp"
#include "lockstep/events.hpp"
#include "lockstep/migration.hpp"

namespace lockstep::detail {

// `stored`: the error's message, scrubbed (it leaves the session); `why`:
// the cause alone, for the event.
template <class Ctx, class Ledger>
void report_job_failure(Ctx& ctx, Connection& conn, Ledger& ledger, const BackgroundJob& job, const Migration& m,
                        const Error& e, const std::string& stored, const std::string& why) {
  FailureRecord f;
  f.version = job.version;
  f.name = job.name;
  f.sqlstate = e.sqlstate;
  f.message = stored;
  f.position = m.origin + (e.line ? ":" + std::to_string(*e.line) : std::string{});
  f.line = e.line;
  f.deploy_version = ctx.deploy_version();
  f.host = ctx.host();
  f.checksum = m.checksum;
  f.cause = "error";
  // Its own statement, like a migration's failure record (TableLedger's
  // fallback for a ledger without the position columns needs autocommit).
  if (auto recorded = ledger.record_failure(conn, f); !recorded) {
    ctx.emit(events::Warning{.message = "could not record background migration " + std::to_string(job.version) +
                                        "'s failure in the failure log: " + recorded.error().message});
  }
  ctx.emit(events::BackgroundFailed{.version = job.version, .name_ = job.name, .sqlstate = e.sqlstate,
                                    .line = e.line ? std::optional<std::int64_t>{*e.line} : std::nullopt,
                                    .message = why});
}

}  // namespace lockstep::detail
