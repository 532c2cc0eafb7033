#include <doctest/doctest.h>

#include "lockstep/detail/conninfo.hpp"
#include "lockstep/detail/json.hpp"

using lockstep::detail::redact;
using lockstep::detail::with_option;

TEST_SUITE("unit") {
  TEST_CASE("redact") {
    SUBCASE("URI user:password") {
      CHECK(redact("postgresql://app:s3cr3t@db:5432/app") == "postgresql://app:***@db:5432/app");
      CHECK(redact("postgres://app:p%40ss@db/app?sslmode=require") == "postgres://app:***@db/app?sslmode=require");
    }
    SUBCASE("password in a query string or key=value") {
      CHECK(redact("postgresql://db/app?user=a&password=hunter2&sslmode=x") ==
            "postgresql://db/app?user=a&password=***&sslmode=x");
      CHECK(redact("host=db password=hunter2 dbname=app") == "host=db password=*** dbname=app");
      CHECK(redact("host=db password = 'hun ter2' dbname=app") == "host=db password = *** dbname=app");
    }
    SUBCASE("nothing to hide stays as it is") {
      CHECK(redact("postgresql://app@db/app") == "postgresql://app@db/app");
      CHECK(redact("host=db user=passwordless") == "host=db user=passwordless");
    }
  }

  TEST_CASE("with_option") {
    CHECK(with_option("postgresql://db/app", "connect_timeout", "5") == "postgresql://db/app?connect_timeout=5");
    CHECK(with_option("postgresql://db/app?sslmode=x", "connect_timeout", "5") ==
          "postgresql://db/app?sslmode=x&connect_timeout=5");
    CHECK(with_option("host=db", "connect_timeout", "5") == "host=db connect_timeout=5");
    SUBCASE("the user's own setting wins") {
      CHECK(with_option("postgresql://db/app?connect_timeout=1", "connect_timeout", "5") ==
            "postgresql://db/app?connect_timeout=1");
      CHECK(with_option("host=db keepalives=0", "keepalives", "1") == "host=db keepalives=0");
    }
  }

  TEST_CASE("JsonObject") {
    lockstep::detail::JsonObject o;
    o.add("s", "a\"b\\c\n\x01").add("n", std::int64_t{-5}).add("b", true);
    CHECK(o.str() == R"({"s":"a\"b\\c\n\u0001","n":-5,"b":true})");
  }
}
