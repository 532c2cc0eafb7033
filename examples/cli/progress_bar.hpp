// The program's output on a terminal: a progress bar redrawn in place for a
// background job's batches and a long statement's progress, and a short
// line for every other event, instead of JSON lines (--progress, default
// auto: the bar only when stdout is a terminal, so pipes, files and log
// collectors keep the JSON the schema describes). Plain text only: '\r'
// redraws the bar, spaces clear what a longer line left, no ANSI escapes
// (a terminal that shows them raw, or a `script` log, stays readable).
#pragma once

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "lockstep/background/progress.hpp"
#include "lockstep/events.hpp"
#include "lockstep/json.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/redact.hpp"

namespace lockstep::cli {

enum class Output { bar, json };

// --progress auto|bar|json: auto draws the bar only on a terminal.
[[nodiscard]] inline Output choose_output(std::string_view progress, bool stdout_is_terminal) {
  if (progress == "bar") return Output::bar;
  if (progress == "json") return Output::json;
  return stdout_is_terminal ? Output::bar : Output::json;
}

// The terminal's columns; $COLUMNS, then 80, where it says none (a pty whose
// size nobody set reports 0).
[[nodiscard]] inline int terminal_width(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
  if (const char* c = std::getenv("COLUMNS"); c != nullptr && std::atoi(c) >= 20) return std::atoi(c);
  return 80;
}

// "[#####.....]": `cells` cells between the brackets, the done share filled.
[[nodiscard]] inline std::string bar(std::int64_t done, std::int64_t total, int cells) {
  cells = std::max(cells, 1);
  std::int64_t filled = total > 0 ? std::clamp<std::int64_t>(done * cells / total, 0, cells) : 0;
  return "[" + std::string(static_cast<std::size_t>(filled), '#') +
         std::string(static_cast<std::size_t>(cells - filled), '.') + "]";
}

// At most `width` bytes, never cutting a UTF-8 sequence in two.
[[nodiscard]] inline std::string fit(std::string line, std::size_t width) {
  if (line.size() <= width) return line;
  std::size_t n = width;
  while (n > 0 && (static_cast<unsigned char>(line[n]) & 0xC0) == 0x80) --n;
  line.resize(n);
  return line;
}

namespace bar_detail {

// "background 42 (backfill)", or "background 42" when the name does not fit.
[[nodiscard]] inline std::string label(std::string_view what, std::int64_t version, const std::string& name,
                                       bool with_name) {
  std::string out = std::string{what} + " " + std::to_string(version);
  if (with_name && !name.empty()) out += " (" + name + ")";
  return out;
}

// label, the bar (at least 10 cells, else none), then the rest: the line
// one column short of `width`, so a terminal never wraps it (a wrapped line
// cannot be redrawn with '\r').
[[nodiscard]] inline std::string compose(std::string_view what, std::int64_t version, const std::string& name,
                                         std::int64_t done, std::int64_t total, const std::string& rest, int width) {
  const auto room = static_cast<std::size_t>(std::max(width - 1, 10));
  for (bool with_name : {true, false}) {
    const std::string head = label(what, version, name, with_name);
    const std::size_t fixed = head.size() + 2 + 2 + rest.size();  // "  [" ... "]" before rest's own spacing
    if (fixed + 10 <= room) {
      const int cells = static_cast<int>(std::min<std::size_t>(room - fixed, 40));
      return head + "  " + bar(done, total, cells) + rest;
    }
  }
  return fit(label(what, version, name, false) + rest, room);
}

}  // namespace bar_detail

// One batch committed: "background 42 (backfill)  [####......]  45%  900000 of ~2000000 rows  ETA 12 s".
[[nodiscard]] inline std::string batch_line(const events::BackgroundBatch& b, int width) {
  std::string rest;
  if (b.rows_estimated > 0) {
    // The estimate (reltuples when queued) may be passed: 99% until the job says it is done.
    rest += "  " + std::to_string(std::min<std::int64_t>(99, b.rows_done * 100 / b.rows_estimated)) + "%";
    rest += "  " + std::to_string(b.rows_done) + " of ~" + std::to_string(b.rows_estimated) + " rows";
  } else {
    rest += "  " + std::to_string(b.rows_done) + " rows";
  }
  if (b.eta_ms) rest += "  ETA " + background::human_duration(*b.eta_ms);
  return bar_detail::compose("background", b.version, b.name_, std::min(b.rows_done, b.rows_estimated),
                             b.rows_estimated, rest, width);
}

// One long statement done (background + no-transaction):
// "background 43 (index)  [####......]  1 of 3 statements  (line 5, 2 min)".
[[nodiscard]] inline std::string statement_line(const events::BackgroundStatement& b, int width) {
  const std::string rest = "  " + std::to_string(b.statement) + " of " + std::to_string(b.statements) +
                           " statements  (line " + std::to_string(b.line) + ", " +
                           background::human_duration(b.duration_ms) + ")";
  return bar_detail::compose("background", b.version, b.name_, b.statement, b.statements, rest, width);
}

// The job has no key left: the bar full, with what it did. (A job of long
// statements reports no rows and its statements as batches.)
[[nodiscard]] inline std::string succeeded_line(const events::BackgroundSucceeded& s, int width) {
  const std::string rest = s.rows_done == 0 && s.batches > 0
                               ? "  100%  " + std::to_string(s.batches) + " statements, done"
                               : "  100%  " + std::to_string(s.rows_done) + " rows in " + std::to_string(s.batches) +
                                     " batches, done";
  return bar_detail::compose("background", s.version, s.name_, 1, 1, rest, width);
}

// A statement still running (the progress monitor's event): index build
// blocks (pg_stat_progress_create_index) or tuples when the server counts
// them, else how long it has run and what it waits on.
[[nodiscard]] inline std::string progress_line(const events::Progress& p, int width) {
  const std::string running = background::human_duration(p.running_ms);
  const auto& a = p.activity;
  auto counted = [&](const std::optional<std::int64_t>& done, const std::optional<std::int64_t>& total,
                     std::string_view unit) -> std::optional<std::string> {
    if (!done || !total || *total <= 0) return std::nullopt;
    std::string rest = "  " + std::to_string(std::clamp<std::int64_t>(*done * 100 / *total, 0, 100)) + "%  " +
                       std::to_string(*done) + " of " + std::to_string(*total) + " " + std::string{unit};
    if (a->phase) rest += "  " + *a->phase;
    rest += "  line " + std::to_string(p.line) + ", " + running;
    return bar_detail::compose("migration", p.version, p.name_, *done, *total, rest, width);
  };
  if (a) {
    if (auto l = counted(a->blocks_done, a->blocks_total, "blocks")) return *l;
    if (auto l = counted(a->tuples_done, a->tuples_total, "tuples")) return *l;
  }
  std::string line = bar_detail::label("migration", p.version, p.name_, true) + " line " + std::to_string(p.line) +
                     ": running " + running;
  if (a && a->phase) line += ", " + *a->phase;
  if (a && a->wait_event) line += ", waiting on " + *a->wait_event;
  if (a && a->blocked_by) line += " (blocked by pid " + *a->blocked_by + ")";
  return fit(std::move(line), static_cast<std::size_t>(std::max(width - 1, 10)));
}

// A job as `lockstep background status` draws it on a terminal.
[[nodiscard]] inline std::string job_line(const BackgroundJob& j, int width) {
  const auto w = background::progress(j);
  const bool done = j.state == "succeeded";
  std::string rest = "  " + j.state;
  if (done) rest += "  100%";
  else if (w.percent) rest += "  " + std::to_string(*w.percent) + "%";
  if (j.long_statements()) {
    rest += "  " + std::to_string(j.rows_done) + " of " + std::to_string(j.rows_estimated) + " statements";
  } else {
    rest += "  " + std::to_string(j.rows_done) +
            (done || j.rows_estimated <= 0 ? std::string{} : " of ~" + std::to_string(j.rows_estimated)) + " rows";
  }
  if (w.eta_ms && j.runnable()) rest += "  ETA " + background::human_duration(*w.eta_ms);
  return bar_detail::compose("background", j.version, j.name, done ? 1 : std::min(j.rows_done, j.rows_estimated),
                             done ? 1 : j.rows_estimated, rest, width);
}

// Every other event, as one short line. An event without its own wording
// is its name and its fields as JSON, so nothing an event says is lost.
[[nodiscard]] inline std::string human_line(const Event& e) {
  auto named = [](std::int64_t version, const std::string& name) {
    return std::to_string(version) + (name.empty() ? std::string{} : " (" + name + ")");
  };
  auto human_ms = [](std::int64_t ms) { return background::human_duration(ms); };
  return std::visit(
      [&](const auto& b) -> std::string {
        using B = std::remove_cvref_t<decltype(b)>;
        if constexpr (std::is_same_v<B, events::Boot>) {
          return "lockstep: " + b.mode + " to schema version " + std::to_string(b.expected_version) + " (" +
                 std::to_string(b.migrations) + " migrations, deploy " + b.deploy_version + ")";
        } else if constexpr (std::is_same_v<B, events::LockAcquired>) {
          return "lock acquired: this process migrates";
        } else if constexpr (std::is_same_v<B, events::LockBusy>) {
          return "another process holds the lock: waiting for it to migrate";
        } else if constexpr (std::is_same_v<B, events::Waiting>) {
          return "waiting for schema version " + std::to_string(b.expected_version) + " (now " +
                 std::to_string(b.schema_version) + "), attempt " + std::to_string(b.attempt);
        } else if constexpr (std::is_same_v<B, events::MigrationStarted>) {
          return "migration " + named(b.version, b.name_) + ": " + std::to_string(b.statements) + " statement(s)" +
                 (b.transaction ? "" : ", no transaction");
        } else if constexpr (std::is_same_v<B, events::MigrationApplied>) {
          return "migration " + named(b.version, b.name_) + " applied in " + human_ms(b.duration_ms);
        } else if constexpr (std::is_same_v<B, events::MigrationFailed>) {
          return "migration " + named(b.version, b.name_) + " FAILED [" + b.sqlstate + "] " + b.message + " (" +
                 b.file + (b.line ? ":" + std::to_string(*b.line) : std::string{}) + ")";
        } else if constexpr (std::is_same_v<B, events::BackgroundQueued>) {
          return "background " + named(b.version, b.name_) + " queued" + (b.table.empty() ? "" : " over " + b.table) +
                 (b.after_old_replicas_gone ? ", to start once older replicas are gone" : "");
        } else if constexpr (std::is_same_v<B, events::BackgroundStarted>) {
          return "background " + named(b.version, b.name_) + " started by " + b.runner + " (" +
                 std::to_string(b.rows_estimated) + (b.kind == "statements" ? " statements)" : " rows estimated)");
        } else if constexpr (std::is_same_v<B, events::BackgroundThrottled>) {
          return "background " + named(b.version, b.name_) + " held: " + b.signal + " at " + b.value + " (limit " +
                 b.limit + ")";
        } else if constexpr (std::is_same_v<B, events::BackgroundRetry>) {
          return "background " + named(b.version, b.name_) + " batch retried [" + b.sqlstate + "] " + b.message +
                 "; next batch " + std::to_string(b.batch_size) + " rows";
        } else if constexpr (std::is_same_v<B, events::BackgroundFailed>) {
          return "background " + named(b.version, b.name_) + " FAILED [" + b.sqlstate + "] " + b.message;
        } else if constexpr (std::is_same_v<B, events::BackgroundError>) {
          return "background runner: " + b.class_ + " while " + b.while_ + ": " + b.message;
        } else if constexpr (std::is_same_v<B, events::Warning>) {
          return "warning: " + b.message;
        } else if constexpr (std::is_same_v<B, events::Error>) {
          return "error: " + b.class_ + ": " + b.message;
        } else if constexpr (std::is_same_v<B, events::Ready>) {
          return "ready: schema version " + std::to_string(b.schema_version) + " (" + b.role +
                 (b.applied ? ", " + std::to_string(*b.applied) + " applied" : std::string{}) + ", " +
                 human_ms(b.duration_ms) + ")";
        } else {
          JsonObject o;
          B::fields(b, events::JsonWriter{o});
          return std::string{e.name} + " " + std::move(o).take();
        }
      },
      e.body);
}

// The sink: bar events redraw the one bar line; any other event clears it,
// prints its line, and draws the bar again beneath. Every line passes the
// program's redactor before it is written (events are redacted by the
// library already; this also covers the secrets only the program knows).
// Copies share one state: the library may call a sink from the heartbeat's
// and a runner's threads.
class TerminalSink {
 public:
  TerminalSink(std::FILE* out, const Redactor& redact, int width)
      : state_{std::make_shared<State>(out, redact, width)} {}

