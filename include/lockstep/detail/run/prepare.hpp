// What the Migrator runs of a migration (read and checked by
// checks/check.hpp), and a failure row's recorded position read back.
#pragma once

#include <optional>
#include <string_view>

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

// "file:line[:column]" as recorded in a failure row -> line and column.
inline void read_position(std::string_view position, Error& e) {
  auto number_after = [](std::string_view s, std::size_t colon) -> std::optional<int> {
    if (colon == std::string_view::npos || colon + 1 >= s.size()) return std::nullopt;
    int n = 0;
    for (char c : s.substr(colon + 1)) {
      if (c < '0' || c > '9' || n > 100000000) return std::nullopt;
      n = n * 10 + (c - '0');
    }
    return n;
  };
  const auto last = position.rfind(':');
  const auto last_n = number_after(position, last);
  if (!last_n) return;
  const auto before = position.substr(0, last);
  const auto prev = before.rfind(':');
  if (const auto line = number_after(before, prev)) {
    e.line = *line;
    e.column = *last_n;
  } else {
    e.line = *last_n;
  }
}

}  // namespace lockstep::detail
