// Command-line parsing for the lockstep program: flags override environment.
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lockstep/durations.hpp"
#include "lockstep/heartbeat_schedule.hpp"
#include "lockstep/checks/config.hpp"
#include "lockstep/sql/directives.hpp"
#include "new_migration.hpp"

namespace lockstep::cli {

struct Args {
  std::string command;  // migrate | replica | status | lint | resolve | ledger-sql | background | new | help | version
  std::string new_name;  // new: the name after the version in the file name
  std::string dir = "migrations";
  std::string url;
  std::optional<std::int64_t> expect;
  std::string deploy_version;
  std::chrono::milliseconds timeout = std::chrono::minutes{5};
  std::string lock_name;
  // --service NAME (default $LOCKSTEP_SERVICE): the service's own ledger,
  // lockstep.NAME (docs/services.md); empty: the default ledger.
  std::string service;
  bool services = false;  // status --services: every service in the catalog
  bool schema_changes = true;  // --schema-changes on|off (Settings::schema_changes)
  std::vector<std::pair<std::string, std::string>> service_dirs;  // lint --service-dir NAME=DIR
  std::string lock = "try";  // try | blocking | transaction
  std::string wait = "notify";  // notify | poll
  std::string mode;          // empty: MIGRATE_ON_BOOT; else true|false|dry-run|migrate|wait
  bool rehearse = false;
  std::optional<std::chrono::milliseconds> lock_timeout;
  std::optional<unsigned> lock_retries;
  std::optional<std::chrono::milliseconds> stall_timeout;
  std::optional<std::chrono::milliseconds> progress_interval;
  std::optional<std::chrono::milliseconds> finalize_budget;  // --finalize-budget
  std::string on_partial = "rerun";  // rerun | refuse
  std::string on_failure = "stop";   // stop | retry
  std::string role;                  // ledger-sql: the migration role to grant
  std::optional<std::int64_t> resolve_version;
  std::string host;
  bool json = false;
  std::chrono::milliseconds heartbeat = std::chrono::seconds{10};  // replica
  std::chrono::milliseconds lease = std::chrono::seconds{30};      // replica
  LockSafety lock_safety;  // --lock-rule, --lock-rows
  int pg_version = 0;      // lint: PG_VERSION_NUM to lint for (0: current)
  std::string report;      // dry-run: write the report here (.json: JSON, else Markdown)
  std::string metrics_file;  // migrate/replica: the run's metrics, Prometheus text format
  std::string background_action;  // background: run | status | pause | resume | retry | cancel | finalize
  bool background = false;        // replica --background: also run background migrations
  std::optional<std::chrono::milliseconds> batch_target;  // --batch-target: a batch's target duration
  unsigned jobs = 1;  // --jobs: background jobs one runner works on at once
  std::string progress = "auto";  // --progress auto|bar|json: events as a progress bar on a terminal, else JSON
  std::string on_failed_range = "stop";  // --on-failed-range: stop | skip (background run, replica --background)
  std::vector<std::string> pooler_admin;  // --pooler-admin URL (repeatable): PgBouncer admin consoles
  // --placeholders (values from the environment) and --placeholder NAME=VALUE (repeatable)
  bool placeholders_env = false;
  std::map<std::string, std::string> placeholders;
  std::string error;  // non-empty: usage error
};

// "300s", "5m", "1500ms", "2h" or a bare number of seconds. Zero and negative
// values are rejected: a deadline that has already passed is a mistake. A
// value past what milliseconds hold (9223372036854775807h) saturates instead
// of wrapping around: the settings check then takes it as "a century" where
// a wait is meant, and refuses it by name where PostgreSQL would.
[[nodiscard]] inline std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
  std::int64_t n = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  const std::string_view unit{ptr, static_cast<std::size_t>(s.data() + s.size() - ptr)};
  std::int64_t per = 0;  // milliseconds per unit
  if (unit.empty() || unit == "s") per = 1000;
  if (unit == "ms") per = 1;
  if (unit == "m") per = 60 * 1000;
  if (unit == "h") per = 60 * 60 * 1000;
  if (per == 0 || s.empty() || s.front() == '-') return std::nullopt;
  if (ec == std::errc::result_out_of_range) return std::chrono::milliseconds::max();
  if (ec != std::errc{} || n <= 0) return std::nullopt;
  if (n > std::chrono::milliseconds::max().count() / per) return std::chrono::milliseconds::max();
  return std::chrono::milliseconds{n * per};
}

