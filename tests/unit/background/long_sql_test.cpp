// Long statements in the background (`-- lockstep:background` with
// `-- lockstep:no-transaction`): what pre-flight lets a runner run while
// every replica serves and what it refuses, with the file's line; the
// lockstep:window directive; and how such a job reads in status
// (background/long_sql.hpp, sql/directives.hpp, background/progress.hpp).
#include <doctest/doctest.h>

#include <string>

#include "lockstep/background/long_sql.hpp"
#include "lockstep/background/progress.hpp"
#include "lockstep/sql/directives.hpp"
#include "lockstep/sql/splitter.hpp"

using namespace lockstep;

namespace {

const std::string kLongHeader = "-- lockstep:background\n-- lockstep:no-transaction\n";

// The file through the splitter, the directives and the background checks,
// as pre-flight and every runner read it.
result<void> long_checked(const std::string& sql) {
  Migration m;
  m.version = 9;
  m.name = "index";
  m.origin = "db/9_index.sql";
  m.sql = sql;
  auto statements = sql::split(m.sql);
  REQUIRE(statements);
  const auto end = statements.value().empty() ? m.sql.size() : statements.value().front().begin;
  auto d = sql::parse_directives(m.sql, end);
  if (!d) return std::move(d).error();
  return background::check_background_file(m, statements.value(), d.value());
}

std::string long_refusal(const std::string& body) {
  auto r = long_checked(kLongHeader + body);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::source_invalid);
  CHECK(r.error().file == "db/9_index.sql");
  return r.error().message;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("long statements: what a runner may run while the application serves") {
    CHECK(long_checked(kLongHeader + "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_v ON t (v);\n"
                                     "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_w ON app.t (w);\n"
                                     "REINDEX (VERBOSE) INDEX CONCURRENTLY t_v;\n"
                                     "ALTER TABLE ONLY t VALIDATE CONSTRAINT t_w_positive;\n"
                                     "DROP INDEX CONCURRENTLY IF EXISTS t_old;\n"
                                     "SET search_path = app;\nANALYZE t;\nVACUUM (ANALYZE) t;\nSELECT pg_sleep(0);\n"));
    // The directives: long statements need no batch-over, and take none.
    const std::string sql = kLongHeader + "-- lockstep:window=22:00-04:30\nCREATE INDEX CONCURRENTLY i ON t (v);\n";
    auto d = sql::parse_directives(sql, sql.find("CREATE"));
    REQUIRE(d);
    CHECK(d.value().long_statements());
    CHECK(d.value().boot_in_transaction());  // the boot queues it in a transaction
    REQUIRE(d.value().window);
    CHECK(d.value().window->text() == "22:00-04:30 UTC");
  }

