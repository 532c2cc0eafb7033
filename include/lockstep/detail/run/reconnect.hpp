// A run's connections, one after another: a connection that breaks mid-run
// (server restart or failover, a terminated backend, a cut link) ends that
// session and with it any lock and open transaction, so starting over from
// the ledger is always safe: a committed migration is in the ledger, an
// uncommitted one left nothing behind, a no-transaction one re-runs from the
// top (it must be idempotent). The replica reconnects and starts over, as
// leader or follower, until the deadline, instead of failing a rollout
// because the database blinked.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/connect_attempt.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/connect.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/error.hpp"
#include "lockstep/events.hpp"
#include "lockstep/report.hpp"

namespace lockstep::detail {

// `one_connection(Connection&)` is the run's part on one connection, under
// the deadline watchdog; `first_attempt` the connection started while the
// source was read.
template <class Wait, class Timeout, class OneConnection>
[[nodiscard]] result<Report> run_reconnecting(Context<Timeout>& ctx, Connector<Wait, Timeout>& connector, Wait& wait,
                                              ConnectAttempt first_attempt, OneConnection&& one_connection) {
  std::optional<ConnectAttempt> first{std::move(first_attempt)};
  for (unsigned attempt = 0;; ++attempt) {
    LOCKSTEP_TRY(conn, connector.connect(std::move(first)));
    first.reset();
    auto out = connector.watched(conn, one_connection);
    if (out) return out;
    auto e = std::move(out).error();
    if (e.code != errc::connection_failed || conn.is_open() || ctx.expired()) return e;
    conn.close();
    const auto delay = ctx.backoff(wait, attempt);
    ctx.emit(events::Reconnecting{.attempt = static_cast<std::int64_t>(attempt),
                                  .while_ = ctx.phase,
                                  .message = e.message,
                                  .next_delay_ms = static_cast<std::int64_t>(delay.count())});
    ctx.sleep_for(delay);
    if (ctx.expired()) return ctx.deadline_error();
  }
}

}  // namespace lockstep::detail
