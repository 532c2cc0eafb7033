// The text half of the lock-safety rules, offline: which statements each
// rule flags and which it must leave alone. The catalog half (sizes, types,
// volatility) is tested against a real server in
// integration/lock_safety_test.cpp.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lockstep/safety/analyze.hpp"
#include "lockstep/safety/judge.hpp"
#include "lockstep/settings.hpp"

using namespace lockstep;

namespace {

struct Case {
  const char* sql;
  std::vector<std::string> rules;  // expected, in order
};

std::vector<std::string> rules_of(const std::string& sql, bool no_transaction = false, bool contract = false,
                                  int server_version = 150000) {
  auto statements = sql::split(sql);
  REQUIRE(statements);
  sql::Directives d;
  d.no_transaction = no_transaction;
  d.contract = contract;
  safety::Analyzer a{server_version};
  std::vector<std::string> out;
  for (const auto& h : a.migration(statements.value(), sql, d)) out.push_back(h.rule);
  return out;
}

void check_cases(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    const std::string sql = c.sql;
    CAPTURE(sql);
    CHECK(rules_of(c.sql) == c.rules);
  }
}

using R = std::vector<std::string>;

}  // namespace

namespace doctest {
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& v) {
    std::string out = "{";
    for (const auto& s : v) out += (out.size() > 1 ? ", " : "") + s;
    return (out + "}").c_str();
  }
};
}  // namespace doctest

