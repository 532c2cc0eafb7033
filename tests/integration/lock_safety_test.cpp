// Lock safety against a real server with a table big enough to matter: each
// rule's true and false positives once the catalog has been asked (sizes,
// current types, volatility, validated checks), and the deploy stopped
// before anything runs, accepted on purpose, or only reported.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "events.hpp"
#include "files.hpp"
#include "temp_dir.hpp"
#include "lockstep/detail/run/lock_safety.hpp"
#include "lockstep/lockstep.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;

namespace {

constexpr long long big_rows = 2'000'000;
// Each partition of `events` is under the 100k threshold; the three together are over it.
constexpr long long part_rows = 60'000;

// One database for the whole file: filling it takes seconds, and every case
// only reads it (the runs that apply something use their own ledger schema
// and names).
const TestDatabase& lock_fixture() {
  static const TestDatabase db{"lock_safety"};
  static const bool filled = [] {
    auto c = db.connect();
    must(c.query(
        "CREATE TABLE customers (id bigint PRIMARY KEY);"
        "INSERT INTO customers SELECT generate_series(1, 1000);"
        "CREATE TABLE orders (id bigint NOT NULL, customer_id bigint, email varchar(100), total numeric(10,2),"
        "  note text, checked text, placed timestamp, doc json,"
        "  CONSTRAINT checked_not_null CHECK (checked IS NOT NULL));"
        "INSERT INTO orders SELECT g, 1 + g % 1000, 'u' || g || '@example.com', g % 1000, NULL, 'x', now(), '{}'"
        "  FROM generate_series(1, " + std::to_string(big_rows) + ") g;"
        "CREATE TABLE small (LIKE orders INCLUDING ALL);"
        "INSERT INTO small SELECT * FROM orders LIMIT 100;"
        "CREATE TABLE empty (LIKE orders INCLUDING ALL);"
        "CREATE TABLE events (id bigint NOT NULL, kind text) PARTITION BY RANGE (id);"
        "CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (" + std::to_string(part_rows) + ");"
        "CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (" + std::to_string(part_rows) + ") TO (" +
        std::to_string(2 * part_rows) + ");"
        "CREATE TABLE events_3 PARTITION OF events DEFAULT;"
        "INSERT INTO events SELECT g, 'k' FROM generate_series(0, " + std::to_string(3 * part_rows - 1) + ") g;"
        "CREATE FUNCTION stable_fn() RETURNS int STABLE LANGUAGE sql AS 'SELECT 1';"
        "CREATE FUNCTION volatile_fn() RETURNS int VOLATILE LANGUAGE sql AS 'SELECT 1';"));
    // VACUUM counts every row (ANALYZE would estimate from a sample).
    must(c.query("VACUUM ANALYZE customers, orders, small, empty, events_1, events_2, events_3"));
    return true;
  }();
  (void)filled;
  return db;
}

std::vector<safety::Finding> judged(const std::string& sql, const LockSafety& config = {}) {
  auto conn = lock_fixture().connect();
  auto st = sql::split(sql);
  REQUIRE(st);
  safety::Analyzer a{conn.server_version()};
  safety::Catalog catalog{conn};
  auto f = safety::judge(a.migration(st.value(), sql, {}), config, &catalog);
  REQUIRE_MESSAGE(f, (f ? "" : f.error().message));
  return f.value();
}

// "" when there is no finding of `rule`, else its level.
std::string level_of(const std::vector<safety::Finding>& findings, const std::string& rule) {
  for (const auto& f : findings) {
    if (f.rule == rule) return std::string{safety::to_string(f.level)};
  }
  return "";
}

struct LockCase {
  const char* sql;  // %T: the table
  const char* rule;
  const char* on_big;    // level on orders (2 M rows), "" for none
  const char* on_small;  // level on small (100 rows)
};

std::string with_table(std::string sql, const std::string& table) {
  for (auto at = sql.find("%T"); at != std::string::npos; at = sql.find("%T")) sql.replace(at, 2, table);
  return sql;
}

void check_levels(const std::vector<LockCase>& cases) {
  for (const auto& c : cases) {
    for (const std::string table : {"orders", "small"}) {
      const std::string sql = with_table(c.sql, table);
      CAPTURE(sql);
      CHECK(level_of(judged(sql), c.rule) == (table == "orders" ? c.on_big : c.on_small));
    }
  }
}

// Issue 31, case 15: the forms the catalog settles, on small tables with the
// threshold lowered to match (`low`), so a finding's level shows what a big
// table would get. One database, only read, except the runs that apply.
const TestDatabase& forms() {
  static const TestDatabase db{"lock_forms"};
  static const bool filled = [] {
    auto c = db.connect();
    must(c.query(
        "CREATE TABLE foo (id bigint, bar int, baz int);"
        "INSERT INTO foo SELECT g, g, g FROM generate_series(1, 1000) g;"
        // Added NOT VALID by an earlier migration: this run validates it.
        "ALTER TABLE foo ADD CONSTRAINT foo_bar_not_null CHECK (bar IS NOT NULL) NOT VALID;"
        // Validated by an earlier migration already.
        "ALTER TABLE foo ADD CONSTRAINT foo_baz_not_null CHECK (baz IS NOT NULL);"
        "CREATE TABLE foo2 (LIKE foo);"
        "INSERT INTO foo2 SELECT * FROM foo;"
        "ALTER TABLE foo2 ADD CONSTRAINT foo2_bar_not_null CHECK (bar IS NOT NULL) NOT VALID;"
        "CREATE UNLOGGED TABLE scratch (a int);"
        "INSERT INTO scratch SELECT generate_series(1, 1000);"
        "CREATE DOMAIN posint AS int;"
        "CREATE DOMAIN unused_dom AS int;"
        "CREATE DOMAIN cents AS int DEFAULT 0;"
        "CREATE TABLE amounts (id int, a posint, b posint);"
        "INSERT INTO amounts SELECT g, g, g FROM generate_series(1, 1000) g;"
        "CREATE TABLE parent (id int PRIMARY KEY);"
        "INSERT INTO parent SELECT generate_series(1, 1000);"
        "CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent);"
        "INSERT INTO child SELECT g, g FROM generate_series(1, 1000) g;"
        "CREATE TABLE grandchild (child_id int REFERENCES child);"
        "CREATE TABLE lonely (id int);"
        "INSERT INTO lonely SELECT generate_series(1, 1000);"
        "CREATE TABLE vacant (id int);"
        "CREATE TABLE events (id int, kind text) PARTITION BY RANGE (id);"
        "CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (1000);"
        "INSERT INTO events SELECT generate_series(0, 999), 'k';"
        "CREATE SCHEMA app;"
        "CREATE TABLE app.wide (a int);"
        "INSERT INTO app.wide SELECT generate_series(1, 1000);"
        "CREATE SCHEMA nothing_here;"));
    must(c.query("VACUUM ANALYZE foo, foo2, scratch, amounts, parent, child, grandchild, lonely, vacant, events_1, app.wide"));
    return true;
  }();
  (void)filled;
  return db;
}

// A table of 1,000 rows counts as big: the levels below are those of a big table.
LockSafety low() {
  LockSafety l;
  l.error_rows = 500;
  return l;
}

std::vector<safety::Finding> judged_forms(const std::string& sql, const LockSafety& config = low()) {
  auto conn = forms().connect();
  auto st = sql::split(sql);
  REQUIRE(st);
  safety::Analyzer a{conn.server_version()};
  safety::Catalog catalog{conn};
  auto f = safety::judge(a.migration(st.value(), sql, {}), config, &catalog);
  REQUIRE_MESSAGE(f, (f ? "" : f.error().message));
  return f.value();
}

struct Form {
  const char* sql;
  const char* rule;
  const char* level;  // "" for none
};

void check_forms(const std::vector<Form>& forms_) {
  for (const auto& c : forms_) {
    const std::string sql = c.sql;
    CAPTURE(sql);
    CHECK(level_of(judged_forms(sql), c.rule) == c.level);
  }
}

std::string message_of(const std::vector<safety::Finding>& findings, const std::string& rule) {
  for (const auto& f : findings) {
    if (f.rule == rule) return f.message;
  }
  return "";
}

Settings lock_settings(EventLog& log) {
  Settings s;
  s.database_url = lock_fixture().url();
  s.deploy_version = "v1";
  s.on_event = log.sink();
  return s;
}

using TableRun = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource, TableLedger>;

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("lock safety with the catalog" * doctest::test_suite("pg_sample")) {
    REQUIRE(lock_fixture().number("SELECT reltuples::bigint FROM pg_class WHERE oid = 'orders'::regclass") == big_rows);

    SUBCASE("index builds") {
      check_levels({
          {"CREATE INDEX ON %T (email);", "index_not_concurrent", "error", "warning"},
          {"CREATE INDEX CONCURRENTLY ON %T (email);", "index_not_concurrent", "", ""},
          {"REINDEX TABLE %T;", "reindex_not_concurrent", "error", "warning"},
          {"REINDEX TABLE CONCURRENTLY %T;", "reindex_not_concurrent", "", ""},
      });
    }
    SUBCASE("constraints") {
      check_levels({
          {"ALTER TABLE %T ADD CONSTRAINT c CHECK (total >= 0);", "constraint_scan", "error", "warning"},
          {"ALTER TABLE %T ADD CONSTRAINT c CHECK (total >= 0) NOT VALID;", "constraint_scan", "", ""},
          {"ALTER TABLE %T ADD FOREIGN KEY (customer_id) REFERENCES customers;", "foreign_key_scan", "error", "warning"},
          {"ALTER TABLE %T ADD FOREIGN KEY (customer_id) REFERENCES customers NOT VALID;", "foreign_key_scan", "", ""},
          {"ALTER TABLE %T ADD CONSTRAINT u UNIQUE (id);", "unique_constraint_build", "error", "warning"},
          {"ALTER TABLE %T ADD CONSTRAINT u UNIQUE USING INDEX some_index;", "unique_constraint_build", "", ""},
      });
    }
    SUBCASE("defaults and generated columns: volatility from pg_proc") {
      check_levels({
          {"ALTER TABLE %T ADD COLUMN token uuid DEFAULT gen_random_uuid();", "volatile_default", "error", "warning"},
          {"ALTER TABLE %T ADD COLUMN n int DEFAULT volatile_fn();", "volatile_default", "error", "warning"},
          {"ALTER TABLE %T ADD COLUMN n int DEFAULT stable_fn();", "volatile_default", "", ""},
          {"ALTER TABLE %T ADD COLUMN n int DEFAULT abs(-1);", "volatile_default", "", ""},
          {"ALTER TABLE %T ADD COLUMN n int NOT NULL DEFAULT 0;", "volatile_default", "", ""},
          {"ALTER TABLE %T ADD COLUMN n bigserial;", "generated_column", "error", "warning"},
          {"ALTER TABLE %T ADD COLUMN n numeric GENERATED ALWAYS AS (total * 2) STORED;", "generated_column", "error",
           "warning"},
      });
    }
    SUBCASE("type changes: binary-coercible ones are dismissed") {
      check_levels({
          {"ALTER TABLE %T ALTER COLUMN email TYPE varchar(200);", "type_change", "", ""},
          {"ALTER TABLE %T ALTER COLUMN email TYPE text;", "type_change", "", ""},
          {"ALTER TABLE %T ALTER COLUMN total TYPE numeric(12,2);", "type_change", "", ""},
          {"ALTER TABLE %T ALTER COLUMN total TYPE numeric;", "type_change", "", ""},
          {"ALTER TABLE %T ALTER COLUMN email TYPE varchar(50);", "type_change", "error", "warning"},
          {"ALTER TABLE %T ALTER COLUMN total TYPE numeric(10,3);", "type_change", "error", "warning"},
          {"ALTER TABLE %T ALTER COLUMN id TYPE int;", "type_change", "error", "warning"},
          {"ALTER TABLE %T ALTER COLUMN doc TYPE jsonb USING doc::jsonb;", "type_change", "error", "warning"},
          {"ALTER TABLE %T ALTER COLUMN note TYPE varchar(10);", "type_change", "error", "warning"},
      });
    }
    SUBCASE("SET NOT NULL: a validated check or an existing NOT NULL skips the scan") {
      check_levels({
          {"ALTER TABLE %T ALTER COLUMN email SET NOT NULL;", "set_not_null", "error", "warning"},
          {"ALTER TABLE %T ALTER COLUMN checked SET NOT NULL;", "set_not_null", "", ""},
          {"ALTER TABLE %T ALTER COLUMN id SET NOT NULL;", "set_not_null", "", ""},
      });
    }
    SUBCASE("rewrites, and the rules that do not depend on size") {
      check_levels({
          {"ALTER TABLE %T SET UNLOGGED;", "table_rewrite", "error", "warning"},
          {"ALTER TABLE %T RENAME COLUMN note TO remark;", "rename_breaks_old_code", "warning", "warning"},
          {"ALTER TABLE %T DROP COLUMN note;", "drop_breaks_old_code", "warning", "warning"},
          {"ALTER TABLE %T ADD COLUMN d json;", "json_column", "warning", "warning"},
          {"ALTER TABLE %T ADD COLUMN d jsonb;", "json_column", "", ""},
          {"ALTER TABLE %T SET (fillfactor = 70);", "table_rewrite", "", ""},
          {"ALTER TABLE %T ADD COLUMN n bigint;", "generated_column", "", ""},
          {"ALTER TABLE %T RENAME CONSTRAINT checked_not_null TO c2;", "rename_breaks_old_code", "", ""},
          {"ALTER TABLE %T DROP CONSTRAINT checked_not_null;", "drop_breaks_old_code", "", ""},
          {"DROP INDEX IF EXISTS %T_some_idx;", "drop_index_not_concurrent", "warning", "warning"},
          {"DROP INDEX CONCURRENTLY IF EXISTS %T_some_idx;", "drop_index_not_concurrent", "", ""},
      });
    }
    SUBCASE("rules across statements of one transaction") {
      check_levels({
          {"ALTER TABLE %T ADD CONSTRAINT c CHECK (total >= 0) NOT VALID; ALTER TABLE %T VALIDATE CONSTRAINT c;",
           "validate_same_transaction", "error", "warning"},  // sized: the scan NOT VALID meant to avoid
          {"ALTER TABLE %T VALIDATE CONSTRAINT checked_not_null;", "validate_same_transaction", "", ""},
          {"ALTER TABLE %T ADD COLUMN x int; UPDATE %T SET x = 1;", "lock_held_across_statements", "warning", "warning"},
          {"ALTER TABLE %T ADD COLUMN x int; CREATE INDEX ON %T (x);", "lock_held_across_statements", "warning",
           "warning"},
          {"ALTER TABLE %T ADD COLUMN x int; ALTER TABLE %T ADD COLUMN y int;", "lock_held_across_statements", "", ""},
          {"ALTER TABLE %T ADD COLUMN x int; ALTER TABLE customers ADD COLUMN y int;", "lock_held_across_statements",
           "warning", "warning"},
          // The later statement's own finding is dismissed by the catalog (varchar widening), so is this one.
          {"ALTER TABLE %T ADD COLUMN x int; ALTER TABLE %T ALTER COLUMN email TYPE varchar(300);",
           "lock_held_across_statements", "", ""},
      });
    }
    SUBCASE("a table created earlier in the run, or empty") {
      CHECK(judged("CREATE TABLE fresh (a int); CREATE INDEX ON fresh (a);").empty());
      // A table an earlier pending migration creates is not in the catalog yet.
      CHECK(judged("CREATE INDEX ON not_created_yet (a);").empty());
      const auto empty = judged("CREATE INDEX ON empty (email);");
      REQUIRE(empty.size() == 1);
      CHECK(empty[0].level == checks::Level::warning);
      CHECK(empty[0].message.find("empty is empty") != std::string::npos);
    }
    SUBCASE("a partitioned table is sized by its partitions, unless ONLY") {
      const auto parent = judged("CREATE INDEX ON events (kind);");
      REQUIRE(parent.size() == 1);
      CHECK(parent[0].level == checks::Level::error);
      REQUIRE(parent[0].size);
      CHECK(parent[0].size->parts == 3);
      CHECK(parent[0].size->rows == doctest::Approx(3.0 * part_rows));
      CHECK(parent[0].message.find("in 3 partitions") != std::string::npos);
      detail::JsonObject fields;
      detail::add_finding(fields, parent[0]);
      CHECK(fields.str().find("\"partitions\":3") != std::string::npos);
      CHECK(level_of(judged("ALTER TABLE events ADD CHECK (id >= 0);"), "constraint_scan") == "error");
      CHECK(level_of(judged("ALTER TABLE events_1 ADD CHECK (id >= 0);"), "constraint_scan") == "warning");
      // The parent alone has no rows: an ON ONLY index is an empty shell, and
      // ALTER TABLE ONLY does its work in the parent only.
      CHECK(judged("CREATE INDEX ON ONLY events (kind);").empty());
      const auto only = judged("ALTER TABLE ONLY events ADD CHECK (id >= 0);");
      REQUIRE(only.size() == 1);
      CHECK(only[0].level == checks::Level::warning);
      REQUIRE(only[0].size);
      CHECK(only[0].size->parts == 0);
      CHECK(only[0].message.find("events is empty") != std::string::npos);
    }
    SUBCASE("the message gives the table's size and the safe way") {
      const auto f = judged("CREATE INDEX ON orders (email);");
      REQUIRE(f.size() == 1);
      CHECK(f[0].message.find("orders (~2.0 M rows") != std::string::npos);
      CHECK(f[0].message.find("CREATE INDEX CONCURRENTLY") != std::string::npos);
      CHECK(f[0].position.line == 1);
      REQUIRE(f[0].size);
      CHECK(f[0].size->bytes > 100'000'000);
      CHECK_FALSE(f[0].needs_database);
    }
    SUBCASE("the threshold and the levels are settings") {
      LockSafety high;
      high.error_rows = 10'000'000;
      high.error_bytes = std::int64_t{1} << 40;
      CHECK(level_of(judged("CREATE INDEX ON orders (email);", high), "index_not_concurrent") == "warning");
      LockSafety low;
      low.error_rows = 50;
      CHECK(level_of(judged("CREATE INDEX ON small (email);", low), "index_not_concurrent") == "error");
      LockSafety strict;
      REQUIRE(checks::parse_levels("rename_breaks_old_code=error,index_not_concurrent=off", strict));
      CHECK(level_of(judged("ALTER TABLE small RENAME note TO n;", strict), "rename_breaks_old_code") == "error");
      CHECK(judged("CREATE INDEX ON orders (email);", strict).empty());
    }
  }

