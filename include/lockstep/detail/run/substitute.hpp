// Settings::placeholders applied to a loaded source: each file's `${NAME}`
// replaced (sql/placeholders.hpp) after the source took its checksum over
// the file as written, so a run and the ledger agree on what a file is
// whatever its values. Done where the source is loaded (a run's load phase,
// a background runner's start), before anything is sent or shown.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/checks/check.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/settings.hpp"
#include "lockstep/sql/placeholders.hpp"

namespace lockstep::detail {

// Replaces the placeholders of every migration in place; returns each value
// used, for the redactor. Nothing when placeholders are off.
[[nodiscard]] inline result<std::vector<std::string>> substitute_placeholders(std::vector<Migration>& migrations,
                                                                              const Settings::Placeholders& s) {
  std::vector<std::string> used;
  if (!s.enabled) return used;
  const sql::PlaceholderLookup lookup = [&s](const std::string& name) -> std::optional<std::string> {
    if (const auto it = s.values.find(name); it != s.values.end()) return it->second;
    if (!s.from_environment) return std::nullopt;
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string{v};
  };
  for (auto& m : migrations) {
    if (m.sql.find("${") == std::string::npos) continue;
    auto done = sql::substitute_placeholders(m.sql, lookup);
    if (!done) return at_migration(std::move(done).error(), m);
    m.sql = std::move(done.value().sql);  // m.checksum stays the file's as written
    for (auto& v : done.value().values) used.push_back(std::move(v));
  }
  return used;
}

}  // namespace lockstep::detail
