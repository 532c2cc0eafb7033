// What the live database knows and the text cannot: a table's size, the
// volatility of the functions a default calls, a column's current type, and
// the checks that already prove a column has no NULLs. Read by the leader at
// pre-flight, before any migration runs, over its direct connection; each
// answer is one catalog query (no user table is read or locked).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/checks/finding.hpp"
#include "lockstep/safety/hazard.hpp"

namespace lockstep::safety {

namespace detail {

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

// A text[] literal: {"a","b"} with quotes and backslashes escaped.
inline std::string text_array(const std::vector<std::string>& items) {
  std::string array = "{";
  for (const auto& f : items) {
    if (array.size() > 1) array += ',';
    array += '"';
    for (char c : f) {
      if (c == '"' || c == '\\') array += '\\';
      array += c;
    }
    array += '"';
  }
  return array + '}';
}

}  // namespace detail

// The rewrite question's answer, with what the catalog said for the message.
struct TypeChange {
  bool rewrites = true;
  std::string from;  // current type, e.g. "character varying(20)"; empty: column not found
};

class Catalog {
 public:
  explicit Catalog(Connection& conn) : conn_{conn} {}

  [[nodiscard]] int server_version() const noexcept { return conn_.server_version(); }

  // For the questions a rule asks in its own file (checks/rules/<id>.hpp).
  [[nodiscard]] Connection& connection() noexcept { return conn_; }

  // The relation's rows and bytes, with those of its partitions or
  // inheritance children (at any depth) unless `descendants` is false (ONLY).
  // reltuples is -1 for a heap never analyzed or vacuumed: it counts as 0
  // beside analyzed ones, and the sum is -1 only when none was analyzed.
  [[nodiscard]] result<TableSize> size(const std::string& relation, bool descendants = true) {
    const std::string key = relation + (descendants ? "" : "\x01ONLY");
    if (auto it = sizes_.find(key); it != sizes_.end()) return it->second;
    auto rows = conn_.query(
        "WITH RECURSIVE tree(oid, depth) AS ("
        "  SELECT to_regclass($1)::oid, 0"
        "  UNION ALL SELECT i.inhrelid, t.depth + 1 FROM pg_inherits i JOIN tree t ON i.inhparent = t.oid"
        "  WHERE $2::bool) "
        "SELECT count(*) > 0,"
        " coalesce(CASE WHEN bool_and(c.reltuples < 0) FILTER (WHERE c.relkind <> 'p') THEN -1"
        "  ELSE sum(greatest(c.reltuples, 0)) FILTER (WHERE c.relkind <> 'p') END, 0)::float8,"
        " coalesce(sum(pg_relation_size(c.oid)), 0)::int8,"
        " count(*) FILTER (WHERE t.depth > 0 AND c.relkind <> 'p') "
        "FROM tree t JOIN pg_class c ON c.oid = t.oid",
        relation, std::string{descendants ? "true" : "false"});
    if (!rows) return std::move(rows).error();
    TableSize s;
    if (!rows.value().empty() && rows.value()[0][0].value_or("f") == "t") {
      const auto& row = rows.value()[0];
      s.exists = true;
      s.rows = std::strtod(row[1].value_or("-1").c_str(), nullptr);
      s.bytes = std::strtoll(row[2].value_or("0").c_str(), nullptr, 10);
      s.parts = std::atoi(row[3].value_or("0").c_str());
    }
    sizes_.emplace(key, s);
    return s;
  }

  // Whether any function of one of these names is volatile (any overload:
  // the text does not say which one the default resolves to).
  [[nodiscard]] result<bool> any_volatile(const std::vector<std::string>& functions) {
    auto rows = conn_.query("SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = ANY($1::text[]) AND provolatile = 'v')",
                            detail::text_array(functions));
    if (!rows) return std::move(rows).error();
    return !rows.value().empty() && rows.value()[0][0].value_or("f") == "t";
  }

  [[nodiscard]] result<TypeChange> type_change(const std::string& table, const std::string& column,
                                               const std::string& new_type) {
    auto rows = conn_.query(
        "SELECT format_type(a.atttypid, NULL), format_type(a.atttypid, a.atttypmod), "
        "a.atttypid = to_regtype($3), "
        "EXISTS (SELECT 1 FROM pg_cast WHERE castsource = a.atttypid AND casttarget = to_regtype($3) "
        "AND castmethod = 'b'), "
        "a.atttypid = 'timestamp'::regtype AND to_regtype($3) = 'timestamptz'::regtype "
        "AND current_setting('TimeZone') IN ('UTC', 'Etc/UTC', 'GMT', 'Etc/GMT') "
        "FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped",
        table, column, new_type);
    if (!rows) return std::move(rows).error();
    TypeChange out;
    if (rows.value().empty()) return out;  // a column added earlier in this run: assume the worst
    const auto& r = rows.value()[0];
    const std::string base = r[0].value_or("");
    out.from = r[1].value_or("");
    const bool same = r[2].value_or("f") == "t";
    const bool binary = r[3].value_or("f") == "t";
    const bool utc_timestamptz = r[4].value_or("f") == "t" && server_version() >= 120000;
    const auto to = detail::type_modifiers(new_type);
    if (same) out.rewrites = !detail::same_type_keeps_values(base, detail::type_modifiers(out.from), to);
    else out.rewrites = !((binary && to.empty()) || utc_timestamptz);
    return out;
  }

