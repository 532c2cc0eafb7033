// Shared source checks: sort by version, reject duplicates, fill checksums.
#pragma once

#include <algorithm>
#include <vector>

#include "lockstep/detail/base/sha256.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"

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
    if (m.checksum.empty()) m.checksum = sha256_hex(m.sql);
  }
  return migrations;
}

}  // namespace lockstep::detail
