// The libpqxx helper for stale plans (issue #34 part 1; stale_plan.hpp): a
// real prepared `SELECT *` across a real `ALTER TABLE ... DROP COLUMN` made
// by another connection. Plain libpqxx fails with 0A000; the helper
// re-prepares and retries once in autocommit, never inside a transaction,
// and never retries a statement that failed for another reason. Executions
// are counted with a sequence's nextval() inside the statement (nextval is
// not rolled back, so a failed execution that got as far as it still counts).
#include <doctest/doctest.h>

#include <pqxx/pqxx>

#include <cstdio>
#include <string>

#include "lockstep/stale_plan.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;

namespace {

const std::string select_all = "SELECT *, nextval('runs') AS run FROM t ORDER BY id";

void set_up(TestDatabase& db) {
  db.exec("CREATE SEQUENCE runs; CREATE TABLE t (id int PRIMARY KEY, a int, b text); "
          "INSERT INTO t VALUES (1, 10, 'one')");
}

// How many times nextval('runs') was called (a fresh sequence says 1, not called).
std::int64_t runs(TestDatabase& db) {
  return std::stoll(db.scalar("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM runs"));
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("stale plan: plain libpqxx fails with 0A000 after another session drops a column, the helper re-prepares once and returns the new columns") {
    TestDatabase db{"stale_plan"};
    set_up(db);
    pqxx::connection app{db.url()};
    app.prepare("all_t", select_all);
    {
      auto first = exec_prepared_fresh(app, "all_t", select_all);
      REQUIRE(first);
      CHECK(first.value().columns() == 4);  // id, a, b, run
    }
    db.exec("ALTER TABLE t DROP COLUMN b");  // another connection
    // Without the helper: the plan is stale, and stays so on this connection.
    {
      pqxx::nontransaction tx{app};
      std::string sqlstate;
      try {
        (void)tx.exec_prepared("all_t");
      } catch (const pqxx::sql_error& ex) {
        sqlstate = ex.sqlstate();
      }
      CHECK(sqlstate == "0A000");
    }
    const auto before = runs(db);
    auto healed = exec_prepared_fresh(app, "all_t", select_all);
    REQUIRE_MESSAGE(healed, healed.error().to_string());
    CHECK(healed.value().columns() == 3);  // id, a, run: the new row type
    CHECK(std::string{healed.value().column_name(1)} == "a");
    CHECK(healed.value()[0][1].as<int>() == 10);
    CHECK(runs(db) == before + 1);  // the stale execution never ran: one execution in all
    // Prepared again: the next call needs no retry.
    auto again = exec_prepared_fresh(app, "all_t", select_all);
    REQUIRE(again);
    CHECK(runs(db) == before + 2);
  }

  TEST_CASE("stale plan: inside a transaction the statement runs once and the stale plan is returned, not retried") {
    TestDatabase db{"stale_plan_tx"};
    set_up(db);
    pqxx::connection app{db.url()};
    app.prepare("all_t", select_all);
    {
      pqxx::nontransaction warm{app};
      (void)warm.exec_prepared("all_t");
    }
    db.exec("ALTER TABLE t DROP COLUMN b");
    const auto before = runs(db);
    {
      pqxx::work tx{app};
      auto once = exec_prepared_once(tx, "all_t");
      REQUIRE(!once);
      CHECK(is_stale_plan(once.error()));
      CHECK(once.error().sqlstate == "0A000");
      // The autocommit helper refuses while the transaction is open: it runs nothing.
      auto refused = exec_prepared_fresh(app, "all_t", select_all);
      REQUIRE(!refused);
      CHECK(!is_stale_plan(refused.error()));
      tx.abort();
    }
    CHECK(runs(db) == before);  // nothing was executed twice (nor once: the plan check comes first)
    // The documented way out: roll back, reprepare, run the transaction again.
    REQUIRE(reprepare(app, "all_t", select_all));
    pqxx::work tx{app};
    auto fresh = exec_prepared_once(tx, "all_t");
    REQUIRE(fresh);
    CHECK(fresh.value().columns() == 3);
    tx.commit();
  }

  TEST_CASE("stale plan: a statement that fails for another reason (22012) is not retried") {
    TestDatabase db{"stale_plan_other"};
    set_up(db);
    pqxx::connection app{db.url()};
    const std::string divide = "SELECT nextval('runs') / $1::int";
    app.prepare("divide", divide);
    const auto before = runs(db);
    auto failed = exec_prepared_fresh(app, "divide", divide, 0);
    REQUIRE(!failed);
    CHECK(failed.error().sqlstate == "22012");
    CHECK(!is_stale_plan(failed.error()));
    CHECK(runs(db) == before + 1);  // executed exactly once
    auto ok = exec_prepared_fresh(app, "divide", divide, 1);
    REQUIRE(ok);
    CHECK(runs(db) == before + 2);
  }

  TEST_CASE("stale plan: the source function is read from a verbose message when there is one") {
    using lockstep::detail::source_function_in;
    using lockstep::detail::stale_plan;
    const std::string verbose =
        "ERROR:  0A000: cached plan must not change result type\nLOCATION:  RevalidateCachedQuery, plancache.c:730\n";
    const std::string other = "FEHLER:  0A000: nicht unterstuetzt\nORT:  transformSomething, parse_utilcmd.c:12\n";
    CHECK(source_function_in(verbose) == std::optional<std::string>{"RevalidateCachedQuery"});
    CHECK(stale_plan("0A000", verbose));
    CHECK(!stale_plan("0A000", other));  // 0A000 from elsewhere: not a stale plan
    CHECK(stale_plan("0A000", "ERROR:  cached plan must not change result type\n"));  // normal verbosity: the SQLSTATE decides
    CHECK(!stale_plan("22012", verbose));
  }

  TEST_CASE("stale plan: the documented example heals a prepared SELECT * after a DROP COLUMN") {
    TestDatabase db{"stale_plan_doc"};
    db.exec("CREATE TABLE orders (id int PRIMARY KEY, note text, total int); INSERT INTO orders VALUES (42, 'n', 7)");
    pqxx::connection conn{db.url()};
    conn.prepare("order_by_id", "SELECT * FROM orders WHERE id = $1");
    {
      pqxx::nontransaction warm{conn};
      (void)warm.exec_prepared("order_by_id", 42);
    }
    db.exec("ALTER TABLE orders DROP COLUMN note");
    conn.unprepare("order_by_id");  // the snippet prepares it again, as an application's start would
    // [snippet:stale-plan]
    const std::string by_id = "SELECT * FROM orders WHERE id = $1";
    conn.prepare("order_by_id", by_id);
    // Autocommit: on a stale plan it deallocates, prepares again and retries once.
    auto rows = lockstep::exec_prepared_fresh(conn, "order_by_id", by_id, 42);
    if (!rows) std::fprintf(stderr, "%s\n", rows.error().to_string().c_str());  // never throws
    // [/snippet:stale-plan]
    REQUIRE(rows);
    CHECK(rows.value().columns() == 2);
    // Now stale for real: another column goes while the statement is prepared.
    db.exec("ALTER TABLE orders ADD COLUMN extra int");
    auto again = lockstep::exec_prepared_fresh(conn, "order_by_id", by_id, 42);
    REQUIRE(again);
    CHECK(again.value().columns() == 3);
  }
}
