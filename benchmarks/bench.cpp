// lockstep's benchmark suite. Every scenario is measured against its floor
// from the same run, on the same server, and reported as a ratio.
//
//   bench STATE_DIR CLI FLOOR OUT_DIR [--quick] [--only SCENARIO]
//
// STATE_DIR is a pg_server.sh state directory (url, datadir); the server must
// run with default durability (LOCKSTEP_PG_DURABLE=1).
#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lockstep/detail/base/json.hpp"
#include "lockstep/lockstep.hpp"
#include "files.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
using lockstep::detail::JsonObject;

namespace {

std::string state_dir, cli, floor_bin, out_dir, server_url;
bool quick = false;

std::string db_url(const std::string& db) { return server_url.substr(0, server_url.rfind('/')) + "/" + db; }

void sql(const std::string& url, const std::string& q) {
  auto c = lockstep::Connection::open(url);
  if (!c || !c.value().execute(q)) {
    std::cerr << "bench: query failed: " << q << '\n';
    std::exit(1);
  }
}

long long scalar(const std::string& url, const std::string& q) {
  auto c = lockstep::Connection::open(url);
  auto r = c.value().query(q);
  return std::stoll(r.value().at(0).at(0).value_or("0"));
}

void fresh_db(const std::string& name) {
  sql(server_url, "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
  sql(server_url, "CREATE DATABASE " + name);
}

void write_migrations(const fs::path& dir, int n) {
  fs::create_directories(dir);
  for (int i = 1; i <= n; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "%05d_t%d.sql", i, i);
    std::ofstream{dir / name} << "CREATE TABLE t" << i << " (id bigint PRIMARY KEY, note text);\nCREATE INDEX t" << i
                              << "_note ON t" << i << " (note);\n";
  }
}

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

// Runs a program to completion; returns wall ms, or -1 on failure.
double time_process(const std::vector<std::string>& argv) {
  const auto t0 = clock_type::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  const double ms = ms_since(t0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? ms : -1;
}

struct Stats {
  double median = 0, p90 = 0, min = 0;
  static Stats of(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    Stats s;
    if (v.empty()) return s;
    s.median = v[v.size() / 2];
    s.p90 = v[std::min(v.size() - 1, v.size() * 9 / 10)];
    s.min = v.front();
    return s;
  }
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// "2026-11-21T15:14:29.348Z" -> ms since the epoch.
double event_ms(const std::string& ts) {
  std::tm tm{};
  int ms = 0;
  std::sscanf(ts.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
              &tm.tm_sec, &ms);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(::timegm(&tm)) * 1000.0 + ms;
}

std::string field(const std::string& line, const std::string& key) {
  const auto at = line.find("\"" + key + "\":");
  if (at == std::string::npos) return {};
  auto from = at + key.size() + 3;
  if (line[from] == '"') {
    ++from;
    return line.substr(from, line.find('"', from) - from);
  }
  return line.substr(from, line.find_first_of(",}", from) - from);
}

std::vector<std::string> rows;  // Markdown table rows
JsonObject results;

void row(const std::string& scenario, const std::string& measure, double value, const std::string& floor_name,
         double floor_value, const std::string& goal) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "| %s | %s | %.1f | %s | %.1f | %.2fx | %s |", scenario.c_str(), measure.c_str(),
                value, floor_name.c_str(), floor_value, floor_value > 0 ? value / floor_value : 0.0, goal.c_str());
  rows.emplace_back(buf);
  std::cout << buf << std::endl;
}

// ---- scenarios ------------------------------------------------------------------

void noop_boot(const fs::path& work) {
  const int n_mig = 200, reps = quick ? 10 : 40;
  fresh_db("bench_noop");
  const fs::path dir = work / "noop";
  write_migrations(dir, n_mig);
  const std::string url = db_url("bench_noop");
  if (time_process({cli, "migrate", "--dir", dir.string(), "--url", url}) < 0) std::exit(1);  // apply once

  // Process: the lockstep program vs the raw libpq floor program, interleaved.
  std::vector<double> lock_ms, floor_ms;
  for (int i = 0; i < reps; ++i) {
    lock_ms.push_back(time_process({cli, "migrate", "--dir", dir.string(), "--url", url}));
    floor_ms.push_back(time_process({floor_bin, url}));
  }
  const auto l = Stats::of(lock_ms), f = Stats::of(floor_ms);
  row("no-op boot (200 applied)", "lockstep program, median ms", l.median, "libpq connect+SELECT 1 program",
      f.median, "<= 1.2x");

  // In process: Migrator::run() vs PQconnectdb + SELECT 1 + PQfinish.
  lockstep::Settings s;
  s.database_url = url;
  s.on_event = lockstep::null_sink();
  std::vector<double> lib_ms, raw_ms;
  for (int i = 0; i < reps; ++i) {
    auto t0 = clock_type::now();
    auto r = lockstep::Migrator<>{s, lockstep::DirectorySource{dir}}.run();
    lib_ms.push_back(r ? ms_since(t0) : -1);
    t0 = clock_type::now();
    PGconn* c = PQconnectdb(url.c_str());
    PQclear(PQexec(c, "SELECT 1"));
    PQfinish(c);
    raw_ms.push_back(ms_since(t0));
  }
  const auto lib = Stats::of(lib_ms), raw = Stats::of(raw_ms);
  row("no-op boot (200 applied)", "Migrator::run(), median ms", lib.median, "PQconnectdb+SELECT 1", raw.median,
      "<= 1.2x");

  // Statements after connecting: count them in the server log for one boot.
  sql(server_url, "ALTER SYSTEM SET log_statement = 'all'");
  sql(server_url, "SELECT pg_reload_conf()");
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  const fs::path log = fs::path{lockstep::test::read_first_line(fs::path{state_dir} / "datadir")} / "server.log";
  const auto before = fs::file_size(log);
  time_process({cli, "migrate", "--dir", dir.string(), "--url", url + "?application_name=bench_count"});
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  sql(server_url, "ALTER SYSTEM RESET log_statement");
  sql(server_url, "SELECT pg_reload_conf()");
  std::ifstream in{log};
  in.seekg(static_cast<std::streamoff>(before));
  int statements = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find(" bench_count ") != std::string::npos &&
        (line.find("statement: ") != std::string::npos || line.find("execute ") != std::string::npos)) {
      ++statements;
    }
  }
  row("no-op boot (200 applied)", "statements sent after connecting", statements, "goal", 1, "exactly 1");

  JsonObject o;
  o.add("cli_median_ms", static_cast<std::int64_t>(l.median * 1000) / 1000)
      .add("floor_program_median_ms", static_cast<std::int64_t>(f.median * 1000) / 1000)
      .add("library_median_us", static_cast<std::int64_t>(lib.median * 1000))
      .add("floor_library_median_us", static_cast<std::int64_t>(raw.median * 1000))
      .add("statements_after_connect", static_cast<std::int64_t>(statements))
      .add("repetitions", static_cast<std::int64_t>(reps));
  results.add_raw("noop_boot", o.str());
}

