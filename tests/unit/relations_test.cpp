// What a run creates, keyed by the schema-qualified name the server resolves
// (safety/relations.hpp; issue 31, case 10), from the text alone: a rule
// that skips a table created in this run skips only that table. The catalog
// half is in integration/search_path_test.cpp.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lockstep/safety/analyze.hpp"

using namespace lockstep;

namespace {
std::vector<std::string> created_rules_of(const std::string& text) {
  auto st = sql::split(text);
  REQUIRE(st);
  safety::Analyzer a{150000};
  std::vector<std::string> out;
  for (const auto& h : a.migration(st.value(), text, {})) out.push_back(h.rule + ":" + h.table);
  return out;
}
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("created in this run: keyed by the schema-qualified name") {
    // A table in another schema is another table.
    CHECK(created_rules_of("CREATE TABLE audit.big (x int); CREATE INDEX big_x ON public.big (x);") ==
          std::vector<std::string>{"index_not_concurrent:public.big"});
    CHECK(created_rules_of("CREATE TABLE audit.big (x int); CREATE INDEX big_x ON big (x);") ==
          std::vector<std::string>{"index_not_concurrent:big"});
    CHECK(created_rules_of("CREATE TABLE audit.big (x int); CREATE INDEX big_x ON audit.big (x);").empty());
    // Unqualified under the default path is public.
    CHECK(created_rules_of("CREATE TABLE big (x int); CREATE INDEX big_x ON public.big (x);").empty());
    CHECK(created_rules_of("CREATE TABLE public.big (x int); CREATE INDEX big_x ON big (x);").empty());
    // Under the file's search_path.
    CHECK(created_rules_of("SET search_path = audit; CREATE TABLE big (x int); CREATE INDEX big_x ON audit.big (x);").empty());
    CHECK(created_rules_of("SET search_path = audit; CREATE TABLE big (x int); RESET search_path; CREATE INDEX big_x ON big (x);") ==
          std::vector<std::string>{"index_not_concurrent:big"});
    CHECK(created_rules_of("CREATE TABLE big (x int); SET search_path = audit, public; CREATE INDEX big_x ON big (x);").empty());
    // A temporary table hides a permanent one of the same name.
    CHECK(created_rules_of("CREATE TEMP TABLE big (x int); CREATE INDEX big_x ON big (x);").empty());
    CHECK(created_rules_of("CREATE TEMP TABLE big (x int); CREATE INDEX big_x ON public.big (x);") ==
          std::vector<std::string>{"index_not_concurrent:public.big"});
    // Indexes live in their table's schema; dropping one built this run blocks nobody.
    CHECK(created_rules_of("CREATE TABLE audit.big (x int); CREATE INDEX i ON audit.big (x); DROP INDEX audit.i;").empty());
    CHECK(created_rules_of("CREATE TABLE audit.big (x int); CREATE INDEX i ON audit.big (x); DROP INDEX public.i;") ==
          std::vector<std::string>{"drop_index_not_concurrent:public.i"});
    // Columns added to a new table, CREATE TABLE AS, materialized views.
    CHECK(created_rules_of("CREATE TABLE audit.n (a int); ALTER TABLE audit.n ADD COLUMN b uuid DEFAULT gen_random_uuid();").empty());
    CHECK(created_rules_of("CREATE TABLE audit.n (a int); ALTER TABLE n ADD COLUMN b uuid DEFAULT gen_random_uuid();") ==
          std::vector<std::string>{"row_type_change:n", "volatile_default:n"});
    CHECK(created_rules_of("CREATE TABLE s.c AS SELECT 1 AS a; CREATE INDEX ON s.c (a);").empty());
    CHECK(created_rules_of("CREATE MATERIALIZED VIEW mv AS SELECT 1 AS a; CREATE INDEX ON mv (a);").empty());
    // A constraint added NOT VALID to one table is not validated on another by the same name.
    CHECK(created_rules_of("ALTER TABLE a ADD CONSTRAINT c CHECK (x > 0) NOT VALID; ALTER TABLE b VALIDATE CONSTRAINT c;").empty());
    CHECK(created_rules_of("ALTER TABLE a ADD CONSTRAINT c CHECK (x > 0) NOT VALID; ALTER TABLE a VALIDATE CONSTRAINT c;") ==
          std::vector<std::string>{"validate_same_transaction:a"});
  }
}
