// checks/rules/foreign_key_scan.hpp, offline: what the text says. The
// catalog's half (the table's size) is in integration/lock_safety_test.cpp.
#include <doctest/doctest.h>

#include "lock_cases.hpp"

using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("foreign_key_scan: ADD FOREIGN KEY without NOT VALID on a live table") {
    SUBCASE("constraint_scan, foreign_key_scan, unique_constraint_build") {
      check_cases({
          {"ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id);", R{"foreign_key_scan"}},
          {"ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES users NOT VALID;", R{}},
          {"ALTER TABLE orders ADD COLUMN user_id bigint REFERENCES users (id);", R{"foreign_key_scan"}},
      });
    }
    SUBCASE("more forms, and what it names") {
      check_cases({
          {"ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;",
           R{"foreign_key_scan"}},
          {"ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;", R{}},
          {"ALTER TABLE orders ADD COLUMN user_id bigint CONSTRAINT fk REFERENCES users;", R{"foreign_key_scan"}},
          {"CREATE TABLE n (a int); ALTER TABLE n ADD FOREIGN KEY (a) REFERENCES users;", R{}},
          {"CREATE TABLE n (a int); ALTER TABLE n ADD COLUMN b int REFERENCES users;", R{}},
      });
      const auto added = hazards({"ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES app.users (id);"});
      REQUIRE(added.size() == 1);
      CHECK(added[0].what == "ADD FOREIGN KEY on orders");
      CHECK(added[0].note == "references app.users");
      const auto column = hazards({"ALTER TABLE orders ADD COLUMN user_id bigint REFERENCES users (id);"});
      REQUIRE(column.size() == 1);
      CHECK(column[0].what == "ADD COLUMN user_id REFERENCES on orders");
      CHECK(column[0].note == "references users");
    }
  }
}
