// Conninfo (detail/base/conninfo.hpp): a URL or key=value string read as
// libpq reads it, rebuilt quoted, and refused at once, without its secret,
// when it can never connect.
#include <doctest/doctest.h>

#include <string>

#include "lockstep/detail/base/conninfo.hpp"

using lockstep::errc;
using lockstep::detail::Conninfo;

TEST_SUITE("unit") {
  TEST_CASE("Conninfo") {
    SUBCASE("options are read as libpq reads them and rebuilt quoted") {
      auto c = Conninfo::parse("postgresql://app:pw@db:5433/app?sslmode=require");
      REQUIRE(c);
      CHECK(*c.value().find("host") == "db");
      CHECK(*c.value().find("port") == "5433");
      c.value().set_default("application_name", "my app 'x'");
      const auto s = c.value().str();
      CHECK(s.find("application_name='my app \\'x\\''") != std::string::npos);
      // The rebuilt string parses back to the same values.
      auto again = Conninfo::parse(s);
      REQUIRE(again);
      CHECK(*again.value().find("application_name") == "my app 'x'");
      CHECK(*again.value().find("password") == "pw");
    }
    SUBCASE("the user's own setting wins, however it is spaced") {
      auto c = Conninfo::parse("host=db connect_timeout = 60");
      REQUIRE(c);
      c.value().set_default("connect_timeout", "5");
      CHECK(*c.value().find("connect_timeout") == "60");
      auto u = Conninfo::parse("postgresql://db/app?keepalives=0");
      REQUIRE(u);
      u.value().set_default("keepalives", "1");
      CHECK(*u.value().find("keepalives") == "0");
    }
    SUBCASE("what can never connect is refused at once, without the secret") {
      for (const char* bad : {"postgresql://app:s3cret@[2001:db8::1/app", "host=db sslmode=bogus password=s3cret",
                              "postgresql://app:s3cret@db:99999/app", "postgresql://app:s3cret@db:http/app",
                              "host=db port=5432,x password=s3cret", "host=db connect_timeout=soon password=s3cret",
                              "host=db target_session_attrs=leader password=s3cret", "host='db password=s3cret",
                              "postgresql://app:s3cret@db/app?no_such_option=1"}) {
        CAPTURE(bad);
        auto c = Conninfo::parse(bad);
        REQUIRE_FALSE(c);
        CHECK(c.error().code == errc::invalid_argument);
        CHECK(c.error().message.find("s3cret") == std::string::npos);
      }
    }
  }
}
