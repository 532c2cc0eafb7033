// unique_constraint_build: ADD UNIQUE / PRIMARY KEY / EXCLUDE without USING INDEX on a live table.
//
// Detection: add_constraint() and column() below, for each ADD action the
// shared statement reader (safety/analyze.hpp) finds in an ALTER TABLE, with
// the table resolved (live, or created in this run).
// Sized by: the table's size.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "lockstep/checks/rule.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::unique_constraint_build {

inline constexpr Rule rule{"unique_constraint_build", Rule::Kind::lock, true,
  "builds its index under ACCESS EXCLUSIVE (no reads, no writes)",
  "CREATE UNIQUE INDEX CONCURRENTLY first (no-transaction migration), then ADD CONSTRAINT ... "
  "UNIQUE/PRIMARY KEY USING INDEX, which is instant"};

// The action ADD [CONSTRAINT name] {UNIQUE | PRIMARY KEY | EXCLUDE} ... at
// token `a`, the kind at `i`, ending at `end`; `live`: the table when it
// existed before the run, else "". USING INDEX adopts an index built before.
inline void add_constraint(safety::Scan& s, const std::string& live, std::size_t a, std::size_t i, std::size_t end) {
  const auto& r = s.r;
  if (r.has(i, end, "using", "index") || live.empty()) return;
  const bool exclude = r.is(i, "exclude");
  s.add(a, rule.id, live,
        "ADD " + std::string{exclude ? "EXCLUDE" : r.is(i, "unique") ? "UNIQUE" : "PRIMARY KEY"} + " on " + live,
        exclude ? "an exclusion constraint has no USING INDEX form" : "");
}

// ADD COLUMN c type ... UNIQUE / PRIMARY KEY: one finding for each.
inline void column(safety::Scan& s, const std::string& live, const safety::ColumnDef& c) {
  for (std::string_view kw : {"unique", "primary"}) {
    const std::size_t k = s.r.find(c.type, c.end, [&](const sql::Token& t, std::size_t) { return t.is(kw); });
    if (k < c.end)
      s.add(k, rule.id, live,
            "ADD COLUMN " + c.name.text + (kw == "unique" ? " UNIQUE" : " PRIMARY KEY") + " on " + live);
  }
}

}  // namespace lockstep::checks::rules::unique_constraint_build