  // A validated CHECK (col IS NOT NULL), or the column is NOT NULL already:
  // SET NOT NULL then skips its scan (PostgreSQL 12+). `validated`: NOT
  // VALID constraints that an earlier statement of this run validates, which
  // count as validated by the time SET NOT NULL runs.
  [[nodiscard]] result<bool> proves_not_null(const std::string& table, const std::string& column,
                                             const std::vector<std::string>& validated = {}) {
    auto rows = conn_.query(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND attnotnull)"
        " OR EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'c'"
        " AND (convalidated OR conname = ANY($3::text[]))"
        // (the definition of one not validated yet ends in " NOT VALID")
        " AND regexp_replace(pg_get_constraintdef(oid), ' NOT VALID$', '') = 'CHECK ((' || quote_ident($2) || ' IS NOT NULL))')",
        table, column, detail::text_array(validated));
    if (!rows) return std::move(rows).error();
    return !rows.value().empty() && rows.value()[0][0].value_or("f") == "t";
  }

  // What a finding about more than one table is sized by (Object in
  // safety/hazard.hpp): a domain, every table with a column of it or of a
  // domain over it, summed (ALTER DOMAIN holds SHARE on each until commit);
  // a schema, the database or the catalogs, the largest table (REINDEX does
  // one table at a time). `of` names them; empty when there is none.
  [[nodiscard]] result<TableSize> size_of(Object object, const std::string& name) {
    auto rows = object == Object::domain
        ? conn_.query(
              "WITH RECURSIVE d(oid) AS ("
              "  SELECT t.oid FROM pg_type t WHERE t.oid = to_regtype($1) AND t.typtype = 'd'"
              "  UNION SELECT t.oid FROM pg_type t JOIN d ON t.typbasetype = d.oid WHERE t.typtype = 'd'),"
              " rels AS (SELECT c.oid, c.reltuples, string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) AS cols"
              "  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
              "  WHERE a.atttypid IN (SELECT oid FROM d) AND a.attnum > 0 AND NOT a.attisdropped"
              "  AND c.relkind IN ('r', 'm') GROUP BY c.oid, c.reltuples) "
              "SELECT EXISTS (SELECT 1 FROM d),"
              " coalesce(CASE WHEN bool_and(reltuples < 0) THEN -1 ELSE sum(greatest(reltuples, 0)) END, 0)::float8,"
              " coalesce(sum(pg_relation_size(oid)), 0)::int8,"
              " coalesce(string_agg(oid::regclass::text || ' (' || cols || ')', ', ' ORDER BY oid::regclass::text), '')"
              " FROM rels",
              name)
        : conn_.query(
              "WITH scope AS (SELECT CASE $2 WHEN 'schema' THEN to_regnamespace($1)::oid"
              "  WHEN 'catalogs' THEN 'pg_catalog'::regnamespace::oid END AS ns) "
              "SELECT $2 = 'database' OR (SELECT ns FROM scope) IS NOT NULL, c.reltuples::float8,"
              " pg_relation_size(c.oid)::int8, 'largest table ' || c.oid::regclass::text "
              "FROM (SELECT 1) one LEFT JOIN pg_class c ON c.relkind IN ('r', 'm') AND CASE $2"
              "  WHEN 'database' THEN c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'pg_toast'::regnamespace,"
              "   'information_schema'::regnamespace)"
              "  ELSE c.relnamespace = (SELECT ns FROM scope) END "
              "ORDER BY pg_relation_size(c.oid) DESC NULLS LAST LIMIT 1",
              name, std::string{object == Object::schema ? "schema" : object == Object::catalogs ? "catalogs" : "database"});
    if (!rows) return std::move(rows).error();
    TableSize s;
    if (rows.value().empty() || rows.value()[0][0].value_or("f") != "t") return s;
    const auto& row = rows.value()[0];
    s.exists = true;
    s.rows = std::strtod(row[1].value_or("0").c_str(), nullptr);
    s.bytes = std::strtoll(row[2].value_or("0").c_str(), nullptr, 10);
    s.of = row[3].value_or("");
    return s;
  }

  // Whether `type` is a domain with a default, which a new column's existing
  // rows get instead of NULL.
  [[nodiscard]] result<bool> type_has_default(const std::string& type) {
    auto rows = conn_.query("SELECT typdefault IS NOT NULL OR typdefaultbin IS NOT NULL FROM pg_type "
                            "WHERE oid = to_regtype($1)",
                            type);
    if (!rows) return std::move(rows).error();
    return !rows.value().empty() && rows.value()[0][0].value_or("f") == "t";
  }

 private:
  Connection& conn_;
  std::map<std::string, TableSize> sizes_;
};

}  // namespace lockstep::safety
