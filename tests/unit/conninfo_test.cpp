#include <doctest/doctest.h>

#include <string>

#include "lockstep/detail/conninfo.hpp"
#include "lockstep/detail/json.hpp"

using lockstep::errc;
using lockstep::detail::Conninfo;
using lockstep::detail::redact;
using lockstep::detail::Redactor;
using lockstep::detail::secrets_in;

namespace {
std::string redacted(const std::string& url, const std::string& text) { return Redactor{secrets_in(url)}(text); }
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("redact") {
    SUBCASE("URI user:password") {
      CHECK(redact("postgresql://app:s3cr3t@db:5432/app") == "postgresql://app:***@db:5432/app");
      CHECK(redact("postgres://app:p%40ss@db/app?sslmode=require") == "postgres://app:***@db/app?sslmode=require");
    }
    SUBCASE("a URI inside other text, malformed or quoted") {
      CHECK(redact("invalid IPv6 host address in URI: \"postgresql://app:s3cret@[2001:db8::1/app\"") ==
            "invalid IPv6 host address in URI: \"postgresql://app:***@[2001:db8::1/app\"");
    }
    SUBCASE("password and sslpassword in a query string or key=value, after any separator") {
      CHECK(redact("postgresql://db/app?user=a&password=hunter2&sslmode=x") ==
            "postgresql://db/app?user=a&password=***&sslmode=x");
      CHECK(redact("host=db password=hunter2 dbname=app") == "host=db password=*** dbname=app");
      CHECK(redact("host=db password = 'hun ter2' dbname=app") == "host=db password = *** dbname=app");
      CHECK(redact("host=db\tpassword=hunter2") == "host=db\tpassword=***");
      CHECK(redact("host=db sslpassword=keypass") == "host=db sslpassword=***");
      CHECK(redact("postgresql://db/app?sslpassword=keypass") == "postgresql://db/app?sslpassword=***");
    }
    SUBCASE("nothing to hide stays as it is") {
      CHECK(redact("postgresql://app@db/app") == "postgresql://app@db/app");
      CHECK(redact("host=db user=passwordless") == "host=db user=passwordless");
    }
  }

  TEST_CASE("Redactor") {
    SUBCASE("a known secret is replaced wherever it appears, in any spelling") {
      const std::string url = "postgresql://app:s3cret@[2001:db8::1/app";
      CHECK(redacted(url, "libpq says s3cret was wrong") == "libpq says *** was wrong");
      CHECK(redacted("postgresql://app:p%40ss@db/app", "got p@ss and p%40ss") == "got *** and ***");
      CHECK(redacted("host=db password='se cret'", "the value se cret") == "the value ***");
      CHECK(redacted("host=db sslpassword=k3y", "sslkey passphrase k3y rejected") == "sslkey passphrase *** rejected");
    }
    SUBCASE("scrub covers every text field of an error") {
      lockstep::Error e;
      e.message = "m s3cret";
      e.server_message = "s s3cret";
      e.detail = "d s3cret";
      e.hint = "h s3cret";
      Redactor{secrets_in("postgresql://u:s3cret@h/d")}.scrub(e);
      CHECK(e.to_string().find("s3cret") == std::string::npos);
    }
  }

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

  TEST_CASE("JsonObject") {
    lockstep::detail::JsonObject o;
    o.add("s", "a\"b\\c\n\x01").add("n", std::int64_t{-5}).add("b", true);
    CHECK(o.str() == R"({"s":"a\"b\\c\n\u0001","n":-5,"b":true})");
  }
}
