// The statement rules (checks/statements.hpp): what each statement of a
// file is refused or warned for from its text (transaction control,
// no-transaction files, idempotence), and their levels and allow lines
// through check().
#include <doctest/doctest.h>

#include <string>

#include "lockstep/checks/check.hpp"
#include "lockstep/checks/statements.hpp"
#include "header_directives.hpp"
#include "lockstep/sql/directives.hpp"

using namespace lockstep;
using namespace std::chrono_literals;

namespace {
using lockstep::test::directives;
std::vector<Finding> lint(const std::string& s, bool no_tx = false, int server = 150000) {
  auto st = sql::split(s);
  REQUIRE(st);
  sql::Directives d;
  d.no_transaction = no_tx;
  return checks::statement_findings(st.value(), d, server, s);
}
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("lint") {
    SUBCASE("statements that cannot run in a transaction block are errors naming the directive") {
      for (const char* bad : {"CREATE INDEX CONCURRENTLY i ON t (a)", "create unique index concurrently i on t (a)",
                              "DROP INDEX CONCURRENTLY i", "REINDEX (VERBOSE) TABLE CONCURRENTLY t", "VACUUM t",
                              "CREATE DATABASE x", "ALTER SYSTEM SET work_mem = '1MB'",
                              "ALTER TABLE p DETACH PARTITION c CONCURRENTLY"}) {
        CAPTURE(bad);
        auto f = lint(std::string{"SELECT 1;\n"} + bad + ";");
        REQUIRE(f.size() == 1);
        CHECK(f[0].level == checks::Level::error);
        CHECK(f[0].rule == "non_transactional");
        CHECK(f[0].position.line == 2);
        CHECK(f[0].message.find("-- lockstep:no-transaction") != std::string::npos);
      }
    }
    SUBCASE("ALTER TYPE ... ADD VALUE only before PostgreSQL 12") {
      CHECK(lint("ALTER TYPE mood ADD VALUE 'meh';", false, 110000).size() == 1);
      CHECK(lint("ALTER TYPE mood ADD VALUE 'meh';", false, 150000).empty());
    }
    SUBCASE("transaction control is an error; savepoints and BEGIN ATOMIC are not") {
      for (const char* bad : {"BEGIN", "COMMIT", "ROLLBACK", "END", "START TRANSACTION", "ABORT"}) {
        CAPTURE(bad);
        auto f = lint(std::string{bad} + ";");
        REQUIRE(f.size() == 1);
        CHECK(f[0].rule == "transaction_control");
      }
      CHECK(lint("SAVEPOINT a; ROLLBACK TO a; RELEASE a;").empty());
      CHECK(lint("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;").empty());
      CHECK(lint("DO $$ BEGIN PERFORM 1; END $$;").empty());
    }
    SUBCASE("two-phase commit is an error in every migration, a no-transaction one too") {
      // PREPARE TRANSACTION leaves the work uncommitted in a prepared
      // transaction while the session looks idle: a no-transaction file
      // `BEGIN; ...; PREPARE TRANSACTION 'x';` was reported applied.
      for (const bool no_transaction : {false, true}) {
        for (const char* bad : {"PREPARE TRANSACTION 'x'", "prepare transaction 'x'", "COMMIT PREPARED 'x'",
                                "ROLLBACK PREPARED 'x'"}) {
          CAPTURE(bad);
          CAPTURE(no_transaction);
          auto f = lint(std::string{bad} + ";", no_transaction);
          REQUIRE(f.size() == 1);
          CHECK(f[0].rule == "transaction_control");
          CHECK(f[0].level == checks::Level::error);
          CHECK(f[0].message.find("prepared transaction") != std::string::npos);
        }
        auto f = lint("BEGIN;\nCREATE TABLE IF NOT EXISTS nt (id int);\nPREPARE TRANSACTION 'x';", no_transaction);
        REQUIRE_FALSE(f.empty());
        CHECK(f.back().position.line == 3);
      }
      // A prepared statement is not a prepared transaction.
      CHECK(lint("PREPARE q AS SELECT 1; EXECUTE q; DEALLOCATE q;").empty());
    }
    SUBCASE("no-transaction migrations: CONCURRENTLY is fine, re-run hazards are warnings") {
      // Quiet: the leader drops an invalid leftover named i before a re-run.
      CHECK(lint("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);", true).empty());
      auto f = lint("CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);\nDROP TABLE u;\nALTER TABLE t ADD COLUMN b int;",
                    true);
      REQUIRE(f.size() == 4);
      for (const auto& w : f) CHECK(w.level == checks::Level::warning);
      CHECK(f[1].position.line == 2);
      CHECK(lint("CREATE TABLE IF NOT EXISTS t (a int); DROP TABLE IF EXISTS u; "
                 "ALTER TABLE t ADD COLUMN IF NOT EXISTS b int; CREATE OR REPLACE VIEW v AS SELECT 1;",
                 true)
                .empty());
    }
  }

