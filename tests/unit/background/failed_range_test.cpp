// What a background runner does with a batch that rolled back
// (detail/background/failed_range.hpp), decided by SQLSTATE alone; the
// blocked-sessions signal's limit (background/health.hpp); and that a key a
// runner skipped never stops a deploy (detail/run/failure_gate.hpp).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lockstep/background/health.hpp"
#include "lockstep/detail/background/failed_range.hpp"
#include "lockstep/detail/run/failure_gate.hpp"

using namespace lockstep;
using namespace lockstep::detail;

TEST_SUITE("unit") {
  TEST_CASE("a failed background batch: retried, halved, split, skipped or failed, by SQLSTATE") {
    const auto stop = FailedRange::stop;
    const auto skip = FailedRange::skip;
    // Locks and deadlocks are tried again, whatever the policy and size.
    for (const auto policy : {stop, skip}) {
      CHECK(on_batch_error("55P03", true, 1, 0, 3, policy) == OnBatchError::retry);
      CHECK(on_batch_error("40P01", true, 64, 0, 3, policy) == OnBatchError::retry);
    }
    // A statement timeout halves, then is retried at one row up to the limit.
    CHECK(on_batch_error("57014", true, 64, 0, 3, stop) == OnBatchError::halve);
    CHECK(on_batch_error("57014", true, 64, 0, 3, skip) == OnBatchError::halve);
    CHECK(on_batch_error("57014", true, 1, 2, 3, skip) == OnBatchError::retry);
    CHECK(on_batch_error("57014", true, 1, 3, 3, stop) == OnBatchError::fail);
    CHECK(on_batch_error("57014", true, 1, 3, 3, skip) == OnBatchError::skip);
    // A row's error: the job stops, unless told to skip; then split to the one key.
    CHECK(on_batch_error("22012", true, 100, 0, 3, stop) == OnBatchError::fail);
    CHECK(on_batch_error("22012", true, 100, 0, 3, skip) == OnBatchError::split);
    CHECK(on_batch_error("22P02", true, 2, 0, 3, skip) == OnBatchError::split);
    CHECK(on_batch_error("23503", true, 1, 0, 3, skip) == OnBatchError::skip);
    CHECK(on_batch_error("P0001", true, 1, 0, 3, skip) == OnBatchError::skip);
    // Every row would fail alike: never skipped (it would pass over the table).
    for (const char* every_row : {"42501", "42703", "42883", "53100", "XX000", "40001", "08006", ""}) {
      CAPTURE(every_row);
      CHECK(on_batch_error(every_row, true, 1, 0, 3, skip) == OnBatchError::fail);
    }
    // lockstep's probe of the table (renamed, dropped) is not a row's.
    CHECK(on_batch_error("22012", false, 1, 0, 3, skip) == OnBatchError::fail);
    CHECK(row_error("22012"));
    CHECK_FALSE(row_error("2201"));
    CHECK(key_text({"42"}) == "42");
    CHECK(key_text({"acme", "7"}) == "(acme, 7)");
  }

  TEST_CASE("the blocked-sessions signal holds a job at its limit, and 0 turns it off") {
    HealthLimits limits;
    CHECK(limits.blocked_sessions == 5);
    CHECK_FALSE(blocked_sessions_stop(4, limits));
    const auto at = blocked_sessions_stop(5, limits);
    REQUIRE(at);
    CHECK(at->signal == "blocked_sessions");
    CHECK(at->value == "5 sessions");
    CHECK(at->limit == "5 sessions");
    limits.blocked_sessions = 1;
    REQUIRE(blocked_sessions_stop(1, limits));
    CHECK(blocked_sessions_stop(1, limits)->value == "1 session");
    CHECK_FALSE(blocked_sessions_stop(0, limits));
    limits.blocked_sessions = 0;
    CHECK_FALSE(blocked_sessions_stop(1000, limits));
  }

  TEST_CASE("a key a background runner skipped never stops a deploy, and its failed job does") {
    Settings s;
    s.on_failure = FailurePolicy::stop_deploy;
    Migration m;
    m.version = 7;
    m.name = "backfill";
    m.origin = "db/7.sql";
    m.checksum = "abc";
    FailureRecord f;
    f.version = 7;
    f.checksum = "abc";
    f.deploy_version = "v2";
    f.cause = "skipped";
    CHECK(f.skipped());
    CHECK(refuse_recorded_failure(s, "v2", m, {f}));
    f.cause = "error";
    CHECK_FALSE(refuse_recorded_failure(s, "v2", m, {f}));
  }
}
