// The lockstep program: the library's startup path as a command, for teams
// that migrate from a pre-deploy job or an init container.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "args.hpp"
#include "exit_codes.hpp"
#include "metrics_file.hpp"
#include "new_migration.hpp"
#include "progress_bar.hpp"
#include "report_file.hpp"
#include "lockstep/json.hpp"
#include "lockstep/lockstep.hpp"
#include "lockstep/redact.hpp"

namespace {

using namespace lockstep;

EventSink event_sink(const cli::Args& a);

// The service's own ledger (--service), else the default one.
TableLedger ledger_from(const cli::Args& a) {
  return a.service.empty() ? TableLedger{} : TableLedger::for_service(a.service);
}

Settings settings_from(const cli::Args& a) {
  Settings s;
  s.database_url = a.url;
  s.pooler_admin_urls = a.pooler_admin;
  s.expected_version = a.expect;
  s.deploy_version = a.deploy_version;
  s.lock_name = a.lock_name;
  s.host = a.host;
  s.on_event = event_sink(a);
  if (!a.mode.empty()) s.mode = parse_boot_mode(a.mode).value();  // validated by parse_args
  s.rehearse = a.rehearse;
  if (a.lock_timeout) s.lock_timeout = *a.lock_timeout;
  if (a.lock_retries) s.lock_retries = *a.lock_retries;
  if (a.stall_timeout) s.stall_timeout = *a.stall_timeout;
  if (a.progress_interval) s.progress_interval = *a.progress_interval;
  if (a.finalize_budget) s.finalize_budget = *a.finalize_budget;
  s.on_partial = a.on_partial == "refuse" ? PartialPolicy::refuse : PartialPolicy::rerun;
  s.on_failure = a.on_failure == "retry" ? FailurePolicy::retry : FailurePolicy::stop_deploy;
  s.lock_safety = a.lock_safety;
  s.schema_changes = a.schema_changes;
  s.placeholders.enabled = a.placeholders_env || !a.placeholders.empty();
  s.placeholders.from_environment = a.placeholders_env;
  s.placeholders.values = a.placeholders;
  return s;
}

// Every secret the program was given, wherever it was given: any argument
// (a URL passed as --url=..., or as a stray argument, is echoed by a usage
// error), the URL variables and PGPASSWORD. The library scrubs its own
// errors with the URL it used; this covers what the program prints itself.
const Redactor& cli_redactor(const std::vector<std::string>& args = {}) {
  static const Redactor r = [&] {
    std::vector<std::string> secrets = environment_secrets();
    auto add = [&](std::string_view text) {
      auto more = secrets_in(text);
      secrets.insert(secrets.end(), more.begin(), more.end());
    };
    for (const auto& a : args) add(a);
    // --placeholder NAME=VALUE: the value may be a secret (the library
    // redacts what it substituted; this covers what the program prints).
    for (std::size_t i = 0; i < args.size(); ++i) {
      std::string_view v = args[i];
      if (v == "--placeholder" && i + 1 < args.size()) {
        v = args[i + 1];
      } else if (v.starts_with("--placeholder=")) {
        v.remove_prefix(14);
      } else {
        continue;
      }
      if (const auto eq = v.find('='); eq != std::string_view::npos && eq + 1 < v.size()) {
        secrets.emplace_back(v.substr(eq + 1));
      }
    }
    for (const char* name : {"DATABASE_URL_MIGRATION", "DATABASE_URL"}) {
      if (const char* v = std::getenv(name); v != nullptr) add(v);
    }
    return Redactor{std::move(secrets)};
  }();
  return r;
}

// JSON lines on stdout, or on a terminal a progress bar and short lines
// (--progress; progress_bar.hpp), each through cli_redactor().
EventSink event_sink(const cli::Args& a) {
  if (cli::choose_output(a.progress, ::isatty(STDOUT_FILENO) != 0) == cli::Output::json) return stdout_sink();
  return cli::TerminalSink{stdout, cli_redactor(), cli::terminal_width(STDOUT_FILENO)};
}

void print_error(Error e) {
  cli_redactor().scrub(e);
  std::cerr << "lockstep: " << e.to_string() << '\n';
}

int fail(const Error& e) {
  print_error(e);
  return cli::exit_code(e.code);
}

volatile std::sig_atomic_t stop_requested = 0;
extern "C" void request_stop(int) { stop_requested = 1; }

// migrate, then hold a heartbeat until SIGTERM/SIGINT, like an app replica.
template <class M>
int serve_as_replica(M& m, const Report& report, const cli::Args& a) {
  std::signal(SIGTERM, request_stop);
  std::signal(SIGINT, request_stop);
  auto beat = m.heartbeat(report, HeartbeatOptions{a.heartbeat, a.lease});
  if (!beat) return fail(beat.error());
  // --background: this replica also runs the queued background migrations
  // (stopped, a batch in flight committed or rolled back, before the beats end).
  std::optional<Background<M>> runner;
  if (a.background) {
    BackgroundOptions options;
    if (a.batch_target) options.target_batch = *a.batch_target;
    options.jobs_at_once = a.jobs;
    if (a.on_failed_range == "skip") options.on_failed_range = FailedRange::skip;
    auto started = m.background(options);
    if (!started) return fail(started.error());
    runner.emplace(std::move(started).value());
  }
  while (stop_requested == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
    if (!beat.value().state().compatible) {
      const std::string why = beat.value().state().last_error;
      if (runner) runner->stop();
      beat.value().stop();
      std::cerr << "lockstep: schema_contracted: " << cli_redactor()(why) << '\n';
      return cli::exit_code(errc::schema_contracted);
    }
  }
  if (runner) runner->stop();
  beat.value().stop();
  return cli::exit_ok;
}

template <class Lock, class Wait>
int migrate(const cli::Args& a) {
  Metrics metrics;
  auto settings = settings_from(a);
  if (!a.metrics_file.empty()) settings.on_event = tee(std::move(settings.on_event), metrics.sink());
  Migrator<Lock, Wait> m{settings, DirectorySource{a.dir}, Deadline<>{a.timeout}, ledger_from(a)};
  auto report = m.run();
  // Best effort: the run's outcome decides the exit code, a failed write is only reported.
  if (!a.metrics_file.empty() && !cli::write_metrics_file(a.metrics_file, metrics.render()))
    std::cerr << "lockstep: cannot write the metrics to " << a.metrics_file << '\n';
  if (!report) return fail(report.error());
  if (report.value().role == Role::dry_run) {
    if (!a.report.empty() && !cli::write_report(report.value(), a.report)) {
      std::cerr << "lockstep: cannot write the report to " << a.report << '\n';
      return cli::exit_code(errc::invalid_argument);
    }
    for (const auto& p : report.value().plan) {
      if (!p.blocked()) continue;
      std::cerr << "lockstep: lock_unsafe: migration " << p.version << " (" << p.origin
                << ") would stop a real deploy at pre-flight (see its lint events)\n";
      return cli::exit_code(errc::lock_unsafe);
    }
  }
  return a.command == "replica" ? serve_as_replica(m, report.value(), a) : cli::exit_ok;
}

void print_services(const Status& s) {
  std::printf("\nservices (%zu):\n", s.services.size());
  for (const auto& v : s.services) {
    std::printf("  %-24s %-32s version %-16lld contract %-16lld %s%s\n", v.service.c_str(), v.ledger.c_str(),
                static_cast<long long>(v.version), static_cast<long long>(v.contract_version), v.updated_at.c_str(),
                v.waiting_for.empty() ? "" : ("  waits for " + v.waiting_for + " since " + v.waiting_since).c_str());
  }
}

void print_status_table(const Status& s, bool services) {
  std::printf("schema version: %lld (expected %lld)%s\n", static_cast<long long>(s.schema_version),
              static_cast<long long>(s.expected_version),
              s.schema_ahead ? "  [schema ahead of this binary]" : "");
  std::printf("\napplied (%zu):\n", s.applied.size());
  for (const auto& m : s.applied) {
    std::printf("  %-16lld %-36s %s %6lld ms  deploy=%s by=%s\n", static_cast<long long>(m.version), m.name.c_str(),
                m.applied_at.c_str(), static_cast<long long>(m.duration_ms), m.deploy_version.c_str(),
                m.applied_by.c_str());
  }
  std::printf("\npending (%zu):\n", s.pending.size());
  for (const auto& m : s.pending) {
    std::printf("  %-16lld %s%s\n", static_cast<long long>(m.version), m.origin.c_str(), m.contract ? "  [contract]" : "");
  }
  for (const auto& w : s.contracts_waiting) {
    if (w.background) {
      std::printf("\ncontract %lld (%s) waits for %s\n", static_cast<long long>(w.version), w.name.c_str(),
                  background::describe(*w.background).c_str());
    }
    if (w.runnable()) {
      std::printf("\ncontract %lld (%s) waits for no live replica: the next boot or heartbeat applies it\n",
                  static_cast<long long>(w.version), w.name.c_str());
      continue;
    }
    if (w.waiting_for.empty()) continue;
    std::printf("\ncontract %lld (%s) waits for %zu live replica(s) of older images:\n",
                static_cast<long long>(w.version), w.name.c_str(), w.waiting_for.size());
    for (const auto& r : w.waiting_for) {
      std::printf("  %-40s deploy=%s knows=%lld last seen %s\n", r.replica_id.c_str(), r.deploy_version.c_str(),
                  static_cast<long long>(r.knows_version), r.last_seen.c_str());
    }
  }
  if (!s.jobs.empty()) {
    std::printf("\nbackground migrations:\n");
    for (const auto& j : s.jobs) {
      const auto w = background::progress(j);
      std::printf("  %-16lld %-36s %-10s %lld of %s%lld %s%s%s\n", static_cast<long long>(j.version),
                  j.name.c_str(), j.state.c_str(), static_cast<long long>(j.rows_done),
                  j.long_statements() ? "" : "about ",
                  static_cast<long long>(j.rows_estimated), j.long_statements() ? "long statements" : "rows",
                  w.eta_ms && j.runnable() ? (", ETA " + background::human_duration(*w.eta_ms)).c_str() : "",
                  j.last_error.empty() ? "" : ("\n    " + j.last_error).c_str());
    }
  }
  if (!s.replicas.empty()) {
    std::printf("\nreplicas (live, and gone in the last hour):\n");
    for (const auto& r : s.replicas) {
      std::printf("  %-40s %-5s deploy=%-16s knows=%-8lld runs on >= %-8lld last seen %s\n", r.replica_id.c_str(),
                  r.alive ? "live" : "gone", r.deploy_version.c_str(), static_cast<long long>(r.knows_version),
                  static_cast<long long>(r.expected_version), r.last_seen.c_str());
    }
  }
  for (auto v : s.drifted) std::printf("\nDRIFT: applied migration %lld's file has changed\n", static_cast<long long>(v));
  for (auto v : s.unknown_versions) {
    std::printf("\napplied migration %lld is not in this source (schema ahead)\n", static_cast<long long>(v));
  }
  if (!s.failures.empty()) {
    std::printf("\nunresolved failures (%zu):\n", s.failures.size());
    for (const auto& f : s.failures) {
      std::printf("  %-16lld %s%s [%s] %s\n    at %s deploy=%s by=%s\n", static_cast<long long>(f.version),
                  f.partial ? "PARTIAL " : "", f.position.empty() ? f.name.c_str() : f.position.c_str(),
                  f.sqlstate.c_str(), f.message.c_str(), f.failed_at.c_str(), f.deploy_version.c_str(),
                  f.host.c_str());
      if (f.partial) {
        std::printf("    %lld of %lld statements committed; after fixing by hand: lockstep resolve %lld\n",
                    static_cast<long long>(f.statements_completed), static_cast<long long>(f.statements_total),
                    static_cast<long long>(f.version));
      }
    }
  }
  if (services) print_services(s);
  if (!s.deploys.empty()) {
    std::printf("\nrecent deploys:\n");
    for (const auto& d : s.deploys) {
      std::printf("  %-24s schema %-16lld first booted %s by %s\n", d.deploy_version.c_str(),
                  static_cast<long long>(d.schema_version), d.first_booted_at.c_str(), d.booted_by.c_str());
    }
  }
}

void print_status_json(const Status& s) {
  auto array = [](const auto& items, auto&& fill) {
    std::string out = "[";
    for (const auto& item : items) {
      if (out.size() > 1) out += ',';
      JsonObject o;
      fill(o, item);
      out += o.str();
    }
    return out + "]";
  };
  auto numbers = [](const std::vector<std::int64_t>& v) {
    std::string out = "[";
    for (auto n : v) {
      // Piece by piece: `"," + std::to_string(n)` draws a false -Wrestrict from GCC 12 at -O3.
      if (out.size() > 1) out += ',';
      out += std::to_string(n);
    }
    return out + "]";
  };
  JsonObject o;
  o.add("ledger_exists", s.ledger_exists).add("schema_version", s.schema_version).add("expected_version", s.expected_version);
  o.add_raw("applied", array(s.applied, [](JsonObject& j, const AppliedMigration& m) {
    j.add("version", m.version).add("name", m.name).add("checksum", m.checksum).add("applied_at", m.applied_at);
    j.add("duration_ms", m.duration_ms).add("deploy_version", m.deploy_version).add("applied_by", m.applied_by);
  }));
  o.add_raw("pending", array(s.pending, [](JsonObject& j, const PendingMigration& m) {
    j.add("version", m.version).add("name", m.name).add("file", m.origin).add("contract", m.contract);
  }));
  auto replica = [](JsonObject& j, const ReplicaRecord& r) {
    j.add("replica_id", r.replica_id).add("deploy_version", r.deploy_version).add("knows_version", r.knows_version);
    j.add("expected_version", r.expected_version).add("host", r.host).add("pid", r.pid);
    j.add("started_at", r.started_at).add("last_seen", r.last_seen).add("expires_at", r.expires_at).add("alive", r.alive);
  };
  o.add_raw("replicas", array(s.replicas, replica));
  auto job = [](JsonObject& j, const BackgroundJob& b) {
    const auto w = background::progress(b);
    j.add("version", b.version).add("name", b.name).add("kind", b.long_statements() ? "statements" : "batches");
    j.add("state", b.state).add("relation", b.relation);
    j.add("rows_done", b.rows_done).add("rows_estimated", b.rows_estimated).add("batches", b.batches);
    j.add("busy_ms", b.busy_ms).add("runner", b.runner).add("queued_at", b.queued_at).add("updated_at", b.updated_at);
    if (w.percent) j.add("percent", *w.percent);
    if (w.eta_ms && b.runnable()) j.add("eta_ms", *w.eta_ms);
    if (!b.last_error.empty()) j.add("last_error", b.last_error);
  };
  o.add_raw("contracts_waiting", array(s.contracts_waiting, [&](JsonObject& j, const WaitingContract& w) {
    j.add("version", w.version).add("name", w.name).add("file", w.origin);
    j.add_raw("waiting_for", array(w.waiting_for, replica));
    if (w.background) {
      JsonObject b;
      b.add("version", w.background->version).add("name", w.background->name).add("state", w.background->state);
      b.add("rows_done", w.background->rows_done).add("rows_estimated", w.background->rows_estimated);
      if (w.background->percent) b.add("percent", *w.background->percent);
      if (w.background->eta_ms) b.add("eta_ms", *w.background->eta_ms);
      j.add_raw("background", b.str());
    }
  }));
  o.add_raw("background_jobs", array(s.jobs, job));
  o.add_raw("drifted", numbers(s.drifted)).add_raw("unknown_versions", numbers(s.unknown_versions));
  o.add_raw("failures", array(s.failures, [](JsonObject& j, const FailureRecord& f) {
    j.add("version", f.version).add("name", f.name).add("sqlstate", f.sqlstate).add("message", f.message);
    j.add("position", f.position).add("failed_at", f.failed_at).add("partial", f.partial);
    j.add("statements_completed", f.statements_completed).add("statements_total", f.statements_total);
  }));
  o.add_raw("deploys", array(s.deploys, [](JsonObject& j, const DeployRecord& d) {
    j.add("deploy_version", d.deploy_version).add("schema_version", d.schema_version);
    j.add("first_booted_at", d.first_booted_at).add("booted_by", d.booted_by);
  }));
  o.add_raw("services", array(s.services, [](JsonObject& j, const ServiceHead& v) {
    j.add("service", v.service).add("ledger", v.ledger).add("version", v.version);
    j.add("contract_version", v.contract_version).add("waiting_for", v.waiting_for);
    j.add("waiting_since", v.waiting_since).add("updated_at", v.updated_at);
  }));
  std::printf("%s\n", o.str().c_str());
}

int status(const cli::Args& a) {
  auto settings = settings_from(a);
  settings.on_event = null_sink();
  Migrator<> m{settings, DirectorySource{a.dir}, Deadline<>{a.timeout}, ledger_from(a)};
  auto s = m.status();
  if (!s) return fail(s.error());
  a.json ? print_status_json(s.value()) : print_status_table(s.value(), a.services);
  return cli::exit_ok;
}

// Every check the Migrator's pre-flight makes from the text alone: for CI.
// Each file is judged as if it were the only pending one, against a database
// where the earlier files' tables exist (so its own new tables are exempt).
// Lock findings that only the catalog can size or settle say so
// (needs_database); `migrate --mode dry-run` makes the exact check.
int lint(const cli::Args& a) {
  auto migrations = DirectorySource{a.dir}.load();
  if (!migrations) return fail(migrations.error());
  int errors = 0, lock_errors = 0, warnings = 0, notes = 0;
  const CheckOptions options{a.lock_safety, a.pg_version};
  for (const auto& m : migrations.value()) {
    auto findings = check(m, options);
    if (!findings) {
      if (findings.error().code != errc::source_invalid) return fail(findings.error());
      print_error(findings.error());
      ++errors;
      continue;
    }
    for (const auto& f : findings.value()) {
      if (a.json) std::cout << to_json(f, FindingJson{&m}) << '\n';
      else std::cerr << to_text(f, m) << '\n';
      (f.blocks() ? lock_errors : f.level == checks::Level::info ? notes : warnings) += 1;
    }
  }
  // What no one file shows: a requirement naming no earlier background file.
  if (auto across = check_requirements(migrations.value()); !across) {
    print_error(across.error());
    ++errors;
  }
  // Across services (--service-dir): each requires=svc@V reachable, and no cycle.
  if (!a.service_dirs.empty()) {
    std::map<std::string, std::vector<Migration>> services;
    services.emplace(a.service.empty() ? std::string{"migrations"} : a.service, migrations.value());
    for (const auto& [name, dir] : a.service_dirs) {
      auto theirs = DirectorySource{dir}.load();
      if (!theirs) return fail(theirs.error());
      services.emplace(name, std::move(theirs).value());
    }
    if (auto across = check_services(services); !across) {
      print_error(across.error());
      ++errors;
    }
  }
  std::cerr << migrations.value().size() << " migrations, " << errors + lock_errors << " errors, " << warnings
            << " warnings" << (notes > 0 ? ", " + std::to_string(notes) + " info" : std::string{}) << '\n';
  if (errors != 0) return cli::exit_code(errc::source_invalid);
  return lock_errors == 0 ? cli::exit_ok : cli::exit_code(errc::lock_unsafe);
}

int resolve(const cli::Args& a) {
  auto settings = settings_from(a);
  Migrator<> m{settings, DirectorySource{a.dir}, Deadline<>{a.timeout}, ledger_from(a)};
  auto n = m.resolve(*a.resolve_version);
  if (!n) return fail(n.error());
  std::cerr << "resolved " << n.value() << " failure record(s) of migration " << *a.resolve_version << '\n';
  return cli::exit_ok;
}

// lockstep background run|status, pause|resume|retry|cancel VERSION (docs/background.md).
int background_command(const cli::Args& a) {
  auto settings = settings_from(a);
  Migrator<> m{settings, DirectorySource{a.dir}, Deadline<>{a.timeout}, ledger_from(a)};
  if (a.background_action == "finalize") {
    auto done = m.finalize_background(*a.resolve_version);
    if (!done) return fail(done.error());
    std::cerr << "background job " << *a.resolve_version << ": " << done.value().state << " ("
              << done.value().rows_done << " rows in " << done.value().batches << " batches)\n";
    return cli::exit_ok;
  }
  if (a.background_action != "run" && a.background_action != "status") {
    auto changed = m.control_background(*a.resolve_version, a.background_action);
    if (!changed) return fail(changed.error());
    if (!changed.value()) {
      std::cerr << "lockstep: background job " << *a.resolve_version << " is not in a state that "
                << a.background_action << " applies to (see lockstep background status); nothing changed\n";
      return cli::exit_code(errc::invalid_argument);
    }
    std::cerr << "background job " << *a.resolve_version << ": " << a.background_action << " done\n";
    return cli::exit_ok;
  }
  if (a.background_action == "status") {
    auto jobs = m.background_jobs();
    if (!jobs) return fail(jobs.error());
    if (!a.json && cli::choose_output(a.progress, ::isatty(STDOUT_FILENO) != 0) == cli::Output::bar) {
      cli::print_job_bars(stdout, cli_redactor(), jobs.value(), cli::terminal_width(STDOUT_FILENO));
      return cli::exit_ok;
    }
    for (const auto& j : jobs.value()) {
      JsonObject o;
      o.add("version", j.version).add("name", j.name).add("kind", j.long_statements() ? "statements" : "batches")
          .add("state", j.state).add("relation", j.relation)
          .add("rows_done", j.rows_done).add("rows_estimated", j.rows_estimated).add("batches", j.batches)
          .add("runner", j.runner).add("queued_at", j.queued_at).add("updated_at", j.updated_at);
      const auto w = background::progress(j);
      if (w.percent) o.add("percent", *w.percent);
      if (w.eta_ms && j.runnable()) o.add("eta_ms", *w.eta_ms);
      if (!j.last_error.empty()) o.add("last_error", j.last_error);
      std::cout << cli_redactor()(o.str()) << '\n';
    }
    return cli::exit_ok;
  }
  std::signal(SIGTERM, request_stop);
  std::signal(SIGINT, request_stop);
  BackgroundOptions options;
  options.give_up_after = a.timeout;  // the database away for that long: exit instead of trying forever
  options.connect_timeout = std::min(options.connect_timeout, a.timeout);
  if (a.batch_target) options.target_batch = *a.batch_target;
  options.jobs_at_once = a.jobs;
  if (a.on_failed_range == "skip") options.on_failed_range = FailedRange::skip;
  auto ran = run_background(m, options, [] { return stop_requested != 0; }, true);
  if (!ran) return fail(ran.error());
  if (ran.value().held) {
    std::cerr << "lockstep: the jobs left wait for older replicas to leave, for a job they require, or for their "
                 "lockstep:window (see their background_throttled events and lockstep background status); run "
                 "again later\n";
  }
  if (!ran.value().failed.empty()) {
    std::cerr << "lockstep: migration_failed: background job(s) failed:";
    for (auto v : ran.value().failed) std::cerr << ' ' << v;
    std::cerr << " (lockstep background status; fix, then lockstep background retry VERSION)\n";
    return cli::exit_code(errc::migration_failed);
  }
  return cli::exit_ok;
}

// For a DBA who creates the ledger in advance, so the migration role needs
// no CREATE on the database (docs/operations.md, "Least privilege").
int ledger_sql(const cli::Args& a) {
  const TableLedger ledger = ledger_from(a);
  std::cout << "-- lockstep " << LOCKSTEP_VERSION_STRING << ": the ledger " << ledger.identity() << "\n"
            << ledger.create_sql() << ";\n";
  if (!a.role.empty()) std::cout << ledger.grant_sql(a.role) << ";\n";
  return cli::exit_ok;
}

// lockstep new NAME: DIR's next file, numbered as DIR numbers its files
// (new_migration.hpp), never sorting before DIR's newest or, with --url, an
// applied version, and never over an existing file (O_EXCL).
int new_migration(const cli::Args& a) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(a.dir, ec);
  if (ec) {
    return fail(make_error(errc::invalid_argument,
                           "cannot create the migration directory '" + a.dir + "': " + ec.message()));
  }
  auto migrations = DirectorySource{a.dir}.load();
  if (!migrations) return fail(migrations.error());
  std::int64_t newest = 0;
  std::string newest_digits, newest_file;
  if (!migrations.value().empty()) {
    const Migration& m = migrations.value().back();
    newest = m.version;
    newest_file = m.origin;
    const std::string name = fs::path{m.origin}.filename().string();
    newest_digits = name.substr(0, name.find('_'));
  }
  const std::string digits = cli::next_version_digits(cli::numbering_of(newest_digits), newest, std::time(nullptr));
  std::int64_t version = 0;
  (void)std::from_chars(digits.data(), digits.data() + digits.size(), version);
  if (version <= newest) {
    auto e = make_error(errc::source_invalid,
                        "the new file's version " + digits + " (now, UTC) would not sort after " + newest_file +
                            ", the newest file in the directory; migrations run in version order: wait for the "
                            "clock to pass it, or renumber that file if it is not applied anywhere yet");
    e.file = newest_file;
    e.version = newest;
    return fail(e);
  }
  if (!a.url.empty()) {
    auto settings = settings_from(a);
    settings.on_event = null_sink();
    Migrator<> m{settings, DirectorySource{a.dir}, Deadline<>{a.timeout}};
    auto s = m.status();
    if (!s) return fail(s.error());
    std::int64_t applied = s.value().schema_version;
    for (const auto& r : s.value().applied) applied = std::max(applied, r.version);
    if (version <= applied) {
      auto e = make_error(errc::ledger_invalid,
                          "the new file's version " + digits + " would sort before version " +
                              std::to_string(applied) +
                              ", already applied to that database, and migrations run forward only: bring "
                              "this directory up to date with the migrations applied there (the branch they "
                              "came from), then run lockstep new again");
      e.version = applied;
      return fail(e);
    }
  }
  const fs::path path = fs::path{a.dir} / (digits + "_" + a.new_name + ".sql");
  const std::string text = cli::migration_template(path.filename().string());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    auto e = make_error(errc::invalid_argument,
                        "cannot create " + path.string() + ": " + std::strerror(err) +
                            (err == EEXIST ? " (lockstep new never overwrites a file; run it again)" : ""));
    e.file = path.string();
    return fail(e);
  }
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool closed = ::close(fd) == 0;
  if (!written || !closed) {
    const int err = errno;
    fs::remove(path, ec);  // a half-written file is not left to be applied
    auto e = make_error(errc::invalid_argument, "cannot write " + path.string() + ": " + std::strerror(err));
    e.file = path.string();
    return fail(e);
  }
  std::cout << path.string() << '\n';
  return cli::exit_ok;
}

