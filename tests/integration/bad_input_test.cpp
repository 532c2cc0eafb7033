// Bad input, as a table: each row names the exact error class and a message
// fragment, and proves that nothing was applied (the ledger and the public
// schema are exactly as they were before the run).
#include <doctest/doctest.h>

#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

// The table omits trailing fields that have defaults; that is the point of a table.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

struct BadInputCase {
  std::string name;
  std::vector<std::pair<std::string, std::string>> applied;  // files applied first, successfully
  std::vector<std::pair<std::string, std::string>> files;    // the bad run's directory (applied files included)
  std::optional<errc> expected;                              // nullopt: the run must succeed
  std::string fragment;                                      // in the error message (or "" for success)
  std::function<void(const TestDatabase&, Settings&)> tweak = [](const TestDatabase&, Settings&) {};
  std::string env_name, env_value;
  // The run must end this fast (it would otherwise be retried until its 3 s deadline).
  double max_seconds = 30;
};

// In every URL below that carries a secret; it must never be printed.
const std::string kSecret = "wrong-one";

const std::pair<std::string, std::string> good1{"0001_one.sql", "CREATE TABLE one (id int);\n"};
const std::pair<std::string, std::string> good2{"0002_two.sql", "CREATE TABLE two (id int);\n"};

std::vector<BadInputCase> cases() {
  auto with = [](std::vector<std::pair<std::string, std::string>> extra) {
    std::vector<std::pair<std::string, std::string>> files{good1};
    files.insert(files.end(), extra.begin(), extra.end());
    return files;
  };
  const std::string big(25, '9');
  return {
      {"file name without a version", {}, with({{"create_users.sql", "SELECT 1;"}}), errc::source_invalid,
       "<version>_<name>.sql"},
      {"file name without an underscore", {}, with({{"0002-users.sql", "SELECT 1;"}}), errc::source_invalid,
       "followed by '_'"},
      {"version zero", {}, with({{"0000_zero.sql", "SELECT 1;"}}), errc::source_invalid, "must be positive"},
      {"version beyond 64 bits", {}, with({{big + "_big.sql", "SELECT 1;"}}), errc::source_invalid, "64-bit"},
      {"duplicate versions", {}, with({{"1_again.sql", "SELECT 1;"}}), errc::source_invalid,
       "duplicate migration version 1"},
      {"non-UTF-8 bytes", {}, with({{"0002_latin1.sql", "INSERT INTO one VALUES (1); -- caf\xe9\n"}}),
       errc::source_invalid, "not valid UTF-8"},
      {"a NUL byte", {}, with({{"0002_nul.sql", "CREATE TABLE x (id int);\0DROP TABLE one;"s}}),
       errc::source_invalid, "NUL byte"},
      {"unterminated quote", {}, with({{"0002_q.sql", "SELECT 'abc;\nCREATE TABLE x (id int);"}}),
       errc::source_invalid, "unterminated string literal"},
      {"unterminated dollar quote", {}, with({{"0002_d.sql", "DO $body$ BEGIN PERFORM 1; END $bod$;"}}),
       errc::source_invalid, "unterminated dollar-quoted string"},
      {"unterminated comment", {}, with({{"0002_c.sql", "SELECT 1; /* outer /* inner */"}}), errc::source_invalid,
       "unterminated /* comment"},
      {"unterminated quoted identifier", {}, with({{"0002_i.sql", "CREATE TABLE \"x (id int);"}}),
       errc::source_invalid, "unterminated quoted identifier"},
      {"psql meta-command", {}, with({{"0002_m.sql", "\\set ON_ERROR_STOP on\nCREATE TABLE x (id int);"}}),
       errc::source_invalid, "psql"},
      {"COPY FROM stdin", {}, with({{"0002_copy.sql", "COPY one FROM stdin;\n1\n\\.\n"}}), errc::source_invalid,
       "COPY ... FROM stdin"},
      {"transaction control", {}, with({{"0002_tx.sql", "BEGIN;\nCREATE TABLE x (id int);\nCOMMIT;"}}),
       errc::source_invalid, "lockstep runs each migration in its own transaction"},
      {"CONCURRENTLY in a transaction", {}, with({{"0002_ix.sql", "CREATE INDEX CONCURRENTLY one_id ON one (id);"}}),
       errc::source_invalid, "-- lockstep:no-transaction"},
      {"unknown directive", {}, with({{"0002_dir.sql", "-- lockstep:no-transactoin\nCREATE TABLE x (id int);"}}),
       errc::source_invalid, "unknown directive"},
      {"bad directive value", {}, with({{"0002_dv.sql", "-- lockstep:lock-timeout=soon\nSELECT 1;"}}),
       errc::source_invalid, "needs a duration"},
      // Each migration commits on its own, so the earlier one is applied first:
      // what must not exist is any part of the failed one.
      {"server rejects a migration", {good1}, with({{"0002_bad.sql", "CREATE TABLE x (id int);\nSELECT nope FROM one;"}}),
       errc::migration_failed, "rolled back"},
      {"checksum drift", {good1, good2},
       {{"0001_one.sql", "CREATE TABLE one (id bigint);\n"}, good2, {"0003_three.sql", "CREATE TABLE three (id int);"}},
       errc::checksum_mismatch, "must not change"},
      {"ledger claims a version with no file", {good1, good2},
       {good1, {"0003_three.sql", "CREATE TABLE three (id int);"}}, errc::ledger_invalid, "has no such migration"},
      {"new migration below the applied version", {good1, good2},
       {good1, good2, {"0000000001_5_old.sql", "SELECT 1;"}}, errc::source_invalid, "duplicate migration version 1"},
      {"out-of-order migration", {good1, {"0003_three.sql", "CREATE TABLE three (id int);"}},
       {good1, good2, {"0003_three.sql", "CREATE TABLE three (id int);"}}, errc::ledger_invalid, "forward only"},
      {"ledger table with a wrong shape", {}, with({good2}), errc::ledger_invalid, "layout",
       [](const TestDatabase& db, Settings&) {
         must(db.connect().query("CREATE SCHEMA lockstep; CREATE TABLE lockstep.migrations (id int)"));
       }},
      {"wrong password", {}, with({good2}), errc::connection_failed, "password authentication failed",
       [](const TestDatabase& db, Settings& s) {
         (void)db.connect().query("CREATE ROLE lockstep_pw LOGIN PASSWORD 'right-one'");
         s.database_url = "postgresql://lockstep_pw:wrong-one@" +
                          db.url().substr(db.url().find('@') + 1);
       }},
      {"unreachable host", {}, with({good2}), errc::connection_failed, "gave up at the deadline",
       [](const TestDatabase&, Settings& s) { s.database_url = "postgresql://postgres@127.0.0.1:1/none"; }},
      {"database that does not exist", {}, with({good2}), errc::connection_failed, "does not exist",
       [](const TestDatabase& db, Settings& s) { s.database_url = url_for_database(db.url(), "no_such_db_here"); }},
      {"read-only database user", {}, with({good2}), errc::ledger_invalid, "needs CREATE",
       [](const TestDatabase& db, Settings& s) {
         (void)db.connect().query("CREATE ROLE lockstep_ro LOGIN");
         must(db.connect().query("REVOKE CREATE ON DATABASE " + db.name() + " FROM PUBLIC"));
         must(db.connect().query("REVOKE CREATE ON SCHEMA public FROM PUBLIC"));
         s.database_url = "postgresql://lockstep_ro@" + db.url().substr(db.url().find('@') + 1);
       }},
      // Connection strings that can never work fail at once, naming the
      // problem and not the password.
      {"malformed URI with a password", {}, with({good2}), errc::invalid_argument, "cannot be parsed",
       [](const TestDatabase&, Settings& s) { s.database_url = "postgresql://app:" + kSecret + "@[2001:db8::1/app"; },
       "", "", 1.0},
      {"sslmode=bogus", {}, with({good2}), errc::invalid_argument, "is not an sslmode",
       [](const TestDatabase& db, Settings& s) { s.database_url = db.url() + "?sslmode=bogus&password=" + kSecret; },
       "", "", 1.0},
      {"a port that is not a port", {}, with({good2}), errc::invalid_argument, "is not a port number",
       [](const TestDatabase&, Settings& s) { s.database_url = "postgresql://app:" + kSecret + "@db:99999/app"; },
       "", "", 1.0},
      {"an unknown connection option", {}, with({good2}), errc::invalid_argument, "cannot be parsed",
       [](const TestDatabase&, Settings& s) { s.database_url = "host=db connect_timeot=5 password=" + kSecret; },
       "", "", 1.0},
      {"password after a tab, sslpassword", {}, with({good2}), errc::connection_failed, "password authentication failed",
       [](const TestDatabase& db, Settings& s) {
         (void)db.connect().query("CREATE ROLE lockstep_pw LOGIN PASSWORD 'right-one'");
         auto c = detail::Conninfo::parse(db.url());
         s.database_url = "host=" + *c.value().find("host") + " port=" + *c.value().find("port") +
                          " dbname=" + db.name() + " user=lockstep_pw\tpassword=" + kSecret +
                          " sslpassword=" + kSecret + "2";
       },
       "", "", 2.0},
      {"an application_name with spaces is just a name", {}, with({good2}), std::nullopt, "",
       [](const TestDatabase&, Settings& s) { s.application_name = "billing api (canary)"; }},
      {"a user's connect_timeout written with spaces is kept", {}, with({good2}), std::nullopt, "",
       [](const TestDatabase& db, Settings& s) {
         auto c = detail::Conninfo::parse(db.url());
         s.database_url = "host=" + *c.value().find("host") + " port=" + *c.value().find("port") +
                          " dbname=" + db.name() + " user=postgres connect_timeout = 7";
       }},
      // Sources that used to throw out of run().
      {"a directory named like a migration", {}, with({{"0002_dir.sql/inner.sql", "SELECT 1;"}}),
       errc::source_invalid, "not a regular file"},
      {"a directive beyond PostgreSQL's range", {}, with({{"0002_long.sql", "-- lockstep:statement-timeout=1000h\nSELECT 1;"}}),
       errc::source_invalid, "longer than PostgreSQL allows"},
      {"a foreign ledger with text versions", {}, with({good2}), errc::ledger_invalid, "",
       [](const TestDatabase& db, Settings&) {
         must(db.connect().query("CREATE SCHEMA lockstep; CREATE TABLE lockstep.migrations (version text, checksum "
                                 "text); INSERT INTO lockstep.migrations VALUES ('x1', 'abc');"
                                 "CREATE TABLE lockstep.deploys (deploy_version text, schema_version bigint)"));
       }},
      {"MIGRATE_ON_BOOT=maybe", {}, with({good2}), errc::invalid_argument, "MIGRATE_ON_BOOT='maybe'",
       [](const TestDatabase&, Settings&) {}, "MIGRATE_ON_BOOT", "maybe"},
      {"no database URL", {}, with({good2}), errc::invalid_argument, "no database URL",
       [](const TestDatabase&, Settings& s) { s.database_url.clear(); }},
      {"empty and comment-only files are allowed", {}, with({{"0002_empty.sql", ""}, {"0003_comments.sql", "-- nothing\n"}}),
       std::nullopt, ""},
      {"a lock name that needs quoting is just a name", {}, with({good2}), std::nullopt, "",
       [](const TestDatabase&, Settings& s) { s.lock_name = "o'brien \"x\"; DROP TABLE one; --"; }},
  };
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("bad input table" * doctest::test_suite("pg_sample")) {
    const auto all = cases();
    CHECK(all.size() >= 40);
    for (const auto& c : all) {
      CAPTURE(c.name);
      TestDatabase db{"bad"};
      TempDir dir{"bad"};
      EventLog log;
      Settings settings;
      settings.database_url = db.url();
      settings.on_event = log.sink();
      if (!c.applied.empty()) {
        TempDir before{"bad-before"};
        for (const auto& [name, sql] : c.applied) before.write(name, sql);
        REQUIRE(Migrator<>{settings, DirectorySource{before.path()}}.run());
      }
      const auto tables_before = db.number("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'");
      const auto ledger_before =
          db.scalar("SELECT to_regclass('lockstep.migrations')").empty() ? -1
                                                                          : db.number("SELECT count(*) FROM lockstep.migrations");
      for (const auto& [name, sql] : c.files) dir.write(name, sql);
      c.tweak(db, settings);
      if (!c.env_name.empty()) ::setenv(c.env_name.c_str(), c.env_value.c_str(), 1);
      const auto t0 = std::chrono::steady_clock::now();
      auto r = Migrator<>{settings, DirectorySource{dir.path()}, Deadline<>{3s}, NotifyBackoff{50ms, 300ms}}.run();
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
      if (!c.env_name.empty()) ::unsetenv(c.env_name.c_str());
      CHECK(took.count() < c.max_seconds);

      if (!c.expected) {
        CHECK_MESSAGE(r, (r ? "" : r.error().to_string()));
        continue;
      }
      REQUIRE_FALSE(r);
      CHECK(r.error().code == *c.expected);
      CHECK_MESSAGE(r.error().message.find(c.fragment) != std::string::npos, r.error().message);
      // Nothing was applied: the public schema and the ledger are as before.
      CHECK(db.number("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == tables_before);
      const auto ledger_after =
          db.scalar("SELECT to_regclass('lockstep.migrations')").empty() ? -1
                                                                          : db.number("SELECT count(*) FROM lockstep.migrations");
      if (c.name != "ledger table with a wrong shape" && c.name != "a foreign ledger with text versions") {
        CHECK(ledger_after == ledger_before);
      }
      // No password in any error or event.
      CHECK(r.error().to_string().find(kSecret) == std::string::npos);
      for (const auto& e : log.all()) CHECK(e.json.find(kSecret) == std::string::npos);
    }
  }
}
