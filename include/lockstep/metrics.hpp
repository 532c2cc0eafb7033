// Prometheus-style metrics kept from lockstep's own events: an EventSink that
// counts and times each step, and the text exposition format (version 0.0.4)
// for a /metrics endpoint. The names and labels are documented in docs/events.md
// (Metrics) and stable like the events they come from.
//
//   lockstep::Metrics metrics;
//   settings.on_event = lockstep::tee(lockstep::stderr_sink(), metrics.sink());
//   ... serve metrics.render() as text/plain; version=0.0.4
#pragma once

#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "lockstep/events.hpp"

namespace lockstep {

// Both sinks see every event, `first` first.
[[nodiscard]] inline EventSink tee(EventSink first, EventSink second) {
  return [first = std::move(first), second = std::move(second)](const Event& e) {
    if (first) first(e);
    if (second) second(e);
  };
}

class Metrics {
 public:
  // Upper bounds in seconds: from a no-op boot (a few ms) to the default
  // five-minute deadline.
  static constexpr std::array<double, 15> buckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                  2.5,   5,    10,    30,   60,  120, 300};

  Metrics() = default;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // A sink that feeds this object; it must outlive the runs that use the sink.
  [[nodiscard]] EventSink sink() {
    return [this](const Event& e) { observe(e); };
  }

  // Reads the typed fields of the events it counts; the others pass by.
  void observe(const Event& e) {
    // In ms until a difference is taken: 0.6 s - 0.52 s is not 0.08 s in doubles.
    const auto elapsed = static_cast<double>(e.header.elapsed_ms);
    std::lock_guard lk{mutex_};
    std::visit([&](const auto& body) { count(body, elapsed); }, e.body);
  }

  // The text exposition format, one family after another, each with HELP and TYPE.
  [[nodiscard]] std::string render() const {
    std::lock_guard lk{mutex_};
    std::string out;
    counter(out, "lockstep_migrations_applied_total", "Migrations this process applied and recorded.", applied_);
    counter(out, "lockstep_migration_retries_total", "Statements retried after lock_timeout (55P03).", retries_);
    header(out, "lockstep_failures_total", "Runs that failed, by error class (the errc name).", "counter");
    for (const auto& [code, n] : failures_) sample(out, "lockstep_failures_total", label("class", code), n);
    header(out, "lockstep_runs_total", "Finished runs, by role and outcome.", "counter");
    for (const auto& [key, n] : runs_)
      sample(out, "lockstep_runs_total", label("role", key.first) + "," + label("outcome", key.second), n);
    header(out, "lockstep_lint_findings_total",
           "Lint and lock-safety findings on pending migrations (lint events), by rule and severity.", "counter");
    for (const auto& [key, n] : findings_)
      sample(out, "lockstep_lint_findings_total", label("rule", key.first) + "," + label("severity", key.second), n);
    migration_seconds_.render(out, "lockstep_migration_duration_seconds",
                              "Time to apply one migration, from its first statement to its commit.", "");
    header(out, "lockstep_boot_duration_seconds", "Time from the start of a run to ready, by role.", "histogram");
    for (const auto& [role, h] : boot_seconds_) h.samples(out, "lockstep_boot_duration_seconds", label("role", role));
    lock_acquire_seconds_.render(out, "lockstep_lock_acquire_seconds",
                                 "Time from the start of a run to holding the migration lock (leaders).", "");
    lock_wait_seconds_.render(out, "lockstep_lock_wait_seconds",
                              "Time a follower waited for another replica's migrations: from lock_busy to ready.", "");
    wake_seconds_.render(out, "lockstep_follower_wake_seconds",
                         "Time a follower took to notice the schema was ready: from its last poll that found it "
                         "behind to ready (bounded by the backoff delay, or NOTIFY delivery when listening).",
                         "");
    gauge(out, "lockstep_ready",
          "1 once the last run ended ready, 0 after a failed run (a heartbeat's background run does not count).",
          ready_);
    header(out, "lockstep_heartbeat_beats_total", "Heartbeat beats, by outcome (a failed beat is not a failed run).",
           "counter");
    sample(out, "lockstep_heartbeat_beats_total", label("outcome", "ok"), beats_ok_);
    sample(out, "lockstep_heartbeat_beats_total", label("outcome", "failed"), beats_failed_);
    double remaining = 0;
    if (lease_until_) {
      remaining = std::chrono::duration<double>(*lease_until_ - std::chrono::steady_clock::now()).count();
      if (remaining < 0) remaining = 0;
    }
    gauge(out, "lockstep_heartbeat_lease_remaining_seconds",
          "Time until this replica's registry lease lapses unless a beat renews it (0: not registered).", remaining);
    counter(out, "lockstep_background_batches_total",
            "Background migration batches this process committed (docs/background.md).", bg_batches_);
    bg_batch_seconds_.render(out, "lockstep_background_batch_duration_seconds",
                             "Time one background batch took, from its statements to its commit.", "");
    header(out, "lockstep_background_throttled_total",
           "Times a background job was held before a batch, by signal (health, blocked_sessions, old_replicas, "
           "requires_background).",
           "counter");
    for (const auto& [signal, n] : bg_throttled_) sample(out, "lockstep_background_throttled_total", label("signal", signal), n);
    counter(out, "lockstep_background_skipped_total",
            "Keys a background runner passed over (on_failed_range = skip), each in the failure log.", bg_skipped_);
    auto per_job = [&](std::string_view name, std::string_view help, auto field) {
      header(out, name, help, "gauge");
      for (const auto& [version, j] : bg_jobs_) sample(out, name, label("version", std::to_string(version)), field(j));
    };
    per_job("lockstep_background_rows_done", "Rows a background job has done, as this process last saw it.",
            [](const BgJob& j) { return j.rows_done; });
    per_job("lockstep_background_rows_estimated", "Rows a background job's table had when it was queued (reltuples).",
            [](const BgJob& j) { return j.rows_estimated; });
    per_job("lockstep_background_eta_seconds",
            "Time a background job needs yet at the rate of its last batch (0 once complete; -1 unknown).",
            [](const BgJob& j) { return j.eta_seconds; });
    per_job("lockstep_background_complete", "1 once a background job succeeded, 0 before; -1 once it failed.",
            [](const BgJob& j) { return j.complete; });
    gauge(out, "lockstep_schema_version", "The schema version the last ready run saw (-1 before one).",
          schema_version_);
    gauge(out, "lockstep_expected_version", "The version this image expects (-1 before a ready run).",
          expected_version_);
    return out;
  }

