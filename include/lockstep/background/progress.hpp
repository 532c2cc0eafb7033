// Where a background job stands, for what waits on it and for status: its
// share of the rows estimated when it was queued, and the time left at the
// rate its batches have run (busy_ms: their statements only, pauses and
// throttling left out: the ETA of running it back to back, as a finalize does).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "lockstep/migration.hpp"
#include "lockstep/report.hpp"

namespace lockstep::background {

[[nodiscard]] inline BackgroundWait progress(const BackgroundJob& j) {
  BackgroundWait w;
  w.version = j.version;
  w.name = j.name;
  w.state = j.state;
  w.rows_done = j.rows_done;
  w.rows_estimated = j.rows_estimated;
  w.long_statements = j.long_statements();
  if (j.state == "succeeded") {
    w.percent = 100;  // below 100 only while it may still run
    return w;
  }
  if (w.long_statements) {
    // Statements done of all: an index build's own progress is the
    // progress events' (pg_stat_progress_create_index), and no rate of
    // earlier statements tells how long the next one takes.
    if (j.rows_estimated > 0) w.percent = std::min<std::int64_t>(99, j.rows_done * 100 / j.rows_estimated);
    return w;
  }
  if (j.rows_estimated > 0) {
    // The estimate is pg_class.reltuples when queued: a job may pass it.
    w.percent = std::min<std::int64_t>(99, j.rows_done * 100 / j.rows_estimated);
  }
  // Past the estimate (queued before the table was analysed, or it grew
  // below the bound) what is left is unknown: no ETA, rather than "0 s".
  if (j.busy_ms > 0 && j.rows_done > 0 && j.rows_estimated > j.rows_done) {
    const std::int64_t left = j.rows_estimated - j.rows_done;
    w.eta_ms = static_cast<std::int64_t>(static_cast<double>(left) * static_cast<double>(j.busy_ms) /
                                         static_cast<double>(j.rows_done));
  }
  return w;
}

// A job required but never queued: its migration not applied yet.
[[nodiscard]] inline BackgroundWait missing_job(std::int64_t version, std::string name) {
  BackgroundWait w;
  w.version = version;
  w.name = std::move(name);
  w.state = "missing";
  return w;
}

// "2h 3min", "41 s", "350 ms".
[[nodiscard]] inline std::string human_duration(std::int64_t ms) {
  if (ms < 1000) return std::to_string(ms) + " ms";
  const std::int64_t s = ms / 1000;
  if (s < 120) return std::to_string(s) + " s";
  const std::int64_t min = s / 60;
  if (min < 120) return std::to_string(min) + " min";
  return std::to_string(min / 60) + "h " + std::to_string(min % 60) + "min";
}

// "background migration 42 (backfill) at 63% (1200 of 1900 rows, ETA 2 min)".
[[nodiscard]] inline std::string describe(const BackgroundWait& w) {
  std::string out = "background migration " + std::to_string(w.version) + (w.name.empty() ? "" : " (" + w.name + ")");
  if (w.state == "missing") return out + ", not queued yet (its migration is not applied)";
  if (w.state == "failed" || w.state == "cancelled" || w.state == "paused") out += ", " + w.state + ",";
  out += w.percent ? " at " + std::to_string(*w.percent) + "%" : std::string{};
  if (w.long_statements) {
    out += " (" + std::to_string(w.rows_done) + " of " + std::to_string(w.rows_estimated) + " long statements done";
    return out + (w.state == "queued" && w.rows_done == 0 ? ", not started)" : ")");
  }
  out += " (" + std::to_string(w.rows_done) + " of about " + std::to_string(w.rows_estimated) + " rows";
  if (w.state == "queued" && w.rows_done == 0) out += ", not started";
  if (w.eta_ms && (w.state == "queued" || w.state == "running")) out += ", ETA " + human_duration(*w.eta_ms);
  return out + ")";
}

}  // namespace lockstep::background
