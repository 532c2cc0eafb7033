// Sha256 (detail/base/sha256.hpp): checksums and the hex form.
#include <doctest/doctest.h>

#include <string>

#include "lockstep/detail/base/sha256.hpp"

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
}
