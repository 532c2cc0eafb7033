// Uses of new enum values (sql/enum_values.hpp; issue 31, case 16), from the
// text alone. The catalog half is in integration/enum_values_test.cpp.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lockstep/checks/statements.hpp"

using namespace lockstep;

namespace {
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
