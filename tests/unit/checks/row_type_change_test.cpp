// checks/rules/row_type_change.hpp, offline: which column changes of a live
// table it names, and that it informs without ever blocking (info level,
// raised only when a team configures it).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lock_cases.hpp"
#include "lockstep/checks/check.hpp"
#include "lockstep/checks/rules/row_type_change.hpp"

using namespace lock_cases;
using namespace lockstep;

namespace {

R with_info(const std::string& sql, bool contract = false) { return rules_of(sql, false, contract, 150000, true); }

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("row_type_change: ADD, DROP, RENAME COLUMN and ALTER COLUMN TYPE on a live table") {
    CHECK(with_info("ALTER TABLE orders ADD COLUMN note text;") == R{"row_type_change"});
    CHECK(with_info("ALTER TABLE orders ADD note text, ADD IF NOT EXISTS other int;") ==
          R{"row_type_change", "row_type_change"});
    CHECK(with_info("ALTER TABLE orders DROP COLUMN legacy;") == R{"drop_breaks_old_code", "row_type_change"});
    CHECK(with_info("ALTER TABLE orders RENAME COLUMN a TO b;") == R{"rename_breaks_old_code", "row_type_change"});
    CHECK(with_info("ALTER TABLE orders RENAME a TO b;") == R{"rename_breaks_old_code", "row_type_change"});
    CHECK(with_info("ALTER TABLE orders ALTER COLUMN total TYPE bigint;") == R{"type_change", "row_type_change"});
    // A contract migration too: that is where the drop that stales serving replicas runs.
    CHECK(with_info("ALTER TABLE orders DROP COLUMN legacy;", true) == R{"row_type_change"});
    // Not a row-type change, or not a live table.
    CHECK(with_info("ALTER TABLE orders RENAME TO purchases;") == R{"rename_breaks_old_code"});
    CHECK(with_info("ALTER TABLE orders RENAME CONSTRAINT c TO d;") == R{});
    CHECK(with_info("ALTER TABLE orders ADD CONSTRAINT c CHECK (a > 0) NOT VALID;") == R{});
    CHECK(with_info("ALTER TABLE orders ALTER COLUMN a SET DEFAULT 0;") == R{});
    CHECK(with_info("CREATE TABLE n (a int); ALTER TABLE n ADD COLUMN b int, DROP COLUMN a;") == R{});
    CHECK(with_info("CREATE INDEX CONCURRENTLY orders_a ON orders (a);") == R{});
    const auto h = hazards({"ALTER TABLE orders ADD COLUMN note text;"}, false, true);
    REQUIRE(h.size() == 1);
    CHECK(h[0].what == "ADD COLUMN note on orders");
    CHECK(h[0].table == "orders");
    CHECK_FALSE(h[0].ask_size);  // never sized: sizing would wait behind a lock on the table
  }

  TEST_CASE("row_type_change: an info finding that never blocks, names the safe alternative, and takes a level") {
    const Migration add{1, "add", "ALTER TABLE orders ADD COLUMN note text;\n", "db/0001_add.sql", "x"};
    auto found = check(add, CheckOptions{});
    REQUIRE(found);
    std::vector<checks::Finding> mine;
    for (const auto& f : found.value()) {
      if (f.rule == "row_type_change") mine.push_back(f);
    }
    REQUIRE(mine.size() == 1);
    CHECK(mine[0].level == checks::Level::info);
    CHECK_FALSE(mine[0].blocks());
    CHECK(mine[0].message.find("SELECT *") != std::string::npos);
    CHECK(mine[0].message.find("0A000") != std::string::npos);
    CHECK(mine[0].message.find("column") != std::string::npos);
    CHECK(mine[0].message.find("on_schema_change") != std::string::npos);
    CHECK(mine[0].message.find("lockstep:allow") == std::string::npos);  // nothing to accept
    CHECK(checks::to_string(mine[0].level) == "info");
    SUBCASE("a team may raise it, or turn it off") {
      CheckOptions o;
      REQUIRE(checks::parse_levels("row_type_change=warning", o.rules));
      auto raised = check(add, o);
      REQUIRE(raised);
      bool warned = false;
      for (const auto& f : raised.value()) warned = warned || (f.rule == "row_type_change" && f.level == checks::Level::warning);
      CHECK(warned);
      REQUIRE(checks::parse_levels("row_type_change=off", o.rules));
      auto off = check(add, o);
      REQUIRE(off);
      for (const auto& f : off.value()) CHECK(f.rule != "row_type_change");
      REQUIRE(checks::parse_levels("row_type_change=info", o.rules));
    }
    CHECK(checks::find_rule("row_type_change") != nullptr);
    CHECK(checks::find_rule("row_type_change")->info);
  }
}
