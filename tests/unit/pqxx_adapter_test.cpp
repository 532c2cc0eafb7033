// parse_server_message (detail/base/pqxx_adapter.hpp): a server error's
// message, position, detail and hint, read by structure, never by its words.
#include <doctest/doctest.h>

#include "lockstep/detail/base/pqxx_adapter.hpp"
#include "lockstep/error.hpp"

using namespace lockstep;

TEST_SUITE("unit") {
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
}
