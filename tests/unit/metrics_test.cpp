// The metrics sink on events as lockstep writes them: what each event counts
// and times, and the exposition text's shape. The same text read by a real
// Prometheus parser is checked in integration/examples_test.cpp (/metrics).
#include <doctest/doctest.h>

#include <string>

#include "lockstep/detail/base/json.hpp"
#include "lockstep/detail/base/json_fields.hpp"
#include "lockstep/metrics.hpp"

using namespace lockstep;

namespace {

// An event with the common fields, as detail::Emitter writes it.
Event event(const std::string& name, long long elapsed_ms, void (*fill)(detail::JsonObject&) = nullptr) {
  detail::JsonObject o;
  o.add("event", name).add("ts", "2026-12-05T00:00:00.000Z").add("elapsed_ms", static_cast<std::int64_t>(elapsed_ms));
  o.add("pid", 42).add("host", "h");
  if (fill != nullptr) fill(o);
  return {name, o.str()};
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("JsonFields") {
    const std::string json =
        R"({"event":"plan","name":"a \"quoted\", name","rehearsal":[{"duration_ms":9,"x":"}"}],"duration_ms":12,)"
        R"("nested":{"duration_ms":1},"ok":true})";
    const detail::JsonFields f{json};
    SUBCASE("top-level members only, nested ones skipped whole") {
      CHECK(f.number("duration_ms") == 12);
      CHECK(f.raw("ok") == "true");
      CHECK(f.raw("nested") == R"({"duration_ms":1})");
      CHECK_FALSE(f.raw("x"));
    }
    SUBCASE("strings are unescaped; a missing or non-numeric member is nullopt") {
      CHECK(f.text("name") == R"(a "quoted", name)");
      CHECK_FALSE(f.number("name"));
      CHECK_FALSE(f.number("missing"));
      CHECK_FALSE(detail::JsonFields{"not json"}.raw("a"));
    }
  }

  TEST_CASE("Metrics") {
    Metrics m;
    auto sink = m.sink();
    SUBCASE("a leader's run") {
      sink(event("boot", 0));
      sink(event("lock_acquired", 30));
      sink(event("migration_applied", 100, [](detail::JsonObject& o) { o.add("duration_ms", 40); }));
      sink(event("migration_applied", 2200, [](detail::JsonObject& o) { o.add("duration_ms", 2000); }));
      sink(event("lint", 2300, [](detail::JsonObject& o) { o.add("severity", "warning").add("rule", "json_column"); }));
      sink(event("ready", 2400, [](detail::JsonObject& o) {
        o.add("role", "leader").add("schema_version", 7).add("expected_version", 7).add("duration_ms", 2400);
      }));
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
      sink(event("boot", 0));
      sink(event("lock_busy", 10));
      sink(event("waiting", 20));
      sink(event("waiting", 520));
      sink(event("ready", 600, [](detail::JsonObject& o) {
        o.add("role", "follower").add("schema_version", 3).add("expected_version", 3).add("duration_ms", 600);
      }));
      auto text = m.render();
      CHECK(has_line(text, "lockstep_lock_wait_seconds_sum 0.59"));
      CHECK(has_line(text, "lockstep_follower_wake_seconds_sum 0.08"));
      CHECK(has_line(text, R"(lockstep_follower_wake_seconds_bucket{le="0.1"} 1)"));
      sink(event("boot", 0));
      sink(event("error", 5, [](detail::JsonObject& o) { o.add("class", "schema_behind").add("message", "x"); }));
      text = m.render();
      CHECK(has_line(text, R"(lockstep_failures_total{class="schema_behind"} 1)"));
      CHECK(has_line(text, "lockstep_ready 0"));
      CHECK(has_line(text, "lockstep_follower_wake_seconds_count 1"));  // the failed run did not wait
    }
    SUBCASE("heartbeat blips are beats, not runs: readiness stays what the application serves") {
      sink(event("boot", 0));
      sink(event("ready", 50, [](detail::JsonObject& o) {
        o.add("role", "current").add("schema_version", 3).add("expected_version", 3).add("duration_ms", 50);
      }));
      sink(event("replica_registered", 0, [](detail::JsonObject& o) {
        o.add("replica_id", "h:1:2").add("deploy_version", "v1").add("knows_version", 3).add("lease_ms", 30000);
      }));
      for (int i = 1; i <= 3; ++i) {
        sink(event("beat_failed", 10, [](detail::JsonObject& o) {
          o.add("replica_id", "h:1:2").add("while", "renewing this replica's lease").add("failed_beats", 1);
          o.add("class", "database_error").add("message", "relation lockstep.replicas does not exist");
        }));
      }
      sink(event("beat_recovered", 10, [](detail::JsonObject& o) {
        o.add("replica_id", "h:1:2").add("failed_beats", 3).add("lease_ms", 30000);
      }));
      sink(event("beat", 10, [](detail::JsonObject& o) { o.add("replica_id", "h:1:2").add("lease_ms", 30000); }));
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
      sink(event("boot", 0, [](detail::JsonObject& o) { o.add("background", true); }));
      sink(event("error", 5, [](detail::JsonObject& o) {
        o.add("class", "lock_unsafe").add("message", "x").add("background", true);
      }));
      text = m.render();
      CHECK(has_line(text, "lockstep_ready 1"));
      CHECK(has_line(text, R"(lockstep_failures_total{class="lock_unsafe"} 1)"));
      sink(event("replica_withdrawn", 1, [](detail::JsonObject& o) { o.add("replica_id", "h:1:2"); }));
      CHECK(has_line(m.render(), "lockstep_heartbeat_lease_remaining_seconds 0"));
    }
    SUBCASE("label values are escaped") {
      sink(event("error", 1, [](detail::JsonObject& o) { o.add("class", "a\"b\\c"); }));
      CHECK(has_line(m.render(), R"(lockstep_failures_total{class="a\"b\\c"} 1)"));
    }
  }
}