 private:
  class Histogram {
   public:
    void add(double seconds) {
      if (!(seconds >= 0)) seconds = 0;  // NaN or a clock step: count it, in the first bucket
      for (std::size_t i = 0; i < buckets.size(); ++i) {
        if (seconds <= buckets[i]) ++counts_[i];
      }
      ++count_;
      sum_ += seconds;
    }
    void render(std::string& out, std::string_view name, std::string_view help, const std::string& labels) const {
      header(out, name, help, "histogram");
      samples(out, name, labels);
    }
    void samples(std::string& out, std::string_view name, const std::string& labels) const {
      const std::string sep = labels.empty() ? "" : ",";
      for (std::size_t i = 0; i < buckets.size(); ++i)
        sample(out, std::string{name} + "_bucket", labels + sep + label("le", number(buckets[i])), counts_[i]);
      sample(out, std::string{name} + "_bucket", labels + sep + label("le", "+Inf"), count_);
      sample(out, std::string{name} + "_sum", labels, sum_);
      sample(out, std::string{name} + "_count", labels, count_);
    }

   private:
    std::array<std::uint64_t, buckets.size()> counts_{};  // cumulative: each bucket counts all below its bound
    std::uint64_t count_ = 0;
    double sum_ = 0;
  };

  // The shortest form that reads back as the same double ("0.005", not
  // "0.0050000000000000001").
  static std::string number(double v) {
    // A whole number as one ("2000", not "2e+03"): rows and versions read plainly.
    if (std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 1e15) {
      return std::to_string(static_cast<long long>(v));
    }
    char buf[32];
    for (int precision = 1; precision <= 17; ++precision) {
      std::snprintf(buf, sizeof buf, "%.*g", precision, v);
      if (std::strtod(buf, nullptr) == v) break;
    }
    return buf;
  }
  // name="value", with \ " and newlines escaped as the format requires.
  static std::string label(std::string_view name, std::string_view value) {
    std::string out{name};
    out += "=\"";
    for (char c : value) {
      if (c == '\\' || c == '"') out += '\\', out += c;
      else if (c == '\n') out += "\\n";
      else out += c;
    }
    return out + '"';
  }
  static void header(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  }
  static void sample(std::string& out, std::string_view name, const std::string& labels, double value) {
    out.append(name);
    if (!labels.empty()) out.append("{").append(labels).append("}");
    out.append(" ").append(number(value)).append("\n");
  }
  static void sample(std::string& out, std::string_view name, const std::string& labels, std::uint64_t value) {
    out.append(name);
    if (!labels.empty()) out.append("{").append(labels).append("}");
    out.append(" ").append(std::to_string(value)).append("\n");
  }
  static void counter(std::string& out, std::string_view name, std::string_view help, std::uint64_t value) {
    header(out, name, help, "counter");
    sample(out, name, "", value);
  }
  static void gauge(std::string& out, std::string_view name, std::string_view help, double value) {
    header(out, name, help, "gauge");
    sample(out, name, "", value);
  }

