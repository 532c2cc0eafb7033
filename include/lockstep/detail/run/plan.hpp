// Pure decisions: compare the source with the ledger, decide what is pending,
// and apply the gate. No I/O, so every rule is unit-tested directly.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "lockstep/detail/base/digest.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/source/checksum.hpp"

namespace lockstep::detail {

struct Plan {
  std::vector<const Migration*> pending;       // to apply, in version order (contract ones included)
  std::vector<std::int64_t> unknown_versions;  // applied, newer than anything in the source
  std::int64_t applied_max = 0;
};

[[nodiscard]] inline std::int64_t newest_version(const std::vector<Migration>& source) noexcept {
  return source.empty() ? 0 : source.back().version;
}

// The fast path's check: one digest comparison proves that the applied set is
// exactly the source's prefix up to the schema version, with no file edited.
// The version and the count must say the same as the digest: a state read
// from a summary (the ledger's head, edited by hand or stale) whose version
// claims more, or less, than its digest proves is a mismatch, and the caller
// then takes everything from the ledger itself (fast_path.hpp). An honest
// state always passes these: its digest covers its newest version, so that
// version is one of the source's, and one row per version up to it.
[[nodiscard]] inline bool matches_prefix(const LedgerState& state, const DigestChain& source) {
  if (!state.exists) return true;
  if (state.count == 0) return state.version == 0 && state.digest.empty();
  return source.has(state.version) && state.count == source.count_up_to(state.version) &&
         source.matches(state.version, state.digest);
}

[[nodiscard]] inline result<Plan> plan(const std::vector<Migration>& source,
                                       const std::vector<AppliedMigration>& applied, std::int64_t target) {
  Plan p;
  std::unordered_map<std::int64_t, const Migration*> by_version;
  for (const auto& m : source) by_version.emplace(m.version, &m);
  const std::int64_t source_max = newest_version(source);

  for (const auto& a : applied) {
    p.applied_max = std::max(p.applied_max, a.version);
    const auto it = by_version.find(a.version);
    if (it == by_version.end()) {
      if (a.version > source_max) {
        p.unknown_versions.push_back(a.version);
        continue;
      }
      auto e = make_error(errc::ledger_invalid,
                          "migration " + std::to_string(a.version) + " (" + a.name +
                              ") is recorded as applied but this binary has no such migration, while it has "
                              "newer ones; migrations are never deleted: restore its file");
      e.version = a.version;
      e.migration_name = a.name;
      return e;
    }
    const Migration& m = *it->second;
    if (!checksum_matches(m, a.checksum)) {
      auto e = make_error(errc::checksum_mismatch,
                          "migration " + std::to_string(a.version) + " (" + m.origin + ") was applied with checksum " +
                              a.checksum + " but the file now has " + m.checksum +
                              " (line endings and a byte-order mark do not count); applied migrations must not "
                              "change: restore the file and put the change in a new migration with a higher version");
      e.version = a.version;
      e.migration_name = m.name;
      e.file = m.origin;
      return e;
    }
  }

  std::unordered_map<std::int64_t, bool> is_applied;
  for (const auto& a : applied) is_applied.emplace(a.version, true);
  for (const auto& m : source) {
    if (is_applied.count(m.version) != 0) continue;
    // A contract migration waits for the older replicas to leave while later
    // expand migrations go ahead, so it alone may be pending below the
    // schema version (later migrations must not depend on it).
    if (m.version < p.applied_max && !m.contract) {
      auto e = make_error(errc::ledger_invalid,
                          "migration " + std::to_string(m.version) + " (" + m.origin +
                              ") is not applied but the schema is already at version " +
                              std::to_string(p.applied_max) +
                              "; migrations run forward only: give it a version above " +
                              std::to_string(p.applied_max));
      e.version = m.version;
      e.migration_name = m.name;
      e.file = m.origin;
      return e;
    }
    if (m.version <= target) p.pending.push_back(&m);
  }
  return p;
}

// The gate: the app must not start on a schema older than it expects.
[[nodiscard]] inline result<void> gate(std::int64_t schema_version, std::int64_t expected,
                                       std::int64_t source_newest) {
  if (schema_version >= expected) return outcome::success();
  std::string msg = "the schema is at version " + std::to_string(schema_version) + " but this binary expects " +
                    std::to_string(expected);
  if (expected > source_newest) {
    msg += ", and its newest migration is " + std::to_string(source_newest) +
           "; ship the missing migrations with this binary or lower the expected version";
  } else {
    msg += "; the application must not start until the migrations are applied";
  }
  auto e = make_error(errc::schema_behind, std::move(msg));
  e.version = expected;
  return e;
}

}  // namespace lockstep::detail
