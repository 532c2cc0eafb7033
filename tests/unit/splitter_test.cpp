#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lockstep/checks/words.hpp"
#include "lockstep/sql/splitter.hpp"

using namespace lockstep;

namespace {
std::vector<std::string> texts(const std::string& sql) {
  auto r = sql::split(sql);
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  std::vector<std::string> out;
  for (const auto& s : r.value()) out.emplace_back(s.text(sql));
  return out;
}
Error error_of(const std::string& sql) {
  auto r = sql::split(sql);
  REQUIRE_FALSE(r);
  return r.error();
}
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("split") {
    SUBCASE("semicolons inside literals, identifiers and comments do not split") {
      CHECK(texts("SELECT 'a;''b'; SELECT \"x;\"\"y\"; SELECT 1 -- ;\n; /* ; /* ; */ ; */ SELECT 2") ==
            std::vector<std::string>{"SELECT 'a;''b'", "SELECT \"x;\"\"y\"", "SELECT 1", "SELECT 2"});
    }
    SUBCASE("a -- comment ends at a carriage return too, as in PostgreSQL's lexer") {
      CHECK(texts("SELECT 1 --c\rSELECT 2; SELECT 3") == std::vector<std::string>{"SELECT 1 --c\rSELECT 2", "SELECT 3"});
      CHECK(texts("SELECT 1; --c\r; SELECT 2").size() == 2);
    }
    SUBCASE("E'' strings honour backslash escapes, plain strings do not") {
      CHECK(texts(R"(SELECT E'it\'s;'; SELECT 'c:\'; SELECT 1)") ==
            std::vector<std::string>{R"(SELECT E'it\'s;')", R"(SELECT 'c:\')", "SELECT 1"});
    }
    SUBCASE("U&, B, X and N prefixes only apply directly before the quote") {
      CHECK(texts("SELECT U&'a;', U&\"b;\", B'1;', X'1;', N'x;'; SELECT 2").size() == 2);
      CHECK(texts("SELECT fe'x;'; SELECT 2").size() == 2);  // identifier fe, then a plain string
      // A number ends before a letter that does not start an exponent: 1e'\';' is 1, then an E-string.
      CHECK(texts("SELECT 1e'\\';'; SELECT 2").size() == 2);
      CHECK(texts("SELECT 1.5e-3, .5, 1e5; SELECT 2").size() == 2);
    }
    SUBCASE("dollar quotes: tags must match, other tags are plain text") {
      CHECK(texts("DO $body$ BEGIN RAISE NOTICE '$$;'; END $body$; SELECT $1, a$b$c; SELECT 3").size() == 3);
      CHECK(texts("SELECT $$ $a$ ; $$; SELECT 2").size() == 2);
    }
    SUBCASE("parentheses and BEGIN ATOMIC bodies hold their semicolons") {
      CHECK(texts("CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); DELETE FROM b); SELECT 1")
                .size() == 2);
      CHECK(texts("CREATE OR REPLACE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (1); "
                  "SELECT CASE WHEN x THEN 1 ELSE 2 END; END; SELECT 1")
                .size() == 2);
      CHECK(texts("CREATE FUNCTION begin() RETURNS int AS 'select 1' LANGUAGE sql; SELECT 1").size() == 2);
      CHECK(texts("BEGIN; SELECT 1; END;").size() == 3);  // a transaction block is not a routine body
      // END after an expression is a column label without AS, not the body's
      // end (found by the fuzzer; PostgreSQL 15 creates this function).
      CHECK(texts("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 END; END; SELECT 1") ==
            std::vector<std::string>{"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 END; END",
                                     "SELECT 1"});
      CHECK(texts("CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END END; "
                  "SELECT 2 end; END; SELECT 3")
                .size() == 2);
      CHECK(texts("CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC END; SELECT 1").size() == 2);
      // So can CASE be (`SELECT 1 case`): then it opens nothing.
      CHECK(texts("CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC SELECT 1 case; SELECT 2 case FROM (SELECT 1) s; "
                  "SELECT CASE WHEN true THEN 1 END case; END; SELECT 3")
                .size() == 2);
    }
    SUBCASE("positions: first token, line and column; trailing comments excluded") {
      const std::string sql = "-- header\n\n  CREATE TABLE a (id int) -- why\n;\nSELECT 1";
      auto r = sql::split(sql);
      REQUIRE(r);
      REQUIRE(r.value().size() == 2);
      const auto& first = r.value()[0];
      CHECK(first.position.line == 3);
      CHECK(first.position.column == 3);
      CHECK(first.text(sql) == "CREATE TABLE a (id int)");
      CHECK(sql[first.terminator] == ';');
      CHECK(r.value()[1].terminator == sql.size());
      // The rules read a statement's head from the lexer, as the splitter once noted it.
      CHECK(checks::leading_words(sql::lex(first.text(sql))) ==
            std::vector<std::string>{"CREATE", "TABLE", "A", "(", "ID", "INT", ")"});
    }
    SUBCASE("empty input, empty statements and comment-only files yield nothing") {
      CHECK(texts("").empty());
      CHECK(texts(";;\n;").empty());
      CHECK(texts("-- only a comment\n/* and another */\n").empty());
    }
  }

  TEST_CASE("split errors") {
    SUBCASE("unterminated constructs report where they open") {
      auto e = error_of("SELECT 1;\nSELECT 'abc;\nSELECT 2;");
      CHECK(e.code == errc::source_invalid);
      CHECK(e.line == 2);
      CHECK(e.column == 8);
      CHECK(e.message.find("unterminated string literal") != std::string::npos);
      CHECK(error_of("SELECT \"abc").message.find("quoted identifier") != std::string::npos);
      CHECK(error_of("SELECT E'abc\\'").message.find("unterminated") != std::string::npos);
      auto d = error_of("CREATE FUNCTION f() AS $fn$ SELECT 1; $other$;");
      CHECK(d.message.find("$fn$") != std::string::npos);
      CHECK(d.column == 24);
      CHECK(error_of("SELECT 1 /* outer /* inner */").column == 10);
    }
    SUBCASE("psql syntax is rejected with its line") {
      auto meta = error_of("SELECT 1;\n\\set ON_ERROR_STOP 1\n");
      CHECK(meta.line == 2);
      CHECK(meta.message.find("psql") != std::string::npos);
      CHECK(error_of("SELECT 1 AS x \\gset\n").message.find("psql") != std::string::npos);
      auto copy = error_of("CREATE TABLE t (a int);\nCOPY t (a) FROM stdin;\n1\n2\n\\.\n");
      CHECK(copy.line == 2);
      CHECK(copy.message.find("COPY ... FROM stdin") != std::string::npos);
    }
  }
}
