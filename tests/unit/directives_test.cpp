// The directives a migration file declares at its top (sql/directives.hpp):
// parse_directives for the whole header, declares_contract for the phase alone.
#include <doctest/doctest.h>

#include <string>

#include "header_directives.hpp"
#include "lockstep/sql/directives.hpp"
#include "lockstep/sql/splitter.hpp"

using namespace lockstep;
using namespace std::chrono_literals;

namespace {
using lockstep::test::directives;
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("parse_directives") {
    SUBCASE("known directives") {
      auto d = directives("-- lockstep:no-transaction\n--lockstep:lock-timeout=5s\n-- lockstep: statement-timeout = 2min\n"
                          "CREATE INDEX CONCURRENTLY i ON t (a);");
      REQUIRE(d);
      CHECK(d.value().no_transaction);
      CHECK(d.value().lock_timeout == 5s);
      CHECK(d.value().statement_timeout == 2min);
    }
    SUBCASE("no directives, and directives after the first statement are plain comments") {
      auto d = directives("-- just a comment\nSELECT 1;\n-- lockstep:no-transaction\n");
      REQUIRE(d);
      CHECK_FALSE(d.value().no_transaction);
    }
    SUBCASE("typos are errors with the line, never silently ignored") {
      auto typo = directives("-- header\n-- lockstep:no-transactoin\nSELECT 1;");
      REQUIRE_FALSE(typo);
      CHECK(typo.error().code == errc::source_invalid);
      CHECK(typo.error().line == 2);
      CHECK(typo.error().message.find("unknown directive") != std::string::npos);
      CHECK(typo.error().message.find("lockstep:no-transaction") != std::string::npos);
      CHECK_FALSE(directives("-- lockstep no-transaction\nSELECT 1;"));
      CHECK_FALSE(directives("-- lockstep:lock-timeout=soon\nSELECT 1;"));
      CHECK_FALSE(directives("-- lockstep:lock-timeout=5 seconds\nSELECT 1;"));
    }
  }

  TEST_CASE("parse_directives: phase") {
    SUBCASE("contract and expand") {
      auto c = directives("-- lockstep:phase=contract\nDROP TABLE t;");
      REQUIRE(c);
      CHECK(c.value().contract);
      auto e = directives("-- lockstep:phase=expand\nCREATE TABLE t (a int);");
      REQUIRE(e);
      CHECK_FALSE(e.value().contract);
    }
    SUBCASE("an unknown phase is an error naming the line and the choices") {
      auto d = directives("-- a comment\n-- lockstep:phase=contracted\nDROP TABLE t;");
      REQUIRE_FALSE(d);
      CHECK(d.error().code == errc::source_invalid);
      CHECK(d.error().line == 2);
      CHECK(d.error().message.find("'contracted'") != std::string::npos);
      CHECK(d.error().message.find("expand") != std::string::npos);
    }
    SUBCASE("a directive given twice is an error, not a guess") {
      auto d = directives("-- lockstep:phase=contract\n-- lockstep:phase=expand\nDROP TABLE t;");
      REQUIRE_FALSE(d);
      CHECK(d.error().line == 2);
      CHECK(d.error().message.find("lockstep:phase is given twice") != std::string::npos);
      CHECK_FALSE(directives("-- lockstep:lock-timeout=1s\n-- lockstep:lock-timeout=2s\nSELECT 1;"));
    }
  }

  TEST_CASE("parse_directives: allow") {
    SUBCASE("several rules, each with its reason") {
      auto d = directives("-- lockstep:allow=index_not_concurrent lookup table, 40 rows\n"
                          "-- lockstep:allow=json_column  the driver wants json\nCREATE INDEX i ON t (a);");
      REQUIRE(d);
      CHECK(d.value().allow.size() == 2);
      CHECK(d.value().allow.at("index_not_concurrent") == "lookup table, 40 rows");
      CHECK(d.value().allow.at("json_column") == "the driver wants json");
    }
    SUBCASE("an unknown rule, a missing reason or the same rule twice is an error on its line") {
      auto typo = directives("-- x\n-- lockstep:allow=index_not_concurent because\nSELECT 1;");
      REQUIRE_FALSE(typo);
      CHECK(typo.error().line == 2);
      CHECK(typo.error().message.find("index_not_concurent") != std::string::npos);
      CHECK(typo.error().message.find("index_not_concurrent") != std::string::npos);
      auto bare = directives("-- lockstep:allow=type_change\nSELECT 1;");
      REQUIRE_FALSE(bare);
      CHECK(bare.error().message.find("needs a reason") != std::string::npos);
      CHECK_FALSE(directives("-- lockstep:allow=type_change a\n-- lockstep:allow=type_change b\nSELECT 1;"));
    }
  }

