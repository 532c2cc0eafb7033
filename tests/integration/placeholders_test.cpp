// `${NAME}` placeholders (Settings::placeholders, sql/placeholders.hpp,
// detail/run/substitute.hpp): replaced after the checksum, refused before
// anything runs when unset, and a value, which may be a secret, in no
// event, error, plan, report or ledger row.
#include <doctest/doctest.h>

#include <cstdlib>
#include <vector>
#include <utility>
#include <cctype>
#include <algorithm>
#include <string>

#include "cli.hpp"
#include "events.hpp"
#include "lockstep/detail/base/sha256.hpp"
#include "lockstep/lockstep.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

// Secret-looking, and safe inside a SQL string literal.
constexpr const char* kPlaceholderSecret = "S3cretPart@HiddenTail-9f2Kq";

Settings placeholder_settings(const TestDatabase& db, const std::string& deploy, EventSink sink,
                              std::string secret = kPlaceholderSecret) {
  Settings s;
  s.database_url = db.url();
  s.deploy_version = deploy;
  s.on_event = std::move(sink);
  s.placeholders.enabled = true;
  s.placeholders.values = {{"api_key", std::move(secret)}, {"schema_note", "notes"}};
  return s;
}

// Every row of every table of the ledger, as text.
std::string ledger_text(const TestDatabase& db) {
  auto conn = db.connect();
  auto tables = conn.query("SELECT tablename FROM pg_tables WHERE schemaname = 'lockstep'");
  REQUIRE(tables);
  std::string all;
  for (const auto& t : tables.value()) {
    auto rows = conn.query("SELECT coalesce(string_agg(x::text, ' '), '') FROM lockstep." + t[0].value_or("") + " x");
    REQUIRE(rows);
    all += t[0].value_or("") + ": " + rows.value()[0][0].value_or("") + "\n";
  }
  return all;
}

