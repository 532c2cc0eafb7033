// Phase 6b, follow: another replica holds the lock. Wait with the wait
// policy (woken early by the leader's NOTIFY when the policy listens), then
// read the ledger's state again. Never blocks on the lock itself.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>

#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/run/activity.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/elect.hpp"
#include "lockstep/detail/run/session_sql.hpp"
#include "lockstep/migration.hpp"

namespace lockstep::detail {

template <class Wait, class Timeout, class Ledger>
class Follower {
 public:
  // `attempts` counts the waits, for the report. `max_idle` caps one wait: a
  // replica that may lead at its next poll carries the leader's idle bound
  // on its session already (lead.hpp), and a longer wait would have the
  // server end that session.
  Follower(Context<Timeout>& ctx, Wait& wait, Ledger& ledger, const LockIdentity& lock, std::int64_t expected,
           unsigned& attempts, std::chrono::milliseconds progress_interval, std::chrono::milliseconds max_idle)
      : ctx_{ctx}, wait_{wait}, ledger_{ledger}, lock_{lock}, expected_{expected}, attempts_{attempts},
        interval_{progress_interval}, max_idle_{max_idle} {}

  // Waits once and reads the ledger's state again.
  [[nodiscard]] result<LedgerState> wait_and_poll(Connection& conn, const LedgerState& state, unsigned attempt) {
    if constexpr (ListeningWait<Wait>) {
      if (attempt == 0) LOCKSTEP_TRYV(start_listening(conn));
    }
    const auto delay = woken_ ? std::chrono::milliseconds{0}
                              : std::clamp(ctx_.backoff(wait_, attempt), std::chrono::milliseconds{0}, max_idle_);
    ctx_.emit(events::Waiting{.attempt = static_cast<std::int64_t>(attempt),
                              .schema_version = state.version,
                              .expected_version = expected_,
                              .next_delay_ms = static_cast<std::int64_t>(delay.count()),
                              .listening = listening_,
                              .lock = lock_.name});
    woken_ = false;
    if (listening_) {
      LOCKSTEP_TRY(woke, conn.await_notification(delay));
      (void)woke;  // early or on time, the ledger decides
    } else {
      ctx_.sleep_for(delay);
    }
    attempts_ = attempt + 1;
    if (ctx_.expired()) return ctx_.deadline_error();
    LOCKSTEP_TRYV(report_leader(conn));
    LOCKSTEP_TRY(polled, ledger_.read_state(conn, ctx_.deploy_version()));
    if (listening_) {
      // A NOTIFY that arrived while that query ran may announce a commit it
      // did not see: poll again at once rather than sleep through it.
      LOCKSTEP_TRY(during, conn.take_notifications());
      woken_ = during > 0;
    }
    return polled;
  }

 private:
  // Every progress interval, what the lock holder's backend is doing, so a
  // waiting replica's log says more than "waiting".
  [[nodiscard]] result<void> report_leader(Connection& conn) {
    if (interval_.count() <= 0) return outcome::success();
    const auto now = ctx_.now();
    if (reported_ && now - *reported_ < interval_) return outcome::success();
    if (!reported_) {  // the first wait starts the clock: quick leaders are not reported
      reported_ = now;
      return outcome::success();
    }
    reported_ = now;
    LOCKSTEP_TRY(activity, read_activity(conn, lock_holder_sql(lock_.key)));
    ctx_.emit(events::LeaderActivity{.lock = lock_.name, .held = activity.has_value(), .activity = fields_of(activity)});
    return outcome::success();
  }

  // LISTEN once, before the first wait. A commit may land between the lock
  // attempt and the LISTEN, so the first poll after it does not wait.
  [[nodiscard]] result<void> start_listening(Connection& conn) {
    LOCKSTEP_TRY(rows, conn.query(listen_sql(lock_.key, conn.backend_pid())));
    listening_ = !rows.empty() && rows[0][0].value_or("f") == "t";
    woken_ = listening_;
    return outcome::success();
  }

  Context<Timeout>& ctx_;
  Wait& wait_;
  Ledger& ledger_;
  const LockIdentity& lock_;
  std::int64_t expected_;
  bool listening_ = false;  // LISTENing for the leader's NOTIFY
  bool woken_ = false;      // a notification arrived: poll again at once
  unsigned& attempts_;
  std::chrono::milliseconds interval_;
  std::chrono::milliseconds max_idle_;
  std::optional<std::chrono::steady_clock::time_point> reported_;
};

}  // namespace lockstep::detail
