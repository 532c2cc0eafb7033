// truncate_cascade: TRUNCATE ... CASCADE of a live table.
//
// Detection: detect() below, given the tables the statement names by the
// shared statement reader (safety/analyze.hpp), which tracks what the run
// creates so a new table never counts as live.
// Question: which other tables would it empty? (ask() below, one catalog query).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "lockstep/checks/rule.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/safety/catalog.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::truncate_cascade {

inline constexpr Rule rule{"truncate_cascade", Rule::Kind::lock, false,
  "also empties every table whose foreign keys reference it (and theirs, recursively), under ACCESS "
  "EXCLUSIVE on each",
  "TRUNCATE the tables you mean by name, without CASCADE: it then fails instead of emptying a table you did "
  "not name"};

// TRUNCATE [TABLE] [ONLY] name [*] [, ...] [RESTART|CONTINUE IDENTITY] [CASCADE|RESTRICT]:
// `named` every table as written, `live` the first that existed before the
// run ("" if none), `after` the token after the list.
inline void detect(safety::Scan& s, std::vector<std::string> named, const std::string& live, std::size_t after) {
  if (live.empty() || !s.r.has(after, s.r.size(), "cascade")) return;
  auto& h = s.add(0, rule.id, live, "TRUNCATE ... CASCADE of " + live);
  h.question = safety::Question::cascades;
  h.named = std::move(named);
  h.certain = false;  // which tables, if any, only the catalog knows
}

// The tables TRUNCATE ... CASCADE of `named` empties besides them: every
// table whose foreign key references one of them, recursively (top-level
// constraints only: a partitioned table's are cloned into its partitions).
[[nodiscard]] inline result<std::string> cascades(safety::Catalog& catalog, const std::vector<std::string>& named) {
  auto rows = catalog.connection().query(
      "WITH RECURSIVE named AS (SELECT to_regclass(n)::oid AS oid FROM unnest($1::text[]) n),"
      " r(oid) AS (SELECT oid FROM named WHERE oid IS NOT NULL"
      "  UNION SELECT c.conrelid FROM pg_constraint c JOIN r ON c.confrelid = r.oid"
      "  WHERE c.contype = 'f' AND c.conparentid = 0) "
      "SELECT coalesce(string_agg(oid::regclass::text, ', ' ORDER BY oid::regclass::text), '') FROM r "
      "WHERE oid NOT IN (SELECT oid FROM named WHERE oid IS NOT NULL)",
      safety::detail::text_array(named));
  if (!rows) return std::move(rows).error();
  return rows.value().empty() ? std::string{} : rows.value()[0][0].value_or("");
}

// Nothing references it: CASCADE empties nothing more, no finding.
[[nodiscard]] inline result<safety::Answer> ask(safety::Catalog& catalog, const safety::Hazard& h) {
  LOCKSTEP_TRY(more, cascades(catalog, h.named));
  safety::Answer a;
  a.dismissed = more.empty();
  a.certain = true;
  if (!more.empty()) a.why = "it also empties " + more;
  return a;
}

}  // namespace lockstep::checks::rules::truncate_cascade
