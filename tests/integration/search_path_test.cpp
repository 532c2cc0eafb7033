// Names resolved the way the server resolves them, under the search_path the
// migration file sets (issue 31, cases 9 and 10), with the real program.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "cli.hpp"
#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

Child migrate(const std::string& dir, const std::string& url, const std::string& tag,
              const std::vector<std::string>& extra = {}) {
  static TempDir out{"search-path-out"};
  static int runs = 0;
  Herd h{out.path() / (tag + "-" + std::to_string(runs++))};
  std::vector<std::string> argv{cli_path(), "migrate", "--dir", dir, "--url", url};
  argv.insert(argv.end(), extra.begin(), extra.end());
  h.spawn(1, argv);
  h.release();
  h.wait_all(60s);
  return h.children().at(0);
}

struct PathCase {
  std::string what;
  std::string schema;  // where the table lives, as SQL writes it
  std::string set;     // what the no-transaction file says before its build ("" = nothing)
  std::string database_setting;  // ALTER DATABASE ... SET search_path TO this ("" = none)
};

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("search_path: a failed concurrent build is cleaned up under the file's own search_path") {
    const std::vector<PathCase> cases{
        {"SET =", "app", "SET search_path = app;", ""},
        {"SET TO", "app", "SET search_path TO app;", ""},
        {"SET SESSION, several schemas, one missing, public.t a decoy", "app",
         "SET SESSION search_path TO nothere, app, public;", ""},
        {"quoted schema", "\"App\"", "SET search_path = \"App\";", ""},
        {"\"$user\" first (no such schema), then app", "app", "SET search_path = \"$user\", app;", ""},
        {"set_config", "app", "SELECT pg_catalog.set_config('search_path', 'app', false);", ""},
        {"the session's own setting (ALTER DATABASE SET search_path)", "app", "", "app"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.what);
      TestDatabase db{"search_path_index"};
      {
        auto conn = db.connect();
        REQUIRE(conn.execute("CREATE SCHEMA " + c.schema + "; CREATE TABLE " + c.schema +
                             ".t (id int, v int); INSERT INTO " + c.schema + ".t VALUES (1, 1), (2, 1);"
                             "CREATE TABLE public.t (id int, v int)"));  // same name on the default path
        if (!c.database_setting.empty())
          REQUIRE(conn.execute("ALTER DATABASE " + db.name() + " SET search_path TO " + c.database_setting));
      }
      TempDir dir{"search-path-index"};
      dir.write("0001_start.sql", "SELECT 1;\n");
      dir.write("0002_unique_v.sql", "-- lockstep:no-transaction\n" + c.set +
                                         "\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_v_key ON t (v);\n");
      const std::string validity = "SELECT coalesce((SELECT indisvalid::text FROM pg_index WHERE indexrelid = "
                                   "to_regclass('" + c.schema + ".t_v_key')), 'none')";

      auto first = migrate(dir.path().string(), db.url(), "first", {"--deploy-version", "v1"});
      CHECK(first.exit_code == 8);
      REQUIRE(db.scalar(validity) == "false");  // the failed build's leftover

      REQUIRE(db.connect().execute("DELETE FROM " + c.schema + ".t WHERE id = 2"));
      auto second = migrate(dir.path().string(), db.url(), "second", {"--deploy-version", "v2"});
      CHECK_MESSAGE(second.exit_code == 0, second.out() << second.err());
      CHECK(count_substr(second.out(), "\"event\":\"invalid_index_dropped\"") == 1);
      CHECK(db.scalar(validity) == "true");
      CHECK(db.scalar("SELECT count(*) FROM pg_indexes WHERE tablename = 't' AND schemaname = 'public'") == "0");
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2") == 1);
    }
  }

  // Issue 31, case 10: a table is new only if this run creates it, under the
  // name the server resolves. `big` holds 3000 rows (analyzed) and the error
  // threshold is 1000, so a plain CREATE INDEX on it blocks the deploy.
  TEST_CASE("search_path: created in this run means that table, in that schema, really created" *
            doctest::test_suite("pg_sample")) {
    struct Case {
      std::string sql;
      bool blocked;
    };
    const std::vector<Case> cases{
        // true positives: the index is built on the live big
        {"CREATE TABLE IF NOT EXISTS big (x int);\nCREATE INDEX big_x ON big (x);", true},
        {"CREATE TABLE IF NOT EXISTS public.big (x int);\nCREATE INDEX big_x ON big (x);", true},
        {"CREATE TABLE audit.big (x int);\nCREATE INDEX big_x ON public.big (x);", true},
        {"CREATE TABLE audit.big (x int);\nCREATE INDEX big_x ON big (x);", true},
        {"SET search_path = audit, public;\nCREATE INDEX big_x ON big (x);", true},
        {"SET search_path = audit;\nCREATE TABLE big (x int);\nRESET search_path;\nCREATE INDEX big_x ON big (x);",
         true},
        {"CREATE TABLE IF NOT EXISTS big (x int);\nALTER TABLE big ADD COLUMN u uuid DEFAULT gen_random_uuid();",
         true},
        // false positives: the table really is new
        {"CREATE TABLE IF NOT EXISTS fresh (x int);\nCREATE INDEX fresh_x ON fresh (x);", false},
        {"CREATE TABLE audit.big (x int);\nCREATE INDEX big_x ON audit.big (x);", false},
        {"SET search_path = audit;\nCREATE TABLE big (x int);\nCREATE INDEX big_x ON big (x);", false},
        {"SET search_path = audit, public;\nCREATE TABLE big (x int);\nCREATE INDEX big_x ON big (x);", false},
        {"CREATE SCHEMA app2;\nSET search_path = app2;\nCREATE TABLE big (x int);\nCREATE INDEX big_x ON big (x);",
         false},
        {"CREATE TABLE IF NOT EXISTS audit.big (x int);\nCREATE INDEX big_x ON audit.big (x);", false},
        {"CREATE TEMP TABLE big (x int);\nCREATE INDEX big_x ON big (x);", false},
        {"CREATE TABLE audit.n (x int);\nALTER TABLE audit.n ADD COLUMN u uuid DEFAULT gen_random_uuid();", false},
    };
    for (const auto& c : cases) {
      CAPTURE(c.sql);
      TestDatabase db{"search_path_created"};
      REQUIRE(db.connect().execute("CREATE SCHEMA audit; CREATE TABLE big (x int);"
                                   "INSERT INTO big SELECT generate_series(1, 3000); ANALYZE big;"));
      EventLog log;
      Settings s;
      s.database_url = db.url();
      s.deploy_version = "v1";
      s.on_event = log.sink();
      s.lock_safety.error_rows = 1000;
      MemorySource source{{1, "m", c.sql}};
      auto r = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{s, source}.run();
      if (c.blocked) {
        REQUIRE_FALSE(r);
        CHECK(r.error().code == errc::lock_unsafe);
        CHECK(db.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'big_x'") == "0");
      } else {
        CHECK_MESSAGE(r, (r ? "" : r.error().to_string()));
      }
    }
  }
}
