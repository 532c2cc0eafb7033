// The lock rules' table-driven tests, offline: one migration's text in, the
// rule ids the statement reader finds out, in order. Shared by
// unit/lock_rules_test.cpp and the per-rule files in unit/checks/<id>_test.cpp.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lockstep/safety/analyze.hpp"

namespace lock_cases {

using R = std::vector<std::string>;

struct Case {
  const char* sql;
  R rules;  // expected, in order
};

inline R rules_of(const std::string& sql, bool no_transaction = false, bool contract = false,
                  int server_version = 150000) {
  auto statements = lockstep::sql::split(sql);
  REQUIRE(statements);
  lockstep::sql::Directives d;
  d.no_transaction = no_transaction;
  d.contract = contract;
  lockstep::safety::Analyzer a{server_version};
  R out;
  for (const auto& h : a.migration(statements.value(), sql, d)) out.push_back(h.rule);
  return out;
}

inline void check_cases(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    const std::string sql = c.sql;
    CAPTURE(sql);
    CHECK(rules_of(c.sql) == c.rules);
  }
}

// The hazards of the last of `migrations`, read in order as one run.
inline std::vector<lockstep::safety::Hazard> hazards(const std::vector<std::string>& migrations,
                                                     bool no_transaction = false) {
  lockstep::safety::Analyzer a{150000};
  std::vector<lockstep::safety::Hazard> last;
  for (const auto& sql : migrations) {
    auto st = lockstep::sql::split(sql);
    REQUIRE(st);
    lockstep::sql::Directives d;
    d.no_transaction = no_transaction;
    last = a.migration(st.value(), sql, d);
  }
  return last;
}

inline R rules(const std::vector<lockstep::safety::Hazard>& h) {
  R out;
  for (const auto& x : h) out.push_back(x.rule);
  return out;
}

}  // namespace lock_cases

namespace doctest {
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& v) {
    std::string out = "{";
    for (const auto& s : v) out += (out.size() > 1 ? ", " : "") + s;
    return (out + "}").c_str();
  }
};
}  // namespace doctest
