// domain_constraint_scan: ALTER DOMAIN ... ADD CHECK / ADD NOT NULL / SET NOT NULL / VALIDATE CONSTRAINT of a domain that existed before the run.
//
// Detection: the statement reader, safety/analyze.hpp (Analyzer::alter_domain), which
// tracks what the run creates so a new table never counts as live.
// Sized by: every table with a column of the domain, summed (Catalog::size_of).
#pragma once

#include "lockstep/checks/rule.hpp"

namespace lockstep::checks::rules::domain_constraint_scan {

inline constexpr Rule rule{"domain_constraint_scan", Rule::Kind::lock, true,
  "checks every column that uses the domain, holding SHARE (no writes) on each of their tables for the scan",
  "ADD the constraint NOT VALID (instant: new values are checked from then on); ALTER DOMAIN ... VALIDATE "
  "CONSTRAINT takes the same SHARE locks for its scan (PostgreSQL 15 to 18), so validate when those tables' "
  "writes can wait, or put NOT VALID CHECKs on the tables and VALIDATE those (SHARE UPDATE EXCLUSIVE)"};

}  // namespace lockstep::checks::rules::domain_constraint_scan