[[nodiscard]] inline Args parse_args(const std::vector<std::string>& argv) {
  Args a;
  if (argv.empty()) {
    a.error = "missing command";
    return a;
  }
  a.command = argv[0];
  if (a.command == "--help" || a.command == "-h") a.command = "help";
  if (a.command == "--version") a.command = "version";
  if (a.command != "migrate" && a.command != "replica" && a.command != "status" && a.command != "lint" &&  a.command != "resolve" &&
      a.command != "ledger-sql" && a.command != "background" && a.command != "new" && a.command != "help" &&
      a.command != "version") {
    a.error = "unknown command '" + a.command + "'";
    return a;
  }
  std::size_t first_flag = 1;
  if (a.command == "background") {
    a.background_action = argv.size() > 1 ? argv[1] : "";
    first_flag = 2;
    if (a.background_action == "retry" || a.background_action == "pause" || a.background_action == "resume" ||
        a.background_action == "cancel" || a.background_action == "finalize") {
      std::int64_t v = 0;
      const std::string arg = argv.size() > 2 ? argv[2] : "";
      const auto [ptr, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), v);
      if (arg.empty() || ec != std::errc{} || ptr != arg.data() + arg.size() || v <= 0) {
        a.error = "background " + a.background_action + " takes a background job's version, e.g. lockstep background " +
                  a.background_action + " 42";
        return a;
      }
      a.resolve_version = v;
      first_flag = 3;
    } else if (a.background_action != "run" && a.background_action != "status") {
      a.error = "background takes run (run the queued jobs until none is left), status, or pause, resume, retry, "
                "cancel or finalize VERSION";
      return a;
    }
  }
  if (a.command == "new") {
    const std::string name = argv.size() > 1 ? argv[1] : "";
    if (name.empty() || name.starts_with("-")) {
      a.error = "new takes the new migration's name, e.g. lockstep new add_users_email --dir db/migrations";
      return a;
    }
    if (auto why = invalid_migration_name(name)) {
      a.error = "cannot name a migration '" + name + "': " + *why;
      return a;
    }
    a.new_name = name;
    first_flag = 2;
  }
  if (a.command == "resolve") {
    std::int64_t v = 0;
    const std::string arg = argv.size() > 1 ? argv[1] : "";
    const auto [ptr, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), v);
    if (arg.empty() || ec != std::errc{} || ptr != arg.data() + arg.size() || v <= 0) {
      a.error = "resolve takes the version whose failures a human has dealt with, e.g. lockstep resolve 42";
      return a;
    }
    a.resolve_version = v;
    first_flag = 2;
  }
  for (std::size_t i = first_flag; i < argv.size(); ++i) {
    const std::string& flag = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argv.size()) {
        a.error = flag + " needs a value";
        return std::nullopt;
      }
      return argv[++i];
    };
    if (flag == "--json") {
      a.json = true;
      continue;
    }
    if (flag == "--background") {
      a.background = true;
      continue;
    }
    if (flag == "--services") {
      a.services = true;
      continue;
    }
    if (flag == "--rehearse") {
      a.rehearse = true;
      continue;
    }
    if (flag == "--placeholders") {
      a.placeholders_env = true;
      continue;
    }
    if (flag == "--help" || flag == "-h") {
      a.command = "help";
      continue;
    }
    auto v = value();
    if (!v) return a;
    if (flag == "--dir") {
      a.dir = *v;
    } else if (flag == "--url") {
      a.url = *v;
    } else if (flag == "--pooler-admin") {
      a.pooler_admin.push_back(*v);
    } else if (flag == "--expect") {
      std::int64_t n = 0;
      const auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc{} || ptr != v->data() + v->size() || n < 0) {
        a.error = "--expect takes a non-negative version number, not '" + *v + "'";
        return a;
      }
      a.expect = n;
    } else if (flag == "--deploy-version") {
      a.deploy_version = *v;
    } else if (flag == "--timeout") {
      auto d = parse_duration(*v);
      if (!d) {
        a.error = "--timeout takes a positive duration such as 300s, 5m or 1500ms, not '" + *v + "'";
        return a;
      }
      a.timeout = *d;
    } else if (flag == "--lock-name") {
      a.lock_name = *v;
    } else if (flag == "--schema-changes") {
      if (*v != "on" && *v != "off") {
        a.error = "--schema-changes takes 'on' or 'off', not '" + *v + "'";
        return a;
      }
      a.schema_changes = *v == "on";
    } else if (flag == "--service") {
      if (auto problem = sql::service_name_problem(*v)) {
        a.error = "--service: " + *problem;
        return a;
      }
      a.service = *v;
    } else if (flag == "--service-dir") {
      const auto eq = v->find('=');
      if (eq == std::string::npos || eq + 1 >= v->size()) {
        a.error = "--service-dir takes NAME=DIR (another service's migrations, for lint), not '" + *v + "'";
        return a;
      }
      if (auto problem = sql::service_name_problem(v->substr(0, eq))) {
        a.error = "--service-dir: " + *problem;
        return a;
      }
      a.service_dirs.emplace_back(v->substr(0, eq), v->substr(eq + 1));
    } else if (flag == "--lock") {
      if (*v != "try" && *v != "blocking" && *v != "transaction") {
        a.error = "--lock takes 'try', 'blocking' or 'transaction', not '" + *v + "'";
        return a;
      }
      a.lock = *v;
    } else if (flag == "--wait") {
      if (*v != "notify" && *v != "poll") {
        a.error = "--wait takes 'notify' or 'poll', not '" + *v + "'";
        return a;
      }
      a.wait = *v;
    } else if (flag == "--mode") {
      if (*v != "true" && *v != "false" && *v != "dry-run" && *v != "migrate" && *v != "wait") {
        a.error = "--mode takes true (migrate), false (wait) or dry-run, not '" + *v + "'";
        return a;
      }
      a.mode = *v;
    } else if (flag == "--lock-timeout") {
      auto d = *v == "0" ? std::optional<std::chrono::milliseconds>{std::chrono::milliseconds{0}} : parse_duration(*v);
      if (!d) {
        a.error = "--lock-timeout takes a duration such as 2s or 500ms (0 disables), not '" + *v + "'";
        return a;
      }
      a.lock_timeout = *d;
    } else if (flag == "--stall-timeout") {
      auto d = parse_duration(*v);
      if (!d) {
        a.error = "--stall-timeout takes a positive duration such as 15s or 5000ms, not '" + *v + "'";
        return a;
      }
      a.stall_timeout = *d;
    } else if (flag == "--progress-interval") {
      auto d = *v == "0" ? std::optional<std::chrono::milliseconds>{std::chrono::milliseconds{0}} : parse_duration(*v);
      if (!d) {
        a.error = "--progress-interval takes a duration such as 5s or 500ms (0 disables), not '" + *v + "'";
        return a;
      }
      a.progress_interval = *d;
    } else if (flag == "--finalize-budget") {
      auto d = *v == "0" ? std::optional<std::chrono::milliseconds>{std::chrono::milliseconds{0}} : parse_duration(*v);
      if (!d) {
        a.error = "--finalize-budget takes a duration such as 20s or 2m (0: never finish a required background "
                  "job in the boot), not '" + *v + "'";
        return a;
      }
      a.finalize_budget = *d;
    } else if (flag == "--lock-retries") {
      unsigned n = 0;
      const auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc{} || ptr != v->data() + v->size()) {
        a.error = "--lock-retries takes a count, not '" + *v + "'";
        return a;
      }
      a.lock_retries = n;
    } else if (flag == "--on-partial") {
      if (*v != "rerun" && *v != "refuse") {
        a.error = "--on-partial takes 'rerun' or 'refuse', not '" + *v + "'";
        return a;
      }
      a.on_partial = *v;
    } else if (flag == "--on-failed-range") {
      if (*v != "stop" && *v != "skip") {
        a.error = "--on-failed-range takes 'stop' or 'skip', not '" + *v + "'";
        return a;
      }
      a.on_failed_range = *v;
    } else if (flag == "--on-failure") {
      if (*v != "stop" && *v != "retry") {
        a.error = "--on-failure takes 'stop' or 'retry', not '" + *v + "'";
        return a;
      }
      a.on_failure = *v;
    } else if (flag == "--heartbeat" || flag == "--lease") {
      auto d = parse_duration(*v);
      if (!d) {
        a.error = flag + " takes a positive duration such as 10s or 500ms, not '" + *v + "'";
        return a;
      }
      // Checked here too, so `replica` refuses it before it migrates, not after.
      if (auto checked = check_duration(flag, *d); !checked) {
        a.error = checked.error().message;
        return a;
      }
      (flag == "--lease" ? a.lease : a.heartbeat) = *d;
    } else if (flag == "--batch-target") {
      auto d = parse_duration(*v);
      if (!d || *d > std::chrono::minutes{10}) {
        a.error = "--batch-target takes a duration from 1ms to 10m, such as 500ms, not '" + *v + "'";
        return a;
      }
      a.batch_target = *d;
    } else if (flag == "--jobs") {
      unsigned n = 0;
      const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc{} || end != v->data() + v->size() || n < 1 || n > 16) {
        a.error = "--jobs takes a number of jobs from 1 to 16, not '" + *v + "'";
        return a;
      }
      a.jobs = n;
    } else if (flag == "--progress") {
      if (*v != "auto" && *v != "bar" && *v != "json") {
        a.error = "--progress takes 'auto' (a bar when stdout is a terminal), 'bar' or 'json', not '" + *v + "'";
        return a;
      }
      a.progress = *v;
    } else if (flag == "--report") {
      a.report = *v;
    } else if (flag == "--metrics-file") {
      a.metrics_file = *v;
    } else if (flag == "--placeholder") {
      const auto eq = v->find('=');
      const std::string name = v->substr(0, eq);
      bool named = !name.empty() && !(name[0] >= '0' && name[0] <= '9');
      for (char c : name) named = named && (c == '_' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'));
      // The value is never echoed: it may be a secret.
      if (eq == std::string::npos || !named) {
        a.error = "--placeholder takes NAME=VALUE (NAME: letters, digits and '_', as in ${NAME})";
        return a;
      }
      a.placeholders[name] = v->substr(eq + 1);
    } else if (flag == "--lock-rule") {
      if (auto r = checks::parse_levels(*v, a.lock_safety); !r) {
        a.error = "--lock-rule: " + r.error().message;
        return a;
      }
    } else if (flag == "--lock-rows") {
      std::int64_t n = 0;
      const auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc{} || ptr != v->data() + v->size() || n < 0) {
        a.error = "--lock-rows takes a row count (0 makes every sized finding on an existing table an error), not '" + *v + "'";
        return a;
      }
      a.lock_safety.error_rows = n;
    } else if (flag == "--pg-version") {
      int n = 0;
      const auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc{} || ptr != v->data() + v->size() || n < 9 || (n > 99 && n < 90000)) {
        a.error = "--pg-version takes a major version such as 15 (or a server_version_num such as 150004), not '" + *v + "'";
        return a;
      }
      a.pg_version = n < 100 ? n * 10000 : n;
    } else if (flag == "--role") {
      a.role = *v;
    } else if (flag == "--host") {
      a.host = *v;
    } else {
      a.error = "unknown option '" + flag + "'";
      return a;
    }
  }
  // The environment's service, where no --service named one.
  if (a.service.empty()) {
    if (const char* env = std::getenv("LOCKSTEP_SERVICE"); env != nullptr && *env != '\0') {
      if (auto problem = sql::service_name_problem(env)) {
        a.error = "LOCKSTEP_SERVICE: " + *problem;
        return a;
      }
      a.service = env;
    }
  }
  // Before anything runs: a lease that a healthy replica can lose between
  // two beats would let a contract migration run under it.
  if (a.command == "replica") {
    if (auto ok = check_heartbeat_options(HeartbeatOptions{a.heartbeat, a.lease}, "--heartbeat", "--lease"); !ok) {
      a.error = ok.error().message;
    }
  }
  return a;
}

