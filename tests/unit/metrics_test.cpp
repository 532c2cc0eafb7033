// The metrics sink on typed events as lockstep makes them: what each event counts
// and times, and the exposition text's shape. The same text read by a real
// Prometheus parser is checked in integration/examples_test.cpp (/metrics).
#include <doctest/doctest.h>

#include <string>
#include <utility>

#include "lockstep/metrics.hpp"

using namespace lockstep;

namespace {

// An event with the common fields, as detail::Emitter makes it.
template <class Body>
Event timed_event(std::int64_t elapsed_ms, Body body = {}) {
  return {Body::name, {std::string{Body::name}, "2026-12-05T00:00:00.000Z", elapsed_ms, 42, "h"}, std::move(body)};
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("Metrics") {
    Metrics m;
    auto sink = m.sink();
    SUBCASE("a leader's run") {
      sink(timed_event<events::Boot>(0));
      sink(timed_event<events::LockAcquired>(30));
      sink(timed_event(100, events::MigrationApplied{.duration_ms = 40}));
      sink(timed_event(2200, events::MigrationApplied{.duration_ms = 2000}));
      sink(timed_event(2300, events::Lint{.severity = "warning", .rule = "json_column"}));
      sink(timed_event(2400, events::Ready{.role = "leader", .schema_version = 7, .expected_version = 7, .duration_ms = 2400}));
      const auto text = m.render();
      CAPTURE(text);
      CHECK(has_line(text, "lockstep_migrations_applied_total 2"));
      CHECK(has_line(text, R"(lockstep_runs_total{role="leader",outcome="ready"} 1)"));
      CHECK(has_line(text, R"(lockstep_lint_findings_total{rule="json_column",severity="warning"} 1)"));
      // Cumulative buckets: 0.04 s falls in 0.05 and above, 2 s in 2.5 and above.
      CHECK(has_line(text, R"(lockstep_migration_duration_seconds_bucket{le="0.025"} 0)"));
      CHECK(has_line(text, R"(lockstep_migration_duration_seconds_bucket{le="0.05"} 1)"));
      CHECK(has_line(text, R"(lockstep_migration_duration_seconds_bucket{le="1"} 1)"));
      CHECK(has_line(text, R"(lockstep_migration_duration_seconds_bucket{le="2.5"} 2)"));
      CHECK(has_line(text, R"(lockstep_migration_duration_seconds_bucket{le="+Inf"} 2)"));
      CHECK(has_line(text, "lockstep_migration_duration_seconds_sum 2.04"));
      CHECK(has_line(text, "lockstep_migration_duration_seconds_count 2"));
      CHECK(has_line(text, "lockstep_lock_acquire_seconds_sum 0.03"));
      CHECK(has_line(text, R"(lockstep_boot_duration_seconds_count{role="leader"} 1)"));
      CHECK(has_line(text, "lockstep_lock_wait_seconds_count 0"));
      CHECK(has_line(text, "lockstep_ready 1"));
      CHECK(has_line(text, "lockstep_schema_version 7"));
      CHECK(has_line(text, "# TYPE lockstep_migration_duration_seconds histogram"));
      CHECK(has_line(text, "# TYPE lockstep_migrations_applied_total counter"));
    }
    SUBCASE("a follower waits, wakes, and a later run fails") {
      sink(timed_event<events::Boot>(0));
      sink(timed_event<events::LockBusy>(10));
      sink(timed_event<events::Waiting>(20));
      sink(timed_event<events::Waiting>(520));
      sink(timed_event(600, events::Ready{.role = "follower", .schema_version = 3, .expected_version = 3, .duration_ms = 600}));
      auto text = m.render();
      CHECK(has_line(text, "lockstep_lock_wait_seconds_sum 0.59"));
      CHECK(has_line(text, "lockstep_follower_wake_seconds_sum 0.08"));
      CHECK(has_line(text, R"(lockstep_follower_wake_seconds_bucket{le="0.1"} 1)"));
      sink(timed_event<events::Boot>(0));
      sink(timed_event(5, events::Error{.class_ = "schema_behind", .message = "x"}));
      text = m.render();
      CHECK(has_line(text, R"(lockstep_failures_total{class="schema_behind"} 1)"));
      CHECK(has_line(text, "lockstep_ready 0"));
      CHECK(has_line(text, "lockstep_follower_wake_seconds_count 1"));  // the failed run did not wait
    }
    SUBCASE("heartbeat blips are beats, not runs: readiness stays what the application serves") {
      sink(timed_event<events::Boot>(0));
      sink(timed_event(50, events::Ready{.role = "current", .schema_version = 3, .expected_version = 3, .duration_ms = 50}));
      sink(timed_event(0, events::ReplicaRegistered{
                           .replica_id = "h:1:2", .deploy_version = "v1", .knows_version = 3, .lease_ms = 30000}));
      for (int i = 1; i <= 3; ++i) {
        sink(timed_event(10, events::BeatFailed{.replica_id = "h:1:2",
                                           .while_ = "renewing this replica's lease",
                                           .failed_beats = 1,
                                           .class_ = "database_error",
                                           .message = "relation lockstep.replicas does not exist"}));
      }
      sink(timed_event(10, events::BeatRecovered{.replica_id = "h:1:2", .failed_beats = 3, .lease_ms = 30000}));
      sink(timed_event(10, events::Beat{.replica_id = "h:1:2", .lease_ms = 30000}));
      auto text = m.render();
      CHECK(has_line(text, "lockstep_ready 1"));
      CHECK(has_line(text, R"(lockstep_runs_total{role="current",outcome="ready"} 1)"));
      CHECK(text.find(R"(outcome="error")") == std::string::npos);
      CHECK(text.find("lockstep_failures_total{") == std::string::npos);
      CHECK(has_line(text, R"(lockstep_heartbeat_beats_total{outcome="ok"} 1)"));
      CHECK(has_line(text, R"(lockstep_heartbeat_beats_total{outcome="failed"} 3)"));
      const auto at = text.find("\nlockstep_heartbeat_lease_remaining_seconds ");
      REQUIRE(at != std::string::npos);
      const double remaining = std::stod(text.substr(at + 44));
      CHECK(remaining > 25);
      CHECK(remaining <= 30);
      // A heartbeat's background run (a contract that became clear) that
      // fails is a failed run, but the application still serves.
      sink(timed_event(0, events::Boot{.background = true}));
      sink(timed_event(5, events::Error{.class_ = "lock_unsafe", .message = "x", .background = true}));
      text = m.render();
      CHECK(has_line(text, "lockstep_ready 1"));
      CHECK(has_line(text, R"(lockstep_failures_total{class="lock_unsafe"} 1)"));
      sink(timed_event(1, events::ReplicaWithdrawn{.replica_id = "h:1:2"}));
      CHECK(has_line(m.render(), "lockstep_heartbeat_lease_remaining_seconds 0"));
    }
    SUBCASE("background jobs: rows, estimate, ETA and completion per job, batches, throttling by signal") {
      sink(timed_event(10, events::BackgroundBatch{.version = 42, .rows = 500, .rows_done = 500,
                                                   .rows_estimated = 2000, .duration_ms = 300, .eta_ms = 900}));
      sink(timed_event(20, events::BackgroundThrottled{.version = 42, .signal = "old_replicas"}));
      sink(timed_event(30, events::BackgroundThrottled{.version = 42, .signal = "old_replicas"}));
      sink(timed_event(40, events::BackgroundBatch{.version = 43, .rows = 10, .rows_done = 10, .duration_ms = 7}));
      sink(timed_event(50, events::BackgroundFailed{.version = 43}));
      auto text = m.render();
      CAPTURE(text);
      CHECK(has_line(text, "lockstep_background_batches_total 2"));
      CHECK(has_line(text, R"(lockstep_background_batch_duration_seconds_bucket{le="0.25"} 1)"));
      CHECK(has_line(text, R"(lockstep_background_batch_duration_seconds_bucket{le="0.5"} 2)"));
      CHECK(has_line(text, R"(lockstep_background_throttled_total{signal="old_replicas"} 2)"));
      CHECK(has_line(text, R"(lockstep_background_rows_done{version="42"} 500)"));
      CHECK(has_line(text, R"(lockstep_background_rows_estimated{version="42"} 2000)"));
      CHECK(has_line(text, R"(lockstep_background_eta_seconds{version="42"} 0.9)"));
      CHECK(has_line(text, R"(lockstep_background_complete{version="42"} 0)"));
      CHECK(has_line(text, R"(lockstep_background_eta_seconds{version="43"} -1)"));
      CHECK(has_line(text, R"(lockstep_background_complete{version="43"} -1)"));
      sink(timed_event(60, events::BackgroundSucceeded{.version = 42, .rows_done = 2100, .batches = 5}));
      text = m.render();
      CHECK(has_line(text, R"(lockstep_background_rows_done{version="42"} 2100)"));
      CHECK(has_line(text, R"(lockstep_background_eta_seconds{version="42"} 0)"));
      CHECK(has_line(text, R"(lockstep_background_complete{version="42"} 1)"));
      // A job's events are not a run's: readiness and runs are untouched.
      CHECK(has_line(text, "lockstep_ready 0"));
      CHECK(text.find("lockstep_runs_total{") == std::string::npos);
    }
    SUBCASE("label values are escaped") {
      sink(timed_event(1, events::Error{.class_ = "a\"b\\c"}));
      CHECK(has_line(m.render(), R"(lockstep_failures_total{class="a\"b\\c"} 1)"));
    }
  }
}
