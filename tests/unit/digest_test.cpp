// DigestChain (detail/base/digest.hpp): the fast path's digest, a SHA-256
// chain the ledger's head extends per row.
#include <doctest/doctest.h>

#include <string>

#include "lockstep/detail/base/digest.hpp"
#include "lockstep/detail/base/sha256.hpp"

using namespace lockstep;

TEST_SUITE("unit") {
  TEST_CASE("DigestChain") {
    std::vector<Migration> ms{{1, "a", "x", "f1", "c1"}, {2, "b", "y", "f2", "c2"}, {5, "c", "z", "f5", "c5"}};
    const detail::DigestChain chain{ms};
    SUBCASE("covers only versions up to the bound, chained in the documented format") {
      const std::string d1 = detail::sha256_hex("1:c1\n");
      const std::string d2 = detail::sha256_hex(d1 + "2:c2\n");
      CHECK(chain.up_to(1) == d1);
      CHECK(chain.up_to(2) == d2);
      CHECK(chain.up_to(4) == d2);
      CHECK(chain.up_to(5) == detail::sha256_hex(d2 + "5:c5\n"));
      CHECK(chain.up_to(9) == chain.up_to(5));
      CHECK(detail::ledger_digest({{1, "c1"}, {2, "c2"}, {5, "c5"}}) == chain.up_to(5));
    }
    SUBCASE("nothing applied is the empty string, as the ledger returns for no rows") {
      CHECK(chain.up_to(0).empty());
    }
  }
}
