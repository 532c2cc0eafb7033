// Migrations of either phase (expand or contract) and the Target a run makes
// of them, for the unit tests of the phases that read the phase: target,
// plan, contract.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/detail/run/target.hpp"
#include "lockstep/migration.hpp"

namespace lockstep::test::phases {

inline Migration mig(std::int64_t v, bool contract = false) {
  Migration m{v, "m" + std::to_string(v), "", "db/" + std::to_string(v) + "_m.sql", "sum" + std::to_string(v)};
  m.contract = contract;
  return m;
}
inline AppliedMigration app(std::int64_t v, bool contract = false) {
  AppliedMigration a{v, "m" + std::to_string(v), "sum" + std::to_string(v), "2026-12-01T10:00:00Z", 0, "v3", "pod-a"};
  a.contract = contract;
  return a;
}
inline detail::Target target(std::vector<Migration> ms, std::int64_t bound) {
  detail::Target t;
  t.migrations = std::move(ms);
  t.bound = bound;
  t.expected = detail::expand_threshold(t.migrations, bound);
  return t;
}

}  // namespace lockstep::test::phases
