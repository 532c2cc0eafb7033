// domain_constraint_scan: ALTER DOMAIN ... ADD CHECK / ADD NOT NULL / SET NOT NULL / VALIDATE CONSTRAINT of a domain that existed before the run.
//
// Detection: detect() below, for a domain the shared statement reader
// (safety/analyze.hpp) has not seen created in this run.
// Sized by: every table with a column of the domain, summed (Catalog::size_of).
#pragma once

#include <string>

#include "lockstep/checks/rule.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::domain_constraint_scan {

inline constexpr Rule rule{"domain_constraint_scan", Rule::Kind::lock, true,
  "checks every column that uses the domain, holding SHARE (no writes) on each of their tables for the scan",
  "ADD the constraint NOT VALID (instant: new values are checked from then on); ALTER DOMAIN ... VALIDATE "
  "CONSTRAINT takes the same SHARE locks for its scan (PostgreSQL 15 to 18), so validate when those tables' "
  "writes can wait, or put NOT VALID CHECKs on the tables and VALIDATE those (SHARE UPDATE EXCLUSIVE)"};

// ALTER DOMAIN d ADD CHECK / ADD NOT NULL / SET NOT NULL / VALIDATE: a scan
// of every column of the domain, under SHARE on each table. `domain`: the
// name after ALTER DOMAIN.
inline void detect(safety::Scan& s, const sql::Name& domain) {
  const auto& r = s.r;
  const std::size_t a = domain.next;
  std::string what = "ALTER DOMAIN " + domain.text;
  if (r.is(a, "add")) {
    if (r.has(a, r.size(), "not", "valid")) return;  // new values only, no scan
    what += r.has(a, r.size(), "check") ? " ADD CHECK" : " ADD NOT NULL";
  } else if (r.is(a, "set") && r.is(a + 1, "not") && r.is(a + 2, "null")) {
    what += " SET NOT NULL";
  } else if (r.is(a, "validate")) {
    what += " VALIDATE CONSTRAINT " + r.name(a + 2).text;
  } else {
    return;
  }
  s.add(a, rule.id, domain.text, std::move(what)).object = safety::Object::domain;
}

}  // namespace lockstep::checks::rules::domain_constraint_scan
