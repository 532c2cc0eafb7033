#include <doctest/doctest.h>

#include <system_error>

#include "lockstep/detail/base/libpq_adapter.hpp"
#include "lockstep/detail/base/pqxx_adapter.hpp"
#include "lockstep/error.hpp"

using namespace lockstep;

namespace {
result<int> half(int x) {
  if (x % 2 != 0) {
    auto e = make_error(errc::migration_failed, "odd");
    e.sqlstate = "42P01";
    e.version = x;
    return e;
  }
  return x / 2;
}
result<int> quarter(int x) {
  LOCKSTEP_TRY(h, half(x));
  LOCKSTEP_TRY(q, half(h));
  return q;
}
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("errc") {
    SUBCASE("converts to std::error_code in the lockstep category") {
      const std::error_code ec = errc::schema_behind;
      CHECK(ec.category().name() == std::string{"lockstep"});
      CHECK(ec.message() == "schema behind");
      CHECK(ec == errc::schema_behind);
      CHECK(to_string(errc::deadline_exceeded) == "deadline_exceeded");
    }
  }

  TEST_CASE("Error") {
    SUBCASE("the payload survives TRY propagation and converts to an error code") {
      auto r = quarter(6);  // 6 -> 3 -> odd
      REQUIRE_FALSE(r);
      CHECK(r.error().version == 3);
      CHECK(r.error().sqlstate == "42P01");
      CHECK(make_error_code(r.error()) == errc::migration_failed);
      CHECK(quarter(8).value() == 2);
    }
    SUBCASE("to_string reads like a compiler diagnostic") {
      auto e = make_error(errc::migration_failed, "relation \"x\" does not exist");
      e.file = "migrations/0003_x.sql";
      e.line = 4;
      e.column = 7;
      e.sqlstate = "42P01";
      e.hint = "create it first";
      CHECK(e.to_string() ==
            "migrations/0003_x.sql:4:7: migration_failed [42P01]: relation \"x\" does not exist\n  hint: create it first");
    }
    SUBCASE("value() on a failure throws system_error carrying the code (Outcome's contract)") {
      auto r = half(1);
      CHECK_THROWS_AS((void)r.value(), std::system_error);
    }
  }

  TEST_CASE("parse_server_message") {
    SUBCASE("primary, line, column, detail and hint") {
      Error e;
      detail::parse_server_message(
          "ERROR:  column \"nme\" does not exist\nLINE 2: SELECT nme FROM t;\n               ^\n"
          "DETAIL:  some detail\nHINT:  Perhaps you meant to reference the column \"t.name\".\n",
          e);
      CHECK(e.server_message == "column \"nme\" does not exist");
      CHECK(e.line == 2);
      CHECK(e.column == 8);
      CHECK(e.detail == "some detail");
      CHECK(e.hint == "Perhaps you meant to reference the column \"t.name\".");
    }
    SUBCASE("a truncated line leaves the column unknown") {
      Error e;
      detail::parse_server_message("ERROR:  syntax error\nLINE 9: ...bc def\n                ^\n", e);
      CHECK(e.line == 9);
      CHECK_FALSE(e.column.has_value());
    }
  }

  TEST_CASE("parse_server_message in another language") {
    // The severity comes in the server's lc_messages, the LINE label in the
    // client's: neither may be needed to find the message and the position.
    Error e;
    detail::parse_server_message(
        "FEHLER:  Spalte \u00bbnme\u00ab existiert nicht\nZEILE 2: SELECT nme FROM t;\n                ^\n", e);
    CHECK(e.server_message.starts_with("Spalte"));
    CHECK(e.line == 2);
    CHECK(e.column == 8);
  }

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
