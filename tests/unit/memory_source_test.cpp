// MemorySource (source/memory_source.hpp): migrations given in code, sorted
// and checksummed, and the same validation as every source.
#include <doctest/doctest.h>

#include "lockstep/detail/base/sha256.hpp"
#include "lockstep/source/memory_source.hpp"

using namespace lockstep;

TEST_SUITE("unit") {
  TEST_CASE("MemorySource") {
    SUBCASE("sorted with checksums") {
      auto r = MemorySource{{2, "b", "SELECT 2"}, {1, "a", "SELECT 1"}}.load();
      REQUIRE(r);
      CHECK(r.value()[0].version == 1);
      CHECK(r.value()[1].checksum == detail::sha256_hex("SELECT 2"));
      CHECK(r.value()[0].origin == "memory:1_a");
    }
    SUBCASE("duplicates and non-positive versions are rejected") {
      CHECK(MemorySource{{1, "a", ""}, {1, "b", ""}}.load().error().code == errc::source_invalid);
      CHECK(MemorySource{{0, "a", ""}}.load().error().code == errc::source_invalid);
      CHECK(MemorySource{{3, "", ""}}.load().error().code == errc::source_invalid);
    }
  }
}
