// The replica registry, as the heartbeat keeps this replica in it: enroll
// (the first registration), renew (one beat) and withdraw (stop()), each in
// a short session of its own. Where a lease is stamped and renewed; the
// schedule that keeps it alive is heartbeat_schedule.hpp's, the thread that
// runs it heartbeat.hpp's.
//
// Each session has its own deadline (a beat's budget B), so a beat against a
// database that is down cannot keep stop() waiting for a run's whole budget,
// and reports its failure as `beat_failed`, never as a run's `error`. The
// settings were resolved once, when the heartbeat started (resolved.hpp):
// a beat every few seconds neither reads the environment nor parses the URL.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "lockstep/concepts.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/base/ledger_fields.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/boundary.hpp"
#include "lockstep/detail/run/connect.hpp"
#include "lockstep/detail/run/contract.hpp"
#include "lockstep/detail/run/resolved.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/error.hpp"
#include "lockstep/heartbeat_schedule.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/report.hpp"
#include "lockstep/schema_change.hpp"
#include "lockstep/settings.hpp"
#include "lockstep/timeout/deadline.hpp"

namespace lockstep::detail {

// host:pid:start: unique per process, readable in `lockstep status`.
[[nodiscard]] inline std::string replica_id(const std::string& host) {
  const auto start = std::chrono::system_clock::now().time_since_epoch();
  return host + ":" + std::to_string(::getpid()) + ":" +
         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(start).count());
}

// This process's row, from the settings its run resolved and its report.
[[nodiscard]] inline ReplicaRecord replica_record(const ResolvedSettings& resolved, const Report& report) {
  ReplicaRecord me;
  me.host = resolved.host;
  me.replica_id = replica_id(me.host);
  me.deploy_version = resolved.deploy_version;
  me.knows_version = report.knows_version;
  me.expected_version = report.expected_version;
  me.pid = static_cast<std::int64_t>(::getpid());
  return me;
}

// The contract migrations the beats look out for. Only a replica that may
// migrate looks, at each beat, for the moment a waiting contract can run; a
// wait-only one (or one whose mode did not resolve) would only re-run for nothing.
// Which background job each waiting contract requires (requires-background), by contract version.
[[nodiscard]] inline std::map<std::int64_t, std::int64_t> jobs_required(const std::vector<WaitingContract>& waiting) {
  std::map<std::int64_t, std::int64_t> out;
  for (const auto& w : waiting) {
    if (w.background) out.emplace(w.version, w.background->version);
  }
  return out;
}

[[nodiscard]] inline std::vector<std::int64_t> contracts_to_settle(const Resolved& resolved, const Report& report) {
  std::vector<std::int64_t> waiting;
  if (!resolved.mode_error && resolved.settings.mode == BootMode::migrate) {
    for (const auto& w : report.contracts_waiting) waiting.push_back(w.version);
  }
  return waiting;
}

// What one beat came to: the count renew() always gave (what the contract
// asked about waits for), and the schema changes it learned of.
struct BeatOutcome {
  std::int64_t blockers = 0;
  std::vector<SchemaChange> changes;
};

template <class Wait, class Ledger>
class ReplicaSessions {
 public:
  ReplicaSessions(const Settings& settings, Wait& wait, Ledger& ledger, Resolved resolved, ReplicaRecord me)
      : settings_{settings}, wait_{wait}, ledger_{ledger}, resolved_{std::move(resolved)}, me_{std::move(me)} {}

  [[nodiscard]] const ReplicaRecord& me() const noexcept { return me_; }

  // The ledger version this replica's code was gated at: schema changes
  // after it are news to it (a beat reports each once).
  void schema_seen(std::int64_t version) noexcept { schema_seen_ = version; }

  // Text from elsewhere (an application hook's exception) as it may be shown.
  [[nodiscard]] std::string redact(const std::string& text) const { return resolved_.redact(text); }

