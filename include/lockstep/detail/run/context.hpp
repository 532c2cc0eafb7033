// What every phase of a run shares: the clock and the deadline (from the
// Timeout policy), this replica's identity, the event stream and the phase
// name the deadline error reports. Nothing about the schema lives here: each
// phase gets that as its own input and returns its own output.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lockstep/detail/base/conninfo.hpp"
#include "lockstep/detail/base/durations.hpp"
#include "lockstep/detail/run/emitter.hpp"
#include "lockstep/detail/run/resolved.hpp"
#include "lockstep/error.hpp"
#include "lockstep/events.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/settings.hpp"

namespace lockstep::detail {

template <class Timeout>
class Context {
 public:
  // A run resolves the settings as it starts; a heartbeat's registry
  // sessions take the ones it resolved when it started (resolved.hpp), with
  // the environment's secrets as they are now.
  Context(Timeout& timeout, const Settings& settings) : Context{timeout, settings, resolve(settings)} {}
  Context(Timeout& timeout, const Settings& settings, Resolved resolved)
      : timeout_{timeout},
        started_{timeout.now()},
        deadline_{started_ + budget()},
        resolved_{with_current_environment(std::move(resolved))},
        events_{settings.on_event ? settings.on_event : stderr_sink(), resolved_.settings.host, resolved_.redact} {}

  // What the run is doing now, for the deadline error and the reconnect event.
  std::string phase = "starting";
  // A run a heartbeat started to apply a contract migration that became
  // clear, while the application serves: its boot, ready and error events
  // say so, so that a metrics sink does not take its outcome for the
  // application's readiness (metrics.hpp).
  bool background = false;

  [[nodiscard]] const Resolved& resolved() const noexcept { return resolved_; }
  [[nodiscard]] const std::string& host() const noexcept { return resolved_.settings.host; }
  [[nodiscard]] const std::string& url() const noexcept { return resolved_.url; }
  [[nodiscard]] const std::string& deploy_version() const noexcept { return resolved_.settings.deploy_version; }
  [[nodiscard]] const Redactor& redact() const noexcept { return resolved_.redact; }
  // More secrets, from here on (the placeholder values a load used): the
  // redactor of errors and of every later event.
  void add_secrets(std::vector<std::string> more) {
    if (more.empty()) return;
    resolved_.redact = resolved_.redact.with(more);
    events_.add_secrets(std::move(more));
  }

  // The one place a deploy's ledger row is built: this replica's deploy
  // version and host, at `version` (recorded_at is the server's clock).
  [[nodiscard]] DeployRecord deploy_record(std::int64_t version) const {
    return DeployRecord{deploy_version(), version, {}, host()};
  }

  // Saturated (durations.hpp): a budget of milliseconds::max() is a century,
  // not a deadline that wrapped around to the past.
  [[nodiscard]] std::chrono::milliseconds budget() const { return saturating_ms(timeout_.budget()); }
  [[nodiscard]] std::chrono::steady_clock::time_point now() const { return timeout_.now(); }
  [[nodiscard]] std::int64_t elapsed_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(now() - started_).count();
  }
  // Never negative: a step may end past the deadline, and every bound and
  // wait derived from the time left must then be zero, not a negative
  // duration (an event field its schema forbids, a poll that waits forever).
  [[nodiscard]] std::chrono::milliseconds remaining() const {
    return std::max(std::chrono::milliseconds{0},
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now()));
  }
  [[nodiscard]] bool expired() const { return remaining() <= std::chrono::milliseconds{0}; }
  void sleep_for(std::chrono::milliseconds d) { timeout_.sleep_for(d); }

  // The wait policy's delay for `attempt`, never past the deadline.
  template <class Wait>
  [[nodiscard]] std::chrono::milliseconds backoff(Wait& wait, unsigned attempt) const {
    return std::min(std::chrono::duration_cast<std::chrono::milliseconds>(wait.next_delay(attempt)), remaining());
  }

  template <class Body>
  void emit(Body&& body) const {
    events_.emit(std::forward<Body>(body), elapsed_ms());
  }

  void emit_error(const Error& e) const {
    auto number = [](const auto& n) { return n ? std::optional<std::int64_t>{*n} : std::nullopt; };
    emit(events::Error{.class_ = std::string{to_string(e.code)},
                       .message = e.message,
                       .sqlstate = events::unless_empty(e.sqlstate),
                       .version = number(e.version),
                       .file = events::unless_empty(e.file),
                       .line = number(e.line),
                       .column = number(e.column),
                       .detail = events::unless_empty(e.detail),
                       .hint = events::unless_empty(e.hint),
                       .background = background});
  }

  [[nodiscard]] Error deadline_error() const {
    return make_error(errc::deadline_exceeded,
                      "deadline of " + std::to_string(budget().count()) + " ms exceeded while " + phase +
                          "; the connection was shut and the server asked to end the session, so it "
                          "released the migration lock and committed nothing unfinished. Raise the timeout, "
                          "or find what blocks the migration (pg_stat_activity, pg_locks)");
  }

 private:
  Timeout& timeout_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point deadline_;
  Resolved resolved_;
  Emitter events_;
};

}  // namespace lockstep::detail
