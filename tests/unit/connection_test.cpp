// Connection (connection.hpp) without a server: what libpq says of a URL it
// cannot parse reaches the caller scrubbed of the password.
#include <doctest/doctest.h>

#include <string>

#include "lockstep/connection.hpp"

TEST_SUITE("unit") {
  TEST_CASE("Connection::open returns libpq's error scrubbed (libpq quotes a URL it cannot parse)") {
    for (const std::string url : {"postgresql://app:Sup3rS3cret@[2001:db8::1/app", "postgresql://app:Zq@[2001:db8::1/app",
                                  "postgresql://app:Sup3r@S3cret@[2001:db8::1/app"}) {
      CAPTURE(url);
      auto c = lockstep::Connection::open(url);
      REQUIRE_FALSE(c);
      CAPTURE(c.error().message);
      if (c.error().message.find("://") != std::string::npos) CHECK(c.error().message.find("app:***@") != std::string::npos);
      for (const char* piece : {"Sup3r", "S3cret", ":Zq@"}) CHECK(c.error().message.find(piece) == std::string::npos);
    }
  }
}
