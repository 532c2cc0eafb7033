// checks/rules/domain_constraint_scan.hpp, offline: what the text says. The
// catalog's half (every column of the domain, summed) is in
// integration/lock_safety_test.cpp.
#include <doctest/doctest.h>

#include "lock_cases.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("domain_constraint_scan: ALTER DOMAIN scans every column of the domain") {
    check_cases({
        {"ALTER DOMAIN posint ADD CONSTRAINT pos CHECK (VALUE > 0);", R{"domain_constraint_scan"}},
        {"ALTER DOMAIN posint ADD CHECK (VALUE > 0);", R{"domain_constraint_scan"}},
        {"ALTER DOMAIN posint SET NOT NULL;", R{"domain_constraint_scan"}},
        {"ALTER DOMAIN posint VALIDATE CONSTRAINT pos;", R{"domain_constraint_scan"}},  // SHARE on each table too
        {"ALTER DOMAIN posint ADD CONSTRAINT pos CHECK (VALUE > 0) NOT VALID;", R{}},
        {"ALTER DOMAIN posint DROP CONSTRAINT pos;", R{}},
        {"ALTER DOMAIN posint DROP NOT NULL;", R{}},
        {"ALTER DOMAIN posint SET DEFAULT 1;", R{}},
        {"CREATE DOMAIN fresh AS int; ALTER DOMAIN fresh ADD CHECK (VALUE > 0);", R{}},
    });
    CHECK(hazards({"ALTER DOMAIN app.posint SET NOT NULL;"})[0].object == lockstep::safety::Object::domain);
  }
}
