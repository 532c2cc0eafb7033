// Shared source checks: sort by version, reject duplicates, fill checksums
// (canonical, source/checksum.hpp).
#pragma once

#include <algorithm>
#include <string_view>
#include <vector>

#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/source/checksum.hpp"

namespace lockstep::detail {

[[nodiscard]] inline result<std::vector<Migration>> finalize_source(std::vector<Migration> migrations) {
  // By version, then origin: deterministic whatever order the directory
  // listed the files in (and std::sort, not stable_sort, whose libstdc++ 12
  // implementation warns as deprecated under clang).
  std::sort(migrations.begin(), migrations.end(), [](const Migration& a, const Migration& b) {
    return a.version != b.version ? a.version < b.version : a.origin < b.origin;
  });
  for (std::size_t i = 1; i < migrations.size(); ++i) {
    if (migrations[i].version == migrations[i - 1].version) {
      auto e = make_error(errc::source_invalid,
                          "duplicate migration version " + std::to_string(migrations[i].version) + ": " +
                              migrations[i - 1].origin + " and " + migrations[i].origin +
                              "; give one of them a new, higher version");
      e.version = migrations[i].version;
      e.file = migrations[i].origin;
      return e;
    }
  }
  for (auto& m : migrations) {
    if (m.checksum.empty()) {
      m.checksum = migration_checksum(m.sql);
      m.legacy_checksum = legacy_checksum(m.sql);
    }
    // A leading byte-order mark is not SQL: sent, PostgreSQL reads it as part
    // of the first word (a syntax error), and the directives before the first
    // statement would be taken for part of it. The line numbers stay right.
    if (std::string_view{m.sql}.substr(0, utf8_bom.size()) == utf8_bom) m.sql.erase(0, utf8_bom.size());
  }
  return migrations;
}

}  // namespace lockstep::detail