  TEST_CASE("lint: the forms it recommends pass, what it missed is caught") {
    SUBCASE("drop-then-create concurrently is the idempotent form") {
      CHECK(lint("DROP INDEX CONCURRENTLY IF EXISTS ix;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON t (a);", true)
                .empty());
      // Without the DROP too: the leader drops an invalid leftover named ix
      // itself before a re-run (index_checks.hpp), so IF NOT EXISTS is enough.
      CHECK(lint("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON t (a);", true).empty());
      CHECK(lint("CREATE INDEX CONCURRENTLY ix ON t (a);", true).size() == 1);
    }
    SUBCASE("materialized views have IF NOT EXISTS, not OR REPLACE") {
      CHECK(lint("CREATE MATERIALIZED VIEW IF NOT EXISTS mv AS SELECT 1;", true).empty());
      auto f = lint("CREATE MATERIALIZED VIEW mv AS SELECT 1;", true);
      REQUIRE(f.size() == 1);
      CHECK(f[0].message.find("IF NOT EXISTS") != std::string::npos);
      CHECK(f[0].message.find("OR REPLACE") == std::string::npos);
    }
    SUBCASE("REINDEX of a database, schema or the system catalogs cannot run in a transaction") {
      for (const char* bad : {"REINDEX DATABASE app;", "REINDEX SCHEMA public;", "REINDEX SYSTEM app;"}) {
        CAPTURE(bad);
        auto f = lint(bad);
        REQUIRE(f.size() == 1);
        CHECK(f[0].rule == "non_transactional");
      }
      CHECK(lint("REINDEX TABLE t;").empty());
    }
    SUBCASE("a new enum value used in the same transaction") {
      auto f = lint("ALTER TYPE mood ADD VALUE 'meh';\nUPDATE people SET m = 'meh' WHERE m IS NULL;");
      REQUIRE(f.size() == 1);
      CHECK(f[0].rule == "enum_value_in_same_transaction");
      CHECK(f[0].position.line == 2);
      CHECK(lint("ALTER TYPE mood ADD VALUE 'meh';\nCREATE TABLE x (id int);").empty());
    }
  }

  // Issue 31, case 15: REINDEX's parenthesised options, and the re-run
  // check of no-transaction files for every action that fails when done.
  TEST_CASE("lint: parenthesised options, and every action a re-run finds done") {
    SUBCASE("REINDEX options are read, not skipped") {
      for (const char* bad : {"REINDEX (CONCURRENTLY) TABLE t;", "REINDEX (VERBOSE) SCHEMA public;",
                              "REINDEX (VERBOSE, CONCURRENTLY on) INDEX i;", "REINDEX (VERBOSE) DATABASE app;"}) {
        CAPTURE(bad);
        auto f = lint(bad);
        REQUIRE(f.size() == 1);
        CHECK(f[0].rule == "non_transactional");
      }
      CHECK(lint("REINDEX (CONCURRENTLY false) TABLE t;").empty());
      CHECK(lint("REINDEX (VERBOSE) TABLE t;").empty());
    }
    SUBCASE("no-transaction: what fails when re-run after a partial failure") {
      for (const char* bad : {"ALTER TABLE t DROP COLUMN b;", "ALTER TABLE t DROP b;", "ALTER TABLE t DROP CONSTRAINT c;",
                              "ALTER TABLE t ADD COLUMN IF NOT EXISTS a int, ADD COLUMN b int;",
                              "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;",
                              "ALTER TABLE t ADD FOREIGN KEY (a) REFERENCES u;",
                              "ALTER TABLE t DROP CONSTRAINT IF EXISTS other, ADD CONSTRAINT c CHECK (a > 0);",
                              "ALTER TABLE t RENAME COLUMN a TO b;", "ALTER TABLE t RENAME TO u;",
                              "ALTER TABLE IF EXISTS t RENAME CONSTRAINT a TO b;",
                              "ALTER TABLE p DETACH PARTITION c CONCURRENTLY;", "ALTER TYPE mood ADD VALUE 'meh';",
                              "ALTER INDEX i RENAME TO j;", "DROP INDEX CONCURRENTLY i;", "CREATE TEMP TABLE x (a int);"}) {
        CAPTURE(bad);
        auto f = lint(bad, true);
        REQUIRE(f.size() == 1);
        CHECK(f[0].rule == "not_idempotent");
        CHECK(f[0].level == checks::Level::warning);
      }
      for (const char* good :
           {"ALTER TABLE t DROP COLUMN IF EXISTS b;", "ALTER TABLE t DROP CONSTRAINT IF EXISTS c;",
            "ALTER TABLE t DROP CONSTRAINT IF EXISTS c, ADD CONSTRAINT c CHECK (a > 0) NOT VALID;",
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS a int, ADD IF NOT EXISTS b int;",
            "ALTER TABLE t ALTER COLUMN a SET NOT NULL, ALTER COLUMN b DROP DEFAULT, ALTER c DROP NOT NULL;",
            "ALTER TABLE t VALIDATE CONSTRAINT c;", "ALTER TABLE IF EXISTS t RENAME TO u;",
            "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh';", "ALTER INDEX IF EXISTS i RENAME TO j;",
            "DROP INDEX CONCURRENTLY IF EXISTS i;",
            "CREATE TEMP TABLE x (a int, b text, c text, d text, e text, f text, g text, h text, i text) ON COMMIT DROP;"}) {
        CAPTURE(good);
        CHECK(lint(good, true).empty());
      }
    }
  }
}

