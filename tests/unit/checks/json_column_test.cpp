// checks/rules/json_column.hpp, offline: what the text says.
#include <doctest/doctest.h>

#include "lock_cases.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("json_column: a column of type json") {
    check_cases({
        {"CREATE TABLE n (id int, doc json NOT NULL, other jsonb);", R{"json_column"}},
        {"ALTER TABLE orders ADD COLUMN doc json;", R{"json_column"}},
        {"ALTER TABLE orders ALTER COLUMN doc TYPE json;", R{"json_column", "type_change"}},
        {"CREATE TABLE n (id int, doc jsonb);", R{}},
    });
  }
}
