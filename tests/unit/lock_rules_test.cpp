// The text half of the lock-safety rules, offline: which statements each
// rule flags and which it must leave alone, for the rules whose detection
// is still in safety/analyze.hpp (a rule with a file of its own has its
// cases beside it, in unit/checks/<id>_test.cpp). The catalog half (sizes,
// types, volatility) is tested against a real server in
// integration/lock_safety_test.cpp.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "lock_cases.hpp"
#include "lockstep/safety/analyze.hpp"
#include "lockstep/safety/judge.hpp"
#include "lockstep/settings.hpp"

using namespace lockstep;
using namespace lock_cases;

TEST_SUITE("unit") {
  TEST_CASE("lock-safety rules read from the text") {
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
      CHECK(f[0].level == checks::Level::warning);
      CHECK(f[0].needs_database);
      CHECK_FALSE(f[0].blocks());
      CHECK(f[0].message.find("CONCURRENTLY") != std::string::npos);
      CHECK(f[0].message.find("lockstep:allow=index_not_concurrent") != std::string::npos);
    }
    SUBCASE("a configured level wins; off removes the finding") {
      LockSafety config;
      REQUIRE(checks::parse_levels("rename_breaks_old_code=error,json_column=off", config));
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
      auto unknown = checks::parse_levels("index_not_concurent=error", config);
      REQUIRE_FALSE(unknown);
      CHECK(unknown.error().message.find("index_not_concurent") != std::string::npos);
      CHECK(unknown.error().message.find("index_not_concurrent") != std::string::npos);
      auto level = checks::parse_levels("json_column=fatal", config);
      REQUIRE_FALSE(level);
      CHECK(level.error().message.find("error, warning or off") != std::string::npos);
    }
  }

  TEST_CASE("LockSafety settings, as docs/lock-safety.md shows them") {
    // [snippet:lock-settings]
    lockstep::Settings s;
    s.lock_safety.error_rows = 1'000'000;                 // bigger tables only
    s.lock_safety.levels["rename_breaks_old_code"] = lockstep::checks::Level::error;
    s.lock_safety.levels["json_column"] = lockstep::checks::Level::off;
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

  // Issue 31, case 15: the safe forms pass, the blocking ones are caught,
  // read from the text (the catalog's half: integration/lock_safety_test.cpp).
  TEST_CASE("lock-safety rules: safe forms pass, blocking and failing forms are caught") {
    SUBCASE("SET NOT NULL after this run validated the check that proves it") {
      // Validated earlier in the run (this migration or an earlier one): the
      // catalog is asked about that constraint as if validated.
      const auto validated = hazards(
          {"ALTER TABLE foo VALIDATE CONSTRAINT foo_bar_not_null; ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;"});
      REQUIRE(validated.size() == 1);
      CHECK(validated[0].rule == "set_not_null");
      CHECK(validated[0].question == safety::Question::not_null_check);
      CHECK(validated[0].validated == std::vector<std::string>{"foo_bar_not_null"});
      CHECK(hazards({"ALTER TABLE foo VALIDATE CONSTRAINT c;", "ALTER TABLE foo ALTER bar SET NOT NULL;"})[0].validated ==
            std::vector<std::string>{"c"});
      // The whole proof inside the run: added NOT VALID, validated, then SET NOT NULL.
      CHECK(rules(hazards({"ALTER TABLE foo ADD CONSTRAINT c CHECK (bar IS NOT NULL) NOT VALID;",
                           "ALTER TABLE foo VALIDATE CONSTRAINT c;", "ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;"}))
                .empty());
      CHECK(rules(hazards({"ALTER TABLE foo ADD CONSTRAINT c CHECK ((\"bar\" IS NOT NULL)) NOT VALID;",
                           "ALTER TABLE foo VALIDATE CONSTRAINT c;", "ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;"}))
                .empty());
      // An unnamed check added valid scans (its own finding), then proves.
      CHECK(rules_of("ALTER TABLE foo ADD CHECK (bar IS NOT NULL); ALTER TABLE foo ALTER bar SET NOT NULL;") ==
            R{"constraint_scan"});
      // True positives: never validated, dropped again, another column, or more than IS NOT NULL.
      CHECK(rules(hazards({"ALTER TABLE foo ADD CONSTRAINT c CHECK (bar IS NOT NULL) NOT VALID;",
                           "ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;"})) == R{"set_not_null"});
      CHECK(rules(hazards({"ALTER TABLE foo ADD CONSTRAINT c CHECK (bar IS NOT NULL) NOT VALID;",
                           "ALTER TABLE foo VALIDATE CONSTRAINT c;", "ALTER TABLE foo DROP CONSTRAINT c;",
                           "ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;"})) == R{"set_not_null"});
      CHECK(rules(hazards({"ALTER TABLE foo ADD CONSTRAINT c CHECK (baz IS NOT NULL) NOT VALID;",
                           "ALTER TABLE foo VALIDATE CONSTRAINT c;", "ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;"})) ==
            R{"set_not_null"});
      CHECK(rules(hazards({"ALTER TABLE foo ADD CONSTRAINT c CHECK (bar IS NOT NULL OR baz > 0) NOT VALID;",
                           "ALTER TABLE foo VALIDATE CONSTRAINT c;", "ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;"})) ==
            R{"set_not_null"});
      CHECK(rules(hazards({"ALTER TABLE other VALIDATE CONSTRAINT c;", "ALTER TABLE foo ALTER bar SET NOT NULL;"})) ==
            R{"set_not_null"});
      CHECK(hazards({"ALTER TABLE other VALIDATE CONSTRAINT c;", "ALTER TABLE foo ALTER bar SET NOT NULL;"})[0]
                .validated.empty());
    }
    SUBCASE("the proof of SET NOT NULL is keyed by the table the server resolves, like \"created in this run\"") {
      // Issue 31's leftover: keyed by the plain name, a check validated on
      // a.foo proved b.foo's column NOT NULL, and the scan went unreported.
      CHECK(rules(hazards({"ALTER TABLE a.foo ADD CONSTRAINT c CHECK (bar IS NOT NULL) NOT VALID;",
                           "ALTER TABLE a.foo VALIDATE CONSTRAINT c;", "ALTER TABLE b.foo ALTER COLUMN bar SET NOT NULL;"})) ==
            R{"set_not_null"});
      CHECK(hazards({"ALTER TABLE a.foo VALIDATE CONSTRAINT c;", "ALTER TABLE b.foo ALTER bar SET NOT NULL;"})[0]
                .validated.empty());
      // One table under two spellings is one key: the file's search_path resolves foo to a.foo.
      CHECK(rules(hazards({"SET search_path = a;\nALTER TABLE foo ADD CONSTRAINT c CHECK (bar IS NOT NULL) NOT VALID;",
                           "ALTER TABLE a.foo VALIDATE CONSTRAINT c;", "ALTER TABLE a.foo ALTER COLUMN bar SET NOT NULL;"}))
                .empty());
    }
    SUBCASE("ADD COLUMN ... NOT NULL without a default") {
      check_cases({
          {"ALTER TABLE orders ADD COLUMN n int NOT NULL;", R{"not_null_without_default"}},
          {"ALTER TABLE orders ADD n int CONSTRAINT n_nn NOT NULL;", R{"not_null_without_default"}},
          {"ALTER TABLE orders ADD COLUMN n int DEFAULT NULL NOT NULL;", R{"not_null_without_default"}},
          {"ALTER TABLE orders ADD COLUMN n bigint PRIMARY KEY;", R{"unique_constraint_build", "not_null_without_default"}},
          {"ALTER TABLE orders ADD COLUMN n int NOT NULL DEFAULT 0;", R{}},
          {"ALTER TABLE orders ADD COLUMN n int;", R{}},
          {"ALTER TABLE orders ADD COLUMN n int NULL;", R{}},
          {"ALTER TABLE orders ADD COLUMN n int CHECK (n IS NOT NULL);", R{"constraint_scan"}},
          {"ALTER TABLE orders ADD COLUMN n bigserial NOT NULL;", R{"generated_column"}},
          {"ALTER TABLE orders ADD COLUMN n int NOT NULL GENERATED ALWAYS AS IDENTITY;", R{"generated_column"}},
          {"CREATE TABLE n (a int); ALTER TABLE n ADD COLUMN b int NOT NULL;", R{}},
      });
      const auto h = hazards({"ALTER TABLE orders ADD COLUMN n app.money_cents NOT NULL;"});
      REQUIRE(h.size() == 1);
      CHECK(h[0].question == safety::Question::has_rows);
      CHECK(h[0].new_type == "app.money_cents");  // a domain's default would fill the rows
      CHECK_FALSE(h[0].certain);
    }
    SUBCASE("offline: the catalog-dependent ones need a database") {
      for (const char* sql : {"ALTER TABLE orders ADD COLUMN n int NOT NULL;", "TRUNCATE orders CASCADE;",
                              "ALTER TABLE orders SET LOGGED;", "ALTER DOMAIN d ADD CHECK (VALUE > 0);"}) {
        CAPTURE(sql);
        auto st = sql::split(sql);
        REQUIRE(st);
        auto f = safety::judge(safety::Analyzer{150000}.migration(st.value(), sql, {}), {}, nullptr);
        REQUIRE(f);
        REQUIRE(f.value().size() == 1);
        CHECK(f.value()[0].needs_database);
        CHECK(f.value()[0].level == checks::Level::warning);
      }
    }
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
