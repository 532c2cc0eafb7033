// The program's terminal output (examples/cli/progress_bar.hpp): given
// events, the exact lines, their widths, the redrawn bar and the redaction
// of every line; and when the bar is chosen at all.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "args.hpp"
#include "progress_bar.hpp"

using namespace lockstep;

namespace {

events::BackgroundBatch pb_batch(std::int64_t done, std::int64_t estimated, std::optional<std::int64_t> eta) {
  return events::BackgroundBatch{.version = 42, .name_ = "backfill", .batch = 3, .rows = 1000, .rows_done = done,
                                 .rows_estimated = estimated, .batch_size = 1000, .duration_ms = 40, .eta_ms = eta};
}

Event pb_event(std::string_view name, EventBody body) { return Event{name, EventHeader{}, std::move(body)}; }

// What a TerminalSink wrote, through a memory stream.
struct PbScreen {
  char* data = nullptr;
  std::size_t size = 0;
  std::FILE* f = ::open_memstream(&data, &size);
  PbScreen() = default;
  PbScreen(const PbScreen&) = delete;
  PbScreen& operator=(const PbScreen&) = delete;
  ~PbScreen() {
    std::fclose(f);
    std::free(data);
  }
  [[nodiscard]] std::string text() {
    std::fflush(f);
    return std::string{data, size};
  }
};

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("progress bar: a batch's exact line is one column short of the terminal") {
    const auto line = cli::batch_line(pb_batch(900000, 2000000, 12000), 80);
    CHECK(line == "background 42 (backfill)  [####.......]  45%  900000 of ~2000000 rows  ETA 12 s");
    CHECK(line.size() == 79);
    // Wide: the bar grows to 40 cells and no further.
    const auto wide = cli::batch_line(pb_batch(500, 1000, std::nullopt), 200);
    CHECK(wide == "background 42 (backfill)  [" + std::string(20, '#') + std::string(20, '.') +
                      "]  50%  500 of ~1000 rows");
    // Narrower: the name goes first, then the bar; never wider than the terminal.
    CHECK(cli::batch_line(pb_batch(900000, 2000000, 12000), 70) ==
          "background 42  [#####.......]  45%  900000 of ~2000000 rows  ETA 12 s");
    CHECK(cli::batch_line(pb_batch(900000, 2000000, 12000), 60) == "background 42  45%  900000 of ~2000000 rows  ETA 12 s");
    const auto tiny = cli::batch_line(pb_batch(900000, 2000000, 12000), 30);
    CHECK(tiny == "background 42  45%  900000 of");
    CHECK(tiny.size() == 29);
    // Past the estimate (reltuples when queued): 99%, the bar full, until the job says done.
    CHECK(cli::batch_line(pb_batch(2500, 2000, std::nullopt), 80) ==
          "background 42 (backfill)  [" + std::string(26, '#') + "]  99%  2500 of ~2000 rows");
    // No estimate (an empty table when queued): rows only, an empty bar.
    CHECK(cli::batch_line(pb_batch(700, 0, std::nullopt), 60).find("]  700 rows") != std::string::npos);
  }

  TEST_CASE("progress bar: a job done and a job in status and an index build's blocks") {
    const events::BackgroundSucceeded ok{.version = 42, .name_ = "backfill", .rows_done = 2000000, .batches = 61};
    CHECK(cli::succeeded_line(ok, 80) ==
          "background 42 (backfill)  [" + std::string(11, '#') + "]  100%  2000000 rows in 61 batches, done");

    BackgroundJob j;
    j.version = 42;
    j.name = "backfill";
    j.state = "running";
    j.rows_done = 250;
    j.rows_estimated = 1000;
    j.busy_ms = 1000;
    // 750 rows left at 250 rows a second of batches; the name gives way to the bar.
    CHECK(cli::job_line(j, 80) == "background 42  [#####...............]  running  25%  250 of ~1000 rows  ETA 3 s");
    j.state = "succeeded";
    j.rows_done = 1010;
    CHECK(cli::job_line(j, 80) == "background 42 (backfill)  [" + std::string(23, '#') + "]  succeeded  100%  1010 rows");
    // Long statements (background + no-transaction): statements, not rows.
    BackgroundJob index;
    index.version = 43;
    index.name = "index";
    index.state = "running";
    index.runs_statements = true;
    index.rows_done = 1;
    index.rows_estimated = 3;
    CHECK(cli::job_line(index, 80).find("33%  1 of 3 statements") != std::string::npos);
    const events::BackgroundStatement st{.version = 43, .name_ = "index", .statement = 1, .statements = 3, .line = 4,
                                         .duration_ms = 125000};
    CHECK(cli::statement_line(st, 80).find("1 of 3 statements  (line 4, 2 min)") != std::string::npos);
    CHECK(cli::succeeded_line(events::BackgroundSucceeded{.version = 43, .name_ = "index", .rows_done = 0,
                                                          .batches = 3},
                              80)
              .find("100%  3 statements, done") != std::string::npos);

    events::Progress p{.version = 4, .name_ = "add_index", .file = "4_add_index.sql", .statement = "CREATE INDEX",
                       .line = 3, .running_ms = 12000};
    p.activity = events::Activity{.backend_pid = 77, .state = "active", .statement_ms = 12000,
                                  .phase = "building index: scanning table", .blocks_done = 250, .blocks_total = 1000};
    CHECK(cli::progress_line(p, 120) == "migration 4 (add_index)  [" + std::string(5, '#') + std::string(16, '.') +
                                            "]  25%  250 of 1000 blocks  building index: scanning table  line 3, 12 s");
    // Nothing counted: how long, and what it waits on.
    p.activity = events::Activity{.backend_pid = 77, .state = "active", .statement_ms = 12000,
                                  .wait_event = "Lock:relation", .blocked_by = "81"};
    CHECK(cli::progress_line(p, 120) ==
          "migration 4 (add_index) line 3: running 12 s, waiting on Lock:relation (blocked by pid 81)");
    CHECK(cli::progress_line(p, 40).size() == 39);
  }