inline constexpr std::string_view usage_text =
    "usage: lockstep migrate --dir DIR [options]   bring the schema to the expected version\n"
    "       lockstep replica --dir DIR [options]   migrate, then stay registered as a running replica\n"
    "                                              (heartbeat) until SIGTERM: a sidecar, or a stand-in app\n"
    "       lockstep status  --dir DIR [options]   show schema version, migrations, live replicas\n"
    "       lockstep lint    --dir DIR [--pg-version N]  check every migration without a database\n"
    "       lockstep resolve VERSION [options]     clear VERSION's failure records after fixing it by hand\n"
    "       lockstep ledger-sql [--role ROLE]      print the SQL that creates the ledger (for a DBA)\n"
    "       lockstep background run|status        run queued background migrations until none is left; show\n"
    "       lockstep background pause|resume|retry|cancel VERSION   their jobs; control one (docs/background.md)\n"
    "       lockstep background finalize VERSION   run one job to its end in this process, within --timeout\n"
    "       lockstep new NAME [--dir DIR] [--url URL]  create DIR's next file, <version>_NAME.sql, numbered\n"
    "                                              like DIR's files; with --url, refuse a version below\n"
    "                                              one already applied\n"
    "\n"
    "options:\n"
    "  --dir DIR             directory of <version>_<name>.sql files (default: migrations)\n"
    "  --url URL             connection URL (default: $DATABASE_URL_MIGRATION, then $DATABASE_URL)\n"
    "  --pooler-admin URL    a PgBouncer admin console (postgresql://user@host:6432/pgbouncer, repeatable):\n"
    "                        after migrations that changed row types, RECONNECT the database there\n"
    "                        (?reconnect=DB names PgBouncer's database; default: the URL's)\n"
    "  --expect VERSION      schema version this deploy needs (default: newest migration in DIR)\n"
    "  --deploy-version V    recorded in the ledger (default: $LOCKSTEP_DEPLOY_VERSION, else 'unknown')\n"
    "  --timeout DURATION    hard deadline for the whole run, e.g. 300s, 5m (default: 5m)\n"
    "  --lock-name NAME      advisory-lock name (default: derived from database and ledger)\n"
    "  --service NAME        this service's own ledger, lockstep.NAME, beside other services' in one\n"
    "                        database (default: $LOCKSTEP_SERVICE, else the ledger lockstep.migrations)\n"
    "  --services            status: every service in the catalog, and what each one's leader waits for\n"
    "  --schema-changes on|off  measure, record and broadcast the row types each migration changes\n"
    "                        (default on; docs/schema-changes.md)\n"
    "  --service-dir N=DIR   lint: another service's migrations (repeatable): checks requires=N@V across\n"
    "                        services and finds cycles\n"
    "  --lock POLICY         try (default; followers never block), blocking, or transaction\n"
    "                        (pg_try_advisory_xact_lock per migration: safe through PgBouncer\n"
    "                        transaction pooling; refuses no-transaction migrations)\n"
    "  --wait POLICY         notify (default: wake on the leader's NOTIFY, poll as a fallback) or poll\n"
    "  --mode MODE           true|migrate, false|wait (never migrate; wait for the schema), or\n"
    "                        dry-run (change nothing, print the plan) (default: $MIGRATE_ON_BOOT, else true)\n"
    "  --rehearse            dry-run: run pending migrations in a rolled-back transaction, statement by\n"
    "                        statement: durations, locks taken, tables rewritten\n"
    "  --report FILE         dry-run: write the plan, findings and rehearsal as Markdown (or JSON if\n"
    "                        FILE ends in .json), e.g. for a pull-request comment\n"
    "  --metrics-file FILE   migrate, replica: write the run's metrics in Prometheus's text format when\n"
    "                        it ends (for node_exporter's textfile collector; docs/events.md)\n"
    "  --placeholder N=V     replace ${N} in migration files with V (repeatable); the checksum is the\n"
    "                        file's as written, $${N} is the text ${N}, and V is redacted everywhere\n"
    "  --placeholders        replace ${N} with the environment variable N (--placeholder wins)\n"
    "  --lock-timeout D      lock_timeout of every migration (default 2s; 0 disables)\n"
    "  --lock-retries N      retries of a migration after lock_timeout (default 10)\n"
    "  --stall-timeout D     a leader idle this long is presumed stalled; the server ends its session\n"
    "                        so another replica takes over (default 15s)\n"
    "  --progress-interval D while a statement runs longer, a progress event per interval (default 5s;\n"
    "                        0 disables); waiting replicas report the leader's activity as often\n"
    "  --on-partial P        after a no-transaction migration failed part-way: rerun (default) or refuse\n"
    "  --on-failure P        after the server rejected a migration: stop (default: no other replica of\n"
    "                        the same deploy runs the same file again) or retry\n"
    "  --host NAME           recorded as who applied (default: $HOSTNAME)\n"
    "  --role ROLE           ledger-sql: also print the grants the migration role ROLE needs\n"
    "  --json                status: print JSON instead of a table; lint: one JSON finding per line;\n"
    "                        background status: JSON lines even on a terminal\n"
    "  --progress P          auto (default: a progress bar and short lines when stdout is a terminal,\n"
    "                        JSON lines otherwise), bar, or json (migrate, replica, background)\n"
    "  --lock-rule R=LEVEL   rule R (any of docs/lock-safety.md) is always an error, a warning, or off (repeatable;\n"
    "                        comma-separated lists too; default: $LOCKSTEP_LOCK_RULES)\n"
    "  --lock-rows N         a blocking rewrite, scan or index build on a table of N rows or more\n"
    "                        stops the deploy (default 100000)\n"
    "  --pg-version N        lint: the PostgreSQL major version to lint for (default: the newest)\n"
    "  --background          replica: also run background migrations while it serves\n"
    "  --batch-target D      background run, replica --background: size batches toward this duration\n"
    "                        (default 500ms); a batch's statement_timeout is 20 times it (at least 1s)\n"
    "  --jobs K              background run, replica --background: work on K jobs at once, never two\n"
    "                        on one table (default 1)\n"
    "  --on-failed-range P   background run, replica --background: a key range a batch cannot get\n"
    "                        through stops its job (stop, default) or, narrowed to one key, is skipped\n"
    "                        and recorded in the failure log (skip); docs/background.md\n"
    "  --finalize-budget D   migrate, replica: a migration with lockstep:requires-background finishes\n"
    "                        an unfinished job in the boot if what is left fits D at its measured rate,\n"
    "                        else the boot refuses with its ETA (default 20s; 0: always refuse)\n"
    "  --heartbeat D         replica: time between heartbeats (default 10s)\n"
    "  --lease D             replica: how long one heartbeat keeps it alive (default 30s; at least\n"
    "                        2.2 x --heartbeat + 100ms for a heartbeat up to 10s; docs/expand-contract.md)\n"
    "\n"
    "migrate prints one JSON event per line on stdout (on a terminal: a progress bar, see --progress);\n"
    "errors also go to stderr.\n"
    "exit codes: 0 ready, 2 usage, 3 invalid argument, 4 source invalid, 5 connection failed,\n"
    "            6 ledger invalid, 7 checksum mismatch, 8 migration failed, 9 lock failed,\n"
    "            10 deadline exceeded, 11 schema behind, 12 database error, 13 lock lost,\n"
    "            14 internal error, 15 schema contracted (a contract migration this image lacks),\n"
    "            16 lock unsafe (a migration would block a big table; nothing ran),\n"
    "            17 background unfinished (a migration requires a background job that is not done)\n";

}  // namespace lockstep::cli
