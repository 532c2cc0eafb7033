// What the live database knows and the text cannot, as the rules share it:
// a table's size (with its partitions or children), what a finding about
// more than one table is sized by, and the connection each rule's own
// question goes over (checks/rules/<id>.hpp: ask()). Read by the leader at
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

 private:
  Connection& conn_;
  std::map<std::string, TableSize> sizes_;
};

}  // namespace lockstep::safety