  template <class Body>
  void count(const Body& b, double elapsed) {
    using namespace events;
    if constexpr (std::is_same_v<Body, Boot>) {
      boot_at_ = elapsed;
      busy_at_.reset();
      last_poll_at_.reset();
    } else if constexpr (std::is_same_v<Body, MigrationApplied>) {
      ++applied_;
      migration_seconds_.add(static_cast<double>(b.duration_ms) / 1000.0);
    } else if constexpr (std::is_same_v<Body, MigrationRetry>) {
      ++retries_;
    } else if constexpr (std::is_same_v<Body, LockAcquired>) {
      lock_acquire_seconds_.add((elapsed - boot_at_) / 1000.0);
    } else if constexpr (std::is_same_v<Body, LockBusy>) {
      busy_at_ = elapsed;
    } else if constexpr (std::is_same_v<Body, Waiting>) {
      last_poll_at_ = elapsed;
    } else if constexpr (std::is_same_v<Body, Lint>) {
      ++findings_[{b.rule, b.severity}];
    } else if constexpr (std::is_same_v<Body, Beat> || std::is_same_v<Body, ReplicaReregistered>) {
      // A beat is not a run: it counts here, never in runs or readiness.
      ++beats_ok_;
      renewed(b.lease_ms);
    } else if constexpr (std::is_same_v<Body, ReplicaRegistered>) {
      renewed(b.lease_ms);
    } else if constexpr (std::is_same_v<Body, BeatFailed>) {
      ++beats_failed_;
    } else if constexpr (std::is_same_v<Body, ReplicaWithdrawn>) {
      lease_until_.reset();
    } else if constexpr (std::is_same_v<Body, BackgroundBatch>) {
      ++bg_batches_;
      bg_batch_seconds_.add(static_cast<double>(b.duration_ms) / 1000.0);
      auto& j = bg_jobs_[b.version];
      j.rows_done = static_cast<double>(b.rows_done);
      j.rows_estimated = static_cast<double>(b.rows_estimated);
      j.eta_seconds = b.eta_ms ? static_cast<double>(*b.eta_ms) / 1000.0 : -1;
    } else if constexpr (std::is_same_v<Body, BackgroundThrottled>) {
      ++bg_throttled_[b.signal];
    } else if constexpr (std::is_same_v<Body, BackgroundSkipped>) {
      ++bg_skipped_;
    } else if constexpr (std::is_same_v<Body, BackgroundSucceeded>) {
      auto& j = bg_jobs_[b.version];
      j.rows_done = static_cast<double>(b.rows_done);
      j.eta_seconds = 0;
      j.complete = 1;
    } else if constexpr (std::is_same_v<Body, BackgroundFailed>) {
      auto& j = bg_jobs_[b.version];
      j.eta_seconds = -1;
      j.complete = -1;
    } else if constexpr (std::is_same_v<Body, Ready>) {
      boot_seconds_[b.role].add(static_cast<double>(b.duration_ms) / 1000.0);
      ++runs_[{b.role, "ready"}];
      if (busy_at_) lock_wait_seconds_.add((elapsed - *busy_at_) / 1000.0);
      if (last_poll_at_) wake_seconds_.add((elapsed - *last_poll_at_) / 1000.0);
      schema_version_ = static_cast<double>(b.schema_version);
      expected_version_ = static_cast<double>(b.expected_version);
      ready_ = 1;
    } else if constexpr (std::is_same_v<Body, events::Error>) {
      ++failures_[b.class_];
      ++runs_[{"none", "error"}];
      // A heartbeat's background run (a contract migration that became
      // clear) failing leaves the schema the application serves on as it
      // was: readiness is the boot's.
      if (!b.background) ready_ = 0;
    }
  }

  // The lease a beat or registration just stamped, counted from when this
  // sink saw it (a round trip after the server stamped it: close enough
  // for a dashboard; the registry's own expires_at is the truth).
  void renewed(std::int64_t lease_ms) {
    lease_until_ = std::chrono::steady_clock::now() + std::chrono::milliseconds{lease_ms};
  }

  // A background job as this process's events last showed it.
  struct BgJob {
    double rows_done = 0, rows_estimated = 0, eta_seconds = -1, complete = 0;
  };

  mutable std::mutex mutex_;
  std::uint64_t bg_batches_ = 0;
  Histogram bg_batch_seconds_;
  std::map<std::string, std::uint64_t> bg_throttled_;
  std::uint64_t bg_skipped_ = 0;
  std::map<std::int64_t, BgJob> bg_jobs_;
  std::uint64_t applied_ = 0, retries_ = 0;
  std::map<std::string, std::uint64_t> failures_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> runs_, findings_;
  Histogram migration_seconds_, lock_acquire_seconds_, lock_wait_seconds_, wake_seconds_;
  std::map<std::string, Histogram> boot_seconds_;
  double boot_at_ = 0;  // elapsed_ms of events
  std::optional<double> busy_at_, last_poll_at_;
  double ready_ = 0, schema_version_ = -1, expected_version_ = -1;
  std::uint64_t beats_ok_ = 0, beats_failed_ = 0;
  std::optional<std::chrono::steady_clock::time_point> lease_until_;
};

}  // namespace lockstep