// Reading, checksumming and splitting a large migration, in process, per MB
// of SQL; floor: reading the same bytes.
void sql_throughput(const fs::path& work) {
  const fs::path dir = work / "big";
  fs::create_directories(dir);
  std::string text;
  for (int i = 0; text.size() < 8u << 20; ++i) {
    text += "-- row " + std::to_string(i) + "\nINSERT INTO big (id, note, body) VALUES (" + std::to_string(i) +
            ", 'it''s row " + std::to_string(i) + "', $$ a; \"quoted\" body $$); /* c */\n";
    if (i % 1000 == 0) text += "CREATE FUNCTION f" + std::to_string(i) + "() RETURNS int LANGUAGE sql AS $f$ SELECT 1; $f$;\n";
  }
  std::ofstream{dir / "00001_big.sql"} << text;
  const double mb = static_cast<double>(text.size()) / (1 << 20);
  std::vector<double> read_ms, load_ms, split_ms;
  std::size_t statements = 0;
  for (int i = 0; i < (quick ? 3 : 7); ++i) {
    auto t0 = clock_type::now();
    std::ifstream in{dir / "00001_big.sql", std::ios::binary};
    std::string bytes{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
    read_ms.push_back(ms_since(t0) / mb);
    t0 = clock_type::now();
    auto loaded = lockstep::DirectorySource{dir}.load();
    load_ms.push_back(ms_since(t0) / mb);
    t0 = clock_type::now();
    auto prepared = lockstep::Checker{lockstep::CheckOptions{lockstep::LockSafety{}, 150000}}.read(loaded.value().at(0));
    split_ms.push_back(ms_since(t0) / mb);
    if (!prepared) {
      std::cerr << "bench: the big migration did not split: " << prepared.error().to_string() << '\n';
      std::exit(1);
    }
    statements = prepared.value().statements.size();
  }
  const auto r = Stats::of(read_ms), l = Stats::of(load_ms), sp = Stats::of(split_ms);
  const std::string name = "SQL throughput (" + std::to_string(static_cast<int>(mb)) + " MB, " +
                           std::to_string(statements) + " statements)";
  row(name, "read + SHA-256, ms per MB", l.median, "read the bytes, ms per MB", r.median, "-");
  row(name, "split + directives + lint, ms per MB", sp.median, "read the bytes, ms per MB", r.median, "-");
  JsonObject o;
  o.add("megabytes", static_cast<std::int64_t>(mb))
      .add("statements", static_cast<std::int64_t>(statements))
      .add("read_us_per_mb", static_cast<std::int64_t>(r.median * 1000))
      .add("load_and_checksum_us_per_mb", static_cast<std::int64_t>(l.median * 1000))
      .add("split_us_per_mb", static_cast<std::int64_t>(sp.median * 1000));
  results.add_raw("sql_throughput", o.str());
}

// A fresh database, its pages written out, so no run inherits the last one's dirty buffers.
void fresh_checkpointed_db(const std::string& name) {
  fresh_db(name);
  sql(server_url, "CHECKPOINT");
}

// Applying is DDL-bound, so its floor is psql -1 running every file in one
// transaction; lockstep commits each migration on its own. Rounds alternate
// the two, and the ratio is the median of each round's ratio, which cancels
// the drift of a shared machine better than a ratio of medians.
void apply(const fs::path& work, int n) {
  const fs::path dir = work / ("apply" + std::to_string(n));
  write_migrations(dir, n);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator{dir}) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  const std::vector<std::string> psql{"psql", "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-d", db_url("bench_apply")};
  std::vector<std::string> one = psql;
  for (const auto& f : files) {
    one.push_back("-f");
    one.push_back(f.string());
  }
  const int rounds = quick ? 3 : n >= 1000 ? 3 : 9;
  std::vector<double> lock_runs, psql1_runs, ratios;
  for (int r = 0; r < rounds; ++r) {
    fresh_checkpointed_db("bench_apply");
    const double lock_ms = time_process({cli, "migrate", "--dir", dir.string(), "--url", db_url("bench_apply")});
    fresh_checkpointed_db("bench_apply");
    const double psql1_ms = time_process(one);
    if (lock_ms < 0 || psql1_ms < 0) std::exit(1);
    lock_runs.push_back(lock_ms);
    psql1_runs.push_back(psql1_ms);
    ratios.push_back(lock_ms / psql1_ms);
  }
  // The old floor, once: what applying file by file with psql costs.
  fresh_checkpointed_db("bench_apply");
  auto t0 = clock_type::now();
  for (const auto& f : files) {
    auto each = psql;
    each.push_back("-f");
    each.push_back(f.string());
    if (time_process(each) < 0) std::exit(1);
  }
  const double psql_ms = ms_since(t0);
  const double lock_ms = Stats::of(lock_runs).median, psql1_ms = Stats::of(psql1_runs).median;
  const double ratio = Stats::of(ratios).median;
  const std::string name = "apply " + std::to_string(n) + " migrations";
  row(name, "lockstep program, median ms", lock_ms, "psql per file (-1 each), one run", psql_ms, "-");
  char measure[96];
  std::snprintf(measure, sizeof measure, "lockstep program, median ms (median of %d round ratios: %.2fx)", rounds,
                ratio);
  row(name, measure, lock_ms, "psql -1 all files, median ms", psql1_ms, "<= 1.1x");
  JsonObject o;
  o.add("lockstep_ms", static_cast<std::int64_t>(lock_ms))
      .add("psql_per_file_ms", static_cast<std::int64_t>(psql_ms))
      .add("psql_single_transaction_ms", static_cast<std::int64_t>(psql1_ms))
      .add("rounds", static_cast<std::int64_t>(rounds))
      .add("ratio_to_single_transaction_x1000", static_cast<std::int64_t>(ratio * 1000))
      .add("per_migration_ms_x1000", static_cast<std::int64_t>(lock_ms * 1000 / n));
  results.add_raw("apply_" + std::to_string(n), o.str());
}

