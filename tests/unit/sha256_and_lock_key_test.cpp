#include <doctest/doctest.h>

#include <string>

#include "lockstep/detail/base/digest.hpp"
#include "lockstep/detail/base/sha256.hpp"
#include "lockstep/lock/lock_key.hpp"

using namespace lockstep;

TEST_SUITE("unit") {
  TEST_CASE("Sha256") {
    SUBCASE("FIPS 180-4 test vectors") {
      CHECK(detail::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
      CHECK(detail::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
      CHECK(detail::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
      CHECK(detail::sha256_hex(std::string(1000000, 'a')) ==
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    }
    SUBCASE("incremental updates equal one update across block boundaries") {
      const std::string data(200, 'x');
      detail::Sha256 h;
      h.update(data.substr(0, 63)).update(data.substr(63, 1)).update(data.substr(64));
      CHECK(detail::to_hex(h.finish()) == detail::sha256_hex(data));
    }
  }

  TEST_CASE("lock_key") {
    SUBCASE("frozen values: changing them would let old and new binaries lead at once") {
      // Cross-checked with PostgreSQL:
      //   SELECT ('x' || substr(encode(sha256(convert_to(name, 'UTF8')), 'hex'), 1, 16))::bit(64)::bigint
      CHECK(lock_key("") == -2039914840885289964LL);
      CHECK(lock_key("orders") == 2023957755765852388LL);
      CHECK(lock_key("lockstep:app:lockstep.migrations") == 4385342301517901086LL);
    }
    SUBCASE("default name combines database and ledger") {
      CHECK(default_lock_name("app", "lockstep.migrations") == "lockstep:app:lockstep.migrations");
      CHECK(lock_key(default_lock_name("app", "a.b")) != lock_key(default_lock_name("app", "a.c")));
    }
  }

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