  TEST_CASE("lock safety: the catalog settles the safe forms and the failing ones" * doctest::test_suite("pg_sample")) {
    SUBCASE("SET NOT NULL after VALIDATE, or with a check validated before") {
      check_forms({
          {"ALTER TABLE foo VALIDATE CONSTRAINT foo_bar_not_null; ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;",
           "set_not_null", ""},
          {"ALTER TABLE foo ALTER COLUMN baz SET NOT NULL;", "set_not_null", ""},
          {"ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;", "set_not_null", "error"},  // not validated: scans
          {"ALTER TABLE foo VALIDATE CONSTRAINT foo_baz_not_null; ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;",
           "set_not_null", "error"},  // validates another column's check
          {"ALTER TABLE foo ALTER COLUMN id SET NOT NULL;", "set_not_null", "error"},
      });
      CHECK(judged_forms("ALTER TABLE foo VALIDATE CONSTRAINT foo_bar_not_null;\n"
                         "ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;")
                .empty());
    }
    SUBCASE("REINDEX with parenthesised options, and of a schema, the database or the catalogs") {
      check_forms({
          {"REINDEX (CONCURRENTLY) TABLE foo;", "reindex_not_concurrent", ""},
          {"REINDEX (VERBOSE) TABLE foo;", "reindex_not_concurrent", "error"},
          {"REINDEX SCHEMA app;", "reindex_not_concurrent", "error"},
          {"REINDEX SCHEMA nothing_here;", "reindex_not_concurrent", ""},  // no table: nothing to rebuild
          {"REINDEX SCHEMA CONCURRENTLY app;", "reindex_not_concurrent", ""},
          {"REINDEX DATABASE;", "reindex_not_concurrent", "error"},
      });
      const auto schema = judged_forms("REINDEX SCHEMA app;");
      CHECK(message_of(schema, "reindex_not_concurrent").find("largest table app.wide") != std::string::npos);
      REQUIRE(schema.size() == 1);
      REQUIRE(schema[0].size);
      CHECK(schema[0].size->rows == doctest::Approx(1000));
      // With the default threshold the catalogs are small: reported, not blocking.
      CHECK(level_of(judged_forms("REINDEX SYSTEM;", {}), "reindex_not_concurrent") == "warning");
    }
    SUBCASE("SET LOGGED / UNLOGGED / TABLESPACE rewrite only when they change the table") {
      check_forms({
          {"ALTER TABLE foo SET LOGGED;", "table_rewrite", ""},
          {"ALTER TABLE scratch SET UNLOGGED;", "table_rewrite", ""},
          {"ALTER TABLE scratch SET LOGGED;", "table_rewrite", "error"},
          {"ALTER TABLE foo SET UNLOGGED;", "table_rewrite", "error"},
          {"ALTER TABLE foo SET TABLESPACE pg_default;", "table_rewrite", ""},
      });
    }
    SUBCASE("DETACH PARTITION without CONCURRENTLY") {
      check_forms({
          {"ALTER TABLE events DETACH PARTITION events_1;", "detach_partition_not_concurrent", "warning"},
          {"ALTER TABLE events DETACH PARTITION events_1 CONCURRENTLY;", "detach_partition_not_concurrent", ""},
      });
    }
    SUBCASE("ALTER DOMAIN is sized by the tables that use the domain") {
      check_forms({
          {"ALTER DOMAIN posint ADD CONSTRAINT pos CHECK (VALUE > 0);", "domain_constraint_scan", "error"},
          {"ALTER DOMAIN posint SET NOT NULL;", "domain_constraint_scan", "error"},
          {"ALTER DOMAIN posint ADD CONSTRAINT pos CHECK (VALUE > 0) NOT VALID;", "domain_constraint_scan", ""},
          {"ALTER DOMAIN unused_dom ADD CONSTRAINT pos CHECK (VALUE > 0);", "domain_constraint_scan", ""},
      });
      const auto f = judged_forms("ALTER DOMAIN posint ADD CHECK (VALUE > 0);");
      CHECK_MESSAGE(message_of(f, "domain_constraint_scan").find("amounts (a, b)") != std::string::npos,
                    message_of(f, "domain_constraint_scan"));
      CHECK(level_of(judged_forms("ALTER DOMAIN posint ADD CHECK (VALUE > 0);", {}), "domain_constraint_scan") ==
            "warning");  // 1,000 rows are under the default threshold
    }
    SUBCASE("VALIDATE in the same transaction as ADD FOREIGN KEY ... NOT VALID: as if NOT VALID were missing") {
      check_forms({
          {"ALTER TABLE child ADD CONSTRAINT child_fk2 FOREIGN KEY (parent_id) REFERENCES parent NOT VALID;\n"
           "ALTER TABLE child VALIDATE CONSTRAINT child_fk2;",
           "validate_same_transaction", "error"},
          {"ALTER TABLE child ADD CONSTRAINT child_fk2 FOREIGN KEY (parent_id) REFERENCES parent;", "foreign_key_scan",
           "error"},
          {"ALTER TABLE child VALIDATE CONSTRAINT child_parent_id_fkey;", "validate_same_transaction", ""},
      });
    }
    SUBCASE("ADD COLUMN ... NOT NULL without a default fails on a table with rows") {
      check_forms({
          {"ALTER TABLE lonely ADD COLUMN n int NOT NULL;", "not_null_without_default", "error"},
          {"ALTER TABLE vacant ADD COLUMN n int NOT NULL;", "not_null_without_default", ""},
          {"ALTER TABLE lonely ADD COLUMN n cents NOT NULL;", "not_null_without_default", ""},  // the domain's default
          {"ALTER TABLE lonely ADD COLUMN n int NOT NULL DEFAULT 0;", "not_null_without_default", ""},
      });
      // A failure, not a lock: an error whatever the threshold.
      LockSafety high;
      high.error_rows = 10'000'000;
      CHECK(level_of(judged_forms("ALTER TABLE lonely ADD COLUMN n int NOT NULL;", high), "not_null_without_default") ==
            "error");
    }
    SUBCASE("TRUNCATE ... CASCADE names what else it empties") {
      check_forms({
          {"TRUNCATE parent CASCADE;", "truncate_cascade", "warning"},
          {"TRUNCATE lonely CASCADE;", "truncate_cascade", ""},
          {"TRUNCATE parent, child, grandchild CASCADE;", "truncate_cascade", ""},
          {"TRUNCATE parent;", "truncate_cascade", ""},
      });
      CHECK(message_of(judged_forms("TRUNCATE parent CASCADE;"), "truncate_cascade").find("child, grandchild") !=
            std::string::npos);
    }
    SUBCASE("DROP DATABASE: of lockstep's own database it fails; of one in use it may") {
      TestDatabase other{"lock_forms_other"};
      check_forms({
          {("DROP DATABASE " + forms().name() + ";").c_str(), "drop_database", "error"},
          {"DROP DATABASE IF EXISTS no_such_database_31;", "drop_database", ""},
          {("DROP DATABASE " + other.name() + ";").c_str(), "drop_database", "warning"},
      });
      auto session = other.connect();
      const auto busy = judged_forms("DROP DATABASE " + other.name() + ";");
      CHECK(message_of(busy, "drop_database").find("1 other session(s)") != std::string::npos);
      CHECK(message_of(judged_forms("DROP DATABASE " + other.name() + " WITH (FORCE);"), "drop_database")
                .find("other session(s)") == std::string::npos);
    }
    SUBCASE("at pre-flight: the safe NOT NULL runs, the failing ADD COLUMN stops the deploy before anything runs") {
      EventLog log;
      auto s = lock_settings(log);
      s.database_url = forms().url();
      s.lock_safety = low();
      MemorySource safe{{1, "validate", "ALTER TABLE foo2 VALIDATE CONSTRAINT foo2_bar_not_null;"},
                        {2, "not_null", "ALTER TABLE foo2 ALTER COLUMN bar SET NOT NULL;"}};
      auto ok = TableRun{s, safe, TableLedger{"ls_forms_safe", "migrations"}}.run();
      REQUIRE_MESSAGE(ok, (ok ? "" : ok.error().to_string()));
      CHECK(forms().scalar("SELECT attnotnull::text FROM pg_attribute WHERE attrelid = 'foo2'::regclass AND attname = 'bar'") ==
            "true");
      MemorySource failing{{1, "side", "CREATE TABLE side31 (a int);"},
                           {2, "not_null", "ALTER TABLE lonely ADD COLUMN n int NOT NULL;"}};
      auto r = TableRun{s, failing, TableLedger{"ls_forms_failing", "migrations"}}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::lock_unsafe);
      CHECK(r.error().version == 2);
      CHECK(r.error().message.find("[not_null_without_default]") != std::string::npos);
      CHECK(forms().scalar("SELECT to_regclass('side31')::text").empty());
    }
  }

  TEST_CASE("lock safety at pre-flight" * doctest::test_suite("pg_sample")) {
    const auto& db = lock_fixture();
    SUBCASE("an error stops the deploy before anything runs") {
      EventLog log;
      MemorySource source{{1, "side_table", "CREATE TABLE side_effect (a int);"},
                          {2, "index", "ALTER TABLE orders ADD COLUMN flag int;\nCREATE INDEX orders_email ON orders (email);"}};
      auto r = TableRun{lock_settings(log), source, TableLedger{"ls_blocked", "migrations"}}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::lock_unsafe);
      CHECK(r.error().version == 2);
      CHECK(r.error().line == 2);
      CHECK(r.error().message.find("[index_not_concurrent]") != std::string::npos);
      CHECK(r.error().message.find("orders (~2.0 M rows") != std::string::npos);
      CHECK(r.error().message.find("nothing was applied") != std::string::npos);
      CHECK(r.error().message.find("lockstep:allow=") != std::string::npos);
      // Nothing ran: not even the harmless first migration.
      CHECK(db.scalar("SELECT to_regclass('side_effect')::text").empty());
      CHECK(db.number("SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'flag'") == 0);
      CHECK(db.number("SELECT CASE WHEN to_regclass('ls_blocked.migrations') IS NULL THEN 0 ELSE (xpath('/row/c/text()', "
                      "query_to_xml('SELECT count(*) AS c FROM ls_blocked.migrations', false, true, '')))[1]::text::int END") == 0);
      bool reported = false;
      for (const auto& e : log.all()) {
        if (e.name == "lint" && e.json.find("\"rule\":\"index_not_concurrent\"") != std::string::npos) {
          reported = e.json.find("\"severity\":\"error\"") != std::string::npos &&
                     e.json.find("\"rows\":2000000") != std::string::npos;
        }
      }
      CHECK(reported);
    }
    SUBCASE("an accepted finding runs, and the ledger records why") {
      EventLog log;
      MemorySource source{
          {1, "accepted", "-- lockstep:allow=constraint_scan orders is read-only during this deploy\n"
                          "ALTER TABLE orders ADD CONSTRAINT total_not_negative CHECK (total >= 0);"}};
      auto r = TableRun{lock_settings(log), source, TableLedger{"ls_allowed", "migrations"}}.run();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      CHECK(db.scalar("SELECT allowed->>'constraint_scan' FROM ls_allowed.migrations WHERE version = 1") ==
            "orders is read-only during this deploy");
      bool reported = false;
      for (const auto& e : log.all()) {
        reported = reported || (e.name == "lint" && e.json.find("\"allowed\":\"orders is read-only") != std::string::npos);
      }
      CHECK(reported);
    }
    SUBCASE("warnings are reported and the deploy goes on") {
      EventLog log;
      MemorySource source{{1, "small_index", "CREATE INDEX small_email ON small (email);"}};
      auto r = TableRun{lock_settings(log), source, TableLedger{"ls_warned", "migrations"}}.run();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      CHECK(log.count("lint") == 1);
      CHECK(db.number("SELECT count(*) FROM pg_indexes WHERE indexname = 'small_email'") == 1);
    }
    SUBCASE("a dry run reports the finding in its plan and changes nothing") {
      EventLog log;
      auto s = lock_settings(log);
      s.mode = BootMode::dry_run;
      s.rehearse = true;
      MemorySource source{{1, "rewrite", "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();"}};
      auto r = TableRun{s, source, TableLedger{"ls_dry", "migrations"}}.run();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      REQUIRE(r.value().plan.size() == 1);
      const auto& step = r.value().plan[0];
      CHECK(step.blocked());
      // volatile_default, and the info finding row_type_change (ADD COLUMN), which never blocks.
      REQUIRE(step.findings.size() == 2);
      CHECK(step.findings[0].rule == "row_type_change");
      CHECK(step.findings[0].level == checks::Level::info);
      CHECK(step.findings[1].rule == "volatile_default");
      CHECK(step.findings[1].blocks());
      // The rehearsal would take the rewrite's lock on the live table: skipped.
      CHECK_FALSE(step.rehearsed);
      CHECK(db.number("SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'token'") == 0);
    }
    SUBCASE("a rehearsal measures each statement: locks, rewrites, and what it leaves invalid") {
      EventLog log;
      auto s = lock_settings(log);
      s.mode = BootMode::dry_run;
      s.rehearse = true;
      MemorySource source{
          {1, "changes", "ALTER TABLE small ALTER COLUMN id TYPE int;\n"
                         "ALTER TABLE small ADD CONSTRAINT positive CHECK (total >= 0) NOT VALID;\n"
                         "CREATE TABLE measurements (at date, v int) PARTITION BY RANGE (at);\n"
                         "CREATE TABLE measurements_2026 PARTITION OF measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');\n"
                         "CREATE INDEX measurements_at ON ONLY measurements (at);\n"
                         "SELECT 1;\n"}};
      auto r = TableRun{s, source, TableLedger{"ls_rehearsed", "migrations"}}.run();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      REQUIRE(r.value().plan.size() == 1);
      const auto& step = r.value().plan[0];
      REQUIRE(step.rehearsed);
      REQUIRE(step.rehearsal.size() == 6);
      const auto& rewrite = step.rehearsal[0];
      CHECK(rewrite.line == 1);
      CHECK(std::find(rewrite.rewritten.begin(), rewrite.rewritten.end(), "small") != rewrite.rewritten.end());
      CHECK(std::any_of(rewrite.locks.begin(), rewrite.locks.end(), [](const RelationLock& l) {
        return l.relation == "public.small" && l.mode == "AccessExclusiveLock";
      }));
      CHECK(step.rehearsal[1].rewritten.empty());  // NOT VALID: no scan, no rewrite
      CHECK(step.rehearsal[5].locks.empty());
      CHECK(step.rehearsal[5].rewritten.empty());
      CHECK(std::find(step.left_invalid.begin(), step.left_invalid.end(), "index measurements_at") != step.left_invalid.end());
      CHECK(std::find(step.left_invalid.begin(), step.left_invalid.end(), "constraint positive on small") !=
            step.left_invalid.end());
      // (small's own indexes are rewritten with it; one exists when an earlier subcase ran.)
      // Rolled back: nothing persists.
      CHECK(db.scalar("SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = 'small'::regclass "
                      "AND attname = 'id'") == "bigint");
      CHECK(db.scalar("SELECT to_regclass('measurements')::text").empty());
      bool event = false;
      for (const auto& e : log.all()) {
        event = event || (e.name == "plan" && e.json.find("\"rewritten\":[\"small\"") != std::string::npos &&
                          e.json.find("\"blocks\":\"reads and writes\"") != std::string::npos);
      }
      CHECK(event);
    }
    SUBCASE("the program writes the report and exits 16 on a blocking finding") {
      TempDir dir{"lock-safety-report"};
      dir.write("1_index.sql", "CREATE INDEX orders_email ON orders (email);\n");
      TempDir small_dir{"lock-safety-report-small"};
      small_dir.write("1_index.sql", "ALTER TABLE small ALTER COLUMN id TYPE int;\n");
      auto run = [&](const TempDir& d, const std::string& report) {
        const std::string cmd = std::string{LOCKSTEP_CLI_PATH} + " migrate --mode dry-run --rehearse --dir '" +
                                d.path().string() + "' --url '" + db.url() + "' --lock-name report-test --report '" +
                                (d.path() / report).string() + "' >/dev/null 2>&1";
        const int status = std::system(cmd.c_str());
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      };
      CHECK(run(dir, "report.md") == 16);
      const std::string md = read_file(dir.path() / "report.md");
      CHECK(md.find("**blocked**") != std::string::npos);
      CHECK(md.find("`index_not_concurrent`") != std::string::npos);
      CHECK(run(small_dir, "report.json") == 0);
      const std::string json = read_file(small_dir.path() / "report.json");
      CHECK_MESSAGE(json.find("\"rewritten\":[\"small\"") != std::string::npos, json);
      CHECK(json.find("\"mode\":\"AccessExclusiveLock\"") != std::string::npos);
      // Offline lint: the same rule from the text, marked as needing a database; an error only when configured.
      auto lint = [&](const std::string& extra) {
        const std::string cmd = std::string{LOCKSTEP_CLI_PATH} + " lint --json --pg-version 15 --dir '" +
                                dir.path().string() + "' " + extra + " > '" + (dir.path() / "lint.out").string() +
                                "' 2>/dev/null";
        const int status = std::system(cmd.c_str());
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      };
      CHECK(lint("") == 0);
      const std::string lines = read_file(dir.path() / "lint.out");
      CHECK(lines.find("\"rule\":\"index_not_concurrent\"") != std::string::npos);
      CHECK(lines.find("\"needs_database\":true") != std::string::npos);
      CHECK(lines.find("\"severity\":\"warning\"") != std::string::npos);
      CHECK(lint("--lock-rule index_not_concurrent=error") == 16);
      CHECK(run(small_dir, "report.md") == 0);
      const std::string small_md = read_file(small_dir.path() / "report.md");
      CHECK(small_md.find("| 1 |") != std::string::npos);
      CHECK(small_md.find("AccessExclusiveLock (reads and writes)") != std::string::npos);
    }
  }
}