void herd(const fs::path& work, int n, const std::string& wait) {
  const fs::path dir = work / "herd";
  if (!fs::exists(dir)) write_migrations(dir, 200);
  fresh_db("bench_herd");
  const std::string url = db_url("bench_herd");
  std::atomic<bool> stop{false};
  std::atomic<long long> peak{0};
  std::thread monitor{[&] {
    while (!stop) {
      peak = std::max(peak.load(), scalar(server_url, "SELECT count(*) FROM pg_stat_activity WHERE datname = 'bench_herd'"));
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
  }};
  lockstep::test::TempDir out{"bench-herd"};
  lockstep::test::Herd h{out.path()};
  h.spawn(n, {cli, "migrate", "--dir", dir.string(), "--url", url, "--timeout", "300s", "--wait", wait});
  const auto t0 = clock_type::now();
  h.release();
  h.wait_all(std::chrono::minutes{6});
  const double wall = ms_since(t0);
  stop = true;
  monitor.join();

  int failed = 0;
  double leader_first = 0, leader_last = 0, commit_ms = 0;
  std::vector<double> ready_at;
  long long follower_queries = 0;
  for (auto& c : h.children()) {
    if (c.exit_code != 0) ++failed;
    bool is_leader = false;
    for (const auto& line : c.lines()) {
      const std::string ev = field(line, "event");
      if (ev == "migration_started" && leader_first == 0) leader_first = event_ms(field(line, "ts"));
      if (ev == "migration_applied") {
        is_leader = true;
        leader_last = event_ms(field(line, "ts"));
      }
      if (ev == "ready" && !is_leader) {
        ready_at.push_back(event_ms(field(line, "ts")));
        // The fast path read, (LISTEN,) then per wait: one try-lock and one ledger poll.
        follower_queries += 1 + (wait == "notify" ? 1 : 0) + 2 * std::stoll(field(line, "wait_attempts"));
      }
    }
  }
  // From the leader's final commit (its last migration_applied) to each ready.
  commit_ms = leader_last;
  std::vector<double> wake;
  for (double r : ready_at) wake.push_back(std::max(0.0, r - commit_ms));

  // Floor: the same number of floor programs at once, plus the leader's apply time.
  lockstep::test::TempDir fout{"bench-floor"};
  lockstep::test::Herd fh{fout.path()};
  fh.spawn(n, {floor_bin, url});
  const auto f0 = clock_type::now();
  fh.release();
  fh.wait_all(std::chrono::minutes{1});
  const double floor_wall = ms_since(f0) + (leader_last - leader_first);

  const std::string name = "herd " + std::to_string(n) + " x 200 pending, --wait " + wait;
  row(name, "wall until the last is ready, ms", wall, n == 0 ? "" : "floor programs + leader apply", floor_wall, "-");
  const std::string wake_measure =
      "wake latency p99 (p50 " + std::to_string(static_cast<int>(percentile(wake, 0.5))) + "), ms";
  if (wait == "notify") {
    row(name, wake_measure, percentile(wake, 0.99), "goal", 50, "p99 <= 50 ms");
  } else {
    row(name, wake_measure, percentile(wake, 0.99), "backoff cap (plain polling)", 2000, "p99 <= cap");
  }
  JsonObject o;
  o.add("processes", static_cast<std::int64_t>(n))
      .add("failed", static_cast<std::int64_t>(failed))
      .add("wall_ms", static_cast<std::int64_t>(wall))
      .add("floor_ms", static_cast<std::int64_t>(floor_wall))
      .add("leader_apply_ms", static_cast<std::int64_t>(leader_last - leader_first))
      .add("follower_queries", static_cast<std::int64_t>(follower_queries))
      .add("peak_connections", static_cast<std::int64_t>(peak.load()))
      .add("wake_p50_ms", static_cast<std::int64_t>(percentile(wake, 0.5)))
      .add("wake_p99_ms", static_cast<std::int64_t>(percentile(wake, 0.99)));
  results.add_raw("herd_" + std::to_string(n) + "_" + wait, o.str());
  std::cout << "  herd " << n << " (" << wait << "): failed " << failed << ", follower queries " << follower_queries
            << ", peak connections " << peak.load() << std::endl;
  if (failed != 0) std::exit(1);
}

// The replica registry (docs/expand-contract.md): `n` replicas beating every
// `interval_s`. Floor: what holding one connection per replica would cost the
// server, n backends.
void registry(const fs::path& work, int n, int interval_s, int lease_s) {
  const fs::path dir = work / "registry";
  write_migrations(dir, 5);
  fresh_db("bench_registry");
  const std::string url = db_url("bench_registry");
  if (time_process({cli, "migrate", "--dir", dir.string(), "--url", url}) < 0) std::exit(1);
  lockstep::test::TempDir out{"bench-registry"};
  lockstep::test::Herd h{out.path()};
  h.spawn(n, {cli, "replica", "--dir", dir.string(), "--url", url, "--deploy-version", "bench", "--heartbeat",
              std::to_string(interval_s) + "s", "--lease", std::to_string(lease_s) + "s", "--timeout", "120s"});
  const auto t0 = clock_type::now();
  h.release();
  const std::string live = "SELECT count(*) FROM lockstep.replicas WHERE expires_at > now()";
  long long registered = 0;
  while ((registered = scalar(url, live)) < n && ms_since(t0) < 120000) {
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  }
  if (registered < n) {
    std::cerr << "bench: only " << registered << " of " << n << " replicas registered in 120 s; first child said:\n"
              << h.children().at(0).out() << h.children().at(0).err() << '\n';
    for (const auto& c : h.children()) ::kill(c.pid, SIGKILL);  // std::exit skips the Herd's destructor
    h.wait_all(std::chrono::seconds{10});
    std::exit(1);
  }
  const double all_registered_ms = ms_since(t0);

  // Counters over a window; backends sampled from another database.
  const std::string counters =
      "SELECT (SELECT sessions FROM pg_stat_database WHERE datname = 'bench_registry') * 1000000 + "
      "(SELECT n_tup_upd FROM pg_stat_user_tables WHERE schemaname = 'lockstep' AND relname = 'replicas')";
  const std::string backends = "SELECT count(*) FROM pg_stat_activity WHERE datname = 'bench_registry'";
  // A backend reports its counters when it ends: every beat's session has.
  const long long c0 = scalar(url, counters);
  const auto w0 = clock_type::now();
  std::vector<double> connected;
  long long fewest_live = n;  // replicas whose lease held, at the worst moment
  // One session for the samples, opened before the counters are read and
  // subtracted from the backends (a session per sample would count as beats).
  auto sampler = lockstep::Connection::open(url).value();
  const double window_ms = 1000.0 * interval_s * (quick ? 1 : 3);
  while (ms_since(w0) < window_ms) {
    connected.push_back(static_cast<double>(scalar(server_url, backends)));
    if (auto counted = sampler.query(live); counted && !counted.value().empty()) {
      fewest_live = std::min(fewest_live, std::stoll(counted.value()[0][0].value_or("0")));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  const long long c1 = scalar(url, counters);
  const double seconds = ms_since(w0) / 1000;
  const double sessions_per_s = static_cast<double>(c1 / 1000000 - c0 / 1000000) / seconds;
  const double updates_per_s = static_cast<double>(c1 % 1000000 - c0 % 1000000) / seconds;
  const double mean_backends =
      std::accumulate(connected.begin(), connected.end(), 0.0) / static_cast<double>(connected.size()) - 1;

  std::vector<double> rss_mb;
  for (const auto& c : h.children()) {
    std::ifstream status{"/proc/" + std::to_string(c.pid) + "/status"};
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("VmRSS:", 0) == 0) rss_mb.push_back(std::stod(line.substr(6)) / 1024);
    }
  }
  const auto term0 = clock_type::now();
  for (const auto& c : h.children()) ::kill(c.pid, SIGTERM);
  h.wait_all(std::chrono::seconds{60});
  const double stopped_ms = ms_since(term0);
  int failed = 0;
  for (const auto& c : h.children()) failed += c.exit_code != 0 ? 1 : 0;
  const long long left = scalar(url, "SELECT count(*) FROM lockstep.replicas");

  const std::string name = "registry " + std::to_string(n) + " replicas, " + std::to_string(interval_s) + " s beat";
  const double beats_per_s = static_cast<double>(n) / interval_s;
  row(name, "backends connected, mean", mean_backends, "a held connection per replica", n, "-");
  row(name, "sessions per second", sessions_per_s, "beats per second (n / interval)", beats_per_s, "~1x");
  row(name, "registry row updates per second", updates_per_s, "beats per second (n / interval)", beats_per_s, "~1x");
  row(name, "replicas whose lease held, fewest sampled", static_cast<double>(fewest_live), "replicas", n, "1x");
  row(name, "RSS per replica process, median MB", Stats::of(rss_mb).median, "-", 0, "-");
  row(name, "rows left after SIGTERM to all at once", static_cast<double>(left), "goal", 0, "0");
  row(name, "SIGTERM to all at once: last exit after, ms", stopped_ms, "-", 0, "-");
  JsonObject o;
  o.add("replicas", static_cast<std::int64_t>(n))
      .add("interval_s", static_cast<std::int64_t>(interval_s))
      .add("lease_s", static_cast<std::int64_t>(lease_s))
      .add("all_registered_ms", static_cast<std::int64_t>(all_registered_ms))
      .add("window_ms", static_cast<std::int64_t>(seconds * 1000))
      .add("mean_backends_x100", static_cast<std::int64_t>(mean_backends * 100))
      .add("max_backends", static_cast<std::int64_t>(*std::max_element(connected.begin(), connected.end())))
      .add("sessions_per_s_x10", static_cast<std::int64_t>(sessions_per_s * 10))
      .add("updates_per_s_x10", static_cast<std::int64_t>(updates_per_s * 10))
      .add("fewest_live", static_cast<std::int64_t>(fewest_live))
      .add("rss_median_kb", static_cast<std::int64_t>(Stats::of(rss_mb).median * 1024))
      .add("failed_on_sigterm", static_cast<std::int64_t>(failed))
      .add("rows_left", static_cast<std::int64_t>(left))
      .add("all_stopped_ms", static_cast<std::int64_t>(stopped_ms));
  results.add_raw("registry_" + std::to_string(n) + "_" + std::to_string(interval_s) + "s", o.str());
  std::cout << "  registry " << n << ": all registered in " << static_cast<int>(all_registered_ms) << " ms, "
            << failed << " exited non-zero on SIGTERM, " << left << " row(s) left (they expire with the lease)"
            << std::endl;
  if (failed != 0) std::exit(1);
}

// ---- background backfill (docs/background.md) ---------------------------------

// The application while a backfill runs: `connections` libpq sessions, each
// sending single-row UPDATEs of random ids on a fixed schedule (`per_second`
// each). A request's latency counts from when the schedule says it should
// have been sent, so a request held up behind a stalled one counts its wait
// too (no coordinated omission).
class Workload {
 public:
  Workload(const std::string& url, long long table_rows, int connections, int per_second)
      : url_{url}, table_rows_{table_rows}, interval_{std::chrono::microseconds{1'000'000 / per_second}} {
    for (int i = 0; i < connections; ++i) threads_.emplace_back([this, i] { run(i); });
    while (ready_ < connections) std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;
  ~Workload() { stop(); }

  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  // Sends nothing scheduled after `t`, and returns once every request
  // scheduled up to `t` has completed: a session held up behind a lock sends
  // its backlog when it is released, and those requests count.
  void finish(clock_type::time_point t) {
    until_ = t.time_since_epoch().count();
    for (auto& t2 : threads_) {
      if (t2.joinable()) t2.join();
    }
  }

  // The latencies (ms) of the requests scheduled in [from, to).
  [[nodiscard]] std::vector<double> between(clock_type::time_point from, clock_type::time_point to) const {
    std::vector<double> out;
    for (const auto& per : samples_) {
      for (const auto& [at, ms] : per) {
        if (at >= from && at < to) out.push_back(ms);
      }
    }
    return out;
  }
  [[nodiscard]] int errors() const { return errors_; }

 private:
  void run(int index) {
    PGconn* c = PQconnectdb(url_.c_str());
    if (PQstatus(c) != CONNECTION_OK) {
      std::cerr << "bench: workload connection failed: " << PQerrorMessage(c);
      std::exit(1);
    }
    PQclear(PQprepare(c, "hit", "UPDATE bf SET hits = hits + 1 WHERE id = $1", 1, nullptr));
    std::mt19937_64 random{static_cast<std::uint64_t>(index) * 7919 + 1};
    std::uniform_int_distribution<long long> id{1, table_rows_};
    auto& mine = samples_[static_cast<std::size_t>(index)];
    mine.reserve(1 << 16);
    ++ready_;
    auto next = clock_type::now();
    while (!stop_ && next.time_since_epoch().count() <= until_) {
      const auto now = clock_type::now();
      if (now < next) std::this_thread::sleep_for(next - now);
      const std::string key = std::to_string(id(random));
      const char* values[] = {key.c_str()};
      PGresult* r = PQexecPrepared(c, "hit", 1, values, nullptr, nullptr, 0);
      if (PQresultStatus(r) != PGRES_COMMAND_OK) ++errors_;
      PQclear(r);
      mine.emplace_back(next, std::chrono::duration<double, std::milli>(clock_type::now() - next).count());
      next += interval_;
    }
    PQfinish(c);
  }

  std::string url_;
  long long table_rows_;
  std::chrono::microseconds interval_;
  std::atomic<bool> stop_{false};
  std::atomic<clock_type::rep> until_{std::numeric_limits<clock_type::rep>::max()};
  std::atomic<int> ready_{0}, errors_{0};
  std::array<std::vector<std::pair<clock_type::time_point, double>>, 16> samples_;
  std::vector<std::thread> threads_;
};

// The same table for every run: `table_rows` rows, the column to fill empty, the
// application's counter, written out and analyzed. Autovacuum is off for it:
// a runner holds a job while a vacuum runs on its table (the
// vacuum_on_table signal), which would measure autovacuum's timing, not the
// batching.
void backfill_table(const std::string& url, long long table_rows) {
  sql(url, "CREATE TABLE bf (id bigint PRIMARY KEY, total numeric(12,2) NOT NULL, total_cents bigint,"
           " hits int NOT NULL DEFAULT 0) WITH (autovacuum_enabled = off);"
           "INSERT INTO bf (id, total) SELECT g, (g % 100000) / 100.0 FROM generate_series(1, " +
               std::to_string(table_rows) + ") g;");
  sql(url, "VACUUM ANALYZE bf");
  sql(server_url, "CHECKPOINT");
}

// The application's rate: 4 sessions x 25 single-row UPDATEs a second. At
// 4 x 100 the durable server of the 2-core benchmark machine could not keep
// up even with no backfill (p50 143 ms, p99 602 ms, each commit waiting for
// its WAL fsync), so every figure measured the disk's backlog, not locks.
constexpr int app_connections = 4, app_per_second = 25;

struct Latency {
  double p50 = 0, p99 = 0, max = 0;
  std::size_t n = 0;
  static Latency of(const std::vector<double>& v) {
    Latency l;
    l.n = v.size();
    if (v.empty()) return l;
    l.p50 = percentile(v, 0.5);
    l.p99 = percentile(v, 0.99);
    l.max = *std::max_element(v.begin(), v.end());
    return l;
  }
};

// One backfill with the workload running; returns its wall ms and the
// workload's latencies while it ran.
std::pair<double, Latency> with_workload(const std::string& url, long long table_rows,
                                         const std::function<bool()>& backfill) {
  Workload w{url, table_rows, app_connections, app_per_second};
  std::this_thread::sleep_for(std::chrono::seconds{1});  // the workload's sessions warm
  const auto t0 = clock_type::now();
  if (!backfill()) {
    std::cerr << "bench: the backfill failed\n";
    std::exit(1);
  }
  const auto t1 = clock_type::now();
  w.finish(t1);
  if (w.errors() != 0) {
    std::cerr << "bench: " << w.errors() << " workload request(s) failed\n";
    std::exit(1);
  }
  if (scalar(url, "SELECT count(*) FROM bf WHERE total_cents IS DISTINCT FROM round(total * 100)") != 0) {
    std::cerr << "bench: the backfill left rows unfilled\n";
    std::exit(1);
  }
  return {std::chrono::duration<double, std::milli>(t1 - t0).count(), Latency::of(w.between(t0, t1))};
}

// Issue #33: a background migration's batches next to the one UPDATE a boot
// migration would run, over the same rows, while the application updates
// single rows. Floor: `UPDATE bf SET total_cents = round(total * 100)` in one
// statement over libpq; lockstep: the same SET in a background file, run by
// `lockstep background run` (batches sized toward the default 500 ms).
// batch-size is where the sizing starts and its ceiling: 10000 here. With
// 1000000 the first batch was the whole table, and it held its rows for the
// 10 s statement_timeout before each halving (37 s for the run; measured at
// 4 x 100 app writes a second, see app_per_second).
void background_backfill(const fs::path& work) {
  const long long table_rows = quick ? 200'000 : 1'000'000;
  const std::string db = "bench_backfill", url = db_url(db);
  const fs::path dir = work / "backfill";
  fs::create_directories(dir);
  std::ofstream{dir / "00001_fill_cents.sql"}
      << "-- lockstep:background\n-- lockstep:batch-over=bf(id)\n-- lockstep:batch-size=10000\n"
         "UPDATE bf SET total_cents = round(total * 100) WHERE id BETWEEN :lo AND :hi;\n";

  // The workload alone, for scale.
  fresh_db(db);
  backfill_table(url, table_rows);
  Latency idle;
  {
    Workload w{url, table_rows, app_connections, app_per_second};
    std::this_thread::sleep_for(std::chrono::seconds{1});
    const auto t0 = clock_type::now();
    std::this_thread::sleep_for(std::chrono::seconds{5});
    const auto t1 = clock_type::now();
    w.finish(t1);
    idle = Latency::of(w.between(t0, t1));
  }

  const int rounds = quick ? 1 : 2;
  std::vector<double> floor_ms, lock_ms;
  long long batches = 0;
  std::vector<double> floor_p99s, lock_p99s, floor_maxes, lock_maxes, floor_p50s, lock_p50s;
  for (int r = 0; r < rounds; ++r) {
    fresh_db(db);
    backfill_table(url, table_rows);
    auto [f_ms, f] = with_workload(url, table_rows, [&] {
      PGconn* c = PQconnectdb(url.c_str());
      PGresult* res = PQexec(c, "UPDATE bf SET total_cents = round(total * 100)");
      const bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
      PQclear(res);
      PQfinish(c);
      return ok;
    });
    floor_ms.push_back(f_ms);
    floor_p50s.push_back(f.p50);
    floor_p99s.push_back(f.p99);
    floor_maxes.push_back(f.max);

    fresh_db(db);
    backfill_table(url, table_rows);
    if (time_process({cli, "migrate", "--dir", dir.string(), "--url", url}) < 0) std::exit(1);  // queues the job
    auto [l_ms, l] = with_workload(url, table_rows, [&] {
      return time_process({cli, "background", "run", "--dir", dir.string(), "--url", url}) >= 0;
    });
    if (scalar(url, "SELECT count(*) FROM lockstep.jobs WHERE state = 'succeeded' AND rows_done = " +
                        std::to_string(table_rows)) != 1) {
      std::cerr << "bench: the background job did not succeed over every row\n";
      std::exit(1);
    }
    batches = scalar(url, "SELECT batches FROM lockstep.jobs");
    lock_ms.push_back(l_ms);
    lock_p50s.push_back(l.p50);
    lock_p99s.push_back(l.p99);
    lock_maxes.push_back(l.max);
    std::cout << "  backfill round " << r + 1 << ": one UPDATE " << static_cast<int>(f_ms) << " ms (app p99 "
              << static_cast<int>(f.p99) << " ms, max " << static_cast<int>(f.max) << " ms, " << f.n
              << " requests); background run " << static_cast<int>(l_ms) << " ms in " << batches
              << " batches (app p99 " << static_cast<int>(l.p99) << " ms, max " << static_cast<int>(l.max) << " ms, "
              << l.n << " requests)" << std::endl;
  }
  // Medians of the rounds' own figures (with 2 rounds, the larger).
  const double f_ms = Stats::of(floor_ms).median, l_ms = Stats::of(lock_ms).median;
  const double f_rate = static_cast<double>(table_rows) / (f_ms / 1000);
  const double l_rate = static_cast<double>(table_rows) / (l_ms / 1000);
  const double f_p99 = Stats::of(floor_p99s).median, l_p99 = Stats::of(lock_p99s).median;
  const double f_max = Stats::of(floor_maxes).median, l_max = Stats::of(lock_maxes).median;
  const double f_p50 = Stats::of(floor_p50s).median, l_p50 = Stats::of(lock_p50s).median;
  const std::string name = "backfill " + std::to_string(table_rows / 1000) + "k rows, app " + std::to_string(app_connections) + " x " +
                           std::to_string(app_per_second) + " updates/s";
  row(name, "lockstep background run, rows/s (higher is better)", l_rate, "one UPDATE, rows/s", f_rate, "-");
  row(name, "app update latency during it, p50 ms", l_p50, "during the one UPDATE, p50 ms", f_p50, "-");
  char measure[128];
  std::snprintf(measure, sizeof measure, "app update latency during it, p99 ms (floor / lockstep: %.1fx)",
                l_p99 > 0 ? f_p99 / l_p99 : 0.0);
  row(name, measure, l_p99, "during the one UPDATE, p99 ms", f_p99, "-");
  row(name, "app update latency during it, max ms", l_max, "during the one UPDATE, max ms", f_max, "-");
  std::snprintf(measure, sizeof measure, "app update latency, no backfill (5 s), p99 ms (p50 %.1f)", idle.p50);
  row(name, measure, idle.p99, "-", 0, "-");
  JsonObject o;
  o.add("rows", static_cast<std::int64_t>(table_rows))
      .add("rounds", static_cast<std::int64_t>(rounds))
      .add("workload", std::to_string(app_connections) + " connections x " + std::to_string(app_per_second) +
                          " single-row UPDATEs/s, random ids, latency from the scheduled send")
      .add("floor_ms", static_cast<std::int64_t>(f_ms))
      .add("lockstep_ms", static_cast<std::int64_t>(l_ms))
      .add("lockstep_batches", static_cast<std::int64_t>(batches))
      .add("floor_rows_per_s", static_cast<std::int64_t>(f_rate))
      .add("lockstep_rows_per_s", static_cast<std::int64_t>(l_rate))
      .add("rows_per_s_ratio_x1000", static_cast<std::int64_t>(l_rate / f_rate * 1000))
      .add("floor_p50_us", static_cast<std::int64_t>(f_p50 * 1000))
      .add("floor_p99_us", static_cast<std::int64_t>(f_p99 * 1000))
      .add("floor_max_us", static_cast<std::int64_t>(f_max * 1000))
      .add("lockstep_p50_us", static_cast<std::int64_t>(l_p50 * 1000))
      .add("lockstep_p99_us", static_cast<std::int64_t>(l_p99 * 1000))
      .add("lockstep_max_us", static_cast<std::int64_t>(l_max * 1000))
      .add("p99_ratio_floor_over_lockstep_x1000", static_cast<std::int64_t>(l_p99 > 0 ? f_p99 / l_p99 * 1000 : 0))
      .add("idle_p50_us", static_cast<std::int64_t>(idle.p50 * 1000))
      .add("idle_p99_us", static_cast<std::int64_t>(idle.p99 * 1000));
  results.add_raw("background_backfill", o.str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: bench STATE_DIR CLI FLOOR OUT_DIR [--quick] [--only noop|sql|apply|herd|registry|background]\n";
    return 2;
  }
  state_dir = argv[1];
  cli = fs::absolute(argv[2]).string();
  floor_bin = fs::absolute(argv[3]).string();
  out_dir = argv[4];
  // --only SCENARIO runs one scenario and writes OUT_DIR/SCENARIO.{json,md}
  // instead of latest.*, so the full run's results stay as they were.
  std::string only;
  for (int i = 5; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    if (a == "--only" && i + 1 < argc) only = argv[++i];
  }
  auto wanted = [&](const char* name) { return only.empty() || only == name; };
  server_url = lockstep::test::read_first_line(fs::path{state_dir} / "url");
  lockstep::test::TempDir work{"bench"};

  std::cout << "| scenario | measure | lockstep | floor | floor value | ratio | goal |\n|---|---|---|---|---|---|---|\n";
  if (wanted("noop")) noop_boot(work.path());
  if (wanted("sql")) sql_throughput(work.path());
  if (wanted("apply")) apply(work.path(), 200);
  if (wanted("apply") && !quick) apply(work.path(), 1000);
  if (wanted("herd")) {
    for (int n : quick ? std::vector<int>{16} : std::vector<int>{16, 64, 200}) herd(work.path(), n, "notify");
    for (int n : quick ? std::vector<int>{16} : std::vector<int>{16, 64}) herd(work.path(), n, "poll");
  }
  // The defaults (10 s beat, 30 s lease), then five times their rate.
  if (wanted("registry")) {
    registry(work.path(), quick ? 50 : 200, 10, 30);
    registry(work.path(), quick ? 50 : 200, 2, 10);
  }
  if (wanted("background")) background_backfill(work.path());

  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  results.add("machine", std::to_string(std::thread::hardware_concurrency()) + " cores")
      .add("server", "PostgreSQL " + std::to_string(scalar(server_url, "SHOW server_version_num")))
      .add("durability", "fsync on (defaults)")
      .add("quick", quick);
  fs::create_directories(out_dir);
  const std::string stem = only.empty() ? "latest" : only;
  std::ofstream{fs::path{out_dir} / (stem + ".json")} << results.str() << '\n';
  std::ofstream md{fs::path{out_dir} / (stem + ".md")};
  md << "| scenario | measure | lockstep | floor | floor value | ratio | goal |\n|---|---|---|---|---|---|---|\n";
  for (const auto& r : rows) md << r << '\n';
  std::cout << "wrote " << out_dir << "/" << stem << ".json and " << stem << ".md\n";
  return 0;
}
