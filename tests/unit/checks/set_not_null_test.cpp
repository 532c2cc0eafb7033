// checks/rules/set_not_null.hpp, offline: what the text says, and the proof
// a run builds for it. The catalog's half (a validated check, or the column,
// proves it already; the table's size) is in integration/lock_safety_test.cpp.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lock_cases.hpp"

using namespace lockstep;
using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("set_not_null: SET NOT NULL without a validated check that proves it") {
    SUBCASE("type_change and set_not_null") {
      check_cases({
          {"ALTER TABLE orders ALTER COLUMN email SET NOT NULL;", R{"set_not_null"}},
          {"ALTER TABLE orders ALTER COLUMN email DROP NOT NULL;", R{}},
          {"ALTER TABLE orders ALTER COLUMN email SET DEFAULT 'x';", R{}},
          {"CREATE TABLE n (a int); ALTER TABLE n ALTER a TYPE bigint, ALTER a SET NOT NULL;", R{}},
      });
    }
    SUBCASE("SET NOT NULL after this run validated the check that proves it") {
      // Validated earlier in the run (this migration or an earlier one): the
      // catalog is asked about that constraint as if validated.
      const auto validated = hazards(
          {"ALTER TABLE foo VALIDATE CONSTRAINT foo_bar_not_null; ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;"});
      REQUIRE(validated.size() == 1);
      CHECK(validated[0].rule == "set_not_null");
      CHECK(validated[0].question == safety::Question::not_null_check);
      CHECK(validated[0].validated == std::vector<std::string>{"foo_bar_not_null"});
      CHECK(hazards({"ALTER TABLE foo VALIDATE CONSTRAINT c;", "ALTER TABLE foo ALTER bar SET NOT NULL;"})[0].validated ==
            std::vector<std::string>{"c"});
      // The whole proof inside the run: added NOT VALID, validated, then SET NOT NULL.
      CHECK(rules(hazards({"ALTER TABLE foo ADD CONSTRAINT c CHECK (bar IS NOT NULL) NOT VALID;",
                           "ALTER TABLE foo VALIDATE CONSTRAINT c;", "ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;"}))
                .empty());
      CHECK(rules(hazards({"ALTER TABLE foo ADD CONSTRAINT c CHECK ((\"bar\" IS NOT NULL)) NOT VALID;",
                           "ALTER TABLE foo VALIDATE CONSTRAINT c;", "ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;"}))
                .empty());
      // An unnamed check added valid scans (its own finding), then proves.
      CHECK(rules_of("ALTER TABLE foo ADD CHECK (bar IS NOT NULL); ALTER TABLE foo ALTER bar SET NOT NULL;") ==
            R{"constraint_scan"});
      // True positives: never validated, dropped again, another column, or more than IS NOT NULL.
      CHECK(rules(hazards({"ALTER TABLE foo ADD CONSTRAINT c CHECK (bar IS NOT NULL) NOT VALID;",
                           "ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;"})) == R{"set_not_null"});
      CHECK(rules(hazards({"ALTER TABLE foo ADD CONSTRAINT c CHECK (bar IS NOT NULL) NOT VALID;",
                           "ALTER TABLE foo VALIDATE CONSTRAINT c;", "ALTER TABLE foo DROP CONSTRAINT c;",
                           "ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;"})) == R{"set_not_null"});
      CHECK(rules(hazards({"ALTER TABLE foo ADD CONSTRAINT c CHECK (baz IS NOT NULL) NOT VALID;",
                           "ALTER TABLE foo VALIDATE CONSTRAINT c;", "ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;"})) ==
            R{"set_not_null"});
      CHECK(rules(hazards({"ALTER TABLE foo ADD CONSTRAINT c CHECK (bar IS NOT NULL OR baz > 0) NOT VALID;",
                           "ALTER TABLE foo VALIDATE CONSTRAINT c;", "ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;"})) ==
            R{"set_not_null"});
      CHECK(rules(hazards({"ALTER TABLE other VALIDATE CONSTRAINT c;", "ALTER TABLE foo ALTER bar SET NOT NULL;"})) ==
            R{"set_not_null"});
      CHECK(hazards({"ALTER TABLE other VALIDATE CONSTRAINT c;", "ALTER TABLE foo ALTER bar SET NOT NULL;"})[0]
                .validated.empty());
    }
    SUBCASE("the proof of SET NOT NULL is keyed by the table the server resolves, like \"created in this run\"") {
      // Issue 31's leftover: keyed by the plain name, a check validated on
      // a.foo proved b.foo's column NOT NULL, and the scan went unreported.
      CHECK(rules(hazards({"ALTER TABLE a.foo ADD CONSTRAINT c CHECK (bar IS NOT NULL) NOT VALID;",
                           "ALTER TABLE a.foo VALIDATE CONSTRAINT c;", "ALTER TABLE b.foo ALTER COLUMN bar SET NOT NULL;"})) ==
            R{"set_not_null"});
      CHECK(hazards({"ALTER TABLE a.foo VALIDATE CONSTRAINT c;", "ALTER TABLE b.foo ALTER bar SET NOT NULL;"})[0]
                .validated.empty());
      // One table under two spellings is one key: the file's search_path resolves foo to a.foo.
      CHECK(rules(hazards({"SET search_path = a;\nALTER TABLE foo ADD CONSTRAINT c CHECK (bar IS NOT NULL) NOT VALID;",
                           "ALTER TABLE a.foo VALIDATE CONSTRAINT c;", "ALTER TABLE a.foo ALTER COLUMN bar SET NOT NULL;"}))
                .empty());
    }
    SUBCASE("more proofs, and the question the catalog settles") {
      check_cases({
          {"ALTER TABLE orders ALTER email SET NOT NULL, ALTER name SET NOT NULL;", R{"set_not_null", "set_not_null"}},
          // Added valid in the same statement, before the SET NOT NULL: proven.
          {"ALTER TABLE orders ADD CONSTRAINT c CHECK (email IS NOT NULL), ALTER email SET NOT NULL;",
           R{"constraint_scan"}},
          // NO INHERIT may follow the proof.
          {"ALTER TABLE orders ADD CONSTRAINT c CHECK (email IS NOT NULL) NO INHERIT; ALTER TABLE orders ALTER email SET NOT NULL;",
           R{"constraint_scan"}},
      });
      // A later migration of the run: a check on another column, or on more than the column itself, proves nothing.
      CHECK(rules(hazards({"ALTER TABLE orders ADD CHECK (email IS NOT NULL);", "ALTER TABLE orders ALTER name SET NOT NULL;"})) ==
            R{"set_not_null"});
      CHECK(rules(hazards({"ALTER TABLE orders ADD CHECK (orders.email IS NOT NULL);",
                           "ALTER TABLE orders ALTER email SET NOT NULL;"})) == R{"set_not_null"});
      CHECK(rules(hazards({"ALTER TABLE orders ADD CHECK (email IS NOT NULL);", "ALTER TABLE orders ALTER email SET NOT NULL;"}))
                .empty());
      const auto h = hazards({"ALTER TABLE orders ALTER COLUMN \"Email\" SET NOT NULL;"});
      REQUIRE(h.size() == 1);
      CHECK(h[0].question == safety::Question::not_null_check);
      CHECK_FALSE(h[0].certain);
      CHECK(h[0].column == "Email");
      CHECK(h[0].what == "ALTER COLUMN \"Email\" SET NOT NULL on orders");
      CHECK(h[0].validated.empty());
      // Before PostgreSQL 12 no check spares the scan: certain, nothing to ask.
      safety::Analyzer old{110000};
      const std::string sql = "ALTER TABLE orders ALTER COLUMN email SET NOT NULL;";
      auto st = sql::split(sql);
      REQUIRE(st);
      const auto h11 = old.migration(st.value(), sql, {});
      REQUIRE(h11.size() == 1);
      CHECK(h11[0].question == safety::Question::none);
      CHECK(h11[0].certain);
    }
  }
}
