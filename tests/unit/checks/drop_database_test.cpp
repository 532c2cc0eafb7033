// checks/rules/drop_database.hpp, offline: what the text says. The
// catalog's half (lockstep's own database, other sessions) is in
// integration/lock_safety_test.cpp.
#include <doctest/doctest.h>

#include "lock_cases.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("drop_database: DROP DATABASE at deploy") {
    check_cases({
        {"DROP DATABASE old_app;", R{"drop_database"}},
        {"DROP DATABASE IF EXISTS old_app WITH (FORCE);", R{"drop_database"}},
    });
    const auto forced = hazards({"DROP DATABASE IF EXISTS \"Old\" WITH (FORCE);"}, true);
    REQUIRE(forced.size() == 1);
    CHECK(forced[0].target == "Old");
    CHECK(forced[0].force);
    CHECK_FALSE(hazards({"DROP DATABASE old;"}, true)[0].force);
  }
}