// Issue 32: one rule namespace. The statement rules take levels and allow
// lines like the lock rules; transaction_control keeps a promise and stays an
// error; an unknown id is refused, naming it and every rule.
TEST_SUITE("unit") {
  TEST_CASE("checks: every rule takes a level and an allow line") {
    const Migration nt{1, "nt", "-- lockstep:no-transaction\nCREATE TABLE t (a int);\n", "db/0001_nt.sql", "x"};
    auto plain = check(nt, CheckOptions{});
    REQUIRE(plain);
    REQUIRE(plain.value().size() == 1);
    CHECK(plain.value()[0].rule == "not_idempotent");
    CHECK(plain.value()[0].level == checks::Level::warning);
    SUBCASE("--lock-rule not_idempotent=off and =error") {
      CheckOptions o;
      REQUIRE(checks::parse_levels("not_idempotent=off", o.rules));
      auto off = check(nt, o);
      REQUIRE(off);
      CHECK(off.value().empty());
      REQUIRE(checks::parse_levels("not_idempotent=error", o.rules));
      auto error = check(nt, o);
      REQUIRE_FALSE(error);
      CHECK(error.error().code == errc::source_invalid);
      CHECK(error.error().line == 2);
    }
    SUBCASE("-- lockstep:allow=not_idempotent accepts it") {
      const Migration allowed{1, "nt", "-- lockstep:no-transaction\n-- lockstep:allow=not_idempotent fresh database\n"
                                       "CREATE TABLE t (a int);\n", "db/0001_nt.sql", "x"};
      CheckOptions o;
      REQUIRE(checks::parse_levels("not_idempotent=error", o.rules));
      auto f = check(allowed, o);
      REQUIRE(f);
      REQUIRE(f.value().size() == 1);
      CHECK(f.value()[0].allowed == "fresh database");
      CHECK_FALSE(f.value()[0].blocks());
    }
    SUBCASE("non_transactional can be allowed; transaction_control cannot be lowered or allowed") {
      const Migration ci{2, "ci", "-- lockstep:allow=non_transactional the server refuses it, we know\n"
                                  "CREATE INDEX CONCURRENTLY i ON t (a);\n", "db/0002_ci.sql", "x"};
      auto f = check(ci, CheckOptions{});
      REQUIRE(f);
      REQUIRE_FALSE(f.value().empty());
      CHECK(f.value()[0].rule == "non_transactional");
      CHECK_FALSE(f.value()[0].blocks());
      LockSafety config;
      auto lowered = checks::parse_levels("transaction_control=warning", config);
      REQUIRE_FALSE(lowered);
      CHECK(lowered.error().message.find("always an error") != std::string::npos);
      CHECK(checks::parse_levels("transaction_control=error", config));
      auto d = directives("-- lockstep:allow=transaction_control why not\nCOMMIT;");
      REQUIRE_FALSE(d);
      CHECK(d.error().message.find("always an error") != std::string::npos);
    }
    SUBCASE("transaction_control set off in code (LockSafety::levels) still blocks a COMMIT") {
      // The library path: levels set in the map, never parsed. Lowering the
      // one rule that guards exactly-once must not drop its finding.
      const Migration commit{3, "commit", "CREATE TABLE t (a int);\nCOMMIT;\n", "db/0003_commit.sql", "x"};
      for (const auto lowered : {checks::Level::off, checks::Level::warning}) {
        CheckOptions o;
        o.rules.levels["transaction_control"] = lowered;
        auto f = check(commit, o);
        REQUIRE_FALSE(f);
        CHECK(f.error().code == errc::source_invalid);
        CHECK(f.error().line == 2);
        CHECK_FALSE(checks::check_level("transaction_control", lowered));
      }
      CHECK(checks::check_level("transaction_control", checks::Level::error));
      CHECK(checks::check_level("not_idempotent", checks::Level::off));
      auto unknown = checks::check_level("no_such_rule", checks::Level::off);
      REQUIRE_FALSE(unknown);
      CHECK(unknown.error().message.find("no_such_rule") != std::string::npos);
    }
    SUBCASE("unknown ids are refused, naming the id and every rule") {
      LockSafety config;
      auto unknown = checks::parse_levels("not_idempotnet=off", config);
      REQUIRE_FALSE(unknown);
      CHECK(unknown.error().message.find("not_idempotnet") != std::string::npos);
      for (const auto& r : checks::all_rules) CHECK(unknown.error().message.find(std::string{r.id}) != std::string::npos);
      auto d = directives("-- lockstep:allow=not_idempotnet typo\nSELECT 1;");
      REQUIRE_FALSE(d);
      CHECK(d.error().message.find("not_idempotent") != std::string::npos);
    }
  }
}