  // The first registration. Only the statement that stamps the lease is
  // bounded like a beat (so the lease it stamps is renewed in time:
  // heartbeat_schedule.hpp); connecting may take as long as a registration
  // was always given (the lease, at least 10 s), since no lease exists yet
  // to lapse: a whole deploy booting at once keeps a small server slow to
  // accept connections, and a short interval's beat budget (100 ms at the
  // shortest) would fail every attempt. An attempt whose statement took
  // longer than a beat may is done again. Returns when the stamping
  // statement of the attempt that succeeded was sent.
  [[nodiscard]] result<std::chrono::steady_clock::time_point> enroll(const HeartbeatOptions& options) {
    const auto budget = beat_budget(options);
    const auto give_up = std::chrono::steady_clock::now() + std::max(options.lease, std::chrono::milliseconds{10000});
    for (std::int64_t attempt = 1;; ++attempt) {
      const auto began = std::chrono::steady_clock::now();
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - began);
      std::chrono::steady_clock::time_point stamped = began;
      auto done = session<void>(std::max(budget, left), attempt, [&](auto& ctx, Connection& conn) {
        stamped = std::chrono::steady_clock::now();
        return enroll_in(ctx, conn, options.lease, false);
      });
      const auto ended = std::chrono::steady_clock::now();
      if (done && ended - stamped <= budget) return stamped;
      if (!done) {
        const auto code = done.error().code;
        const bool transient = code == errc::connection_failed || code == errc::deadline_exceeded;
        if (!transient || ended + budget > give_up) return std::move(done).error();
      } else if (ended + budget > give_up) {
        return make_error(errc::deadline_exceeded,
                          "registering this replica: the server took longer than a beat may (" +
                              std::to_string(budget.count()) + " ms) to stamp the lease, until the registration's " +
                              "time ran out; raise --lease (a beat may take half of it) or lighten the server's load");
      }
      if (ended - began < std::chrono::milliseconds{100}) {
        std::this_thread::sleep_for(std::chrono::milliseconds{100});
      }
    }
  }

  // One beat: renew the lease (or register again if it lapsed), and count
  // what contract `contract` waits for (0: none asked): the live replicas of
  // older images, and `job`, the background job it requires (0: none), as
  // one more while it has not succeeded. A beat thus starts the run that
  // applies the contract only once both are clear, not at every beat of a
  // backfill that takes hours.
  [[nodiscard]] result<BeatOutcome> renew(const HeartbeatOptions& options, std::int64_t contract,
                                          std::int64_t failed_before, std::int64_t job = 0) {
    return session<BeatOutcome>(
        beat_budget(options), failed_before + 1, [&](auto& ctx, Connection& conn) -> result<BeatOutcome> {
          ctx.phase = "renewing this replica's lease";
          LOCKSTEP_TRY(renewal, ledger_.registry().renew(conn, me_.replica_id, options.lease, contract));
          // A contract this image lacks committed after it registered (a
          // no-transaction contract that was running then): stop here.
          if (renewal.contracted) {
            return contracted_error(*renewal.contracted, me_.knows_version, me_.deploy_version);
          }
          // The lease lapsed (a long pause, the database away): enroll again,
          // which refuses if a contract this image lacks ran meanwhile.
          if (!renewal.renewed) LOCKSTEP_TRYV(enroll_in(ctx, conn, options.lease, true));
          const auto lease_ms = static_cast<std::int64_t>(options.lease.count());
          if (renewal.renewed) {
            ctx.emit(events::Beat{.replica_id = me_.replica_id, .lease_ms = lease_ms});
          }
          if (failed_before > 0) {
            ctx.emit(events::BeatRecovered{.replica_id = me_.replica_id, .failed_beats = failed_before,
                                           .lease_ms = lease_ms});
          }
          BeatOutcome out{renewal.blockers, {}};
          if (renewal.head_version > schema_seen_) out.changes = schema_changes(ctx, conn, renewal.head_version);
          if constexpr (BackgroundLedger<Ledger>) {
            if (job > 0 && renewal.blockers == 0) {
              ctx.phase = "reading background job " + std::to_string(job) + ", which contract " +
                          std::to_string(contract) + " requires";
              LOCKSTEP_TRY(required, ledger_.jobs().read(conn, job));
              if (!required || required->state != "succeeded") out.blockers = 1;
            }
          }
          return out;
        });
  }

  void withdraw(std::chrono::milliseconds budget) noexcept {
    (void)session<void>(budget, 1, [&](auto& ctx, Connection& conn) -> result<void> {
      ctx.phase = "removing this replica from the registry";
      LOCKSTEP_TRYV(ledger_.registry().withdraw(conn, me_.replica_id));
      ctx.emit(events::ReplicaWithdrawn{.replica_id = me_.replica_id});
      return outcome::success();
    });
  }

 private:
  // The ledger moved since the last beat: which of its new migrations
  // changed row types, each reported once (`schema_changed`). Learning it
  // is never the beat's failure: the lease is renewed already, and a read
  // that fails is tried again at the next beat.
  template <class Ctx>
  [[nodiscard]] std::vector<SchemaChange> schema_changes(Ctx& ctx, Connection& conn, std::int64_t head) {
    if constexpr (requires { ledger_.read_schema_changes(conn, std::int64_t{}); }) {
      ctx.phase = "reading the schema changes after version " + std::to_string(schema_seen_);
      auto changes = ledger_.read_schema_changes(conn, schema_seen_);
      if (!changes) return {};
      for (const auto& c : changes.value()) {
        ctx.emit(events::SchemaChanged{.replica_id = me_.replica_id, .ledger = c.ledger, .version = c.version,
                                       .name_ = c.name, .phase = c.contract ? "contract" : "expand",
                                       .relations = c.relations});
      }
      // A migration that committed between the renewal and this read is
      // reported now; the next beat starts after it.
      schema_seen_ = std::max(head, changes.value().empty() ? head : changes.value().back().version);
      return std::move(changes).value();
    } else {
      schema_seen_ = head;
      return {};
    }
  }

  // `failed_beats`: in a row, this one included (for `beat_failed`).
  template <class T, class Body>
  [[nodiscard]] result<T> session(std::chrono::milliseconds budget, std::int64_t failed_beats, Body&& body) noexcept {
    Deadline<> deadline{budget};
    return boundary<T>(
        deadline, settings_, &resolved_,
        [&](Context<Deadline<>>& ctx) -> result<T> {
          LOCKSTEP_TRY(checked, check_settings(ctx, settings_));
          Connector<Wait, Deadline<>> connector{ctx, settings_, wait_, std::move(checked.conninfo)};
          LOCKSTEP_TRY(conn, connector.connect());
          return connector.watched(conn, [&](Connection& c) { return body(ctx, c); });
        },
        [&](const Context<Deadline<>>& ctx, const Error& e) {
          ctx.emit(events::BeatFailed{.replica_id = me_.replica_id, .while_ = ctx.phase, .failed_beats = failed_beats,
                                      .class_ = std::string{to_string(e.code)}, .message = e.message,
                                      .sqlstate = events::unless_empty(e.sqlstate)});
        });
  }

  template <class Ctx>
  [[nodiscard]] result<void> enroll_in(Ctx& ctx, Connection& conn, std::chrono::milliseconds lease, bool again) {
    ctx.phase = "registering this replica";
    auto refused = ledger_.registry().enroll(conn, me_, lease);
    if (!refused && no_ledger_yet(refused.error())) {
      // A ledger from before the registry, or a database no leader has
      // touched yet (every replica here waits): create what is missing.
      LOCKSTEP_TRYV(ledger_.ensure(conn));
      refused = ledger_.registry().enroll(conn, me_, lease);
    }
    if (!refused) return std::move(refused).error();
    if (refused.value()) return contracted_error(*refused.value(), me_.knows_version, me_.deploy_version);
    const events::ReplicaRegistered registered{.replica_id = me_.replica_id, .deploy_version = me_.deploy_version,
                                               .knows_version = me_.knows_version,
                                               .lease_ms = static_cast<std::int64_t>(lease.count())};
    again ? ctx.emit(events::ReplicaReregistered{registered}) : ctx.emit(registered);
    return outcome::success();
  }

  const Settings& settings_;
  Wait& wait_;
  Ledger& ledger_;
  Resolved resolved_;
  ReplicaRecord me_;
  std::int64_t schema_seen_ = 0;
};

}  // namespace lockstep::detail