  TEST_CASE("long statements: what pre-flight refuses, with the line and what to write") {
    auto at_line = [](const std::string& body, int line) {
      auto r = long_checked(kLongHeader + body);
      REQUIRE_FALSE(r);
      CHECK(r.error().line == line);
      return r.error().message;
    };
    CHECK(long_refusal("CREATE INDEX t_v ON t (v);\n").find("write CREATE INDEX CONCURRENTLY") != std::string::npos);
    CHECK(at_line("CREATE INDEX CONCURRENTLY IF NOT EXISTS a ON t (v);\nCREATE INDEX b ON t (w);\n", 4)
              .find("CONCURRENTLY") != std::string::npos);
    CHECK(long_refusal("DROP INDEX t_v;\n").find("DROP INDEX CONCURRENTLY") != std::string::npos);
    // Run again when cut or not yet recorded: each build and drop must find itself done.
    CHECK(long_refusal("CREATE INDEX CONCURRENTLY t_v ON t (v);\n").find("IF NOT EXISTS <name>") != std::string::npos);
    CHECK(long_refusal("CREATE INDEX CONCURRENTLY ON t (v);\n").find("builds a second index") != std::string::npos);
    CHECK(long_refusal("DROP INDEX CONCURRENTLY t_v;\n").find("DROP INDEX CONCURRENTLY IF EXISTS") !=
          std::string::npos);
    CHECK(long_refusal("REINDEX TABLE t;\n").find("REINDEX ... CONCURRENTLY") != std::string::npos);
    CHECK(long_refusal("VACUUM FULL t;\n").find("ACCESS EXCLUSIVE") != std::string::npos);
    CHECK(long_refusal("ALTER TABLE t ADD COLUMN c int;\n").find("lone VALIDATE CONSTRAINT") != std::string::npos);
    CHECK(long_refusal("ALTER TABLE t VALIDATE CONSTRAINT a, VALIDATE CONSTRAINT b;\n").find("more than one action") !=
          std::string::npos);
    CHECK(long_refusal("BEGIN;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS a ON t (v);\nCOMMIT;\n").find("outside any transaction") !=
          std::string::npos);
    CHECK(long_refusal("UPDATE t SET v = 0;\n").find("lockstep:batch-over") != std::string::npos);
    CHECK(long_refusal("SELECT 1 WHERE 2 BETWEEN :lo AND :hi;\n").find("long statements have no batches") !=
          std::string::npos);
    CHECK(long_refusal("").find("no statement to run") != std::string::npos);
    // A batch file's directives stay refused on long statements.
    auto both = long_checked("-- lockstep:background\n-- lockstep:no-transaction\n-- lockstep:batch-size=10\n"
                             "CREATE INDEX CONCURRENTLY a ON t (v);\n");
    REQUIRE_FALSE(both);
    CHECK(both.error().message.find("do not apply to long statements") != std::string::npos);
  }

  TEST_CASE("lockstep:window: when a background job may start work") {
    auto w = sql::detail::parse_window("01:00-05:30");
    REQUIRE(w);
    CHECK_FALSE(w->contains(59));
    CHECK(w->contains(60));
    CHECK(w->contains(5 * 60 + 29));
    CHECK_FALSE(w->contains(5 * 60 + 30));
    auto night = sql::detail::parse_window("22:00-04:30");  // spans midnight
    REQUIRE(night);
    CHECK(night->contains(23 * 60));
    CHECK(night->contains(0));
    CHECK(night->contains(4 * 60 + 29));
    CHECK_FALSE(night->contains(12 * 60));
    CHECK_FALSE(night->contains(21 * 60 + 59));
    for (const char* bad : {"1:00-05:00", "01:00", "24:00-01:00", "01:60-02:00", "03:00-03:00", "a1:00-02:00"}) {
      CAPTURE(bad);
      CHECK_FALSE(sql::detail::parse_window(bad));
    }
    const std::string late = "-- lockstep:background\n-- lockstep:batch-over=t(id)\n-- lockstep:window=late\n";
    auto refused = sql::parse_directives(late, late.size());
    REQUIRE_FALSE(refused);
    CHECK(refused.error().line == 3);
    CHECK(refused.error().message.find("such as 01:00-05:00") != std::string::npos);
    const std::string lone = "-- lockstep:window=01:00-02:00\n";
    auto not_background = sql::parse_directives(lone, lone.size());
    REQUIRE_FALSE(not_background);
    CHECK(not_background.error().message.find("background migration only") != std::string::npos);
  }

  TEST_CASE("a job of long statements reads as statements done, without an ETA") {
    BackgroundJob j;
    j.version = 9;
    j.name = "index";
    j.state = "running";
    j.batch_size = 3;
    j.rows_estimated = 3;
    j.rows_done = 1;
    j.busy_ms = 60000;
    j.runs_statements = true;
    const auto w = background::progress(j);
    CHECK(w.percent == 33);
    CHECK_FALSE(w.eta_ms);
    CHECK(background::describe(w) == "background migration 9 (index) at 33% (1 of 3 long statements done)");
    j.state = "succeeded";
    j.rows_done = 3;
    CHECK(background::progress(j).percent == 100);
  }
}
