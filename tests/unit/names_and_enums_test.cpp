// Names as the server resolves them (issue 31, cases 9 and 10) and uses of
// new enum values (case 16), from the text alone. The catalog half is in
// integration/search_path_test.cpp and integration/enum_values_test.cpp.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lockstep/safety/analyze.hpp"
#include "lockstep/sql/index_builds.hpp"
#include "lockstep/checks/statements.hpp"
#include "lockstep/sql/search_path.hpp"

using namespace lockstep;
using Path = std::vector<std::string>;

namespace {

std::vector<sql::SearchPath> paths_at_builds(const std::string& text, bool in_transaction = false) {
  auto st = sql::split(text);
  REQUIRE(st);
  std::vector<sql::SearchPath> out;
  for (const auto& b : sql::concurrent_index_builds(st.value(), text, in_transaction)) out.push_back(b.search_path);
  return out;
}

std::vector<std::string> rules_of(const std::string& text) {
  auto st = sql::split(text);
  REQUIRE(st);
  safety::Analyzer a{150000};
  std::vector<std::string> out;
  for (const auto& h : a.migration(st.value(), text, {})) out.push_back(h.rule + ":" + h.table);
  return out;
}

std::vector<Finding> enum_findings(const std::string& text) {
  auto st = sql::split(text);
  REQUIRE(st);
  std::vector<Finding> out;
  for (auto& f : checks::statement_findings(st.value(), {}, 150000, text))
    if (f.rule == "enum_value_in_same_transaction") out.push_back(f);
  return out;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("search_path as the file sets it") {
    const char* build = "CREATE INDEX CONCURRENTLY i ON t (a);\n";
    CHECK(paths_at_builds(build) == std::vector<sql::SearchPath>{std::nullopt});
    CHECK(paths_at_builds(std::string{"SET search_path = app;\n"} + build)[0] == Path{"app"});
    CHECK(paths_at_builds(std::string{"set search_path to App, \"My S\", '$user', public;\n"} + build)[0] ==
          Path{"app", "My S", "$user", "public"});
    CHECK(paths_at_builds(std::string{"SET SESSION search_path TO \"$user\", app;\n"} + build)[0] == Path{"$user", "app"});
    CHECK(paths_at_builds(std::string{"SELECT pg_catalog.set_config('search_path', 'A, \"B\"', false);\n"} + build)[0] ==
          Path{"a", "B"});
    CHECK(paths_at_builds(std::string{"SET search_path = app;\nRESET search_path;\n"} + build)[0] == std::nullopt);
    CHECK(paths_at_builds(std::string{"SET search_path = app;\nSET search_path TO DEFAULT;\n"} + build)[0] ==
          std::nullopt);
    CHECK(paths_at_builds(std::string{"SET search_path = app;\nRESET ALL;\n"} + build)[0] == std::nullopt);
    // SET LOCAL outside a transaction block does nothing (the server warns);
    // inside one it lasts until COMMIT, and ROLLBACK takes back a SET.
    CHECK(paths_at_builds(std::string{"SET LOCAL search_path = app;\n"} + build)[0] == std::nullopt);
    CHECK(paths_at_builds(std::string{"BEGIN;\nSET LOCAL search_path = app;\nCOMMIT;\n"} + build)[0] == std::nullopt);
    CHECK(paths_at_builds(std::string{"BEGIN;\nSET search_path = app;\nROLLBACK;\n"} + build)[0] == std::nullopt);
    CHECK(paths_at_builds(std::string{"BEGIN;\nSET search_path = app;\nCOMMIT;\n"} + build)[0] == Path{"app"});
    CHECK(paths_at_builds(std::string{"SELECT set_config('search_path', 'app', true);\n"} + build)[0] == std::nullopt);
    // In a transactional file SET LOCAL lasts to its end.
    CHECK(paths_at_builds(std::string{"SET LOCAL search_path = app;\n"} + build, true)[0] == Path{"app"});
    // Later SETs do not reach back.
    CHECK(paths_at_builds(std::string{build} + "SET search_path = app;\n")[0] == std::nullopt);
    CHECK(sql::split_search_path(" \"$user\" , Public,\"a\"\"b\" ") == Path{"$user", "public", "a\"b"});
  }

  TEST_CASE("created in this run: keyed by the schema-qualified name") {
    // A table in another schema is another table.
    CHECK(rules_of("CREATE TABLE audit.big (x int); CREATE INDEX big_x ON public.big (x);") ==
          std::vector<std::string>{"index_not_concurrent:public.big"});
    CHECK(rules_of("CREATE TABLE audit.big (x int); CREATE INDEX big_x ON big (x);") ==
          std::vector<std::string>{"index_not_concurrent:big"});
    CHECK(rules_of("CREATE TABLE audit.big (x int); CREATE INDEX big_x ON audit.big (x);").empty());
    // Unqualified under the default path is public.
    CHECK(rules_of("CREATE TABLE big (x int); CREATE INDEX big_x ON public.big (x);").empty());
    CHECK(rules_of("CREATE TABLE public.big (x int); CREATE INDEX big_x ON big (x);").empty());
    // Under the file's search_path.
    CHECK(rules_of("SET search_path = audit; CREATE TABLE big (x int); CREATE INDEX big_x ON audit.big (x);").empty());
    CHECK(rules_of("SET search_path = audit; CREATE TABLE big (x int); RESET search_path; CREATE INDEX big_x ON big (x);") ==
          std::vector<std::string>{"index_not_concurrent:big"});
    CHECK(rules_of("CREATE TABLE big (x int); SET search_path = audit, public; CREATE INDEX big_x ON big (x);").empty());
    // A temporary table hides a permanent one of the same name.
    CHECK(rules_of("CREATE TEMP TABLE big (x int); CREATE INDEX big_x ON big (x);").empty());
    CHECK(rules_of("CREATE TEMP TABLE big (x int); CREATE INDEX big_x ON public.big (x);") ==
          std::vector<std::string>{"index_not_concurrent:public.big"});
    // Indexes live in their table's schema; dropping one built this run blocks nobody.
    CHECK(rules_of("CREATE TABLE audit.big (x int); CREATE INDEX i ON audit.big (x); DROP INDEX audit.i;").empty());
    CHECK(rules_of("CREATE TABLE audit.big (x int); CREATE INDEX i ON audit.big (x); DROP INDEX public.i;") ==
          std::vector<std::string>{"drop_index_not_concurrent:public.i"});
    // Columns added to a new table, CREATE TABLE AS, materialized views.
    CHECK(rules_of("CREATE TABLE audit.n (a int); ALTER TABLE audit.n ADD COLUMN b uuid DEFAULT gen_random_uuid();").empty());
    CHECK(rules_of("CREATE TABLE audit.n (a int); ALTER TABLE n ADD COLUMN b uuid DEFAULT gen_random_uuid();") ==
          std::vector<std::string>{"volatile_default:n"});
    CHECK(rules_of("CREATE TABLE s.c AS SELECT 1 AS a; CREATE INDEX ON s.c (a);").empty());
    CHECK(rules_of("CREATE MATERIALIZED VIEW mv AS SELECT 1 AS a; CREATE INDEX ON mv (a);").empty());
    // A constraint added NOT VALID to one table is not validated on another by the same name.
    CHECK(rules_of("ALTER TABLE a ADD CONSTRAINT c CHECK (x > 0) NOT VALID; ALTER TABLE b VALIDATE CONSTRAINT c;").empty());
    CHECK(rules_of("ALTER TABLE a ADD CONSTRAINT c CHECK (x > 0) NOT VALID; ALTER TABLE a VALIDATE CONSTRAINT c;") ==
          std::vector<std::string>{"validate_same_transaction:a"});
  }

  TEST_CASE("enum values: a use is a use of that type's new value") {
    // Prisma: the same label added to two types in one transaction is fine.
    CHECK(enum_findings("ALTER TYPE \"DeployStatus\" ADD VALUE 'BUILDING';\n"
                        "ALTER TYPE \"RepoStatus\" ADD VALUE 'BUILDING';\n")
              .empty());
    CHECK(enum_findings("ALTER TYPE s ADD VALUE 'x';\nALTER TYPE s ADD VALUE 'y' AFTER 'x';\n").empty());
    CHECK(enum_findings("ALTER TYPE s ADD VALUE 'x';\nCOMMENT ON TYPE s IS 'x';\n").empty());
    // Casts to that type are certain uses: errors.
    for (const char* use : {"SELECT 'x'::s;", "SELECT CAST('x' AS s);", "SELECT s 'x';", "SELECT 'x'::public.s;",
                            "CREATE TABLE n (c s DEFAULT 'x');", "SELECT enum_range(NULL::s);",
                            "INSERT INTO t (c) VALUES ('x'::s);"}) {
      CAPTURE(use);
      auto f = enum_findings(std::string{"ALTER TYPE s ADD VALUE 'x';\n"} + use);
      REQUIRE(f.size() == 1);
      CHECK(f[0].level == checks::Level::error);
      CHECK(f[0].position.line == 2);
    }
    // Cast to another type: not a use of s.
    CHECK(enum_findings("ALTER TYPE s ADD VALUE 'x';\nSELECT 'x'::other;").empty());
    CHECK(enum_findings("ALTER TYPE s ADD VALUE 'x';\nSELECT CAST('x' AS other);").empty());
    CHECK(enum_findings("ALTER TYPE s ADD VALUE 'x';\nSELECT 'y'::s;").empty());
    // A table created in this migration with a column of that type.
    auto created = enum_findings("ALTER TYPE s ADD VALUE 'x';\nCREATE TABLE n (c s);\nINSERT INTO n VALUES ('x');");
    REQUIRE(created.size() == 1);
    CHECK(created[0].level == checks::Level::error);
    CHECK(created[0].position.line == 3);
    // Only the catalog can tell: a warning offline, with the question for pre-flight.
    auto st = sql::split(std::string{"ALTER TYPE s ADD VALUE 'x';\nINSERT INTO t (c) VALUES ('x');"});
    REQUIRE(st);
    auto unsure = checks::rules::enum_value_in_same_transaction::uses(st.value(), false, "ALTER TYPE s ADD VALUE 'x';\nINSERT INTO t (c) VALUES ('x');");
    REQUIRE(unsure.size() == 1);
    CHECK(unsure[0].finding.level == checks::Level::warning);
    CHECK(unsure[0].type == "s");
    CHECK(std::find(unsure[0].relations.begin(), unsure[0].relations.end(), "t") != unsure[0].relations.end());
    // Inside a DO block: not read, so unsure.
    auto in_do = enum_findings("ALTER TYPE s ADD VALUE 'x';\nDO $$ BEGIN INSERT INTO t VALUES ('x'); END $$;");
    REQUIRE(in_do.size() == 1);
    CHECK(in_do[0].level == checks::Level::warning);
    // No-transaction files commit each statement.
    sql::Directives nt;
    nt.no_transaction = true;
    auto st2 = sql::split(std::string{"ALTER TYPE s ADD VALUE 'x';\nSELECT 'x'::s;"});
    REQUIRE(st2);
    CHECK(checks::rules::enum_value_in_same_transaction::uses(st2.value(), nt.no_transaction, "ALTER TYPE s ADD VALUE 'x';\nSELECT 'x'::s;").empty());
  }
}
