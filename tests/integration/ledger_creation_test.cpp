// Creating the ledger (issue #31, cases 7 and 12): a ledger without its
// replica registry (from an earlier release, or the table dropped) gains it
// from the first replica that registers, alone or in a herd; a role that may
// not create it is told the precise grant; and two services' ledgers in one
// schema, created at the same moment by several replicas each, never race.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "files.hpp"
#include "lockstep/lockstep.hpp"
#include "poll.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> creation_replica_argv(const std::string& dir, const std::string& url) {
  return {cli_path(), "replica", "--dir", dir, "--url", url, "--deploy-version", "r1", "--heartbeat", "500ms",
          "--lease", "5s", "--timeout", "60s"};
}

// `n` replicas on a ledger whose registry table was dropped: each registers
// (creating the table once), then stops cleanly on SIGTERM.
void replicas_recreate_registry(int n) {
  TestDatabase db{"registry_" + std::to_string(n)};
  TempDir dir{"registry"};
  write_table_migrations(dir, 2);
  const std::string d = dir.path().string();
  REQUIRE(lockstep_cli({"migrate", "--dir", d, "--url", db.url()}, "first-" + std::to_string(n)).exit_code == 0);
  db.exec("DROP TABLE lockstep.replicas");

  TempDir out{"registry-out"};
  Herd herd{out.path()};
  herd.spawn(n, creation_replica_argv(d, db.url()));
  herd.release();
  const auto until = std::chrono::steady_clock::now() + 60s;
  auto registered = [&] {
    int k = 0;
    for (const auto& c : herd.children()) {
      if (c.out().find("\"event\":\"replica_registered\"") != std::string::npos) ++k;
    }
    return k;
  };
  auto exited = [&] {
    for (auto& c : herd.children()) {
      int status = 0;
      if (!c.finished && ::waitpid(c.pid, &status, WNOHANG) == c.pid) {
        c.finished = true;
        c.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      if (c.finished) return true;
    }
    return false;
  };
  while (registered() < n && !exited() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(50ms);
  CHECK(registered() == n);
  CHECK(db.number("SELECT count(*) FROM lockstep.replicas WHERE expires_at > clock_timestamp()") == n);
  for (auto& c : herd.children()) {
    if (!c.finished) ::kill(c.pid, SIGTERM);
  }
  herd.wait_all(60s);
  for (const auto& c : herd.children()) {
    CAPTURE(c.out());
    CAPTURE(c.err());
    CHECK(c.exit_code == 0);
    CHECK(c.err().find("aborted") == std::string::npos);
  }
  CHECK(db.number("SELECT count(*) FROM lockstep.replicas") == 0);  // withdrawn on the way out
}

// A role with what `lockstep ledger-sql --role` grants on a ledger a DBA
// created, and nothing more (no CREATE on the database or the schema).
std::string least_role(const TestDatabase& db, const std::string& role) {
  auto admin = db.connect();
  must(admin.query("DROP ROLE IF EXISTS " + role));
  must(admin.query("CREATE ROLE " + role + " LOGIN"));
  must(admin.query("REVOKE CREATE ON DATABASE " + db.name() + " FROM PUBLIC"));
  must(admin.query("REVOKE CREATE ON SCHEMA public FROM PUBLIC"));
  must(admin.query("GRANT CONNECT ON DATABASE " + db.name() + " TO " + role));
  return url_as(db.url(), role);
}

void drop_role(const TestDatabase& db, const std::string& role) {
  auto admin = db.connect();
  (void)admin.query("DROP OWNED BY " + role);
  (void)admin.query("DROP ROLE IF EXISTS " + role);
}

// One replica of a service: its own ledger table in the shared schema, run
// in a forked child. 0: ready; 1: failed (the error in `err`).
[[noreturn]] void service_replica(const std::string& url, const std::string& table, const std::string& err,
                                  int gate) {
  char b;
  while (::read(gate, &b, 1) > 0) {
  }
  ::close(gate);
  Settings s;
  s.database_url = url;
  s.deploy_version = table + "-1";
  s.host = "svc-test";
  s.on_event = null_sink();
  MemorySource source;
  source.add({1, "t", "CREATE TABLE " + table + "_t (id int);"});
  Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource, TableLedger> m{
      s, std::move(source), TableLedger{"lockstep", table}, Deadline<>{std::chrono::seconds{60}}};
  auto r = m.run();
  if (!r) {
    std::ofstream{err} << r.error().to_string() << "\n";
    ::_exit(1);
  }
  ::_exit(0);
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("a ledger without its replica registry: one replica creates it" *
            doctest::test_suite("pg_sample")) {
    replicas_recreate_registry(1);
  }

  TEST_CASE("a ledger without its replica registry: 16 replicas at once create it once") {
    replicas_recreate_registry(16);
  }

  TEST_CASE("the registry table dropped under a running replica comes back at its next beat" *
            doctest::test_suite("pg_sample")) {
    TestDatabase db{"registry_live"};
    TempDir dir{"registry-live"};
    write_table_migrations(dir, 1);
    TempDir out{"registry-live-out"};
    Herd herd{out.path()};
    herd.spawn(1, creation_replica_argv(dir.path().string(), db.url()));
    herd.release();
    REQUIRE(herd.wait_for_output("\"event\":\"replica_registered\"", 60s) == 0);
    db.exec("DROP TABLE lockstep.replicas");
    CHECK(herd.wait_for_output("\"event\":\"replica_reregistered\"", 30s) == 0);
    CHECK(db.number("SELECT count(*) FROM lockstep.replicas") == 1);
    ::kill(herd.children()[0].pid, SIGTERM);
    herd.wait_all(30s);
    CHECK(herd.children()[0].exit_code == 0);
  }

  TEST_CASE("a role that may not create the registry is told the grant it lacks") {
    TestDatabase db{"registry_grant"};
    const std::string role = "ls_nocreate_" + std::to_string(::getpid());
    const std::string url = least_role(db, role);
    const TableLedger ledger;
    db.exec(ledger.create_sql());
    db.exec(ledger.grant_sql(role));
    db.exec("DROP TABLE lockstep.replicas");
    TempDir dir{"registry-grant"};
    write_table_migrations(dir, 1);
    db.exec("GRANT CREATE ON SCHEMA public TO " + role);  // for the migration's own table
    auto c = lockstep_cli({"replica", "--dir", dir.path().string(), "--url", url, "--heartbeat", "500ms", "--lease",
                           "5s", "--timeout", "20s"},
                          "grant");
    INFO(c.out() << c.err());
    CHECK(c.exit_code == 6);
    CHECK(c.err().find("\"lockstep\".\"replicas\"") != std::string::npos);
    CHECK(c.err().find("GRANT CREATE ON SCHEMA \"lockstep\" TO \"" + role + "\"") != std::string::npos);
    CHECK(c.err().find("lockstep ledger-sql --role " + role) != std::string::npos);
    CHECK(c.err().find("aborted") == std::string::npos);
    drop_role(db, role);
  }

  TEST_CASE("a role without CREATE on a fresh database is told the grant it lacks" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"ledger_grant"};
    const std::string role = "ls_nodb_" + std::to_string(::getpid());
    const std::string url = least_role(db, role);
    TempDir dir{"ledger-grant"};
    write_table_migrations(dir, 1);
    auto c = lockstep_cli({"migrate", "--dir", dir.path().string(), "--url", url, "--timeout", "20s"}, "nodb");
    INFO(c.out() << c.err());
    CHECK(c.exit_code == 6);
    CHECK(c.err().find("GRANT CREATE ON DATABASE \"" + db.name() + "\" TO \"" + role + "\"") != std::string::npos);
    CHECK(c.err().find("lockstep ledger-sql --role " + role) != std::string::npos);
    drop_role(db, role);
  }

  // The failure log's position columns came after checksum and cause, and
  // are optional: a ledger a DBA owns keeps working without them, so
  // upgrading lockstep never needs the DBA.
  TEST_CASE("a failure log without its position columns: a DBA's ledger records and refuses as before") {
    TestDatabase db{"positions_dba"};
    const std::string role = "ls_positions_" + std::to_string(::getpid());
    const std::string url = least_role(db, role);
    const TableLedger ledger;
    db.exec(ledger.create_sql());
    db.exec(ledger.grant_sql(role));
    db.exec("ALTER TABLE lockstep.failures DROP COLUMN position_line, DROP COLUMN position_column");
    TempDir dir{"positions-dba"};
    dir.write("0001_fails.sql", "SELECT 1;\nSELECT nope FROM pg_class;\n");
    auto run_as = [&](const std::string& as) {
      Settings s;
      s.database_url = as;
      s.deploy_version = "pos-1";
      s.on_event = null_sink();
      return Migrator<>{s, DirectorySource{dir.path()}, Deadline<>{30s}}.run();
    };
    auto columns = [&] {
      return db.number("SELECT count(*) FROM pg_attribute WHERE attrelid = 'lockstep.failures'::regclass AND "
                       "attname IN ('position_line', 'position_column') AND NOT attisdropped");
    };

    // The role may not add the columns: the failure is recorded without them.
    auto first = run_as(url);
    REQUIRE_FALSE(first);
    CHECK(first.error().sqlstate == "42703");
    CHECK(first.error().line == 2);
    CHECK(columns() == 0);
    CHECK(db.scalar("SELECT position FROM lockstep.failures") == dir.path().string() + "/0001_fails.sql:2:8");
    // Refused once more in the same deploy, the position read from its text.
    auto again = run_as(url);
    REQUIRE_FALSE(again);
    CHECK(again.error().message.find("already failed in this deploy") != std::string::npos);
    CHECK(again.error().message.find("0001_fails.sql:2:8") != std::string::npos);
    CHECK(again.error().line == 2);
    CHECK(again.error().column == 8);

    // The ledger's owner adds them at its next run, and records numbers.
    db.exec("UPDATE lockstep.failures SET resolved_at = now()");
    auto owner = run_as(db.url());
    REQUIRE_FALSE(owner);
    CHECK(columns() == 2);
    CHECK(db.scalar("SELECT position_line || ':' || position_column FROM lockstep.failures WHERE resolved_at IS "
                    "NULL") == "2:8");
    drop_role(db, role);
  }

  // The ledger's row_types_changed column (docs/schema-changes.md) came
  // later still, and is optional the same way: a DBA's ledger without it
  // applies and records as before, says no schema changed (not an error),
  // and the ledger's owner adds it at its next run.
  TEST_CASE("a ledger without its row_types_changed column: a DBA's ledger applies as before, its owner adds it") {
    TestDatabase db{"row_types_dba"};
    const std::string role = "ls_rowtypes_" + std::to_string(::getpid());
    const std::string url = least_role(db, role);
    TableLedger ledger;
    db.exec(ledger.create_sql());
    db.exec(ledger.grant_sql(role));
    db.exec("ALTER TABLE lockstep.migrations DROP COLUMN row_types_changed");
    db.exec("CREATE TABLE t (id int); ALTER TABLE t OWNER TO " + role);
    TempDir dir{"row-types-dba"};
    dir.write("0001_adds.sql", "ALTER TABLE t ADD COLUMN c int;\n");
    auto run_as = [&](const std::string& as) {
      Settings s;
      s.database_url = as;
      s.on_event = null_sink();
      return Migrator<>{s, DirectorySource{dir.path()}, Deadline<>{30s}}.run();
    };
    auto column = [&] {
      return db.number("SELECT count(*) FROM pg_attribute WHERE attrelid = 'lockstep.migrations'::regclass AND "
                       "attname = 'row_types_changed' AND NOT attisdropped");
    };
    auto first = run_as(url);
    CHECK_MESSAGE(first, (first ? "" : first.error().to_string()));
    CHECK(column() == 0);
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 1);
    {
      auto c = db.connect();
      auto changes = ledger.read_schema_changes(c, 0);
      CHECK_MESSAGE(changes, (changes ? "" : changes.error().to_string()));
      if (changes) CHECK(changes.value().empty());
    }
    dir.write("0002_adds.sql", "ALTER TABLE t ADD COLUMN d int;\n");
    auto owner = run_as(db.url());
    CHECK_MESSAGE(owner, (owner ? "" : owner.error().to_string()));
    CHECK(column() == 1);
    CHECK(db.scalar("SELECT coalesce(row_types_changed::text, 'NULL') FROM lockstep.migrations WHERE version = 1") ==
          "NULL");
    CHECK(db.scalar("SELECT row_types_changed::text FROM lockstep.migrations WHERE version = 2") == "[\"public.t\"]");
    auto c = db.connect();
    auto changes = ledger.read_schema_changes(c, 0);
    REQUIRE(changes);
    REQUIRE(changes.value().size() == 1);
    CHECK(changes.value()[0].version == 2);
    drop_role(db, role);
  }

  // With TransactionLock (PgBouncer transaction pooling) the leader reads
  // the failure log inside the transaction that holds the lock. A first
  // version read the position columns by name: on a DBA's ledger without
  // them that SELECT failed (42703), aborting the transaction, its fallback
  // failed with 25P02, and every deploy failed until the DBA re-ran
  // ledger-sql (found by review). (With a session lock it is read outside a
  // transaction: T91.)
  TEST_CASE("a failure log without its position columns: a transaction-scoped leader reads it inside its transaction") {
    TestDatabase db{"positions_txlock"};
    const std::string role = "ls_postx_" + std::to_string(::getpid());
    const std::string url = least_role(db, role);
    const TableLedger ledger;
    db.exec(ledger.create_sql());
    db.exec(ledger.grant_sql(role));
    db.exec("ALTER TABLE lockstep.failures DROP COLUMN position_line, DROP COLUMN position_column");
    Settings s;
    s.database_url = url;
    s.deploy_version = "tx-1";
    s.on_event = null_sink();
    MemorySource source;
    source.add({1, "one", "SELECT 1;"});
    auto r = Migrator<TransactionLock, ExponentialBackoff, Deadline<>, MemorySource>{s, std::move(source),
                                                                                    Deadline<>{30s}}
                 .run();
    CHECK_MESSAGE(r, (r ? "" : r.error().to_string()));
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 1);
    drop_role(db, role);
  }

  // A DBA's ledger from the previous release's ledger-sql (everything but
  // the position columns) is complete for a role that may not add them. Were
  // it not (a first version, found by review), every leader boot would take
  // the one creation lock every ledger shares. A TransactionLock leader takes it inside its first
  // migration's transaction and holds it until that migration commits: the
  // other service's leader in the same database waits 10 s and fails.
  // (on_failure = retry only keeps the test above from masking this one.)
  TEST_CASE("a failure log without its position columns: a DBA's ledger is complete, no leader takes the creation lock") {
    for (const bool columns_present : {true, false}) {
      CAPTURE(columns_present);
      TestDatabase db{columns_present ? "positions_lock_ok" : "positions_lock"};
      const std::string role = "ls_poslock_" + std::to_string(::getpid());
      const std::string url = least_role(db, role);
      const TableLedger a{"lockstep", "svc_a"};
      const TableLedger b{"lockstep", "svc_b"};
      for (const auto* l : {&a, &b}) {
        db.exec(l->create_sql());
        db.exec(l->grant_sql(role));
      }
      if (!columns_present) {  // as the previous release's ledger-sql left them
        db.exec("ALTER TABLE lockstep.svc_a_failures DROP COLUMN position_line, DROP COLUMN position_column");
        db.exec("ALTER TABLE lockstep.svc_b_failures DROP COLUMN position_line, DROP COLUMN position_column");
      }
      auto settings = [&](const std::string& v) {
        Settings s;
        s.database_url = url;
        s.deploy_version = v;
        s.on_failure = FailurePolicy::retry;
        s.on_event = null_sink();
        return s;
      };
      std::string slow_error;
      std::thread slow{[&] {
        MemorySource source;
        source.add({1, "slow", "SELECT pg_sleep(14);"});
        auto r = Migrator<TransactionLock, ExponentialBackoff, Deadline<>, MemorySource, TableLedger>{
            settings("a-1"), std::move(source), a, Deadline<>{60s}}.run();
        if (!r) slow_error = r.error().to_string();
      }};
      const auto seen = time_until(
          [&] {
            return db.number("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(14)%' "
                             "AND pid <> pg_backend_pid()") == 1;
          },
          20s);
      if (seen < 20s) {
        MemorySource source;
        source.add({1, "quick", "SELECT 1;"});
        const auto t0 = std::chrono::steady_clock::now();
        auto r = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource, TableLedger>{
            settings("b-1"), std::move(source), b, Deadline<>{30s}}.run();
        const auto took =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
        CHECK_MESSAGE(r, (r ? "" : r.error().to_string()));
        CHECK(took < 5s);
      }
      slow.join();
      CHECK_MESSAGE(seen < 20s, slow_error);
      CHECK_MESSAGE(slow_error.empty(), slow_error);
      drop_role(db, role);
    }
  }

  // The lenient DDL (a DO block around EXECUTE of an E'' literal) for a
  // ledger whose schema and table need quoting, or contain the block's
  // dollar-quote tag (a fixed tag closed the block early: found by review).
  TEST_CASE("the position columns of an oddly named ledger are added by its owner") {
    for (const std::string& table : {std::string{"Mig'Tab\\x"}, std::string{"x$lockstep_positions$y"}}) {
      CAPTURE(table);
      TestDatabase db{"positions_odd"};
      const TableLedger ledger{"Odd 'Sch\"ema", table};
      db.exec(ledger.create_sql());
      db.exec(ledger.create_sql());  // a DBA runs it twice
      auto quote = [](const std::string& id) {
        std::string q = "\"";
        for (char c : id) q += c == '"' ? std::string{"\"\""} : std::string{c};
        return q + "\"";
      };
      const std::string failures = quote("Odd 'Sch\"ema") + "." + quote(table + "_failures");
      auto columns = [&] {
        auto c = db.connect();
        auto rows = c.query("SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname IN "
                            "('position_line', 'position_column') AND NOT attisdropped",
                            failures);
        return rows ? detail::to_int64(rows.value()[0][0]) : -1;
      };
      REQUIRE(columns() == 2);
      db.exec("ALTER TABLE " + failures + " DROP COLUMN position_line, DROP COLUMN position_column");
      TempDir dir{"positions-odd"};
      dir.write("0001_fails.sql", "SELECT 1;\nSELECT nope FROM pg_class;\n");
      Settings s;
      s.database_url = db.url();
      s.deploy_version = "odd-1";
      s.on_event = null_sink();
      auto r = Migrator<TryLock, NotifyBackoff, Deadline<>, DirectorySource, TableLedger>{
          s, DirectorySource{dir.path()}, ledger, Deadline<>{30s}}.run();
      REQUIRE_FALSE(r);
      INFO(r.error().to_string());
      CHECK(r.error().sqlstate == "42703");
      CHECK(columns() == 2);
    }
  }

  TEST_CASE("two services' ledgers in one schema are created by their herds without a race") {
    TempDir out{"services"};
    constexpr int kTrials = 10;
    constexpr int kPerService = 3;
    int failed = 0;
    for (int trial = 0; trial < kTrials; ++trial) {
      TestDatabase db{"services_" + std::to_string(trial)};
      int gate[2];
      REQUIRE(::pipe(gate) == 0);
      std::vector<std::pair<pid_t, std::string>> children;
      for (int i = 0; i < 2 * kPerService; ++i) {
        const std::string table = i % 2 == 0 ? "svc_a" : "svc_b";
        const std::string err = (out.path() / ("t" + std::to_string(trial) + "_" + std::to_string(i))).string();
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
          ::close(gate[1]);
          service_replica(db.url(), table, err, gate[0]);
        }
        children.emplace_back(pid, err);
      }
      ::close(gate[0]);
      ::close(gate[1]);
      for (const auto& [pid, err] : children) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok) {
          ++failed;
          MESSAGE("trial " << trial << ": " << read_file(err));
        }
      }
      CHECK(db.number("SELECT count(*) FROM lockstep.svc_a") == 1);
      CHECK(db.number("SELECT count(*) FROM lockstep.svc_b") == 1);
      CHECK(db.scalar("SELECT to_regclass('svc_a_t') IS NOT NULL AND to_regclass('svc_b_t') IS NOT NULL") == "t");
    }
    CHECK(failed == 0);
  }
}
