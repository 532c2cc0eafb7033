// The directives at the top of a migration's text, read the way pre-flight
// reads them: up to its first statement. For the unit tests of the
// directives and of the statement rules.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "lockstep/error.hpp"
#include "lockstep/sql/directives.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep::test {

inline result<sql::Directives> directives(const std::string& s) {
  auto st = sql::split(s);
  REQUIRE(st);
  return sql::parse_directives(s, st.value().empty() ? s.size() : st.value().front().begin);
}

}  // namespace lockstep::test
