// The lock rules' shared half, offline: the statement reader
// (safety/analyze.hpp: tables new to the run, positions, ONLY) and the judge
// (safety/judge.hpp: levels, allow lines, offline findings). Each rule's own
// cases are beside it, in unit/checks/<id>_test.cpp. The catalog half (sizes,
// types, volatility) is tested against a real server in
// integration/lock_safety_test.cpp.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "lock_cases.hpp"
#include "lockstep/safety/analyze.hpp"
#include "lockstep/safety/judge.hpp"
#include "lockstep/settings.hpp"

using namespace lockstep;
using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("lock-safety rules read from the text") {
    SUBCASE("tables created in an earlier migration of the same run are new too") {
      auto statements1 = sql::split("CREATE TABLE fresh (a int);");
      auto statements2 = sql::split("CREATE INDEX i ON fresh (a); ALTER TABLE fresh ALTER a SET NOT NULL;");
      REQUIRE(statements1);
      REQUIRE(statements2);
      safety::Analyzer a{150000};
      CHECK(a.migration(statements1.value(), "CREATE TABLE fresh (a int);", {}).empty());
      CHECK(a.migration(statements2.value(), "CREATE INDEX i ON fresh (a); ALTER TABLE fresh ALTER a SET NOT NULL;", {})
                .empty());
    }
    SUBCASE("positions point at the clause") {
      const std::string sql = "-- header\nALTER TABLE orders\n  ADD COLUMN n int,\n  ADD CHECK (n > 0);\n";
      auto st = sql::split(sql);
      REQUIRE(st);
      safety::Analyzer a{150000};
      const auto h = lock_cases::without_info(a.migration(st.value(), sql, {}));
      REQUIRE(h.size() == 1);
      CHECK(h[0].rule == "constraint_scan");
      CHECK(h[0].position.line == 4);
      CHECK(h[0].position.column == 3);
    }
    SUBCASE("the table a finding is sized by") {
      auto hazards = [](const std::string& sql) {
        auto st = sql::split(sql);
        REQUIRE(st);
        return safety::Analyzer{150000}.migration(st.value(), sql, {});
      };
      // ONLY: the parent alone, so its partitions are not summed into its size.
      const auto only = hazards("ALTER TABLE IF EXISTS ONLY events ADD CHECK (n > 0);");
      REQUIRE(only.size() == 1);
      CHECK(only[0].table == "events");
      CHECK(only[0].only);
      const auto all = hazards("ALTER TABLE events ADD CHECK (n > 0);");
      REQUIRE(all.size() == 1);
      CHECK_FALSE(all[0].only);
    }
  }

  TEST_CASE("lock-safety findings offline") {
    auto judged = [](const std::string& sql, const LockSafety& config = {},
                     const std::map<std::string, std::string>& allow = {}) {
      auto st = sql::split(sql);
      REQUIRE(st);
      safety::Analyzer a{150000};
      auto f = safety::judge(a.migration(st.value(), sql, {}), config, nullptr, allow);
      REQUIRE(f);
      return f.value();
    };
    SUBCASE("sized findings need a database and are warnings") {
      const auto f = judged("CREATE INDEX i ON orders (a);");
      REQUIRE(f.size() == 1);
      CHECK(f[0].level == checks::Level::warning);
      CHECK(f[0].needs_database);
      CHECK_FALSE(f[0].blocks());
      CHECK(f[0].message.find("CONCURRENTLY") != std::string::npos);
      CHECK(f[0].message.find("lockstep:allow=index_not_concurrent") != std::string::npos);
    }
    SUBCASE("a configured level wins; off removes the finding") {
      LockSafety config;
      REQUIRE(checks::parse_levels("rename_breaks_old_code=error,json_column=off", config));
      const auto f = judged("ALTER TABLE o RENAME TO p; CREATE TABLE n (d json);", config);
      REQUIRE(f.size() == 1);
      CHECK(f[0].rule == "rename_breaks_old_code");
      CHECK(f[0].blocks());
      const auto allowed = judged("ALTER TABLE o RENAME TO p;", config, {{"rename_breaks_old_code", "view kept"}});
      REQUIRE(allowed.size() == 1);
      CHECK_FALSE(allowed[0].blocks());
      CHECK(allowed[0].allowed == "view kept");
    }
    SUBCASE("bad level specs name the rule and the choices") {
      LockSafety config;
      auto unknown = checks::parse_levels("index_not_concurent=error", config);
      REQUIRE_FALSE(unknown);
      CHECK(unknown.error().message.find("index_not_concurent") != std::string::npos);
      CHECK(unknown.error().message.find("index_not_concurrent") != std::string::npos);
      auto level = checks::parse_levels("json_column=fatal", config);
      REQUIRE_FALSE(level);
      CHECK(level.error().message.find("error, warning, info or off") != std::string::npos);
    }
  }

  TEST_CASE("LockSafety settings, as docs/lock-safety.md shows them") {
    // [snippet:lock-settings]
    lockstep::Settings s;
    s.lock_safety.error_rows = 1'000'000;                 // bigger tables only
    s.lock_safety.levels["rename_breaks_old_code"] = lockstep::checks::Level::error;
    s.lock_safety.levels["json_column"] = lockstep::checks::Level::off;
    // [/snippet:lock-settings]
    auto st = sql::split("ALTER TABLE t RENAME TO u; ALTER TABLE t ADD COLUMN d json;");
    REQUIRE(st);
    safety::Analyzer a{150000};
    auto f = safety::judge(a.migration(st.value(), "ALTER TABLE t RENAME TO u; ALTER TABLE t ADD COLUMN d json;", {}),
                           s.lock_safety, nullptr);
    REQUIRE(f);
    REQUIRE(f.value().size() == 2);
    CHECK(f.value()[0].blocks());
    // ADD COLUMN also changes t's row type: an info finding, which never blocks.
    CHECK(f.value()[1].rule == "row_type_change");
    CHECK(f.value()[1].level == checks::Level::info);
    CHECK_FALSE(f.value()[1].blocks());
    s.lock_safety.enabled = false;
    safety::Analyzer again{150000};
    const std::string sql = "ALTER TABLE t RENAME TO u;";
    auto renamed = sql::split(sql);
    REQUIRE(renamed);
    CHECK(safety::judge(again.migration(renamed.value(), sql, {}), s.lock_safety, nullptr).value().empty());
  }

  // Issue 31, case 15: the safe forms pass, the blocking ones are caught,
  // read from the text (the catalog's half: integration/lock_safety_test.cpp).
  TEST_CASE("lock-safety rules: safe forms pass, blocking and failing forms are caught") {
    SUBCASE("offline: the catalog-dependent ones need a database") {
      for (const char* sql : {"ALTER TABLE orders ADD COLUMN n int NOT NULL;", "TRUNCATE orders CASCADE;",
                              "ALTER TABLE orders SET LOGGED;", "ALTER DOMAIN d ADD CHECK (VALUE > 0);"}) {
        CAPTURE(sql);
        auto st = sql::split(sql);
        REQUIRE(st);
        auto f = safety::judge(lock_cases::without_info(safety::Analyzer{150000}.migration(st.value(), sql, {})), {},
                               nullptr);
        REQUIRE(f);
        REQUIRE(f.value().size() == 1);
        CHECK(f.value()[0].needs_database);
        CHECK(f.value()[0].level == checks::Level::warning);
      }
    }
  }
}
