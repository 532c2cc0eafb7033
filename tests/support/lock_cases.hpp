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

// Info rules (row_type_change, on every column change of a live table) are
// left out unless `with_info`: the cases are about what warns or blocks;
// tests/unit/checks/row_type_change_test.cpp asks for them.
inline bool is_info(const std::string& rule) {
  const auto* r = lockstep::checks::find_rule(rule);
  return r != nullptr && r->info;
}

inline R rules_of(const std::string& sql, bool no_transaction = false, bool contract = false,
                  int server_version = 150000, bool with_info = false) {
  auto statements = lockstep::sql::split(sql);
  REQUIRE(statements);
  lockstep::sql::Directives d;
  d.no_transaction = no_transaction;
  d.contract = contract;
  lockstep::safety::Analyzer a{server_version};
  R out;
  for (const auto& h : a.migration(statements.value(), sql, d)) {
    if (with_info || !is_info(h.rule)) out.push_back(h.rule);
  }
  return out;
}

inline void check_cases(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    const std::string sql = c.sql;
    CAPTURE(sql);
    CHECK(rules_of(c.sql) == c.rules);
  }
}

// `h` without the info rules' hazards (row_type_change accompanies every
// column change of a live table).
inline std::vector<lockstep::safety::Hazard> without_info(std::vector<lockstep::safety::Hazard> h) {
  std::erase_if(h, [](const lockstep::safety::Hazard& x) { return is_info(x.rule); });
  return h;
}

// The hazards of the last of `migrations`, read in order as one run.
// (Info rules' hazards left out unless `with_info`, as in rules_of.)
inline std::vector<lockstep::safety::Hazard> hazards(const std::vector<std::string>& migrations,
                                                     bool no_transaction = false, bool with_info = false) {
  lockstep::safety::Analyzer a{150000};
  std::vector<lockstep::safety::Hazard> last;
  for (const auto& sql : migrations) {
    auto st = lockstep::sql::split(sql);
    REQUIRE(st);
    lockstep::sql::Directives d;
    d.no_transaction = no_transaction;
    last = a.migration(st.value(), sql, d);
  }
  if (!with_info) std::erase_if(last, [](const lockstep::safety::Hazard& h) { return is_info(h.rule); });
  return last;
}

inline R rules(const std::vector<lockstep::safety::Hazard>& h) {
  R out;
  for (const auto& x : h) {
    if (!is_info(x.rule)) out.push_back(x.rule);
  }
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