  TEST_CASE("parse_directives: durations PostgreSQL cannot take") {
    auto d = directives("-- lockstep:statement-timeout=1000h\nSELECT 1;");
    REQUIRE_FALSE(d);
    CHECK(d.error().message.find("longer than PostgreSQL allows") != std::string::npos);
    CHECK(directives("-- lockstep:statement-timeout=596h\nSELECT 1;"));
    CHECK_FALSE(directives("-- lockstep:lock-timeout=99999999999999999h\nSELECT 1;"));
  }

  TEST_CASE("parse_directives: check") {
    SUBCASE("several checks, each on its line, in file order, '=' and a trailing comment kept out") {
      auto d = directives("-- lockstep:check SELECT count(*) = 0 FROM orders WHERE total IS NULL\n"
                          "-- lockstep:lock-timeout=5s\n"
                          "--lockstep:check select exists (SELECT 1 FROM pg_extension WHERE extname = 'x'); -- why\n"
                          "ALTER TABLE orders ALTER total SET NOT NULL;");
      REQUIRE(d);
      REQUIRE(d.value().checks.size() == 2);
      CHECK(d.value().checks[0].sql == "SELECT count(*) = 0 FROM orders WHERE total IS NULL");
      CHECK(d.value().checks[0].line == 1);
      CHECK(d.value().checks[1].sql == "select exists (SELECT 1 FROM pg_extension WHERE extname = 'x')");
      CHECK(d.value().checks[1].line == 3);
      CHECK(d.value().lock_timeout == 5s);
    }
    SUBCASE("what is not one SELECT is refused with its line") {
      for (const char* bad : {"-- lockstep:check\n", "-- lockstep:check   \n", "-- lockstep:check DELETE FROM t\n",
                              "-- lockstep:check SELECT true; SELECT false\n", "-- lockstep:check WITH x AS (DELETE FROM t RETURNING 1) SELECT true\n",
                              "-- lockstep:check 'unterminated\n"}) {
        CAPTURE(bad);
        auto d = directives(std::string{"-- header\n"} + bad + "SELECT 1;");
        REQUIRE_FALSE(d);
        CHECK(d.error().code == errc::source_invalid);
        CHECK(d.error().line == 2);
        CHECK(d.error().message.find("lockstep:check") != std::string::npos);
      }
      auto two = directives("-- lockstep:check SELECT true; UPDATE t SET a = 1\nSELECT 1;");
      REQUIRE_FALSE(two);
      CHECK(two.error().message.find("2 statements") != std::string::npos);
      // A word that only starts with "check" is no check: an unknown directive.
      auto typo = directives("-- lockstep:checks SELECT true\nSELECT 1;");
      REQUIRE_FALSE(typo);
      CHECK(typo.error().message.find("unknown directive") != std::string::npos);
    }
  }

  TEST_CASE("declares_contract") {
    SUBCASE("the phase comes from the leading comment lines") {
      CHECK(sql::declares_contract("-- lockstep:phase=contract\nALTER TABLE t DROP COLUMN c;"));
      CHECK(sql::declares_contract("\n-- drop the old name\n--  LOCKSTEP: phase = contract \nDROP TABLE t;"));
      CHECK(sql::declares_contract("-- lockstep:no-transaction\n-- lockstep:phase=contract\nDROP INDEX CONCURRENTLY i;"));
    }
    SUBCASE("expand is the default, and a directive after the first statement is a plain comment") {
      CHECK_FALSE(sql::declares_contract("ALTER TABLE t ADD COLUMN c int;"));
      CHECK_FALSE(sql::declares_contract("-- lockstep:phase=expand\nALTER TABLE t ADD COLUMN c int;"));
      CHECK_FALSE(sql::declares_contract("SELECT 1;\n-- lockstep:phase=contract\n"));
      CHECK_FALSE(sql::declares_contract("-- phase=contract\nDROP TABLE t;"));
    }
  }
}