  void operator()(const Event& e) const {
    std::lock_guard lock{state_->mutex};
    State& s = *state_;
    if (const auto* b = std::get_if<events::BackgroundBatch>(&e.body)) return s.draw(batch_line(*b, s.width));
    if (const auto* p = std::get_if<events::Progress>(&e.body)) return s.draw(progress_line(*p, s.width));
    if (const auto* st = std::get_if<events::BackgroundStatement>(&e.body)) return s.draw(statement_line(*st, s.width));
    if (const auto* done = std::get_if<events::BackgroundSucceeded>(&e.body)) {
      s.draw(succeeded_line(*done, s.width));
      return s.end_bar();
    }
    // The end of a migration ends its statement's bar: a line to keep.
    if (std::holds_alternative<events::MigrationApplied>(e.body) ||
        std::holds_alternative<events::MigrationFailed>(e.body)) {
      s.end_bar();
    }
    s.line(human_line(e));
  }

 private:
  struct State {
    State(std::FILE* o, const Redactor& r, int w) : out{o}, redact{&r}, width{w} {}
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    // The process ends with the bar's line ended, not under the shell's prompt.
    ~State() {
      if (!shown.empty()) write("\n");
    }

    void write(const std::string& text) const {
      std::fwrite(text.data(), 1, text.size(), out);
      std::fflush(out);
    }
    void draw(const std::string& text) {
      const std::string clean = (*redact)(text);
      std::string pad(shown.size() > clean.size() ? shown.size() - clean.size() : 0, ' ');
      write("\r" + clean + pad);
      shown = clean;
    }
    void end_bar() {
      if (!shown.empty()) write("\n");
      shown.clear();
    }
    void line(const std::string& text) {
      std::string out_text;
      if (!shown.empty()) out_text = "\r" + std::string(shown.size(), ' ') + "\r";
      out_text += (*redact)(text) + "\n";
      if (!shown.empty()) out_text += shown;
      write(out_text);
    }

    std::FILE* out;
    const Redactor* redact;
    int width;
    std::string shown;  // the bar line on screen, "" when none
    std::mutex mutex;
  };

  std::shared_ptr<State> state_;
};

// `lockstep background status` on a terminal: a bar per job, each line redacted.
inline void print_job_bars(std::FILE* out, const Redactor& redact, const std::vector<BackgroundJob>& jobs, int width) {
  std::string text;
  for (const auto& j : jobs) {
    text += redact(job_line(j, width) + (j.last_error.empty() ? std::string{} : "\n    " + j.last_error)) + "\n";
  }
  if (jobs.empty()) text = "no background migrations\n";
  std::fwrite(text.data(), 1, text.size(), out);
  std::fflush(out);
}

}  // namespace lockstep::cli
