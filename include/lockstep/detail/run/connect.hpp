// Phase 2, connect: the URL plus lockstep's defaults, retried with the wait
// policy until the deadline; and the watchdog every use of the connection
// runs under.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/connect_attempt.hpp"
#include "lockstep/detail/base/conninfo.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/base/watchdog.hpp"
#include "lockstep/settings.hpp"

namespace lockstep::detail {

// SQLSTATEs of connection refusals that no retry can cure; anything else
// (unreachable, starting up, too many clients) is retried until the deadline.
[[nodiscard]] inline bool permanent_refusal(std::string_view sqlstate) noexcept {
  return sqlstate == "28P01" || sqlstate == "28000" || sqlstate == "3D000" || sqlstate == "42501";
}

// The URL plus lockstep's defaults; the user's options win. connect_timeout
// is per host (at least 2 s, at most what is left); the attempt as a whole
// is bounded by the deadline (ConnectAttempt). Every connection lockstep
// opens takes these, side connections included.
[[nodiscard]] inline std::string session_conninfo(Conninfo c, const std::string& application_name,
                                                  std::chrono::seconds connect_timeout,
                                                  std::chrono::milliseconds remaining) {
  const auto rem_s =
      std::max<std::int64_t>(2, std::min<std::int64_t>(connect_timeout.count(), (remaining.count() + 999) / 1000));
  c.set_default("connect_timeout", std::to_string(rem_s));
  c.set_default("application_name", application_name);
  // The client side of dead-peer detection (the server side is set once
  // this process leads): keepalives and an unacknowledged-data timeout.
  c.set_default("keepalives", "1");
  c.set_default("keepalives_idle", "5");
  c.set_default("keepalives_interval", "2");
  c.set_default("keepalives_count", "3");
  c.set_default("tcp_user_timeout", "10000");
  return c.str();
}

template <class Wait, class Timeout>
class Connector {
 public:
  Connector(Context<Timeout>& ctx, const Settings& settings, Wait& wait, Conninfo conninfo)
      : ctx_{ctx}, settings_{settings}, wait_{wait}, conninfo_{std::move(conninfo)} {}

  // The first attempt, started early so it overlaps loading the migrations.
  [[nodiscard]] result<ConnectAttempt> start() const {
    return ConnectAttempt::start(conninfo(), settle_limit(), true);
  }

  [[nodiscard]] result<Connection> connect(std::optional<ConnectAttempt> first = {}) {
    ctx_.phase = "connecting to " + ctx_.redact()(ctx_.url());
    for (unsigned attempt = 0;; ++attempt) {
      if (ctx_.expired()) return ctx_.deadline_error();
      auto conn = open_bounded(attempt == 0 ? std::move(first) : std::nullopt);
      if (conn) return conn;
      auto e = std::move(conn).error();
      if (e.code != errc::connection_failed) return e;  // the deadline, or no thread
      explain_refusal(e);
      if (permanent_refusal(e.sqlstate)) {
        e.message += "; the server refused this user, password or database, which no retry can change: check "
                     "them in the migration URL (and the role's CONNECT privilege and pg_hba.conf)";
        return e;
      }
      const auto delay = ctx_.backoff(wait_, attempt);
      ctx_.emit(events::ConnectRetry{.attempt = static_cast<std::int64_t>(attempt),
                                     .message = e.message,
                                     .next_delay_ms = static_cast<std::int64_t>(delay.count()),
                                     .sqlstate = events::unless_empty(e.sqlstate)});
      ctx_.sleep_for(delay);
      if (ctx_.expired()) {
        e.message += " (gave up at the deadline)";
        return e;
      }
    }
  }

  // Runs `body` under the deadline watchdog; its failure after the watchdog
  // fired is the deadline, whatever the severed connection reported.
  // `cancelled` (a runner's stop) ends the session early the same way.
  template <class Body>
  [[nodiscard]] auto watched(Connection& conn, Body&& body, std::function<bool()> cancelled = {})
      -> decltype(body(conn)) {
    Watchdog watchdog{conn, ctx_.remaining(), conninfo(std::chrono::seconds{2}), std::move(cancelled)};
    if (!watchdog.started()) {
      return make_error(errc::internal_error,
                        "cannot start the deadline watchdog thread: the process is at its thread or pid limit "
                        "(ulimit -u, the container's pids.max); nothing was run");
    }
    auto out = body(conn);
    watchdog.disarm();
    if (!out && watchdog.fired()) {
      conn.close();
      if (watchdog.was_cancelled()) {
        return make_error(errc::connection_failed,
                          "stopped while " + ctx_.phase + ": the session was ended and its statement rolled back");
      }
      return ctx_.deadline_error();
    }
    return out;
  }

 private:
  [[nodiscard]] std::string conninfo(std::chrono::seconds connect_timeout) const {
    return session_conninfo(conninfo_, settings_.application_name, connect_timeout, ctx_.remaining());
  }
  [[nodiscard]] std::string conninfo() const { return conninfo(settings_.connect_timeout); }

  // How long a run that fails before taking its first connection waits for
  // the attempt to end (ConnectAttempt): what one host may take.
  [[nodiscard]] std::chrono::milliseconds settle_limit() const {
    return std::min<std::chrono::milliseconds>(ctx_.remaining(), settings_.connect_timeout);
  }

  // One attempt, bounded by what is left of the deadline (DNS included).
  [[nodiscard]] result<Connection> open_bounded(std::optional<ConnectAttempt> started) {
    if (!started) {
      LOCKSTEP_TRY(attempt, ConnectAttempt::start(conninfo(), settle_limit(), true));
      started.emplace(std::move(attempt));
    }
    auto done = started->wait(ctx_.remaining());
    if (!done) return ctx_.deadline_error();
    return std::move(*done);
  }

  // The URL, without its secrets. (The refusal's SQLSTATE was learnt by the
  // attempt itself, inside the deadline: connect_attempt.hpp.)
  void explain_refusal(Error& e) const {
    e.message = "cannot connect to " + ctx_.redact()(ctx_.url()) + ": " + ctx_.redact()(e.message);
  }

  Context<Timeout>& ctx_;
  const Settings& settings_;
  Wait& wait_;
  Conninfo conninfo_;
};

}  // namespace lockstep::detail
