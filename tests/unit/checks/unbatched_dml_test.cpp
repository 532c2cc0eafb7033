// checks/rules/unbatched_dml.hpp, offline: what the text says (which
// statements, certain or not, the columns the WHERE pins). The catalog's
// half (a unique index dismisses a pin, the key named in the example, the
// size) is in integration/lock_safety_test.cpp.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lock_cases.hpp"
#include "lockstep/checks/check.hpp"
#include "lockstep/checks/rules/unbatched_dml.hpp"

using namespace lockstep;
using namespace lock_cases;

namespace {

using Cols = std::vector<std::string>;

// The one hazard of `sql`, which must be unbatched_dml's.
safety::Hazard only_hazard(const std::string& sql) {
  const auto h = hazards({sql});
  REQUIRE(h.size() == 1);
  CHECK(h[0].rule == "unbatched_dml");
  return h[0];
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("unbatched_dml: UPDATE and DELETE of a live table in a boot migration") {
    SUBCASE("which statements") {
      check_cases({
          {"UPDATE orders SET total = 0;", R{"unbatched_dml"}},
          {"UPDATE ONLY orders SET total = 0;", R{"unbatched_dml"}},
          {"DELETE FROM orders;", R{"unbatched_dml"}},
          {"DELETE FROM ONLY app.orders WHERE total < 0;", R{"unbatched_dml"}},
          {"UPDATE orders SET total = 0 WHERE id = 5;", R{"unbatched_dml"}},  // offline: the catalog settles it
          {"WITH gone AS (DELETE FROM orders WHERE placed < now() RETURNING id) INSERT INTO archive SELECT * FROM gone;",
           R{"unbatched_dml"}},
          {"WITH c AS (SELECT id FROM customers) UPDATE orders SET note = 'x' FROM c WHERE orders.customer_id = c.id;",
           R{"unbatched_dml"}},
          {"WITH a AS (UPDATE orders SET note = 'a' RETURNING id), b AS MATERIALIZED (DELETE FROM small) SELECT 1;",
           R{"unbatched_dml", "unbatched_dml"}},
          {"EXPLAIN ANALYZE UPDATE orders SET total = 0;", R{"unbatched_dml"}},
          // Not this rule's: a plan only, a row lock, an upsert, an insert, a new table.
          {"EXPLAIN UPDATE orders SET total = 0;", R{}},
          {"SELECT * FROM orders FOR UPDATE;", R{}},
          {"WITH c AS (SELECT id FROM orders FOR NO KEY UPDATE) SELECT 1;", R{}},
          {"INSERT INTO orders (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET total = 0;", R{}},
          {"WITH x AS (INSERT INTO orders (id) VALUES (1) RETURNING id) SELECT * FROM x;", R{}},
          {"CREATE TABLE n (a int); UPDATE n SET a = 1; DELETE FROM n;", R{}},
          // A view the run creates is new like a table (pg-regress's updatable_views.sql).
          {"CREATE VIEW v AS SELECT * FROM orders; UPDATE v SET total = 0;", R{}},
          {"CREATE OR REPLACE TEMP RECURSIVE VIEW v (n) AS SELECT 1; DELETE FROM v;", R{}},
          {"CREATE VIEW v AS SELECT * FROM orders; UPDATE w SET total = 0;", R{"unbatched_dml"}},
          {"CREATE RULE r AS ON INSERT TO t DO ALSO (UPDATE orders SET note = 'x');", R{}},
          {"UPDATE orders SET total = 0 WHERE CURRENT OF c;", R{}},
      });
    }
    SUBCASE("without a WHERE it is certain; with one it may match few rows or all") {
      const auto all = only_hazard("UPDATE orders SET total = 0;");
      CHECK(all.certain);
      CHECK(all.table == "orders");
      CHECK(all.question == safety::Question::unique_pin);
      CHECK(all.named.empty());
      CHECK(all.target == "update");
      CHECK_FALSE(all.only);
      const auto some = only_hazard("DELETE FROM ONLY orders WHERE total < 0;");
      CHECK_FALSE(some.certain);
      CHECK(some.only);
      CHECK(some.target == "delete");
      CHECK(some.named.empty());
      // The line and column of the UPDATE inside the WITH.
      const auto cte = only_hazard("WITH c AS (SELECT 1)\nUPDATE orders SET total = 0;");
      CHECK(cte.position.line == 2);
      CHECK(cte.position.column == 1);
    }
    SUBCASE("the columns the WHERE pins to a constant, for the catalog's unique-index question") {
      auto pins = [](const std::string& sql) { return only_hazard(sql).named; };
      CHECK(pins("UPDATE orders SET total = 0 WHERE id = 5;") == Cols{"id"});
      CHECK(pins("UPDATE orders SET total = 0 WHERE 5 = id;") == Cols{"id"});
      CHECK(pins("UPDATE orders SET total = 0 WHERE id = -5 AND note = 'x';") == Cols{"id", "note"});
      CHECK(pins("UPDATE orders o SET total = 0 WHERE o.tenant = $1 AND o.\"Id\" = $2::bigint;") ==
            Cols{"tenant", "Id"});
      CHECK(pins("UPDATE orders AS o SET total = 0 WHERE orders.id = '7'::bigint RETURNING id;") == Cols{"id"});
      CHECK(pins("DELETE FROM orders WHERE placed BETWEEN 1 AND 2 AND id = 3;") == Cols{"id"});
      CHECK(pins("DELETE FROM orders WHERE (id = 3);").empty());  // parenthesised: not read
      // Not a pin: an OR, a range, a column on both sides, another table's column, an expression.
      CHECK(pins("UPDATE orders SET total = 0 WHERE id = 5 OR id = 6;").empty());
      CHECK(pins("UPDATE orders SET total = 0 WHERE id > 5;").empty());
      CHECK(pins("UPDATE orders SET total = 0 WHERE id = customer_id;").empty());
      CHECK(pins("UPDATE orders SET total = 0 FROM c WHERE c.id = 5;").empty());
      CHECK(pins("UPDATE orders SET total = 0 WHERE id = (SELECT max(id) FROM orders);").empty());
      CHECK(pins("UPDATE orders SET total = 0 WHERE id = 5 + customer_id;").empty());
    }
    SUBCASE("a background file's batches are the safe form: never flagged") {
      const std::string sql = "UPDATE orders SET total = 0 WHERE id BETWEEN :lo AND :hi;\nDELETE FROM small;";
      auto st = sql::split(sql);
      REQUIRE(st);
      sql::Directives d;
      d.background = true;
      safety::Analyzer a{150000};
      CHECK(rules(a.migration(st.value(), sql, d)).empty());
      d.background = false;
      CHECK(rules(a.migration(st.value(), sql, d)) == R{"unbatched_dml", "unbatched_dml"});
    }
    SUBCASE("offline: a warning that needs a database, and the background file to write instead") {
      const Migration m{7, "backfill", "UPDATE orders SET total = 0;\n", "db/0007_backfill.sql", "x"};
      auto f = check(m, CheckOptions{});
      REQUIRE(f);
      REQUIRE(f.value().size() == 1);
      const auto& finding = f.value()[0];
      CHECK(finding.rule == "unbatched_dml");
      CHECK(finding.level == checks::Level::warning);
      CHECK(finding.needs_database);
      CAPTURE(finding.message);
      CHECK(finding.message.find("UPDATE orders without a WHERE") != std::string::npos);
      CHECK(finding.message.find("\n    -- lockstep:background\n    -- lockstep:batch-over=orders(<key>)\n"
                                 "    -- lockstep:batch-size=1000\n"
                                 "    UPDATE orders SET ... WHERE <key> BETWEEN :lo AND :hi") != std::string::npos);
      CHECK(finding.message.find("`-- lockstep:allow=unbatched_dml <reason>`") != std::string::npos);
    }
    SUBCASE("the example names the key the catalog gives, composite as a row") {
      CHECK(checks::rules::unbatched_dml::example("public.orders", "id", false)
                .find("batch-over=public.orders(id)\n    -- lockstep:batch-size=1000\n    UPDATE public.orders SET ... "
                      "WHERE id BETWEEN :lo AND :hi") != std::string::npos);
      CHECK(checks::rules::unbatched_dml::example("t", "tenant, id", true)
                .find("batch-over=t(tenant, id)\n    -- lockstep:batch-size=1000\n    DELETE FROM t WHERE (tenant, id) "
                      "BETWEEN :lo AND :hi") != std::string::npos);
    }
  }
}
