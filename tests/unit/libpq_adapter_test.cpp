// sqlstate_in_verbose_message (detail/base/libpq_adapter.hpp): a refused
// connection's SQLSTATE, whatever language the server speaks.
#include <doctest/doctest.h>

#include "lockstep/detail/base/libpq_adapter.hpp"

using namespace lockstep;

TEST_SUITE("unit") {
  TEST_CASE("sqlstate_in_verbose_message") {
    CHECK(detail::sqlstate_in_verbose_message(
              "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  28P01: "
              "Passwort-Authentifizierung f\u00fcr Benutzer \u00bbx\u00ab fehlgeschlagen\nLOCATION:  auth.c:326\n") ==
          "28P01");
    CHECK(detail::sqlstate_in_verbose_message("FATAL:  3D000: la base de donn\u00e9es n'existe pas") == "3D000");
    CHECK(detail::sqlstate_in_verbose_message("connection refused\n\tIs the server running?").empty());
    CHECK(detail::sqlstate_in_verbose_message("ERROR:  ab: not a code").empty());
  }
}