  TEST_CASE("progress bar: other events as short lines; an event without its own wording keeps its fields") {
    CHECK(cli::human_line(pb_event("lock_busy", events::LockBusy{{.lock = "try", .key = 1}})) ==
          "another process holds the lock: waiting for it to migrate");
    CHECK(cli::human_line(pb_event("migration_applied",
                                   events::MigrationApplied{.version = 7, .name_ = "users", .file = "7_users.sql",
                                                            .statements = 2, .duration_ms = 350})) ==
          "migration 7 (users) applied in 350 ms");
    CHECK(cli::human_line(pb_event("ready", events::Ready{.role = "current", .schema_version = 7,
                                                          .expected_version = 7, .duration_ms = 40})) ==
          "ready: schema version 7 (current, 40 ms)");
    CHECK(cli::human_line(pb_event("beat", events::Beat{.replica_id = "host-1-2", .lease_ms = 30000})) ==
          "beat {\"replica_id\":\"host-1-2\",\"lease_ms\":30000}");
  }

  TEST_CASE("progress bar: the sink redraws one line and keeps other lines above it and redacts every line") {
    PbScreen screen;
    const Redactor redact{{"hunter2"}};
    const cli::TerminalSink sink{screen.f, redact, 60};
    const auto b1 = pb_batch(1000, 4000, 3000), b2 = pb_batch(2000, 4000, std::nullopt);
    const auto l1 = cli::batch_line(b1, 60), l2 = cli::batch_line(b2, 60);
    sink(pb_event("background_batch", b1));
    sink(pb_event("warning", events::Warning{.message = "the password hunter2 is weak"}));
    sink(pb_event("background_batch", b2));
    const events::BackgroundSucceeded ok{.version = 42, .name_ = "backfill", .rows_done = 4000, .batches = 4};
    sink(pb_event("background_succeeded", ok));
    const auto l3 = cli::succeeded_line(ok, 60);
    const auto pad = [](const std::string& before, const std::string& now) {
      return std::string(before.size() > now.size() ? before.size() - now.size() : 0, ' ');
    };
    CHECK(screen.text() == "\r" + l1 + "\r" + std::string(l1.size(), ' ') + "\r" +
                               "warning: the password *** is weak\n" + l1 + "\r" + l2 + pad(l1, l2) + "\r" + l3 +
                               pad(l2, l3) + "\n");
    CHECK(screen.text().find("hunter2") == std::string::npos);
    CHECK(screen.text().find('\x1b') == std::string::npos);
    // A bar line carrying a secret (a job's name is a file's) is redacted too.
    auto secret_name = pb_batch(1, 2, std::nullopt);
    secret_name.name_ = "hunter2";
    sink(pb_event("background_batch", secret_name));
    CHECK(screen.text().find("hunter2") == std::string::npos);
  }

  TEST_CASE("progress bar: status bars are redacted; JSON unless asked or on a terminal") {
    PbScreen screen;
    BackgroundJob j;
    j.version = 3;
    j.name = "fill";
    j.state = "failed";
    j.last_error = "cannot connect as postgresql://app:hunter2@db/app";
    cli::print_job_bars(screen.f, Redactor{{"hunter2"}}, {j}, 80);
    CHECK(screen.text().find("background 3 (fill)  [") == 0);
    CHECK(screen.text().find("\n    cannot connect as postgresql://app:***@db/app\n") != std::string::npos);
    CHECK(screen.text().find("hunter2") == std::string::npos);

    CHECK(cli::choose_output("auto", true) == cli::Output::bar);
    CHECK(cli::choose_output("auto", false) == cli::Output::json);
    CHECK(cli::choose_output("bar", false) == cli::Output::bar);
    CHECK(cli::choose_output("json", true) == cli::Output::json);
    CHECK(cli::parse_args({"migrate"}).progress == "auto");
    CHECK(cli::parse_args({"background", "status", "--progress", "bar"}).progress == "bar");
    CHECK(cli::parse_args({"migrate", "--progress", "fancy"}).error ==
          "--progress takes 'auto' (a bar when stdout is a terminal), 'bar' or 'json', not 'fancy'");
  }
}