// unbatched_dml (issue #33): an UPDATE or DELETE of a live table in a boot
// migration, against tables of 1,000 rows with the threshold lowered to 500
// (`low()`), so a level here is what a big table gets; the 2 M-row `orders`
// of lock_fixture() shows the default threshold.
namespace {

const TestDatabase& dml_fixture() {
  static const TestDatabase db{"lock_dml"};
  static const bool filled = [] {
    auto c = db.connect();
    must(c.query(
        "CREATE TABLE keyed (id bigint PRIMARY KEY, tenant int NOT NULL, code text, note text, UNIQUE (tenant, code));"
        "INSERT INTO keyed SELECT g, g % 10, 'c' || g, NULL FROM generate_series(1, 1000) g;"
        // Neither pins a row: one is partial, the other is over an expression.
        "CREATE UNIQUE INDEX keyed_note ON keyed (note) WHERE note IS NOT NULL;"
        "CREATE UNIQUE INDEX keyed_lower_code ON keyed (lower(code));"
        "CREATE TABLE pair (tenant int, id int, note text, PRIMARY KEY (tenant, id));"
        "INSERT INTO pair SELECT g % 10, g, NULL FROM generate_series(1, 1000) g;"
        "CREATE TABLE loose (id int, note text);"
        "INSERT INTO loose SELECT g, NULL FROM generate_series(1, 1000) g;"
        "CREATE TABLE tiny (id int PRIMARY KEY, note text);"
        "INSERT INTO tiny SELECT generate_series(1, 10), NULL;"
        "CREATE TABLE hollow (id int, note text);"));
    must(c.query("VACUUM ANALYZE keyed, pair, loose, tiny, hollow"));
    return true;
  }();
  (void)filled;
  return db;
}

std::vector<safety::Finding> judged_dml(const std::string& sql, const LockSafety& config = low()) {
  auto conn = dml_fixture().connect();
  auto st = sql::split(sql);
  REQUIRE(st);
  safety::Analyzer a{conn.server_version()};
  safety::Catalog catalog{conn};
  auto f = safety::judge(a.migration(st.value(), sql, {}), config, &catalog);
  REQUIRE_MESSAGE(f, (f ? "" : f.error().message));
  return f.value();
}

void check_dml(const std::vector<Form>& cases) {
  for (const auto& c : cases) {
    const std::string sql = c.sql;
    CAPTURE(sql);
    CHECK(level_of(judged_dml(sql), c.rule) == c.level);
  }
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("lock safety: an unbatched UPDATE or DELETE of a big table (unbatched_dml)" * doctest::test_suite("pg_sample")) {
    REQUIRE(dml_fixture().number("SELECT reltuples::bigint FROM pg_class WHERE oid = 'keyed'::regclass") == 1000);
    SUBCASE("every row: an error on a big table, a warning on a small one") {
      check_levels({
          {"UPDATE %T SET note = 'x';", "unbatched_dml", "error", "warning"},
          {"DELETE FROM %T;", "unbatched_dml", "error", "warning"},
          {"WITH gone AS (DELETE FROM %T RETURNING id) SELECT count(*) FROM gone;", "unbatched_dml", "error", "warning"},
          // orders has no unique index: an equality on id pins nothing, and a WHERE may match every row.
          {"UPDATE %T SET note = 'x' WHERE id = 5;", "unbatched_dml", "warning", "warning"},
          {"UPDATE %T SET note = 'x' WHERE CURRENT OF c;", "unbatched_dml", "", ""},
      });
      const auto f = judged("UPDATE orders SET note = 'x';");
      REQUIRE(f.size() == 1);
      CHECK(f[0].message.find("UPDATE orders without a WHERE") != std::string::npos);
      CHECK(f[0].message.find("orders (~2.0 M rows") != std::string::npos);
      // No key to walk it by: the example says what to pick.
      CHECK(f[0].message.find("-- lockstep:batch-over=orders(<key>)") != std::string::npos);
      CHECK_FALSE(f[0].needs_database);
      CHECK(level_of(judged("DELETE FROM empty;"), "unbatched_dml").empty());
    }
    SUBCASE("a WHERE that pins one row by a unique key is not flagged") {
      check_dml({
          {"UPDATE keyed SET note = 'x' WHERE id = 5;", "unbatched_dml", ""},
          {"UPDATE keyed AS k SET note = 'x' WHERE k.id = '5'::bigint RETURNING id;", "unbatched_dml", ""},
          {"DELETE FROM keyed WHERE tenant = 3 AND code = 'c3';", "unbatched_dml", ""},          // UNIQUE (tenant, code)
          {"DELETE FROM keyed WHERE code = 'c3' AND note IS NULL AND tenant = 3;", "unbatched_dml", ""},
          {"UPDATE pair SET note = 'x' WHERE tenant = 1 AND id = 11;", "unbatched_dml", ""},
          {"WITH c AS (SELECT 1) UPDATE keyed SET note = 'x' WHERE id = 7;", "unbatched_dml", ""},
          // Not pinned: part of a key, a partial or an expression index, a range, an OR, no unique index at all.
          {"UPDATE keyed SET note = 'x' WHERE tenant = 3;", "unbatched_dml", "warning"},
          {"UPDATE pair SET note = 'x' WHERE id = 11;", "unbatched_dml", "warning"},
          {"UPDATE keyed SET note = 'x' WHERE note = 'y';", "unbatched_dml", "warning"},
          {"UPDATE keyed SET note = 'x' WHERE code = 'c3';", "unbatched_dml", "warning"},
          {"UPDATE keyed SET note = 'x' WHERE id BETWEEN 1 AND 10;", "unbatched_dml", "warning"},
          {"UPDATE keyed SET note = 'x' WHERE id = 1 OR id = 2;", "unbatched_dml", "warning"},
          {"UPDATE loose SET note = 'x' WHERE id = 5;", "unbatched_dml", "warning"},
          // Every row of a big table: the error.
          {"UPDATE keyed SET note = 'x';", "unbatched_dml", "error"},
          {"DELETE FROM pair;", "unbatched_dml", "error"},
          // Under the threshold, or created in this run: a warning, or nothing.
          {"UPDATE tiny SET note = 'x';", "unbatched_dml", "warning"},
          {"UPDATE hollow SET note = 'x';", "unbatched_dml", ""},  // no pages: nothing to lock
          {"CREATE TABLE fresh (a int); UPDATE fresh SET a = 1;", "unbatched_dml", ""},
          {"UPDATE not_created_yet SET a = 1;", "unbatched_dml", ""},
      });
    }
    SUBCASE("the message names the table, its rows and the background file to write, keyed as the catalog says") {
      const auto keyed = judged_dml("UPDATE keyed SET note = 'x';");
      REQUIRE(keyed.size() == 1);
      const std::string& m = keyed[0].message;
      CAPTURE(m);
      CHECK(m.find("keyed (~1 k rows") != std::string::npos);
      CHECK(m.find("Instead: a background migration") != std::string::npos);
      CHECK(m.find("\n    -- lockstep:background\n    -- lockstep:batch-over=keyed(id)\n"
                   "    -- lockstep:batch-size=1000\n    UPDATE keyed SET ... WHERE id BETWEEN :lo AND :hi") !=
            std::string::npos);
      const auto pair = judged_dml("DELETE FROM pair WHERE note IS NULL;");
      CHECK(message_of(pair, "unbatched_dml").find("batch-over=pair(tenant, id)") != std::string::npos);
      CHECK(message_of(pair, "unbatched_dml").find("DELETE FROM pair WHERE (tenant, id) BETWEEN :lo AND :hi") !=
            std::string::npos);
      CHECK(message_of(pair, "unbatched_dml").find("possibly") != std::string::npos);
    }
    SUBCASE("at pre-flight: the boot UPDATE stops the deploy, the same work as a background file is queued") {
      EventLog log;
      auto s = lock_settings(log);
      s.database_url = dml_fixture().url();
      s.lock_safety = low();
      MemorySource boot{{1, "side", "CREATE TABLE side33 (a int);"},
                        {2, "backfill", "UPDATE keyed SET note = 'filled';"}};
      auto r = TableRun{s, boot, TableLedger{"ls_dml_boot", "migrations"}}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::lock_unsafe);
      CHECK(r.error().version == 2);
      CHECK(r.error().message.find("[unbatched_dml]") != std::string::npos);
      CHECK(r.error().message.find("batch-over=public.keyed(id)") != std::string::npos);
      CHECK(dml_fixture().scalar("SELECT to_regclass('side33')::text").empty());
      CHECK(dml_fixture().number("SELECT count(*) FROM keyed WHERE note IS NOT NULL") == 0);

      EventLog bg_log;
      auto bg = lock_settings(bg_log);
      bg.database_url = dml_fixture().url();
      bg.lock_safety = low();
      MemorySource background{{1, "backfill",
                               "-- lockstep:background\n-- lockstep:batch-over=keyed(id)\n-- lockstep:batch-size=100\n"
                               "UPDATE keyed SET note = 'filled' WHERE id BETWEEN :lo AND :hi;\n"
                               "DELETE FROM loose WHERE id BETWEEN :lo AND :hi;"}};
      auto queued = TableRun{bg, background, TableLedger{"ls_dml_bg", "migrations"}}.run();
      REQUIRE_MESSAGE(queued, (queued ? "" : queued.error().to_string()));
      CHECK(bg_log.count("lint") == 0);
      CHECK(dml_fixture().number("SELECT count(*) FROM ls_dml_bg.jobs WHERE version = 1") == 1);
      // The same statement with its range pinned by hand is no boot finding either way: still a warning (a range).
      CHECK(level_of(judged_dml("UPDATE keyed SET note = 'filled' WHERE id BETWEEN 1 AND 100;"), "unbatched_dml") ==
            "warning");
    }
  }
}
