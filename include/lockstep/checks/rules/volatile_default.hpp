// volatile_default: ADD COLUMN ... DEFAULT <volatile expression> (any default before PostgreSQL 11).
//
// Detection: column() below, for each ADD COLUMN the shared statement reader
// (safety/analyze.hpp) finds in an ALTER TABLE of a live table; the
// functions the text alone cannot place are left to the catalog.
// Question: are the functions the default calls volatile? (ask() below, one
// catalog query); then the table's size.
#pragma once

#include <algorithm>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lockstep/checks/rule.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/safety/catalog.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::volatile_default {

inline constexpr Rule rule{"volatile_default", Rule::Kind::lock, true,
  "rewrites the table under ACCESS EXCLUSIVE (a volatile default is computed per row)",
  "add the column without a default (or with a constant one), SET DEFAULT afterwards, and backfill in batches"};

// Functions a default may call, by what the text alone can tell.
inline bool known_volatile(std::string_view f) {
  static constexpr std::string_view names[] = {"gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc",
                                               "uuid_generate_v4", "uuidv4", "uuidv7", "random", "clock_timestamp",
                                               "timeofday", "nextval", "txid_current", "gen_random_bytes"};
  return std::find(std::begin(names), std::end(names), f) != std::end(names);
}
inline bool known_not_volatile(std::string_view f) {
  // SQL syntax that looks like a call, type names with modifiers, and common
  // stable or immutable functions.
  static constexpr std::string_view names[] = {
      "now", "statement_timestamp", "transaction_timestamp", "coalesce", "nullif", "greatest", "least", "cast",
      "array", "row", "extract", "lower", "upper", "concat", "to_char", "to_jsonb", "jsonb_build_object",
      "json_build_object", "varchar", "numeric", "decimal", "char", "character", "timestamp", "timestamptz", "time",
      "interval", "bit", "varbit", "float", "jsonb_build_array", "array_fill", "make_interval", "length"};
  return std::find(std::begin(names), std::end(names), f) != std::end(names);
}

// ADD COLUMN c type DEFAULT expr on `live`. A constant is stored once in the
// catalog (PostgreSQL 11+); before 11 any default rewrites the table.
inline void column(safety::Scan& s, const std::string& live, const safety::ColumnDef& c) {
  if (c.no_default) return;
  const auto& r = s.r;
  const std::string what =
      "ADD COLUMN " + c.name.text + " DEFAULT " + r.text(c.default_at + 1, c.default_end) + " to " + live;
  if (s.server_version != 0 && s.server_version < 110000) {
    s.add(c.action, rule.id, live, what, "before PostgreSQL 11 any default rewrites the table");
    return;
  }
  const auto calls = r.calls(c.default_at + 1, c.default_end);
  if (calls.empty()) return;  // a constant
  const bool known = std::any_of(calls.begin(), calls.end(), known_volatile);
  const bool harmless = std::all_of(calls.begin(), calls.end(), known_not_volatile);
  if (harmless) return;
  auto& h = s.add(c.action, rule.id, live, what);
  h.functions = calls;
  h.question = safety::Question::default_volatile;
  h.certain = known;
}

// Whether any function of one of these names is volatile (any overload:
// the text does not say which one the default resolves to).
[[nodiscard]] inline result<bool> any_volatile(safety::Catalog& catalog, const std::vector<std::string>& functions) {
  auto rows = catalog.connection().query(
      "SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = ANY($1::text[]) AND provolatile = 'v')",
      safety::detail::text_array(functions));
  if (!rows) return std::move(rows).error();
  return !rows.value().empty() && rows.value()[0][0].value_or("f") == "t";
}

// None volatile: computed once, stored in the catalog, no rewrite, no finding.
[[nodiscard]] inline result<safety::Answer> ask(safety::Catalog& catalog, const safety::Hazard& h) {
  LOCKSTEP_TRY(any, any_volatile(catalog, h.functions));
  safety::Answer a;
  a.dismissed = !any;
  a.certain = true;
  return a;
}

}  // namespace lockstep::checks::rules::volatile_default
