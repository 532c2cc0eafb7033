#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lockstep/detail/base/pg_array.hpp"

using lockstep::detail::parse_text_array;
using Items = std::vector<std::string>;

TEST_SUITE("unit") {
  TEST_CASE("parse_text_array") {
    SUBCASE("plain and quoted elements, as PostgreSQL 15 prints them") {
      CHECK(parse_text_array("{}") == Items{});
      CHECK(parse_text_array("{v1}") == Items{"v1"});
      CHECK(parse_text_array("{v1,2026.12.06-rc1}") == Items{"v1", "2026.12.06-rc1"});
      // SELECT ARRAY['with "q", {}', 'a\b', 'null', '', ' x ']::text
      CHECK(parse_text_array(R"({"with \"q\", {}","a\\b","null",""," x "})") ==
            Items{"with \"q\", {}", "a\\b", "null", "", " x "});
    }
    SUBCASE("anything else is not read as a list, so the caller asks the ledger") {
      CHECK_FALSE(parse_text_array(""));
      CHECK_FALSE(parse_text_array("{"));
      CHECK_FALSE(parse_text_array("v1"));
      CHECK_FALSE(parse_text_array("{v1,}"));
      CHECK_FALSE(parse_text_array("{,v1}"));
      CHECK_FALSE(parse_text_array("{NULL}"));
      CHECK_FALSE(parse_text_array("{v1,Null}"));
      CHECK_FALSE(parse_text_array(R"({"open})"));
      CHECK_FALSE(parse_text_array(R"({"a"b})"));
      CHECK_FALSE(parse_text_array("{{a},{b}}"));
      CHECK_FALSE(parse_text_array(R"({a\,b})"));
    }
  }
}
