// checks/rules/detach_partition_not_concurrent.hpp, offline: what the text says.
#include <doctest/doctest.h>

#include "lock_cases.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("detach_partition_not_concurrent: DETACH PARTITION without CONCURRENTLY") {
    check_cases({
        {"ALTER TABLE events DETACH PARTITION events_2024;", R{"detach_partition_not_concurrent"}},
        {"ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY;", R{}},
        {"ALTER TABLE events DETACH PARTITION events_2024 FINALIZE;", R{}},
        {"ALTER TABLE events ATTACH PARTITION events_2025 FOR VALUES FROM (1) TO (2);", R{}},
        {"CREATE TABLE p (a int) PARTITION BY RANGE (a); ALTER TABLE p DETACH PARTITION p1;", R{}},
    });
  }
}