bool shows(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("placeholders: replaced after the checksum, escaped, and the value in no event, error, plan or ledger row") {
    TestDatabase db{"placeholders"};
    TempDir dir{"placeholders"};
    const std::string first =
        "-- lockstep:check SELECT '${api_key}' <> ''\n"
        "CREATE TABLE settings (k text, v text);\n"
        "INSERT INTO settings VALUES ('api_key', '${api_key}'), ('escaped', '$${api_key}');\n"
        "COMMENT ON TABLE settings IS '${schema_note}';\n"
        "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT 'dollar ${schema_note}' $$;\n";
    dir.write("0001_settings.sql", first);

    // A rehearsed dry run: the plan shows the check, the value nowhere.
    EventLog plan_log;
    auto s = placeholder_settings(db, "d1", plan_log.sink());
    s.mode = BootMode::dry_run;
    s.rehearse = true;
    auto planned = Migrator<>{s, DirectorySource{dir.path()}, Deadline<>{30s}}.run();
    REQUIRE(planned);
    REQUIRE(planned.value().plan.size() == 1);
    REQUIRE(planned.value().plan[0].checks.size() == 1);
    CHECK(planned.value().plan[0].checks[0].result == "true");
    CHECK_FALSE(shows(planned.value().plan[0].checks[0].sql, kPlaceholderSecret));
    for (const auto& e : plan_log.all()) CHECK_FALSE(shows(e.json, kPlaceholderSecret));
    CHECK(plan_log.count("plan") == 1);

    EventLog log;
    auto applied = Migrator<>{placeholder_settings(db, "d1", log.sink()), DirectorySource{dir.path()}, Deadline<>{30s}}.run();
    REQUIRE(applied);
    CHECK(db.scalar("SELECT v FROM settings WHERE k = 'api_key'") == kPlaceholderSecret);
    CHECK(db.scalar("SELECT v FROM settings WHERE k = 'escaped'") == "${api_key}");
    CHECK(db.scalar("SELECT obj_description('settings'::regclass)") == "notes");
    CHECK(db.scalar("SELECT f()") == "dollar notes");
    // The checksum is the file's as written, before substitution.
    CHECK(db.scalar("SELECT checksum FROM lockstep.migrations WHERE version = 1") == detail::sha256_hex(first));

    // Another value is no edit: the next deploy takes the fast path.
    CHECK(Migrator<>{placeholder_settings(db, "d2", null_sink(), "another-value"), DirectorySource{dir.path()},
                     Deadline<>{30s}}
              .run());

    // A failure whose server message quotes the value: redacted everywhere.
    dir.write("0002_fails.sql", "SELECT '${api_key}'::int;\n");
    auto failed = Migrator<>{placeholder_settings(db, "d3", log.sink()), DirectorySource{dir.path()}, Deadline<>{30s}}.run();
    REQUIRE_FALSE(failed);
    CHECK(failed.error().sqlstate == "22P02");
    CHECK(failed.error().line == 1);
    CHECK_FALSE(shows(failed.error().to_string(), kPlaceholderSecret));
    CHECK_FALSE(shows(failed.error().server_message, kPlaceholderSecret));
    CHECK(log.count("migration_failed") == 1);
    for (const auto& e : log.all()) CHECK_FALSE(shows(e.json, kPlaceholderSecret));
    const auto ledger = ledger_text(db);
    CHECK(shows(ledger, "invalid input syntax"));  // the failure is there, its value is not
    CHECK_FALSE(shows(ledger, kPlaceholderSecret));
  }

  TEST_CASE("placeholders: an unset name fails before anything runs, naming file, line and placeholder") {
    TestDatabase db{"placeholders_unset"};
    TempDir dir{"placeholders_unset"};
    dir.write("0001_first.sql", "CREATE TABLE first (id int);\n");
    dir.write("0002_second.sql", "-- header\nCREATE TABLE second (id int);\nCOMMENT ON TABLE second IS '${missing}';\n");
    auto r = Migrator<>{placeholder_settings(db, "d1", null_sink()), DirectorySource{dir.path()}, Deadline<>{30s}}.run();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::source_invalid);
    CHECK(shows(r.error().file, "0002_second.sql"));
    CHECK(r.error().line == 3);
    CHECK(shows(r.error().message, "${missing} is not set"));
    CHECK(db.scalar("SELECT coalesce(to_regclass('first')::text, 'none')") == "none");
    CHECK(db.scalar("SELECT coalesce(to_regclass('lockstep.migrations')::text, 'none')") == "none");
  }

  TEST_CASE("placeholders: off unless enabled, a placeholder is sent as written") {
    TestDatabase db{"placeholders_off"};
    TempDir dir{"placeholders_off"};
    dir.write("0001_t.sql", "CREATE TABLE t (v text);\nINSERT INTO t VALUES ('${api_key}');\n");
    Settings s;
    s.database_url = db.url();
    s.on_event = null_sink();
    REQUIRE(Migrator<>{s, DirectorySource{dir.path()}, Deadline<>{30s}}.run());
    CHECK(db.scalar("SELECT v FROM t") == "${api_key}");
  }

  TEST_CASE("placeholders: the lockstep program takes --placeholder and --placeholders and prints no value") {
    TestDatabase db{"placeholders_cli"};
    TempDir dir{"placeholders_cli"};
    dir.write("0001_t.sql", "CREATE TABLE t (k text, v text);\nINSERT INTO t VALUES ('flag', '${api_key}');\n");
    auto ok = lockstep_cli({"migrate", "--dir", dir.path().string(), "--url", db.url(), "--deploy-version", "d1",
                            "--placeholder", std::string{"api_key="} + kPlaceholderSecret},
                           "placeholders");
    CAPTURE(ok.err());
    CHECK(ok.exit_code == 0);
    CHECK(db.scalar("SELECT v FROM t") == kPlaceholderSecret);
    CHECK_FALSE(shows(ok.out() + ok.err(), kPlaceholderSecret));

    // From the environment, and a failure that quotes it.
    dir.write("0002_fails.sql", "INSERT INTO t VALUES ('env', '${LOCKSTEP_TEST_PH_VALUE}');\nSELECT '${LOCKSTEP_TEST_PH_VALUE}'::int;\n");
    ::setenv("LOCKSTEP_TEST_PH_VALUE", kPlaceholderSecret, 1);
    auto failed = lockstep_cli({"migrate", "--dir", dir.path().string(), "--url", db.url(), "--deploy-version", "d2",
                                "--placeholders", "--placeholder", "api_key=unused-here"},
                               "placeholders");
    ::unsetenv("LOCKSTEP_TEST_PH_VALUE");
    CAPTURE(failed.err());
    CHECK(failed.exit_code == 8);
    CHECK(shows(failed.err(), "0002_fails.sql:2"));
    CHECK(shows(failed.err(), "22P02"));
    CHECK_FALSE(shows(failed.out() + failed.err(), kPlaceholderSecret));
    CHECK_FALSE(shows(ledger_text(db), kPlaceholderSecret));
    CHECK(db.number("SELECT count(*) FROM t WHERE k = 'env'") == 0);  // rolled back

    // A NAME that is not one is a usage error, which repeats no value.
    auto usage = lockstep_cli({"migrate", "--dir", dir.path().string(), "--url", db.url(), "--placeholder", "9x=1"},
                              "placeholders");
    CHECK(usage.exit_code == 2);
    CHECK(shows(usage.err(), "--placeholder takes NAME=VALUE"));
  }

  // Found by review: the server spells a value back its own way, folded to
  // lower case as an unquoted name, or cut at 63 bytes as a name and at 64
  // characters in a CHECK violation's DETAIL; the exact value alone was redacted.
  TEST_CASE("placeholders: a value the server spells back lower-cased or cut short is still never shown") {
    const std::string long_secret = "ghp_9f8e7d6c5b4a39281706f5e4d3c2b1a0ZZyyXXwwVVuuTTssRRqqPPooNNmmLLkkJJii";
    for (const auto& [sql, value] : std::vector<std::pair<std::string, std::string>>{
             {"CREATE TABLE t1 (id int);\nINSERT INTO ${api_key} VALUES (1);\n", "SecretTableName"},
             {"CREATE TABLE tok (v text CHECK (length(v) < 10));\nINSERT INTO tok VALUES ('${api_key}');\n", long_secret},
             {"INSERT INTO \"${api_key}\" VALUES (1);\n", "Tenant_Very_Long_Secret_Identifier_abcdefghijklmnopqrstuvwxyz0123456789"}}) {
      CAPTURE(sql);
      TestDatabase db{"phspell"};
      EventLog log;
      Migrator<TryLock, NotifyBackoff, Deadline<>, MemorySource> m{placeholder_settings(db, "d1", log.sink(), value),
                                                                    MemorySource{{1, "spelled", sql}}, Deadline<>{30s}};
      auto r = m.run();
      REQUIRE_FALSE(r);
      std::string all = r.error().to_string() + "\n" + ledger_text(db);
      for (const auto& e : log.all()) all += e.json + "\n";
      std::string lower = value;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      CHECK_FALSE(shows(all, value.substr(0, std::min<std::size_t>(value.size(), 40))));
      CHECK_FALSE(shows(all, lower.substr(0, std::min<std::size_t>(lower.size(), 40))));
    }
  }
}