TEST_SUITE("unit") {
  TEST_CASE("lock-safety rules read from the text") {
    SUBCASE("index_not_concurrent") {
      check_cases({
          {"CREATE INDEX orders_email ON orders (email);", R{"index_not_concurrent"}},
          {"create unique index if not exists i on public.\"Orders\" using btree (a);", R{"index_not_concurrent"}},
          {"CREATE INDEX ON orders (email);", R{"index_not_concurrent"}},
          {"CREATE INDEX CONCURRENTLY i ON orders (email);", R{}},
          {"CREATE TABLE t (a int); CREATE INDEX i ON t (a);", R{}},  // new table: nobody waits on it
          {"CREATE INDEX i ON ONLY measurements (a);", R{}},          // partitioned parent: an empty shell
      });
    }
    SUBCASE("drop_index_not_concurrent and reindex_not_concurrent") {
      check_cases({
          {"DROP INDEX orders_email;", R{"drop_index_not_concurrent"}},
          {"DROP INDEX IF EXISTS orders_email;", R{"drop_index_not_concurrent"}},
          {"DROP INDEX CONCURRENTLY IF EXISTS orders_email;", R{}},
          {"CREATE INDEX CONCURRENTLY i2 ON t (a);", R{}},
          {"REINDEX INDEX orders_email;", R{"reindex_not_concurrent"}},
          {"REINDEX (VERBOSE) TABLE orders;", R{"reindex_not_concurrent"}},
          {"REINDEX TABLE CONCURRENTLY orders;", R{}},
          {"REINDEX SCHEMA public;", R{}},
      });
    }
    SUBCASE("constraint_scan, foreign_key_scan, unique_constraint_build") {
      check_cases({
          {"ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0);", R{"constraint_scan"}},
          {"ALTER TABLE orders ADD CHECK (total > 0);", R{"constraint_scan"}},
          {"ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;", R{}},
          {"ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id);", R{"foreign_key_scan"}},
          {"ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES users NOT VALID;", R{}},
          {"ALTER TABLE orders ADD COLUMN user_id bigint REFERENCES users (id);", R{"foreign_key_scan"}},
          {"ALTER TABLE orders ADD CONSTRAINT u UNIQUE (email);", R{"unique_constraint_build"}},
          {"ALTER TABLE orders ADD PRIMARY KEY (id);", R{"unique_constraint_build"}},
          {"ALTER TABLE orders ADD CONSTRAINT u UNIQUE USING INDEX orders_email;", R{}},
          {"ALTER TABLE orders ADD CONSTRAINT pk PRIMARY KEY USING INDEX orders_id;", R{}},
          {"ALTER TABLE r ADD CONSTRAINT x EXCLUDE USING gist (during WITH &&);", R{"unique_constraint_build"}},
          {"CREATE TABLE n (id int); ALTER TABLE n ADD PRIMARY KEY (id), ADD CHECK (id > 0);", R{}},
      });
    }
    SUBCASE("volatile_default and generated_column") {
      check_cases({
          {"ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();", R{"volatile_default"}},
          {"ALTER TABLE orders ADD COLUMN token uuid NOT NULL DEFAULT uuid_generate_v4();", R{"volatile_default"}},
          {"ALTER TABLE orders ADD COLUMN n int DEFAULT my_func();", R{"volatile_default"}},  // uncertain
          {"ALTER TABLE orders ADD COLUMN created timestamptz NOT NULL DEFAULT now();", R{}},
          {"ALTER TABLE orders ADD COLUMN state text NOT NULL DEFAULT 'new';", R{}},
          {"ALTER TABLE orders ADD COLUMN flags int DEFAULT 0, ADD COLUMN note text;", R{}},
          {"ALTER TABLE orders ADD COLUMN c varchar(20) DEFAULT ''::character varying;", R{}},
          {"ALTER TABLE orders ADD COLUMN n bigserial;", R{"generated_column"}},
          {"ALTER TABLE orders ADD COLUMN n int GENERATED ALWAYS AS IDENTITY;", R{"generated_column"}},
          {"ALTER TABLE orders ADD COLUMN t numeric GENERATED ALWAYS AS (a * 2) STORED;", R{"generated_column"}},
          {"CREATE TABLE n (id bigserial, t uuid DEFAULT gen_random_uuid());", R{}},
      });
      // Before PostgreSQL 11 every non-NULL default rewrote the table.
      CHECK(rules_of("ALTER TABLE orders ADD COLUMN s text DEFAULT 'x';", false, false, 100000) == R{"volatile_default"});
      CHECK(rules_of("ALTER TABLE orders ADD COLUMN s text DEFAULT NULL;", false, false, 100000) == R{});
    }
    SUBCASE("type_change and set_not_null") {
      check_cases({
          {"ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2);", R{"type_change"}},
          {"ALTER TABLE orders ALTER total SET DATA TYPE bigint USING total::bigint;", R{"type_change"}},
          {"ALTER TABLE orders ALTER COLUMN email SET NOT NULL;", R{"set_not_null"}},
          {"ALTER TABLE orders ALTER COLUMN email DROP NOT NULL;", R{}},
          {"ALTER TABLE orders ALTER COLUMN email SET DEFAULT 'x';", R{}},
          {"CREATE TABLE n (a int); ALTER TABLE n ALTER a TYPE bigint, ALTER a SET NOT NULL;", R{}},
      });
    }
    SUBCASE("table_rewrite") {
      check_cases({
          {"VACUUM FULL orders;", R{"table_rewrite"}},
          {"VACUUM (FULL, ANALYZE) orders;", R{"table_rewrite"}},
          {"VACUUM (FULL false) orders;", R{}},
          {"VACUUM ANALYZE orders;", R{}},
          {"CLUSTER orders USING orders_pkey;", R{"table_rewrite"}},
          {"ALTER TABLE orders SET TABLESPACE fast;", R{"table_rewrite"}},
          {"ALTER TABLE orders SET LOGGED;", R{"table_rewrite"}},
          {"ALTER TABLE orders SET (fillfactor = 70);", R{}},
      });
    }
    SUBCASE("rename_breaks_old_code and drop_breaks_old_code") {
      check_cases({
          {"ALTER TABLE orders RENAME COLUMN email TO mail;", R{"rename_breaks_old_code"}},
          {"ALTER TABLE orders RENAME email TO mail;", R{"rename_breaks_old_code"}},
          {"ALTER TABLE orders RENAME TO purchases;", R{"rename_breaks_old_code"}},
          {"ALTER TABLE orders RENAME CONSTRAINT a TO b;", R{}},
          {"ALTER TABLE orders DROP COLUMN legacy;", R{"drop_breaks_old_code"}},
          {"ALTER TABLE orders DROP COLUMN IF EXISTS legacy;", R{"drop_breaks_old_code"}},
          {"ALTER TABLE orders DROP CONSTRAINT c;", R{}},
          {"DROP TABLE legacy;", R{"drop_breaks_old_code"}},
          {"DROP TABLE IF EXISTS a, b;", R{"drop_breaks_old_code", "drop_breaks_old_code"}},
          {"CREATE TABLE tmp (a int); ALTER TABLE tmp RENAME TO tmp2; DROP TABLE tmp2;", R{}},
      });
      // A contract migration is where drops belong; a rename is never safe in one step.
      CHECK(rules_of("ALTER TABLE orders DROP COLUMN legacy;", false, true) == R{});
      CHECK(rules_of("DROP TABLE old;", false, true) == R{});
      CHECK(rules_of("ALTER TABLE orders RENAME COLUMN a TO b;", false, true) == R{"rename_breaks_old_code"});
    }
    SUBCASE("validate_same_transaction") {
      check_cases({
          {"ALTER TABLE orders ADD CONSTRAINT c CHECK (a > 0) NOT VALID; ALTER TABLE orders VALIDATE CONSTRAINT c;",
           R{"validate_same_transaction"}},
          {"ALTER TABLE orders VALIDATE CONSTRAINT c;", R{}},
      });
      // Outside a transaction each statement commits: the ADD's lock is gone.
      CHECK(rules_of("ALTER TABLE orders ADD CONSTRAINT c CHECK (a > 0) NOT VALID;\n"
                     "ALTER TABLE orders VALIDATE CONSTRAINT c;",
                     true) == R{});
    }
    SUBCASE("lock_held_across_statements") {
      check_cases({
          {"ALTER TABLE a ADD COLUMN x int; ALTER TABLE b ADD COLUMN y int;", R{"lock_held_across_statements"}},
          {"ALTER TABLE a ADD COLUMN x int; UPDATE a SET x = 1;", R{"lock_held_across_statements"}},
          {"ALTER TABLE a ADD COLUMN x int; ALTER TABLE a ADD COLUMN y int;", R{}},  // quick, same table
          {"ALTER TABLE a ADD COLUMN x int; CREATE TABLE n (a int); INSERT INTO n VALUES (1);", R{}},
          {"ALTER TABLE a ADD FOREIGN KEY (b) REFERENCES b NOT VALID; ALTER TABLE c ADD COLUMN y int;", R{}},
          {"UPDATE a SET x = 1; ALTER TABLE a ADD COLUMN y int;", R{}},  // the lock comes after the work
          {"ALTER TABLE a ADD COLUMN x int; CREATE INDEX i ON a (x);",
           R{"index_not_concurrent", "lock_held_across_statements"}},
      });
      CHECK(rules_of("ALTER TABLE a ADD COLUMN x int; ALTER TABLE b ADD COLUMN y int;", true) == R{});
    }
    SUBCASE("json_column") {
      check_cases({
          {"CREATE TABLE n (id int, doc json NOT NULL, other jsonb);", R{"json_column"}},
          {"ALTER TABLE orders ADD COLUMN doc json;", R{"json_column"}},
          {"ALTER TABLE orders ALTER COLUMN doc TYPE json;", R{"json_column", "type_change"}},
          {"CREATE TABLE n (id int, doc jsonb);", R{}},
      });
    }
    SUBCASE("tables created in an earlier migration of the same run are new too") {
      auto statements1 = sql::split("CREATE TABLE fresh (a int);");
      auto statements2 = sql::split("CREATE INDEX i ON fresh (a); ALTER TABLE fresh ALTER a SET NOT NULL;");
      REQUIRE(statements1);
      REQUIRE(statements2);
      safety::Analyzer a{150000};
      CHECK(a.migration(statements1.value(), "CREATE TABLE fresh (a int);", {}).empty());
      CHECK(a.migration(statements2.value(), "CREATE INDEX i ON fresh (a); ALTER TABLE fresh ALTER a SET NOT NULL;", {})
                .empty());
    }
    SUBCASE("positions point at the clause") {
      const std::string sql = "-- header\nALTER TABLE orders\n  ADD COLUMN n int,\n  ADD CHECK (n > 0);\n";
      auto st = sql::split(sql);
      REQUIRE(st);
      safety::Analyzer a{150000};
      const auto h = a.migration(st.value(), sql, {});
      REQUIRE(h.size() == 1);
      CHECK(h[0].rule == "constraint_scan");
      CHECK(h[0].position.line == 4);
      CHECK(h[0].position.column == 3);
    }
    SUBCASE("the table a finding is sized by") {
      auto hazards = [](const std::string& sql) {
        auto st = sql::split(sql);
        REQUIRE(st);
        return safety::Analyzer{150000}.migration(st.value(), sql, {});
      };
      // The old spelling of CLUSTER names the index first (pg-regress cluster.sql).
      const auto old_cluster = hazards("CLUSTER orders_pkey ON orders;");
      REQUIRE(old_cluster.size() == 1);
      CHECK(old_cluster[0].table == "orders");
      const auto cluster = hazards("CLUSTER VERBOSE orders USING orders_pkey;");
      REQUIRE(cluster.size() == 1);
      CHECK(cluster[0].table == "orders");
      // ONLY: the parent alone, so its partitions are not summed into its size.
      const auto only = hazards("ALTER TABLE IF EXISTS ONLY events ADD CHECK (n > 0);");
      REQUIRE(only.size() == 1);
      CHECK(only[0].table == "events");
      CHECK(only[0].only);
      const auto all = hazards("ALTER TABLE events ADD CHECK (n > 0);");
      REQUIRE(all.size() == 1);
      CHECK_FALSE(all[0].only);
    }
  }

  TEST_CASE("lock-safety findings offline") {
    auto judged = [](const std::string& sql, const LockSafety& config = {},
                     const std::map<std::string, std::string>& allow = {}) {
      auto st = sql::split(sql);
      REQUIRE(st);
      safety::Analyzer a{150000};
      auto f = safety::judge(a.migration(st.value(), sql, {}), config, nullptr, allow);
      REQUIRE(f);
      return f.value();
    };
    SUBCASE("sized findings need a database and are warnings") {
      const auto f = judged("CREATE INDEX i ON orders (a);");
      REQUIRE(f.size() == 1);
      CHECK(f[0].level == safety::Level::warning);
      CHECK(f[0].needs_database);
      CHECK_FALSE(f[0].blocks());
      CHECK(f[0].message.find("CONCURRENTLY") != std::string::npos);
      CHECK(f[0].message.find("lockstep:allow=index_not_concurrent") != std::string::npos);
    }
    SUBCASE("a configured level wins; off removes the finding") {
      LockSafety config;
      REQUIRE(safety::parse_levels("rename_breaks_old_code=error,json_column=off", config));
      const auto f = judged("ALTER TABLE o RENAME TO p; CREATE TABLE n (d json);", config);
      REQUIRE(f.size() == 1);
      CHECK(f[0].rule == "rename_breaks_old_code");
      CHECK(f[0].blocks());
      const auto allowed = judged("ALTER TABLE o RENAME TO p;", config, {{"rename_breaks_old_code", "view kept"}});
      REQUIRE(allowed.size() == 1);
      CHECK_FALSE(allowed[0].blocks());
      CHECK(allowed[0].allowed == "view kept");
    }
    SUBCASE("bad level specs name the rule and the choices") {
      LockSafety config;
      auto unknown = safety::parse_levels("index_not_concurent=error", config);
      REQUIRE_FALSE(unknown);
      CHECK(unknown.error().message.find("index_not_concurent") != std::string::npos);
      CHECK(unknown.error().message.find("index_not_concurrent") != std::string::npos);
      auto level = safety::parse_levels("json_column=fatal", config);
      REQUIRE_FALSE(level);
      CHECK(level.error().message.find("error, warning or off") != std::string::npos);
    }
  }

  TEST_CASE("LockSafety settings, as docs/lock-safety.md shows them") {
    // [snippet:lock-settings]
    lockstep::Settings s;
    s.lock_safety.error_rows = 1'000'000;                 // bigger tables only
    s.lock_safety.levels["rename_breaks_old_code"] = lockstep::safety::Level::error;
    s.lock_safety.levels["json_column"] = lockstep::safety::Level::off;
    // [/snippet:lock-settings]
    auto st = sql::split("ALTER TABLE t RENAME TO u; ALTER TABLE t ADD COLUMN d json;");
    REQUIRE(st);
    safety::Analyzer a{150000};
    auto f = safety::judge(a.migration(st.value(), "ALTER TABLE t RENAME TO u; ALTER TABLE t ADD COLUMN d json;", {}),
                           s.lock_safety, nullptr);
    REQUIRE(f);
    REQUIRE(f.value().size() == 1);
    CHECK(f.value()[0].blocks());
    s.lock_safety.enabled = false;
    safety::Analyzer again{150000};
    const std::string sql = "ALTER TABLE t RENAME TO u;";
    auto renamed = sql::split(sql);
    REQUIRE(renamed);
    CHECK(safety::judge(again.migration(renamed.value(), sql, {}), s.lock_safety, nullptr).value().empty());
  }

  TEST_CASE("type modifiers decide a same-type change") {
    using safety::detail::same_type_keeps_values;
    using safety::detail::type_modifiers;
    CHECK(type_modifiers("character varying(20)") == std::vector<long>{20});
    CHECK(type_modifiers("numeric(12, 2)") == std::vector<long>{12, 2});
    CHECK(type_modifiers("text").empty());
    CHECK(same_type_keeps_values("character varying", {20}, {40}));
    CHECK_FALSE(same_type_keeps_values("character varying", {40}, {20}));
    CHECK(same_type_keeps_values("character varying", {40}, {}));
    CHECK_FALSE(same_type_keeps_values("character varying", {}, {40}));
    CHECK(same_type_keeps_values("numeric", {10, 2}, {12, 2}));
    CHECK_FALSE(same_type_keeps_values("numeric", {10, 2}, {12, 3}));
    CHECK_FALSE(same_type_keeps_values("character", {4}, {8}));  // bpchar pads: rewritten
  }
}