template <class Wait>
int migrate_with(const cli::Args& a) {
  if (a.lock == "blocking") return migrate<BlockingLock, Wait>(a);
  if (a.lock == "transaction") return migrate<TransactionLock, Wait>(a);
  return migrate<TryLock, Wait>(a);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  (void)cli_redactor(args);  // built once, from every argument
  cli::Args a = cli::parse_args(args);
  // $LOCKSTEP_LOCK_RULES first, so the flags win over it.
  if (const char* env = std::getenv("LOCKSTEP_LOCK_RULES"); a.error.empty() && env != nullptr) {
    LockSafety from_env;
    if (auto r = checks::parse_levels(env, from_env); !r) {
      a.error = "LOCKSTEP_LOCK_RULES: " + r.error().message;
    } else {
      for (const auto& [rule, level] : a.lock_safety.levels) from_env.levels[rule] = level;
      a.lock_safety.levels = std::move(from_env.levels);
    }
  }
  if (!a.error.empty()) {
    std::cerr << "lockstep: " << cli_redactor()(a.error) << "\n\n" << cli::usage_text;
    return cli::exit_usage;
  }
  if (a.command == "help") {
    std::cout << cli::usage_text;
    return cli::exit_ok;
  }
  if (a.command == "version") {
    std::cout << "lockstep " << LOCKSTEP_VERSION_STRING << " (" << built_with() << ")\n";
    return cli::exit_ok;
  }
  if (a.command == "status") return status(a);
  if (a.command == "lint") return lint(a);
  if (a.command == "resolve") return resolve(a);
  if (a.command == "background") return background_command(a);
  if (a.command == "ledger-sql") return ledger_sql(a);
  if (a.command == "new") return new_migration(a);
  return a.wait == "poll" ? migrate_with<ExponentialBackoff>(a) : migrate_with<NotifyBackoff>(a);
}
