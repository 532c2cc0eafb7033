// Checks across the files of a source, which no one file's check sees
// (checks/check.hpp checks each file): each `-- lockstep:requires-background=V`
// names an earlier background migration of the same source. Every boot
// runs it before anything is sent (detail/run/target.hpp), and `lockstep
// lint` with the per-file checks, so a typo cannot leave a migration waiting
// for a job that never exists.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lockstep/checks/check.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/sql/directives.hpp"

namespace lockstep {

namespace detail {

// Migration `version` of `migrations`; nullptr: there is none.
[[nodiscard]] inline const Migration* find_migration(const std::vector<Migration>& migrations,
                                                     std::int64_t version) noexcept {
  const auto it = std::find_if(migrations.begin(), migrations.end(),
                               [&](const Migration& o) { return o.version == version; });
  return it == migrations.end() ? nullptr : &*it;
}

}  // namespace detail

// Each requirement names an earlier background migration of `migrations`;
// source_invalid (the file and the directive's line) when one does not.
[[nodiscard]] inline result<void> check_requirements(const std::vector<Migration>& migrations) {
  // Read from each file's leading comments, as every boot reads them
  // (sql::declared_requirement, sql::declares_background), whoever loaded it.
  for (const auto& m : migrations) {
    const std::int64_t needs = sql::declared_requirement(m.sql);
    if (needs == 0) continue;
    const Migration* it = detail::find_migration(migrations, needs);
    std::string why;
    if (needs >= m.version) {
      why = "names " + std::to_string(needs) + ", which is not an earlier migration; a migration "
            "can only require the job of a background migration that comes before it";
    } else if (it == nullptr) {
      why = "names " + std::to_string(needs) + ", which this source does not have";
    } else if (!sql::declares_background(it->sql)) {
      why = "names " + std::to_string(needs) + " (" + it->origin + "), which is not a background "
            "migration (`-- lockstep:background`)";
    } else {
      continue;
    }
    auto e = make_error(errc::source_invalid, "lockstep:requires-background " + why);
    const auto at = m.sql.find("lockstep:requires-background");
    if (at != std::string::npos) {
      e.line = static_cast<int>(std::count(m.sql.begin(), m.sql.begin() + static_cast<std::ptrdiff_t>(at), '\n')) + 1;
      e.column = 1;
    }
    return detail::at_migration(std::move(e), m);
  }
  return outcome::success();
}

}  // namespace lockstep
