#include <doctest/doctest.h>

#include <ostream>  // doctest prints a std::error_code with its operator<<
#include <system_error>

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
}
