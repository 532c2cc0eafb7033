// The prepare phase: what pre-flight reads of one migration before anything
// runs (Checker::read, checks/check.hpp; the Migrator keeps the result as
// detail::PreparedMigration): its directives, its statements, and the errors
// that name its file and position. The test names keep the old function's.
#include <doctest/doctest.h>

#include <string>

#include "lockstep/checks/check.hpp"

using namespace lockstep;

namespace {
// What pre-flight reads of a migration before anything runs, offline, at the rules' own levels.
result<CheckedMigration> checked(const Migration& m) { return Checker{CheckOptions{LockSafety{}, 150000}}.read(m); }
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("prepare_migration: the phase both readers see") {
    // declares_contract stops at the block comment; parse_directives reads
    // on to the first statement. A contract that the boot path would treat
    // as expand must not reach the database.
    Migration m{3, "drop_name", "/* cleanup */\n-- lockstep:phase=contract\nALTER TABLE users DROP COLUMN name;\n",
                "db/0003_drop_name.sql", "x"};
    auto p = checked(m);
    REQUIRE_FALSE(p);
    CHECK(p.error().code == errc::source_invalid);
    CHECK(p.error().file == "db/0003_drop_name.sql");
    CHECK(p.error().version == 3);
    CHECK(p.error().message.find("top of the file") != std::string::npos);
    m.sql = "-- lockstep:phase=contract\n/* cleanup */\nALTER TABLE users DROP COLUMN name;\n";
    auto ok = checked(m);
    REQUIRE(ok);
    CHECK(ok.value().directives.contract);
  }

  TEST_CASE("prepare_migration") {
    SUBCASE("errors name the migration, file and position") {
      Migration m{7, "idx", "CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY i ON t (a);\n", "db/0007_idx.sql", "x"};
      auto p = checked(m);
      REQUIRE_FALSE(p);
      CHECK(p.error().version == 7);
      CHECK(p.error().file == "db/0007_idx.sql");
      CHECK(p.error().line == 2);
      CHECK(p.error().to_string().rfind("db/0007_idx.sql:2:1: source_invalid: migration 7", 0) == 0);
    }
    SUBCASE("NUL bytes and invalid UTF-8 are refused with their position") {
      using namespace std::string_literals;
      Migration nul{3, "nul", "SELECT 1;\nSELECT '\0';"s, "db/0003_nul.sql", "x"};
      REQUIRE(nul.sql.size() == 21);
      auto a = checked(nul);
      REQUIRE_FALSE(a);
      CHECK(a.error().line == 2);
      CHECK(a.error().column == 9);
      CHECK(a.error().message.find("NUL byte") != std::string::npos);
      for (const char* bytes : {"SELECT '\xff';", "SELECT '\xc3';", "SELECT '\xc0\xaf';", "SELECT '\xed\xa0\x80';"}) {
        CAPTURE(bytes);
        auto b = checked(Migration{4, "latin1", bytes, "db/0004.sql", "x"});
        REQUIRE_FALSE(b);
        CHECK(b.error().message.find("not valid UTF-8") != std::string::npos);
        CHECK(b.error().column == 9);
      }
      CHECK(checked(Migration{5, "utf8", "SELECT 'caf\xc3\xa9 \xf0\x9f\x98\x80';", "f", "x"}));
    }
    SUBCASE("the same file marked no-transaction is prepared statement by statement") {
      Migration m{7, "idx", "-- lockstep:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);\n",
                  "db/0007_idx.sql", "x"};
      auto p = checked(m);
      REQUIRE(p);
      CHECK(p.value().directives.no_transaction);
      CHECK(p.value().statements.size() == 1);
    }
  }
}
