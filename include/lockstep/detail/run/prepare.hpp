// What the Migrator runs of a migration (read and checked by
// checks/check.hpp).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "lockstep/checks/check.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"

namespace lockstep::detail {

// What the Migrator runs: statements, directives and the statement rules'
// findings (checks/check.hpp), once pre-flight passed it.
using PreparedMigration = CheckedMigration;

}  // namespace lockstep::detail
