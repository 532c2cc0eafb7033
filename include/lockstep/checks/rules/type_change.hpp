// type_change: ALTER COLUMN ... TYPE on a live table.
//
// Detection: alter_type() below, for each ALTER COLUMN ... TYPE action the
// shared statement reader (safety/analyze.hpp) finds in an ALTER TABLE of a
// live table.
// Question: does the new type keep every stored value as it is (binary-
// coercible, or a same-type widening)? Then nothing is rewritten (ask()
// below, one catalog query and the typmod arithmetic); then the table's size.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/checks/rule.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/safety/catalog.hpp"
#include "lockstep/safety/scan.hpp"

namespace lockstep::checks::rules::type_change {

inline constexpr Rule rule{"type_change", Rule::Kind::lock, true,
  "rewrites the table and its indexes under ACCESS EXCLUSIVE",
  "add a new column of the new type, backfill it, switch the code, then drop the old one (contract)"};

// The action ALTER [COLUMN] c [SET DATA] TYPE t [COLLATE ...] [USING ...] at
// token `a`, the type from `type` to `end`; `live`: the table when it existed
// before the run, else "". USING rewrites every row; without it only the
// catalog knows whether the cast is binary-coercible.
inline void alter_type(safety::Scan& s, const std::string& live, std::size_t a, const sql::Name& column,
                       std::size_t type, std::size_t end) {
  if (live.empty()) return;
  const auto& r = s.r;
  const std::size_t type_end =
      r.find(type, end, [](const sql::Token& t, std::size_t) { return t.is("collate") || t.is("using"); });
  auto& h = s.add(a, rule.id, live, "ALTER COLUMN " + column.text + " TYPE " + r.text(type, type_end) + " on " + live);
  h.column = column.folded;
  h.new_type = r.text(type, type_end);
  if (r.has(type, end, "using")) {
    h.note = "USING rewrites every row";
  } else {
    h.question = safety::Question::type_rewrite;
    h.certain = false;
  }
}

// (n) or (p,s) after a type name, as numbers; empty when there is none.
inline std::vector<long> type_modifiers(const std::string& type) {
  std::vector<long> out;
  const auto open = type.find('(');
  if (open == std::string::npos) return out;
  long n = -1;
  for (std::size_t i = open + 1; i < type.size() && type[i] != ')'; ++i) {
    const char c = type[i];
    if (c >= '0' && c <= '9') {
      n = (n < 0 ? 0 : n * 10) + (c - '0');
    } else if (c == ',') {
      out.push_back(n);
      n = -1;
    }
  }
  if (n >= 0) out.push_back(n);
  return out;
}

// Whether changing a column of type `base` (pg's canonical name) from
// modifiers `from` to `to` keeps every stored value as it is: PostgreSQL's
// length-coercion support functions skip the rewrite exactly then.
inline bool same_type_keeps_values(const std::string& base, const std::vector<long>& from, const std::vector<long>& to) {
  if (from == to) return true;
  const bool widening = base == "character varying" || base == "bit varying" || base == "timestamp without time zone" ||
                        base == "timestamp with time zone" || base == "time without time zone" || base == "interval";
  if (to.empty()) return widening || base == "numeric";
  if (from.empty()) return false;  // unconstrained to constrained: every value is checked
  if (widening) return to[0] >= from[0];
  if (base == "numeric") {
    const long from_scale = from.size() > 1 ? from[1] : 0, to_scale = to.size() > 1 ? to[1] : 0;
    return from_scale == to_scale && to[0] >= from[0];
  }
  return false;
}

// The rewrite question's answer, with what the catalog said for the message.
struct Rewrite {
  bool rewrites = true;
  std::string from;  // current type, e.g. "character varying(20)"; empty: column not found
};

[[nodiscard]] inline result<Rewrite> rewrite(safety::Catalog& catalog, const std::string& table,
                                             const std::string& column, const std::string& new_type) {
  auto rows = catalog.connection().query(
      "SELECT format_type(a.atttypid, NULL), format_type(a.atttypid, a.atttypmod), "
      "a.atttypid = to_regtype($3), "
      "EXISTS (SELECT 1 FROM pg_cast WHERE castsource = a.atttypid AND casttarget = to_regtype($3) "
      "AND castmethod = 'b'), "
      "a.atttypid = 'timestamp'::regtype AND to_regtype($3) = 'timestamptz'::regtype "
      "AND current_setting('TimeZone') IN ('UTC', 'Etc/UTC', 'GMT', 'Etc/GMT') "
      "FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped",
      table, column, new_type);
  if (!rows) return std::move(rows).error();
  Rewrite out;
  if (rows.value().empty()) return out;  // a column added earlier in this run: assume the worst
  const auto& r = rows.value()[0];
  const std::string base = r[0].value_or("");
  out.from = r[1].value_or("");
  const bool same = r[2].value_or("f") == "t";
  const bool binary = r[3].value_or("f") == "t";
  const bool utc_timestamptz = r[4].value_or("f") == "t" && catalog.server_version() >= 120000;
  const auto to = type_modifiers(new_type);
  if (same) out.rewrites = !same_type_keeps_values(base, type_modifiers(out.from), to);
  else out.rewrites = !((binary && to.empty()) || utc_timestamptz);
  return out;
}

// Kept as stored: nothing is rewritten, no finding. Otherwise the message
// says what from.
[[nodiscard]] inline result<safety::Answer> ask(safety::Catalog& catalog, const safety::Hazard& h) {
  LOCKSTEP_TRY(c, rewrite(catalog, h.table, h.column, h.new_type));
  safety::Answer a;
  a.dismissed = !c.rewrites;
  a.certain = true;
  if (!a.dismissed)
    a.why = c.from.empty() ? "the column is not in the catalog yet" : "from " + c.from + ", not binary-coercible";
  return a;
}

}  // namespace lockstep::checks::rules::type_change
