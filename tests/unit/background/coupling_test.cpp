// What couples a background migration to the deploy, read offline: the
// directives `after=old-replicas-gone` and `requires-background=V`, the
// every-boot reader that must agree with pre-flight, the load-time check
// that V is an earlier background migration of the same source, and a
// job's progress and ETA (background/progress.hpp).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lockstep/background/progress.hpp"
#include "lockstep/checks/check.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/sql/directives.hpp"

using namespace lockstep;

namespace {

Migration bgc_file(std::int64_t version, std::string sql) {
  Migration m;
  m.version = version;
  m.name = "m" + std::to_string(version);
  m.origin = "db/" + std::to_string(version) + ".sql";
  m.sql = std::move(sql);
  m.contract = sql::declares_contract(m.sql);
  m.background = sql::declares_background(m.sql);
  m.requires_background = sql::declared_requirement(m.sql);
  return m;
}

const std::string kBgcBatch = "-- lockstep:background\n-- lockstep:batch-over=public.orders(id)\n"
                              "UPDATE orders SET a = 1 WHERE id BETWEEN :lo AND :hi;\n";

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("background coupling directives") {
    SUBCASE("after=old-replicas-gone and requires-background are read, with the line") {
      const std::string sql = "-- lockstep:background\n-- lockstep:after=old-replicas-gone\n"
                              "-- lockstep:batch-over=t(id)\n-- lockstep:requires-background=3\nUPDATE t SET a = 1;";
      auto d = sql::parse_directives(sql, sql.find("UPDATE"));
      REQUIRE(d);
      CHECK(d.value().after_old_replicas_gone);
      CHECK(d.value().requires_background == 3);
      CHECK(d.value().requires_line == 4);
      CHECK(sql::declared_requirement(sql) == 3);
      CHECK(sql::declares_background(sql));
    }
    SUBCASE("what they cannot mean is refused with the line and what to write") {
      auto refused = [](const std::string& sql) {
        auto d = sql::parse_directives(sql, sql.size());
        REQUIRE_FALSE(d);
        CHECK(d.error().line.has_value());
        return d.error().message;
      };
      CHECK(refused("-- lockstep:after=old-replicas-gone\n").find("background migration only") != std::string::npos);
      CHECK(refused("-- lockstep:background\n-- lockstep:after=tomorrow\n-- lockstep:batch-over=t(id)\n")
                .find("not 'tomorrow'") != std::string::npos);
      CHECK(refused("-- lockstep:requires-background=abc\n").find("such as requires-background=42") != std::string::npos);
      CHECK(refused("-- lockstep:requires-background=0\n").find("not '0'") != std::string::npos);
      CHECK(refused("-- lockstep:requires-background=2\n-- lockstep:requires-background=3\n").find("given twice") !=
            std::string::npos);
    }
    SUBCASE("the every-boot reader sees only the leading comment lines") {
      CHECK(sql::declared_requirement("-- lockstep:requires-background=12\nSELECT 1;") == 12);
      CHECK(sql::declared_requirement("SELECT 1;\n-- lockstep:requires-background=12\n") == 0);
      CHECK(sql::declared_requirement("-- lockstep:requires-background=x\n") == 0);
      CHECK_FALSE(sql::declares_background("-- lockstep:background-ish\n"));
      CHECK(sql::declares_contract("-- lockstep:phase=contract\n"));
    }
    SUBCASE("pre-flight refuses a requirement the boot would not see (after a block comment)") {
      const Migration m = bgc_file(4, "/* header */\n-- lockstep:requires-background=2\nCREATE TABLE x (a int);\n");
      Checker checker{CheckOptions{}};
      auto read = checker.read(m);
      REQUIRE_FALSE(read);
      CHECK(read.error().message.find("must be among the comment lines") != std::string::npos);
    }
  }

  TEST_CASE("a requirement names an earlier background migration of the same source") {
    const Migration batch = bgc_file(2, kBgcBatch);
    const Migration plain = bgc_file(3, "CREATE TABLE y (a int);\n");
    auto check = [](std::vector<Migration> ms) { return check_requirements(ms); };
    CHECK(check({bgc_file(1, "SELECT 1;\n"), batch, bgc_file(5, "-- lockstep:requires-background=2\nSELECT 1;\n")}));
    auto refused = [&](std::vector<Migration> ms) {
      auto r = check(std::move(ms));
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::source_invalid);
      CHECK(r.error().version == 5);
      CHECK(r.error().line == 2);
      return r.error().message;
    };
    const std::string req3 = "-- a comment\n-- lockstep:requires-background=3\nSELECT 1;\n";
    CHECK(refused({batch, plain, bgc_file(5, req3)}).find("is not a background migration") != std::string::npos);
    CHECK(refused({batch, bgc_file(5, "--\n-- lockstep:requires-background=1\n")}).find("does not have") !=
          std::string::npos);
    CHECK(refused({batch, bgc_file(5, "--\n-- lockstep:requires-background=5\n")}).find("not an earlier migration") !=
          std::string::npos);
  }

  TEST_CASE("a background job's progress and ETA") {
    BackgroundJob j;
    j.version = 42;
    j.name = "backfill";
    j.state = "running";
    j.rows_estimated = 10000;
    j.rows_done = 2500;
    j.busy_ms = 5000;  // 2 ms a row
    auto w = background::progress(j);
    CHECK(w.percent == 25);
    CHECK(w.eta_ms == 15000);  // 7500 rows left at 2 ms
    CHECK(background::describe(w) == "background migration 42 (backfill) at 25% (2500 of about 10000 rows, ETA 15 s)");
    SUBCASE("past a stale estimate: 99%, and no ETA (what is left is unknown), never 0 s while rows may be left") {
      j.rows_done = 12000;
      auto past = background::progress(j);
      CHECK(past.percent == 99);
      CHECK_FALSE(past.eta_ms);
    }
    SUBCASE("no batch yet: no rate, so no ETA") {
      j.rows_done = 0;
      j.busy_ms = 0;
      j.state = "queued";
      CHECK_FALSE(background::progress(j).eta_ms);
      CHECK(background::describe(background::progress(j)).find("not started") != std::string::npos);
    }
    CHECK(background::human_duration(350) == "350 ms");
    CHECK(background::human_duration(41000) == "41 s");
    CHECK(background::human_duration(7200000 + 180000) == "2h 3min");
  }
}
