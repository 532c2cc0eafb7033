// Which findings stop a deploy. The default stops it only for work that
// blocks a live table for as long as the work takes, on a table big enough
// for that to hurt, and for statements that cannot work (the statement
// rules' errors). The numbers come from docs/lock-safety.md (PostgreSQL 15,
// warm cache, idle 2-core machine): at 100,000 narrow rows (6.5 MB) a plain
// CREATE INDEX held its lock 77 ms, a volatile-default rewrite 575 ms; at
// 1,000,000 rows (88 MB) 1.25 s and 5.8 s. A production server (cold cache,
// replicas to feed, live traffic) is commonly 5-10x slower, so from 100,000
// rows the worst case passes lockstep's own lock_timeout (2 s): how long an
// application query may sensibly queue behind DDL. Bytes catch wide rows
// and tables never analyzed (reltuples = -1): rewrites ran at ~15 MB/s, so
// 32 MB is ~2 s.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "lockstep/checks/level.hpp"
#include "lockstep/checks/rules.hpp"
#include "lockstep/error.hpp"

namespace lockstep {

struct LockSafety {
  bool enabled = true;  // false: the lock rules are off (the statement rules still run)
  // A sized finding (checks/rule.hpp) on a table with at least this many
  // rows (pg_class.reltuples), or this many bytes on disk, is an error.
  std::int64_t error_rows = 100'000;
  std::int64_t error_bytes = std::int64_t{32} << 20;
  // Per rule id (any rule of checks/rules.hpp): always an error, always a
  // warning, or off. Wins over size and over a rule's own default.
  std::map<std::string, checks::Level, std::less<>> levels;
};

namespace checks {

// One configured level: the rule must exist, and a fixed rule (one that
// keeps a promise, like transaction_control) cannot be set below error.
// Both parse_levels (the program, LOCKSTEP_LOCK_RULES) and check_settings
// (LockSafety::levels set in code) ask it, so no path lowers a fixed rule.
[[nodiscard]] inline result<void> check_level(std::string_view id, Level l) {
  const Rule* rule = find_rule(id);
  if (rule == nullptr) {
    return make_error(errc::invalid_argument, "unknown rule '" + std::string{id} + "'; rules: " + rule_ids());
  }
  if (rule->fixed && l != Level::error) {
    return make_error(errc::invalid_argument,
                      "rule " + std::string{id} + " is always an error: it keeps a promise (a migration is "
                      "recorded only when its work is committed, exactly once), so it cannot be " +
                          std::string{to_string(l)});
  }
  return outcome::success();
}

// "rule=level[,rule=level...]", e.g. "rename_breaks_old_code=error,not_idempotent=off".
[[nodiscard]] inline result<void> parse_levels(std::string_view spec, LockSafety& into) {
  while (!spec.empty()) {
    const auto comma = spec.find(',');
    const std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const std::string_view id = item.substr(0, eq);
    const std::string_view level = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    Level l{};
    if (level == "error") l = Level::error;
    else if (level == "warning") l = Level::warning;
    else if (level == "off") l = Level::off;
    else if (level == "info") l = Level::info;
    else if (find_rule(id) != nullptr) return make_error(errc::invalid_argument, "rule " + std::string{id} + " takes error, warning, info or off, not '" + std::string{level} + "'");
    LOCKSTEP_TRYV(check_level(id, l));
    into.levels[std::string{id}] = l;
  }
  return outcome::success();
}

}  // namespace checks

namespace safety {
using checks::parse_levels;
}  // namespace safety
}  // namespace lockstep
