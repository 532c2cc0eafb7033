// JsonObject (detail/base/json.hpp): the writer of event lines, escaping
// included.
#include <doctest/doctest.h>

#include <cstdint>

#include "lockstep/detail/base/json.hpp"

TEST_SUITE("unit") {
  TEST_CASE("JsonObject") {
    lockstep::detail::JsonObject o;
    o.add("s", "a\"b\\c\n\x01").add("n", std::int64_t{-5}).add("b", true);
    CHECK(o.str() == R"({"s":"a\"b\\c\n\u0001","n":-5,"b":true})");
  }
}
