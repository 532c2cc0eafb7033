// The lockstep program: exit codes per error class, event lines, status,
// and no password in any output.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "cli.hpp"
#include "metrics_text.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {
Child run_cli_path(const std::string& program, const std::vector<std::string>& args, const std::string& tag) {
  static TempDir out{"cli-out"};
  Herd h{out.path() / tag};
  std::vector<std::string> argv{program};
  argv.insert(argv.end(), args.begin(), args.end());
  h.spawn(1, argv);
  h.release();
  h.wait_all(60s);
  return h.children().at(0);
}

Child run_cli(const std::vector<std::string>& args, const std::string& tag) { return run_cli_path(cli_path(), args, tag); }

std::string url_with_password(const std::string& url, const std::string& password) {
  const auto at = url.find('@');
  return url.substr(0, at) + ":" + password + url.substr(at);
}
}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("lockstep program") {
    TestDatabase db{"cli"};
    TempDir dir{"cli-migrations"};
    write_table_migrations(dir, 3);
    const std::string d = dir.path().string();

    SUBCASE("migrate exits 0 and prints one JSON object per line") {
      auto c = run_cli({"migrate", "--dir", d, "--url", db.url()}, "ok");
      CHECK(c.exit_code == 0);
      for (const auto& line : c.lines()) {
        CHECK(line.front() == '{');
        CHECK(line.back() == '}');
        CHECK(line.find("\"event\":") != std::string::npos);
      }
      CHECK(count_substr(c.out(), "\"event\":\"migration_applied\"") == 3);
      CHECK(c.out().find("\"duration_ms\":") != std::string::npos);

      auto s = run_cli({"status", "--dir", d, "--url", db.url()}, "status");
      CHECK(s.exit_code == 0);
      CHECK(s.out().find("schema version: 3 (expected 3)") != std::string::npos);
      CHECK(s.out().find("pending (0)") != std::string::npos);
      auto j = run_cli({"status", "--dir", d, "--url", db.url(), "--json"}, "status-json");
      CHECK(j.exit_code == 0);
      CHECK(j.out().find("\"schema_version\":3") != std::string::npos);
    }
    SUBCASE("--metrics-file: the run's metrics for a textfile collector, also after a failure") {
      TempDir out{"metrics-file"};
      const std::string file = (out.path() / "lockstep.prom").string();
      auto c = run_cli({"migrate", "--dir", d, "--url", db.url(), "--metrics-file", file}, "metrics");
      CHECK(c.exit_code == 0);
      auto m = parsed_metrics(read_file(file));
      CAPTURE(m);
      REQUIRE(m.ends_with("exit=0\n"));
      CHECK(has_line(m, "lockstep_migrations_applied_total 3.0"));
      CHECK(has_line(m, R"(lockstep_runs_total{outcome="ready",role="leader"} 1.0)"));
      CHECK(has_line(m, "lockstep_ready 1.0"));
      CHECK(c.out().find("\"event\":\"ready\"") != std::string::npos);  // the events still go to stdout

      auto behind =
          run_cli({"migrate", "--dir", d, "--url", db.url(), "--expect", "99", "--metrics-file", file}, "metrics-behind");
      CHECK(behind.exit_code == 11);
      m = parsed_metrics(read_file(file));
      REQUIRE(m.ends_with("exit=0\n"));
      CHECK(has_line(m, R"(lockstep_failures_total{class="schema_behind"} 1.0)"));
      CHECK(has_line(m, "lockstep_ready 0.0"));
      CHECK_FALSE(std::filesystem::exists(file + ".tmp"));

      // An unwritable path is reported; the run's own outcome decides the exit code.
      auto unwritable = run_cli({"migrate", "--dir", d, "--url", db.url(), "--metrics-file", d + "/no/such/dir/m.prom"},
                                "metrics-unwritable");
      CHECK(unwritable.exit_code == 0);
      CHECK(unwritable.err().find("cannot write the metrics to") != std::string::npos);
    }
    SUBCASE("schema behind exits 11") {
      auto c = run_cli({"migrate", "--dir", d, "--url", db.url(), "--expect", "99"}, "behind");
      CHECK(c.exit_code == 11);
      CHECK(c.err().find("schema_behind") != std::string::npos);
      CHECK(c.out().find("\"event\":\"error\"") != std::string::npos);
    }
    SUBCASE("a failing migration exits 8 with a compiler-style position") {
      dir.write("0004_broken.sql", "CREATE TABLE fine (id int);\nSELECT * FROM no_such_table;\n");
      auto c = run_cli({"migrate", "--dir", d, "--url", db.url()}, "broken");
      CHECK(c.exit_code == 8);
      CHECK(c.err().find("0004_broken.sql:2:15: migration_failed [42P01]") != std::string::npos);
      CHECK(db.scalar("SELECT to_regclass('public.fine')").empty());
    }
    SUBCASE("bad input exits with its own code before touching the database") {
      CHECK(run_cli({"migrate", "--dir", d + "/missing", "--url", db.url()}, "nodir").exit_code == 4);
      CHECK(run_cli({"migrate", "--dir", d, "--timeout", "0s"}, "zero").exit_code == 2);
      CHECK(run_cli({"migrate", "--bogus"}, "usage").exit_code == 2);
      CHECK(db.scalar("SELECT to_regclass('lockstep.migrations')").empty());
    }
    SUBCASE("lint checks files without a database, like a compiler") {
      CHECK(run_cli({"lint", "--dir", d}, "lint-ok").exit_code == 0);
      dir.write("0004_idx.sql", "CREATE TABLE x (a int);\nCREATE INDEX CONCURRENTLY x_a ON x (a);\n");
      dir.write("0005_notx.sql", "-- lockstep:no-transaction\nCREATE TABLE y (a int);\n");
      auto c = run_cli({"lint", "--dir", d}, "lint-bad");
      CHECK(c.exit_code == 4);
      CHECK(c.err().find("0004_idx.sql:2:1: source_invalid: migration 4") != std::string::npos);
      CHECK(c.err().find("0005_notx.sql:2:1: warning [not_idempotent]") != std::string::npos);
      CHECK(c.err().find("5 migrations, 1 errors, 1 warnings") != std::string::npos);
      // Across files too: a requirement that names no earlier background
      // migration, as every boot would refuse it.
      dir.write("0006_needs.sql", "-- lockstep:requires-background=5\nCREATE TABLE z (a int);\n");
      auto across = run_cli({"lint", "--dir", d}, "lint-across");
      CHECK(across.exit_code == 4);
      CHECK(across.err().find("0006_needs.sql:1:1: source_invalid: migration 6") != std::string::npos);
      CHECK(across.err().find("which is not a background migration") != std::string::npos);
      CHECK(across.err().find("6 migrations, 2 errors, 1 warnings") != std::string::npos);
    }
    SUBCASE("a password in the URL never appears in any output") {
      const std::string secret = "Sup3rS3cretPw";
      auto ok = run_cli({"migrate", "--dir", d, "--url", url_with_password(db.url(), secret)}, "pw-ok");
      CHECK(ok.exit_code == 0);
      auto bad = run_cli({"migrate", "--dir", d, "--url",
                          url_with_password(url_for_database(server_url(), "no_such_db"), secret)},
                         "pw-bad");
      CHECK(bad.exit_code == 5);
      CHECK(bad.err().find("no_such_db") != std::string::npos);
      // libpq quotes a URI it cannot parse whole; it can never work, so exit 3 at once.
      auto malformed = run_cli({"migrate", "--dir", d, "--url", "postgresql://app:" + secret + "@[2001:db8::1/app"},
                               "pw-malformed");
      CHECK(malformed.exit_code == 3);
      CHECK(malformed.err().find("cannot be parsed") != std::string::npos);
      auto tabbed = run_cli({"migrate", "--dir", d, "--url",
                             "host=127.0.0.1 port=1 dbname=x\tpassword=" + secret + " sslpassword=" + secret,
                             "--timeout", "1s"},
                            "pw-tab");
      CHECK(tabbed.exit_code != 0);
      for (const auto& c : {ok, bad, malformed, tabbed}) {
        CHECK(c.out().find(secret) == std::string::npos);
        CHECK(c.err().find(secret) == std::string::npos);
      }
    }
  }
}

TEST_SUITE("integration") {
  TEST_CASE("embedded example") {
    TestDatabase db{"embedex"};
    ::setenv("DATABASE_URL_MIGRATION", db.url().c_str(), 1);
    auto c = run_cli_path(LOCKSTEP_EMBEDDED_EXAMPLE_PATH, {}, "embedded-example");
    ::unsetenv("DATABASE_URL_MIGRATION");
    CAPTURE(c.err());
    CHECK(c.exit_code == 0);
    CHECK(c.out().find("schema at version 2 with 2 embedded migrations") != std::string::npos);
    CHECK(db.number("SELECT count(*) FROM pg_indexes WHERE indexname = 'events_kind_idx'") == 1);
  }
}
