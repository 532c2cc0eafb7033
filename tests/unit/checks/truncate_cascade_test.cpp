// checks/rules/truncate_cascade.hpp, offline: what the text says. The
// catalog's half (which tables CASCADE also empties) is in
// integration/lock_safety_test.cpp.
#include <doctest/doctest.h>

#include "lock_cases.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("truncate_cascade: TRUNCATE ... CASCADE of a live table") {
    check_cases({
        {"TRUNCATE orders CASCADE;", R{"truncate_cascade"}},
        {"TRUNCATE TABLE ONLY orders, items * RESTART IDENTITY CASCADE;", R{"truncate_cascade"}},
        {"TRUNCATE orders;", R{}},
        {"TRUNCATE orders RESTRICT;", R{}},
        {"CREATE TABLE n (a int); TRUNCATE n CASCADE;", R{}},
    });
    // Every table it names goes to the catalog's question.
    const auto t = hazards({"TRUNCATE TABLE ONLY orders, items * CASCADE;"});
    CHECK(t[0].named == std::vector<std::string>{"orders", "items"});
  }
}
